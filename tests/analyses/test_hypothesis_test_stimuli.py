"""analyses/hypothesis_test_stimuli.py: the median's interval, the run kind and the page (on a made-up record)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from retinacodec.device import machine
from retinacodec.pipelines.retina import DemoSettings

SCRIPT = Path(__file__).resolve().parents[2] / "analyses" / "hypothesis_test_stimuli.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("hypothesis_test_stimuli", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_median_interval_brackets_the_median_and_skips_non_finite_values(script):
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0, np.nan, np.inf])
    band = script.median_interval(values)
    assert band["n"] == 5 and band["median"] == 3.0 and band["low"] <= 3.0 <= band["high"]
    assert script.median_interval(np.array([np.nan]))["median"] is None


@pytest.mark.parametrize("settings, kind", [(DemoSettings.fast(), "fast"), (DemoSettings(), "full")])
def test_the_run_kind_is_read_from_the_manifest(script, tmp_path, settings, kind):
    settings = json.loads(json.dumps(settings.to_dict()))
    (tmp_path / "manifest.json").write_text(json.dumps({"fingerprint": {"settings": settings}}))
    assert script.run_kind(tmp_path) == kind
    settings["seed"] = 1
    (tmp_path / "manifest.json").write_text(json.dumps({"fingerprint": {"settings": settings}}))
    assert script.run_kind(tmp_path) == "custom"


def test_the_page_writes_every_row_and_the_counts(script):
    row = {
        "seed": 39000,
        "hypothesis": "bipolar-0",
        "aimed_at": ["off"],
        "predicted_designed_z": 30.0,
        "predicted_jitter_z": 3.0,
        "observed_designed_z": 20.0,
        "observed_jitter_z": 5.0,
        "observed_ratio": 4.0,
    }
    types = [
        {"hypothesis": "bipolar-0", "type": "off", "direction": -1, "designed_z": -30.0, "jitter_z": -3.0}
        | {"observed_designed_z": -20.0, "observed_jitter_z": -1.0}
    ]
    band = {"median": 4.0, "low": 4.0, "high": 4.0, "n": 1}
    result = {
        "run": "RUN",
        "run_kind": "full",
        "recording_s": 60.0,
        "rows": [row],
        "first_seed_types": types,
        "ratio_first_seed": band,
        "ratio_all_seeds": band,
        "designed_above_jitter": 1,
        "settings": {"seeds": [39000]},
        "machine": machine(),
    }
    text = script.page(result, "fig.png")
    assert "| 39000 | bipolar-0 | off | 30.0 | 3.0 | 20.0 | 5.0 | 4.00 |" in text
    assert "| bipolar-0 | off | down | -30.0 | -3.0 | -20.0 | -1.0 |" in text
    assert "1 of 1 under the designed stimuli, 0 under jitter" in text and "(a full demo run)" in text

"""analyses/retina_replicates.py: intervals over seeds, the README section and the figure (on made-up runs)."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

SCRIPT = Path(__file__).resolve().parents[1] / "analyses" / "retina_replicates.py"


@pytest.fixture(scope="module")
def replicates():
    spec = importlib.util.spec_from_file_location("retina_replicates", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_interval_is_the_t_interval_of_the_mean(replicates):
    values = [0.78, 0.54, 0.61, 0.70]
    band = replicates.interval(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert band["mean"] == pytest.approx(np.mean(values)) and band["n"] == 4
    assert (band["low"], band["high"]) == pytest.approx((low, high))
    assert np.isnan(replicates.interval([0.5])["low"])


def test_the_section_and_figure_come_from_the_runs(replicates, monkeypatch, tmp_path):
    runs = {9200: 0.54, 9300: 0.70}

    def fake_demo(folder, model, settings, progress, log):
        assert model == "my_model"
        folder.mkdir(parents=True)
        summary = {key: 0.1 for key in replicates.QUANTITIES} | {"recovery_score": runs[settings.seed]}
        for layer in ("bipolar", "amacrine"):
            contribution = 0.05 if settings.seed == 9200 else 0.01  # below activation at one seed
            summary[f"control_specificity_{layer}"] = {
                intervention: {"contribution": contribution, "activation": 0.03, "random": 0.0}
                for intervention in ("ablate", "preserve")}
        (folder / "summary.json").write_text(json.dumps(summary))
        return folder / "report.md"

    def fake_retest(folder, settings, test_seeds, frames, model):
        assert folder == tmp_path / "seed_9200" and settings.seed == 9200 and test_seeds == [9202, 9302]
        return {"seed": settings.seed, "test_seeds": test_seeds,
                "frames": {str(n): {"scores": [0.5, 0.7], "interval": replicates.interval([0.5, 0.7])}
                           for n in frames}}

    monkeypatch.setattr(replicates, "run_demo", fake_demo)
    monkeypatch.setattr(replicates, "retest", fake_retest)
    result = replicates.replicate(tmp_path, list(runs), "my_model")
    assert result["intervals"]["recovery_score"]["mean"] == pytest.approx(0.62)
    assert result["differences"]["modes - shuffled"]["mean"] == pytest.approx(0.52)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["seeds"] == [9200, 9300] and written["model"] == "my_model"
    text = replicates.section(result, "docs/figures/x.png")
    assert "| recovery score (contribution modes) | 0.62 [" in text and "| 0.54, 0.70 |" in text
    assert "9200, 9300" in text and "(docs/figures/x.png)" in text
    assert written["machine"]["torch"] == torch.__version__
    assert f"machine: {written['machine']['cpu']} ({written['machine']['cpu_capability']})" in text
    assert "| 20 s of natural jitter | 0.60 [" in text and "| 60 s of natural jitter (the demo's) | 0.60 [" in text
    assert "seed-9200 run" in text and "| 0.50, 0.70 |" in text
    assert "| control specificity, bipolar ablate, contribution modes | +0.030 [" in text
    assert "| +0.050, +0.010 |" in text
    assert "| difference, control specificity, amacrine preserve: modes - activation (paired) | +0.000 [" in text
    assert "activation modes (paired interval above 0) in none of the 4 layer and intervention pairs" in text
    figure = replicates.plot(result, tmp_path / "replicates.png")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

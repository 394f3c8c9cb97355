"""The demo's summary: computed from the step results, written to summary.json and read back
unchanged, NaN as null, and one clear error for a file that is not a demo run's summary."""

import dataclasses
import json

import numpy as np
import pytest

from retinacodec.errors import RetinaCodecError
from retinacodec.pipelines.retina import DemoSettings
from retinacodec.pipelines.retina.summary import KINDS, DemoSummary, KindRecovery, PathwayCoverage, summarize

FAST = DemoSettings.fast()


def test_summary_round_trips_through_json_as_the_run_wrote_it(finished, results):
    text = (finished / "summary.json").read_text()
    summary = DemoSummary.from_json(text)
    assert summary.to_json() == text
    assert DemoSummary.from_json(summary.to_json()) == summary
    assert summarize(results, FAST.layers, summary.machine) == summary  # the same numbers from the step results
    assert list(summary.layers) == list(FAST.layers)
    assert summary.n_hypotheses == results["hypotheses"].sizes["hypothesis"]
    tested = summary.virtual_retina
    assert tested.n_hypotheses_activation == results["hypotheses_activation"].sizes["hypothesis"]
    assert set(tested.contribution.recovery_by_kind) <= set(KINDS.values())
    assert all(isinstance(kind, KindRecovery) for kind in tested.activation.recovery_by_kind.values())
    assert all(isinstance(pathway, PathwayCoverage) for pathway in tested.contribution.coverage.values())
    assert tested.ceiling.ceiling_channels == FAST.ceiling_channels
    assert list(tested.ceiling.ceiling) == [str(p) for p in results["ceiling"]["pathway"].values]
    data = json.loads(text)  # the summary's fields are named by their keys
    assert data["control_beats_amacrine"] == summary.layers["amacrine"].control_beats
    assert data["coverage_activation"] == {p: vars(c) for p, c in tested.activation.coverage.items()}


def test_nan_is_none_in_the_summary_and_null_in_the_json(finished, results):
    fit = results["fit"].copy()
    fit["pearson_r"] = fit["pearson_r"] * np.nan
    summary = summarize(results | {"fit": fit}, FAST.layers, {"cpu": "test"})
    assert summary.model_r is None and set(summary.model_r_by_type.values()) == {None}
    text = summary.to_json()
    assert '"model_r": null' in text and DemoSummary.from_json(text) == summary


def test_a_summary_without_a_virtual_retina_ends_with_the_hypotheses_count(finished):
    summary = dataclasses.replace(DemoSummary.from_json((finished / "summary.json").read_text()), virtual_retina=None)
    data = json.loads(summary.to_json())
    assert list(data)[-2:] == ["n_hypotheses", "machine"] and "recovery_score" not in data
    assert DemoSummary.from_json(summary.to_json()) == summary


def test_a_file_that_is_not_a_demo_summary_is_one_clear_error(finished):
    data = json.loads((finished / "summary.json").read_text())
    data["recovery_by_kind"]["whole set"]["extra"] = 1
    for text, message in (
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"model_r": 0.5}', "lacks 'model_r_by_type'"),
        (json.dumps(data), "malformed summary"),
    ):
        with pytest.raises(RetinaCodecError, match=message):
            DemoSummary.from_json(text)
    del data["recovery_by_kind"]["whole set"]["extra"], data["ceiling_channels"]
    with pytest.raises(RetinaCodecError, match="lacks 'ceiling_channels'; expected summary.json of a demo run"):
        DemoSummary.from_json(json.dumps(data))

"""The demo's summary: computed from the step results, written to summary.json and read back
unchanged, NaN as null, the records of the later sections (test stimuli, preferred stimuli,
phenomena) checked against the run's files, and one clear error for a file that is not a demo
run's summary."""

import dataclasses
import json

import numpy as np
import pytest

from retinacodec.errors import RetinaCodecError
from retinacodec.io import read_netcdf
from retinacodec.pipelines.retina import DemoSettings
from retinacodec.pipelines.retina.section_numbers import VERDICTS
from retinacodec.pipelines.retina.summary import KINDS, DemoSummary, KindRecovery, PathwayCoverage, summarize

FAST = DemoSettings.fast()


def _same(number, value) -> bool:
    """Whether a summary's number is ``value`` (None for NaN)."""
    value = float(value)
    return number is None if not np.isfinite(value) else number == pytest.approx(value)


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


def test_a_summary_without_a_virtual_retina_has_only_the_sections_records_after_the_hypotheses_count(finished):
    summary = dataclasses.replace(DemoSummary.from_json((finished / "summary.json").read_text()), virtual_retina=None)
    data = json.loads(summary.to_json())
    assert list(data)[-4:] == ["n_hypotheses", "test_stimuli", "phenomena", "machine"] and "recovery_score" not in data
    assert DemoSummary.from_json(summary.to_json()) == summary
    bare = dataclasses.replace(summary, preferred_stimuli=None, test_stimuli=None, phenomena=None)
    data = json.loads(bare.to_json())  # as a run from before the records wrote it
    assert list(data)[-2:] == ["n_hypotheses", "machine"] and "preferred_stimuli" not in data
    assert DemoSummary.from_json(bare.to_json()) == bare


def test_the_test_stimuli_record_holds_each_hypothesiss_designed_and_observed_effect(finished):
    summary = DemoSummary.from_json((finished / "summary.json").read_text())
    designs = read_netcdf(finished / "test_stimuli.nc")
    record = summary.test_stimuli
    assert record.checked and list(record.hypotheses) == [str(h) for h in designs["hypothesis"].values]
    assert record.steps == FAST.design_steps and record.seed == FAST.seed
    assert record.seconds == pytest.approx(FAST.design_frames / 100)
    for name, test in record.hypotheses.items():
        target = designs["design_target"].sel(hypothesis=name)
        assert test.aimed_at == {str(t): int(v) for t, v in zip(target["type"].values, target.values) if v != 0}
        aimed = target.values != 0
        z = designs["designed_z"].sel(hypothesis=name).values
        assert test.cnn_z_designed == pytest.approx(float(np.mean(z[aimed] * target.values[aimed])))
        assert _same(test.ratio, designs["observed_ratio"].sel(hypothesis=name))
        assert _same(test.retina_z_designed, designs["observed_designed_target_z"].sel(hypothesis=name))
    ratios = designs["observed_ratio"].values
    finite = ratios[np.isfinite(ratios)]
    assert _same(record.median_ratio, np.median(finite) if finite.size else np.nan)


def test_the_preferred_stimuli_record_holds_every_irf_cell_and_mode_of_the_files(finished):
    summary = DemoSummary.from_json((finished / "summary.json").read_text())
    record = summary.preferred_stimuli
    files = sorted(finished.glob("preferred_cell*.nc"))
    assert sorted(record.cells) == sorted(p.stem.removeprefix("preferred_cell") for p in files) and files
    assert record.layer == "amacrine" and record.seconds == pytest.approx(0.08)  # the tiny model's 8 frames
    for path in files:
        ds = read_netcdf(path)
        cell = record.cells[path.stem.removeprefix("preferred_cell")]
        assert cell.cell_type == str(ds["cell_type"].values)
        assert cell.mei_rate_hz == pytest.approx(float(ds["mei_rate"]))
        assert list(cell.modes) == [str(m) for m in ds["mode"].values]
        for mode, numbers in cell.modes.items():
            row = ds.sel(mode=int(mode))
            assert numbers.share == pytest.approx(float(row["preferred_share"]))
            assert numbers.loading == pytest.approx(float(row["preferred_loading"]))
            assert numbers.irf_correlation == pytest.approx(float(row["irf_correlation"]))


def test_the_phenomena_record_holds_each_claims_block_test_and_the_verdict_counts(finished):
    summary = DemoSummary.from_json((finished / "summary.json").read_text())
    by_mode = read_netcdf(finished / "phenomena.nc")
    checked = read_netcdf(finished / "phenomena_checked.nc")
    record = summary.phenomena
    verdicts = [str(v) for v in checked["verdict"].values]
    assert record.verdicts == {v: verdicts.count(v) for v in VERDICTS}
    assert sum(record.verdicts.values()) == len(verdicts)
    assert record.seeds == [int(s) for s in checked["seed"].values] and str(record.seeds) == checked.attrs["rule_seeds"]
    assert record.completeness_error_max_hz == pytest.approx(float(np.abs(by_mode["completeness_error"]).max()))
    assert len(record.claims) == checked.sizes["claim"]
    for claim, i in zip(record.claims, checked["claim"].values):
        row = checked.sel(claim=i)
        assert (claim.phenomenon, claim.cell_type) == (str(row["phenomenon"].values), str(row["cell_type"].values))
        assert claim.block == (str(row["block"].values) or None) and claim.verdict == str(row["verdict"].values)
        assert _same(claim.removed.mean, row["reduction_mean"]) and _same(claim.removed.low, row["reduction_low"])
        assert list(claim.control_removed) == [str(c) for c in checked["control"].values]
        for control, value in claim.control_removed.items():
            assert value == pytest.approx(float(row["control_reduction_mean"].sel(control=control)))
        cnn = record.cnn[claim.phenomenon][claim.cell_type]
        assert cnn.leading_mode == claim.leading_mode
        assert cnn.pathway == (str(by_mode["pathway"].sel(mode=cnn.leading_mode).values) or None)
    for phenomenon, types in record.cnn.items():
        for cell_type, cnn in types.items():
            row = by_mode.sel(phenomenon=phenomenon, cell_type=cell_type)
            assert cnn.leading_mode == int(row["leading_mode"])
            assert cnn.contrast_hz == pytest.approx(float(row["contrast"]))
            shares = row["share"].where(by_mode["pathway"] == cnn.pathway).sum()
            assert cnn.pathway_share == pytest.approx(float(shares)) if cnn.pathway else cnn.pathway_share is None


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

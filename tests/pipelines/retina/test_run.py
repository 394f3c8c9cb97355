"""The demo pipeline with tiny settings: the files it writes, the folders it refuses, resuming after
an interruption with the same numbers, a run on an NWB recording, and one clear error per mistake."""

import dataclasses
import json

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.io import read_netcdf, write_nwb
from retinacodec.io.markdown import section_markers
from retinacodec.io.resumable import Workspace
from retinacodec.models.virtual_retina import PATHWAYS
from retinacodec.pipelines.retina import DemoSettings
from retinacodec.pipelines.retina import steps as demo_steps
from retinacodec.pipelines.retina.report import by_kind_text
from retinacodec.pipelines.retina.run import run_demo
from retinacodec.pipelines.retina.summary import DemoSummary, hypothesis_kinds
from retinacodec.stimuli import natural_jitter

FAST = DemoSettings.fast()
STEPS = ["fit", "contributions", "modes", "compare", "irf", "control", "preferred", "hypotheses", "phenomena"]


def test_demo_writes_results_figures_and_a_report_with_the_numbers(finished):
    manifest = json.loads((finished / "manifest.json").read_text())
    assert list(manifest["steps"]) == STEPS
    for record in manifest["steps"].values():
        for output in record["outputs"].values():
            if output["kind"] == "netcdf":
                read_netcdf(finished / output["file"])
    figures = sorted(p.name for p in finished.glob("*.png"))
    for name in (
        "model_fit.png",
        "modes_bipolar.png",
        "modes_amacrine.png",
        "hypotheses.png",
        "sparsity.png",
        "control_amacrine.png",
    ):
        assert name in figures
    assert any(name.startswith("irf_cell") for name in figures)
    report = (finished / "report.md").read_text()
    for name in figures:
        assert f"]({name})" in report
    summary = DemoSummary.from_json((finished / "summary.json").read_text())
    tested, ceiling_numbers = summary.virtual_retina, summary.virtual_retina.ceiling
    modes = tested.contribution
    contributions = read_netcdf(finished / "contributions_bipolar.nc")
    assert summary.layers["bipolar"].completeness_error_max_hz == pytest.approx(
        float(np.abs(contributions["completeness_error"]).max())
    )
    assert f"| {summary.model_r:.3f} |" in report
    assert 0.0 <= modes.recovery_score <= 1.0 and 0.0 <= modes.recovery_score_shuffled <= 1.0
    assert f"| recovery score (virtual retina) | {modes.recovery_score:.2f} |" in report
    hypotheses = read_netcdf(finished / "hypotheses.nc")
    kinds = np.array(hypothesis_kinds(hypotheses))
    assert sum(k.n for k in modes.recovery_by_kind.values()) == hypotheses.sizes["hypothesis"]
    for kind, value in modes.recovery_by_kind.items():
        weights = hypotheses["confidence"].values[kinds == kind]
        agreement = hypotheses["type_agreement"].values[kinds == kind]
        if weights.sum() > 0:
            assert value.recovery == pytest.approx(float(np.dot(weights, agreement) / weights.sum()))
    assert set(kinds) <= {"whole set", "inhibitory outputs"} and "whole set" in set(kinds)
    assert (
        f"Recovery score by kind of hypothesis (hypotheses, confirmed): {by_kind_text(modes.recovery_by_kind)}"
    ) in report
    assert "observed_change" in hypotheses and hypotheses.sizes["shuffle"] == FAST.n_shuffles
    assert report.count("Blocking the ") >= hypotheses.sizes["hypothesis"]
    ceiling = read_netcdf(finished / "ceiling.nc")
    low = [f"{n} ({c:.2f})" for n, c in zip(ceiling["name"].values, ceiling["ceiling"].values) if c < 1]
    assert (f"below 1 for {', '.join(low)}, whose" in report) if low else ("below 1 for" not in report)
    best = [
        float(ceiling["layer_ceiling"].sel(layer=layer, pathway=pathway))
        for layer, pathway in zip(hypotheses["layer"].values, hypotheses["block"].values)
    ]
    weights = hypotheses["confidence"].values
    if weights.sum() > 0:
        assert modes.recovery_ceiling_named == pytest.approx(float(np.dot(weights, best) / weights.sum()))
        assert f"the same hypotheses would score {modes.recovery_ceiling_named:.2f} instead of" in report
    assert ceiling_numbers.recovery_match_all_sets == pytest.approx(float(ceiling["match_agreement"].mean()))
    assert (f"Its type agreement, averaged over pathways, is {ceiling_numbers.recovery_match_all_sets:.2f}") in report
    assert ceiling.attrs["match_rule"] == hypotheses.attrs["match_rule"]
    assert ceiling_numbers.pathways_confirmable == int((ceiling["ceiling"] >= 1).sum())
    assert ceiling_numbers.pathways_confirmable_assigned == int((ceiling["assigned_ceiling"] >= 1).sum())
    assert (
        f"could name at most {ceiling_numbers.pathways_confirmable} of the 6 pathways (those whose ceiling is 1), "
        f"and at most {ceiling_numbers.pathways_confirmable_assigned} counting only the sets the match assigns them"
    ) in report
    unassigned = [p for p, v in ceiling_numbers.assigned_ceiling.items() if v is None]  # NaN is None
    assert unassigned == [
        str(p) for p, c in zip(ceiling["pathway"].values, ceiling["assigned_channels"].values) if not str(c)
    ]
    assert report.count("| none assigned |") == len(unassigned)
    activation = read_netcdf(finished / "hypotheses_activation.nc")
    shared = set(zip(hypotheses["layer"].values, hypotheses["channels"].values, hypothesis_kinds(hypotheses))) & set(
        zip(activation["layer"].values, activation["channels"].values, hypothesis_kinds(activation))
    )
    assert tested.hypotheses_shared_with_activation == len(shared)
    predicted, observed = hypotheses["predicted_category"].values, hypotheses["observed_category"].values
    side = (predicted != 0) & (observed == 0)
    errors = tested.type_errors
    assert (
        errors["side effect"]
        == int(side.sum())
        == sum(n for types in tested.side_effects.values() for n in types.values())
    )
    assert errors["missed"] == int(((predicted == 0) & (observed != 0)).sum())
    if errors["side effect"] > 1:
        assert f"{errors['side effect']} are side effects" in report


def test_demo_designs_a_test_stimulus_per_hypothesis_and_checks_it_on_the_virtual_retina(finished):
    hypotheses = read_netcdf(finished / "hypotheses.nc")
    designs = read_netcdf(finished / "test_stimuli.nc")
    assert list(designs["hypothesis"].values) == list(hypotheses["hypothesis"].values)
    assert designs.sizes["time"] == FAST.design_frames and designs.attrs["design_steps"] == FAST.design_steps
    assert np.abs(designs["test_stimulus"].values).max() < designs.attrs["design_max_contrast"] + 1e-3
    np.testing.assert_allclose(hypotheses["observed_ratio"].values, designs["observed_ratio"].values)
    np.testing.assert_allclose(hypotheses["designed_z"].values, designs["designed_z"].values)
    report = (finished / "report.md").read_text()
    section = report[report.index("## Test stimuli") :]
    for name, ratio in zip(designs["hypothesis"].values, designs["observed_ratio"].values):
        assert f"| {name} |" in section and (f"| {ratio:.2f} |" in section or not np.isfinite(ratio))


def test_demo_finds_the_stimuli_each_irf_cells_leading_modes_prefer(finished):
    irf = read_netcdf(finished / "irf.nc")
    report = (finished / "report.md").read_text()
    section = report[report.index("## Stimuli the modes prefer") : report.index("## Control curves")]
    for cell, kept in zip(irf["cell"].values, irf["cell_modes"].values):
        preferred = read_netcdf(finished / f"preferred_cell{cell}.nc")
        modes = [int(m) for m in kept if m >= 0][: FAST.preferred_modes]
        assert list(preferred["mode"].values) == modes and preferred.sizes["time"] == 8  # the tiny model's history
        deviation = preferred["preferred_stimulus"].values - preferred.attrs["contrast_centre"]
        assert np.abs(deviation).max() < preferred.attrs["design_max_contrast"]
        assert f"](preferred_cell{cell}.png)" in section
        for mode, r in zip(modes, preferred["irf_correlation"].values):
            assert f"| mode {mode} |" in section and (f"| {r:+.2f} |" in section or not np.isfinite(r))


def test_demo_explains_the_phenomena_by_mode_and_tests_each_claim_with_a_block(finished):
    by_mode = read_netcdf(finished / "phenomena.nc")
    checked = read_netcdf(finished / "phenomena_checked.nc")
    assert by_mode.attrs["layer"] == "amacrine" and by_mode.attrs["setting_oms_frames"] == FAST.phenomena_oms_frames
    assert set(by_mode["pathway"].values) - {""} <= set(PATHWAYS)
    assert checked.sizes["seed"] == FAST.phenomena_seeds and checked.sizes["claim"] >= 1
    assert FAST.seed + 4 not in checked["seed"].values  # the CNN's object motion is not one of the test's seeds
    assert set(checked["verdict"].values) <= {"confirmed", "refuted", "no mode carries it"}
    report = (finished / "report.md").read_text()
    section = report[report.index("## Phenomena by mode") :]
    assert "](phenomena.png)" in section and "The rules were fixed before any outcome was seen" in section
    assert f"{int((checked['verdict'] == 'confirmed').sum())} of {checked.sizes['claim']} claims confirmed" in section


def test_model_fit_of_the_report_is_the_correlation_of_the_written_rates(finished):
    fit = read_netcdf(finished / "fit.nc")
    predicted, true = fit["predicted"].values, fit["true"].values
    by_hand = [np.corrcoef(predicted[:, c], true[:, c])[0, 1] for c in range(predicted.shape[1])]
    summary = DemoSummary.from_json((finished / "summary.json").read_text())
    assert summary.model_r == pytest.approx(np.nanmean(by_hand), abs=1e-6)


def test_demo_refuses_a_folder_with_other_files_or_another_run(tmp_path, tiny_model, finished):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RetinaCodecError, match="holds other files .*notes.txt.*--overwrite"):
        run_demo(tmp_path, model=tiny_model, settings=FAST, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    other = dataclasses.replace(FAST, seed=FAST.seed + 10)
    with pytest.raises(RetinaCodecError, match="another model, recording or settings"):
        run_demo(finished, model=tiny_model, settings=other, progress=False)


@pytest.mark.slow
def test_demo_resumes_after_an_interruption_and_ends_with_the_same_numbers(tmp_path, tiny_model, finished, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(demo_steps, "mode_irfs", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_demo(tmp_path, model=tiny_model, settings=FAST, progress=False)
    assert list(json.loads((tmp_path / "manifest.json").read_text())["steps"]) == STEPS[:4]
    assert not (tmp_path / "report.md").exists()

    def recomputed(*args, **kwargs):
        raise AssertionError("a finished step ran again")

    lines = []
    with monkeypatch.context() as patch:
        for name in ("virtual_retina_fit", "layer_contributions", "layer_modes", "comparison"):
            patch.setattr(demo_steps, name, recomputed)
        run_demo(tmp_path, model=tiny_model, settings=FAST, progress=False, log=lines.append)
    assert [line.split(":")[0] for line in lines if "read back" in line] == STEPS[:4]
    resumed = DemoSummary.from_json((tmp_path / "summary.json").read_text())
    assert resumed == DemoSummary.from_json((finished / "summary.json").read_text())
    again, first = read_netcdf(tmp_path / "hypotheses.nc"), read_netcdf(finished / "hypotheses.nc")
    np.testing.assert_array_equal(again["predicted_change"].values, first["predicted_change"].values)
    np.testing.assert_array_equal(again["observed_change"].values, first["observed_change"].values)


def test_workspace_recomputes_a_step_whose_file_changed_and_overwrite_starts_afresh(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"numbers": scalar(len(calls))}

    Workspace(tmp_path, {"a": 1}).run("step", compute)
    assert Workspace(tmp_path, {"a": 1}).run("step", compute)["numbers"].item() == 1 and len(calls) == 1
    (tmp_path / "numbers.nc").write_bytes(b"not netCDF")
    assert Workspace(tmp_path, {"a": 1}).run("step", compute)["numbers"].item() == 2
    assert Workspace(tmp_path, {"a": 2}, overwrite=True).run("step", compute)["numbers"].item() == 3
    with pytest.raises(RetinaCodecError, match="is a file"):
        Workspace(tmp_path / "numbers.nc", {"a": 2})


def scalar(value):
    return xr.DataArray(value, name="numbers")


@pytest.mark.slow
def test_demo_on_an_nwb_recording_trains_a_model_and_predicts_without_testing(tmp_path):
    from retinacodec.bench.rig import record_white_noise

    path = record_white_noise(tmp_path / "recording.nwb", minutes=2.1, seed=4, size=16)  # spikes only, as a rig
    settings = dataclasses.replace(FAST, analysis_windows=8, hypothesis_frames=120)
    report = run_demo(tmp_path / "out", nwb=path, settings=settings, progress=False)
    text = report.read_text()
    assert "no ground truth" in text and "recovery score" not in text.lower()
    assert "LN baseline on the same held-out data" in text
    assert (tmp_path / "out" / "model" / "cnn" / "model.pt").is_file()
    assert (tmp_path / "out" / "model" / "ln" / "model.pt").is_file()
    hypotheses = read_netcdf(tmp_path / "out" / "hypotheses.nc")
    assert "observed_change" not in hypotheses and (hypotheses["block"].values == "").all()
    written = (tmp_path / "out" / "summary.json").read_text()
    summary = DemoSummary.from_json(written)  # untested: the virtual-retina numbers are absent
    assert summary.virtual_retina is None and summary.n_hypotheses == hypotheses.sizes["hypothesis"]
    assert summary.to_json() == written
    assert list(json.loads(written))[-4:] == ["n_hypotheses", "test_stimuli", "phenomena", "machine"]
    assert not summary.test_stimuli.checked and summary.test_stimuli.hypotheses["bipolar-0"].ratio is None
    assert summary.phenomena.claims is None and summary.phenomena.verdicts is None and summary.preferred_stimuli
    assert "Silencing what channels" in text
    assert "## Test stimuli" in text and "the designed stimuli are predictions of the CNN only" in text
    assert "## Stimuli the modes prefer" in text and "the stimuli are the recording's CNN's predictions only" in text
    assert "designed_z" in hypotheses and "observed_ratio" not in hypotheses
    assert "## Phenomena by mode" in text and "There is no ground truth here: the shares are the CNN's" in text
    assert (tmp_path / "out" / "phenomena.nc").is_file() and not (tmp_path / "out" / "phenomena_checked.nc").exists()
    for name in ("model_fit.png", "modes_bipolar.png", "hypotheses.png", "test_stimuli.png"):
        assert (tmp_path / "out" / name).is_file()
    # a spatial recording: its units typed from their own responses, and IRF maps (not time courses)
    assert "## Cell types" in text and summary.cell_types is not None and sum(summary.cell_types.values()) == 20
    assert set(read_netcdf(tmp_path / "out" / "cell_types.nc")["source"].values) == {"functional"}
    assert list((tmp_path / "out").glob("irf_cell*.png")) and not (tmp_path / "out" / "irf_courses.png").exists()


def test_missing_corrupt_or_incomplete_recordings_and_unknown_layers_raise_one_clear_error(tmp_path, tiny_model):
    with pytest.raises(RetinaCodecError, match="NWB file not found"):
        run_demo(tmp_path / "a", nwb=tmp_path / "missing.nwb", progress=False)
    (tmp_path / "corrupt.nwb").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(RetinaCodecError, match="not an HDF5 file"):
        run_demo(tmp_path / "b", nwb=tmp_path / "corrupt.nwb", progress=False)
    stimulus = natural_jitter(n_frames=60, size=36, seed=4, progress=False)
    write_nwb(tmp_path / "no_units.nwb", stimulus, [])
    with pytest.raises(RetinaCodecError, match="no units table"):
        run_demo(tmp_path / "c", nwb=tmp_path / "no_units.nwb", progress=False)
    with pytest.raises(RetinaCodecError, match="unknown layer 'retina9'"):
        run_demo(
            tmp_path / "d",
            model=tiny_model,
            settings=dataclasses.replace(FAST, layers=("bipolar", "retina9")),
            progress=False,
        )
    with pytest.raises(RetinaCodecError, match="unknown model 'nonesuch'"):
        run_demo(tmp_path / "e", model="nonesuch", progress=False)
    assert not any((tmp_path / name).exists() for name in "abcde")


def test_the_results_page_numbers_and_figure_are_rewritten_from_the_runs_summary(finished, tmp_path):
    results = _results_demo()
    BEGIN, END, demo_section = results.BEGIN, results.END, results.demo_section

    page, figures = tmp_path / "demo.md", tmp_path / "figures"
    later = "\n".join(section_markers(results.SECTIONS))
    page.write_text(f"# title\n\nkept above\n{BEGIN}\nstale: recovery 0.49\n{END}\nkept below\n{later}\n")
    assert results.main([str(finished / "summary.json"), "--page", str(page), "--figures", str(figures)]) == 0
    text = page.read_text()
    numbers = json.loads((finished / "summary.json").read_text())
    assert text.startswith("# title\n\nkept above\n") and f"{END}\nkept below\n" in text
    assert "0.49" not in text and f"recovery score | {numbers['recovery_score']:.2f}" in text
    assert f"{numbers['pathways_covered']} of 6" in text
    machine = numbers["machine"]  # the run's machine, which its floating-point results depend on
    assert set(machine) == {"cpu", "cpu_capability", "cpus", "threads", "torch", "numpy", "python"}
    assert machine["threads"] == FAST.threads and machine["torch"] == torch.__version__
    line = f"{machine['cpu']} ({machine['cpu_capability']}), {machine['threads']} of {machine['cpus']} CPUs, torch"
    assert f"| machine of the run | {line}" in text and f"Machine: {line}" in (finished / "report.md").read_text()
    assert f"chosen by activity (no modes, no outcomes) | {numbers['recovery_match_all_sets']:.2f} |" in text
    assert (
        f"only sets the match assigns the pathway | {numbers['pathways_confirmable']}; "
        f"{numbers['pathways_confirmable_assigned']} |"
    ) in text
    assert numbers["ceiling_channels"] == FAST.ceiling_channels == 1  # the label says the size the run tried
    assert "| pathways a confirmed hypothesis of up to 1 channel could name at best" in text
    errors = numbers["type_errors"]
    assert (
        f"missed; wrong sign | {errors['right']}; {errors['side effect']}; {errors['missed']}; {errors['wrong sign']} |"
    ) in text
    assert (figures / results.FIGURE).read_bytes() == (finished / "hypotheses.png").read_bytes()
    numbers["ceiling"] = {"bipolar_on_sustained": 1.0, "amacrine_narrow": 0.5}
    assert (
        "no set of up to 1 channel of either layer reproduces (ceiling below 1: the CNN mixes them with "
        "others): narrow-field amacrine (0.50).\n\nTwo runs on one machine give identical numbers."
    ) in demo_section(numbers)
    del numbers["ceiling_channels"]  # a run from before the size was recorded
    assert "no set of few channels of either layer" in demo_section(numbers)
    for stale in ("no markers\n", f"{BEGIN}\n{END}\n"):  # the later sections' markers missing too
        page.write_text(stale)
        assert results.main([str(finished / "summary.json"), "--page", str(page), "--figures", str(figures)]) == 2
        assert page.read_text() == stale


def test_the_results_page_shows_the_later_sections_from_the_runs_records_and_figures(finished, tmp_path):
    results = _results_demo()
    page, figures = tmp_path / "demo.md", tmp_path / "figures"
    page.write_text("\n".join([*section_markers(results.SECTION), "between", *section_markers(results.SECTIONS)]))
    assert results.main([str(finished / "summary.json"), "--page", str(page), "--figures", str(figures)]) == 0
    text = page.read_text()
    later = text[text.index(section_markers(results.SECTIONS)[0]) :]
    designs = read_netcdf(finished / "test_stimuli.nc")
    section = later[later.index("## Test stimuli") : later.index("## Stimuli the modes prefer")]
    assert f"(seed {FAST.seed}, {FAST.design_steps} Adam steps)" in section
    assert f"natural jitter (seed {designs.attrs['jitter_seed']})" in section
    for name, ratio in zip(designs["hypothesis"].values, designs["observed_ratio"].values):
        assert f"| {name} |" in section and (f"| {ratio:.2f} |" if np.isfinite(ratio) else "| n/a |") in section
    section = later[later.index("## Stimuli the modes prefer") : later.index("## Phenomena by mode")]
    cells = sorted(finished.glob("preferred_cell*.nc"))
    assert cells
    for path in cells:
        preferred, cell = read_netcdf(path), path.stem.removeprefix("preferred_cell")
        assert f"](figures/demo_preferred_cell{cell}.png)" in section
        numbers = (preferred[name].values for name in ("mode", "preferred_loading", "preferred_share"))
        for mode, loading, share in zip(*numbers):
            assert f"| mode {mode} | {loading:.2f} | {share:.2f} |" in section
    checked = read_netcdf(finished / "phenomena_checked.nc")
    section = later[later.index("## Phenomena by mode") :]
    verdicts = [str(v) for v in checked["verdict"].values]
    assert (
        f"{verdicts.count('confirmed')} of {len(verdicts)} claims confirmed, {verdicts.count('refuted')} refuted"
    ) in section
    assert f"fresh seeds {', '.join(str(s) for s in checked['seed'].values)};" in section
    for claim in checked["claim"].values:
        row = checked.sel(claim=claim)
        assert f"| {float(row['reduction_mean']):+.2f}" in section and f"| {row['verdict'].values} |" in section
    assert sum(line.startswith("| ") for line in section.splitlines()) == 1 + checked.sizes["claim"]  # and a header
    for name in ("test_stimuli.png", "phenomena.png", *(p.with_suffix(".png").name for p in cells)):
        assert (figures / f"demo_{name}").read_bytes() == (finished / name).read_bytes()
        assert f"](figures/demo_{name})" in later
    assert "none of the later sections" in results.sections_text({"model_r": 0.5})


def _results_demo():
    """The results page's generator, ``analyses/results_demo.py``, as a module."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[3] / "analyses" / "results_demo.py"
    spec = importlib.util.spec_from_file_location("results_demo", script)
    results = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(results)
    return results


def test_demo_seed_flag_draws_every_stimulus_afresh_and_a_bad_seed_is_one_line(tmp_path, monkeypatch, capsys):
    from retinacodec.cli import main
    from retinacodec.pipelines.retina import run

    seen = {}
    monkeypatch.setattr(run, "run_demo", lambda output, **kwargs: seen.update(kwargs))
    assert main(["demo", "-o", str(tmp_path / "out"), "--fast", "--seed", "9200"]) in (0, None)
    assert seen["settings"] == dataclasses.replace(FAST, seed=9200)
    monkeypatch.undo()
    assert main(["demo", "-o", str(tmp_path / "out"), "--fast", "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert "seed is -1; expected" in err and len(err.strip().splitlines()) == 1

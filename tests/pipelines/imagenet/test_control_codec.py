"""The ``codec`` protocol end to end on a few shared imagenette images, and its settings and flags."""

from __future__ import annotations

import json

import numpy as np
import pytest

from retinacodec import RetinaCodecError
from retinacodec.control.curves.reference import PCTS, ranked_mode, reference_count, signed_ranking
from retinacodec.io import read_netcdf
from retinacodec.pipelines.imagenet.control.codec import summarize
from retinacodec.pipelines.imagenet.control.run import run_control
from retinacodec.pipelines.imagenet.control.settings import CodecSettings, ControlSettings

CLASSES = ("n01440764", "n03888257")  # tench (0), parachute (701)


def test_settings_default_to_todays_protocol_and_the_reference_values():
    assert ControlSettings().protocol == "retinacodec" and ControlSettings().ig_rule == "gausslegendre"
    codec = ControlSettings(protocol="codec")
    assert codec.ig_rule == "activation_trapezoid" and codec.ig_steps == 10
    reference = CodecSettings()
    assert (reference.mode_rank, reference.n_trials, reference.n_trial_images) == (1, 20, 10)
    assert reference.trial_seed == 1992
    assert reference.pcts == PCTS and reference.sae_epochs == 300 and reference.sae_threshold == 0.8
    assert codec.as_dict()["protocol"] == "codec" and codec.as_dict()["codec"]["mode_rank"] == 1
    assert ControlSettings.fast(protocol="codec").codec.n_trials == 2
    with pytest.raises(RetinaCodecError, match="protocol 'paper'"):
        ControlSettings(protocol="paper")
    with pytest.raises(RetinaCodecError, match="mode_rank"):
        CodecSettings(mode_rank=-1)
    with pytest.raises(RetinaCodecError, match="pcts"):
        CodecSettings(pcts=(0, 50))


def test_cli_passes_the_protocol_and_its_settings(monkeypatch, tmp_path):
    import retinacodec.pipelines.imagenet.control.run as run
    from retinacodec.cli import main

    seen = {}

    def fake(images, fit_images, output_dir, *, settings, **kwargs):
        seen["settings"] = settings
        (tmp_path / "summary.json").write_text('{"per_layer": {}}')  # the CLI prints its completeness lines
        return tmp_path / "report.md"

    monkeypatch.setattr(run, "run_control", fake)
    argv = ["imagenet", "--images", str(tmp_path), "--fit-images", str(tmp_path), "-o", str(tmp_path / "o")]
    assert main([*argv, "--protocol", "codec", "--mode-rank", "0", "--trials", "3"]) == 0
    settings = seen["settings"]
    assert settings.protocol == "codec" and settings.codec.mode_rank == 0 and settings.codec.n_trials == 3
    assert settings.codec.sae_epochs == 300  # the reference's, unless --sae-epochs says otherwise
    assert main(argv) == 0
    assert seen["settings"].protocol == "retinacodec" and seen["settings"].sae_epochs == 200  # as before


@pytest.fixture(scope="module")
def finished(tmp_path_factory, imagenette_subset):
    try:
        root = tmp_path_factory.mktemp("codec")
        held_out = imagenette_subset("val", root / "val", CLASSES, 3)
    except FileNotFoundError:
        pytest.skip("shared imagenette images not present")
    fit = imagenette_subset("fit", root / "fit", CLASSES, 4)
    settings = ControlSettings.fast(protocol="codec", layers=("block16",))
    report = run_control(held_out, fit, root / "run", settings=settings, progress=False, log=lambda line: None)
    return root / "run", settings, report


@pytest.mark.slow
def test_codec_run_follows_the_reference(finished):
    run, settings, report = finished
    data = read_netcdf(run / "contributions_00.contributions_block16.nc")
    assert data.attrs["method"] == "activation_trapezoid" and data.attrs["n_steps"] == settings.ig_steps
    fit = read_netcdf(run / "modes_block16.modes_contribution.nc")
    assert fit.sizes["channel"] == 320 and fit.sizes["mode"] == 3 * 320  # positive parts only: C features
    curves = read_netcdf(run / "control_block16.curves.nc")
    assert curves["pct"].values.tolist() == list(PCTS)
    assert curves["n_channels"].values.tolist() == [reference_count(320, p) for p in PCTS]
    assert curves.sizes["trial"] == 2 and curves.sizes["slot"] == 2
    targets = curves["trial_class"].sel(role="target").values
    for selection in ("contribution", "activation"):
        modes = read_netcdf(run / f"modes_block16.modes_{selection}.nc")
        for index in np.ndindex(targets.shape):
            r = modes["label_correlation"].sel(label=targets[index]).values
            expected = ranked_mode(r, modes["dead_modes"].values == 0, 1)  # the second mode, as the reference
            assert int(curves["mode"].sel(selection=selection).values[index]) == expected
    assert signed_ranking(fit["modes"].values[0]).size == 320
    summary = summarize(read_netcdf(run / "control_block16.curves.nc"), settings)
    assert not (run / "control_block16.curve_summary.nc").exists()  # derived at every run, not stored
    assert {"score", "score_low", "score_high", "score_gap", "score_vs_random"} <= set(summary)


@pytest.mark.slow
def test_codec_record_and_report_name_the_protocol_and_deviations(finished):
    run, settings, report = finished
    record = json.loads((run / "summary.json").read_text())
    assert record["protocol"] == "codec" and record["settings"]["codec"]["trial_seed"] == 1992
    assert record["ig_method"] == "activation_trapezoid"
    deviations = "\n".join(record["deviations"])
    for phrase in ("efficientnet_lite0", "2 classes, not ImageNet's 1000", "held-out", "IG steps 2", "no dropout"):
        assert phrase in deviations
    layer = record["per_layer"]["block16"]
    assert layer["counts"]["2"] == 6 and set(layer["score"]) == {"ablate", "preserve"}
    assert 0 <= layer["completeness"]["relative_completeness_error"]
    text = report.read_text()
    assert "codec protocol" in text and "## Deviations from the reference" in text
    for name in ("codec_curves_ablate.png", "codec_curves_preserve.png", "codec_layer_scores.png"):
        assert (run / name).stat().st_size > 0 and f"]({name})" in text
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["program"] == "retinacodec imagenet control"


@pytest.mark.slow
def test_the_results_page_shows_the_codec_run_with_its_verdicts(finished, tmp_path, results_page):
    module = results_page
    run, *_ = finished
    results = tmp_path / "results"
    results.mkdir()
    (results / "efficientnet_lite0_codec").symlink_to(run)
    page, figures = tmp_path / "page.md", tmp_path / "figures"
    page.write_text("<!-- imagenet-control:begin -->\n<!-- imagenet-control:end -->\n")
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- imagenet-replication:begin -->\nold\n<!-- imagenet-replication:end -->\n")
    argv = [str(results), "--page", str(page), "--figures", str(figures), "--readme", str(readme)]
    assert module.main(argv) == 0
    summary = readme.read_text()
    assert "old" not in summary and "efficientnet_lite0, protocol `codec`, 2 classes" in summary
    assert "Sound layers:" in summary and "[ImageNet control](page.md)" in summary
    text = page.read_text()
    assert "### Protocol `codec`" in text and "| block16 | " in text and "Deviations from the reference" in text
    assert all((figures / f"imagenet_efficientnet_lite0_{name}").is_file() for name in module.FIGURES["codec"])
    (tmp_path / "empty").mkdir()
    assert module.main([str(tmp_path / "empty"), "--page", str(page), "--figures", str(figures)]) == 2


def test_the_codec_protocol_refuses_a_mean_ablation_it_would_not_apply():
    with pytest.raises(RetinaCodecError, match="ablation 'mean' with protocol 'codec'"):
        ControlSettings(protocol="codec", ablation="mean")
    assert ControlSettings(protocol="retinacodec", ablation="mean").ablation == "mean"

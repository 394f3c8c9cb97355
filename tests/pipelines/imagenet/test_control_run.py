"""The control analysis end to end on a few shared ImageNet images: fit/held-out split, curves, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from retinacodec import RetinaCodecError
from retinacodec.io import read_netcdf
from retinacodec.pipelines.imagenet.control.run import run_control
from retinacodec.pipelines.imagenet.control.settings import ControlSettings
from retinacodec.pipelines.imagenet.control.steps import summarize

SHARED = Path(__file__).resolve().parents[4] / "shared" / "imagenette"
pytestmark = pytest.mark.skipif(not (SHARED / "val").is_dir(), reason="shared imagenette images not present")
CLASSES = ("n01440764", "n03888257")  # tench (0), parachute (701)


def _few(split: str, destination: Path, per_class: int = 3) -> Path:
    """Symlinks to the first images of two classes (the shared folder is never copied)."""
    for wnid in CLASSES:
        (destination / wnid).mkdir(parents=True)
        for file in sorted((SHARED / split / wnid).iterdir())[:per_class]:
            (destination / wnid / file.name).symlink_to(file)
    return destination


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("control")
    held_out, fit = _few("val", root / "val"), _few("fit", root / "fit", per_class=4)
    settings = ControlSettings.fast(layers=("block16",), n_target_images=2, n_off_target_images=2)
    lines: list[str] = []
    report = run_control(held_out, fit, root / "run", settings=settings, progress=False, log=lines.append)
    return root, held_out, fit, settings, report, lines


def test_modes_from_fit_images_control_on_held_out_ones(finished):
    root, held_out, fit, settings, report, lines = finished
    run = root / "run"
    contributions = read_netcdf(run / "contributions_00.contributions_block16.nc")
    assert contributions.sizes["sample"] == 8  # the fit images, 4 per class, labelled by wnid
    assert sorted(set(contributions["true_class"].values.tolist())) == [0, 701]
    curves = read_netcdf(run / "control_block16.curves.nc")
    assert curves.sizes["image"] == 6  # the held-out images only
    assert sorted(set(curves["true_class"].values.tolist())) == [0, 701]
    scored = ~np.isnan(curves["correct"].values)
    per_class = curves["target_class"].values >= 0
    assert scored[per_class].any(axis=(1, 2)).sum(-1).max() == 4  # 2 target + 2 off-target images per class
    text = report.read_text()
    assert "Control on held-out images only" in text and "6 held-out images" not in text
    assert "(2 Gauss-Legendre nodes, all layers in one pass)" in text
    assert contributions.attrs["method"] == settings.ig_rule == "gausslegendre"
    assert any("top-1 accuracy" in line and "6 held-out images" in line for line in lines)
    record = json.loads((run / "summary.json").read_text())
    assert record["top1"]["n_images"] == 6
    fractions = record["settings"]["fractions"]
    assert 0.02 in fractions


def test_summary_reports_completeness_and_seed_stability(finished):
    root, *_ = finished
    run = root / "run"
    record = json.loads((run / "summary.json").read_text())["per_layer"]["block16"]
    data = read_netcdf(run / "contributions_00.contributions_block16.nc")
    summed = data["contribution"].sum(("channel", "sign")).values  # independent of the stored error
    error = np.abs(summed - (data["target_value"] - data["baseline_value"]).values)
    assert record["completeness"]["completeness_error_median"] == pytest.approx(np.median(error), rel=1e-3, abs=1e-4)
    assert record["completeness"]["completeness_error_max"] == pytest.approx(error.max(), rel=1e-3, abs=1e-4)
    change = np.abs((data["target_value"] - data["baseline_value"]).values)
    assert record["completeness"]["relative_completeness_error"] == pytest.approx(np.median(error / change), rel=1e-3)
    for variable in ("contribution", "activation"):
        stability = read_netcdf(run / f"modes_block16.modes_{variable}.nc")["stability"].values
        assert record["statistics"][variable]["mean_stability"] == pytest.approx(np.nanmean(stability), abs=1e-4)
        assert 0 <= record["statistics"][variable]["mean_stability"] <= 1
    assert "seed stability" in (run / "report.md").read_text()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["program"] == "retinacodec imagenet control"


def test_curves_summary_has_intervals(finished):
    root, held_out, fit, settings, *_ = finished
    summary = summarize(read_netcdf(root / "run" / "control_block16.curves.nc"), settings)
    assert set(summary["selection"].values) == {"contribution", "activation", "random"}
    for name in ("target_accuracy", "off_target_accuracy", "specificity"):
        low, mid, high = (summary[f"{name}{suffix}"].values for suffix in ("_low", "", "_high"))
        assert np.all((low <= mid + 1e-12) | np.isnan(low)) and np.all((mid <= high + 1e-12) | np.isnan(high))
        assert f"{name}_auc" in summary


def test_a_rerun_reads_everything_back(finished):
    root, held_out, fit, settings, report, _ = finished
    lines: list[str] = []
    run_control(held_out, fit, root / "run", settings=settings, progress=False, log=lines.append)
    assert not any(line.endswith(" s") and "done in" in line for line in lines)
    assert sum("read back" in line for line in lines) >= 4


def test_fit_and_held_out_must_not_overlap(finished):
    root, held_out, *_ = finished
    with pytest.raises(RetinaCodecError, match="both fit and held-out"):
        run_control(held_out, held_out, root / "other", settings=ControlSettings.fast(), progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only machine's refusal")
def test_cuda_asked_for_on_a_cpu_only_machine_is_one_clear_error_before_any_work(finished):
    root, held_out, fit, *_ = finished
    with pytest.raises(RetinaCodecError, match="CUDA is not available"):
        run_control(held_out, fit, root / "cuda", settings=ControlSettings.fast(), device="cuda", progress=False)
    assert not (root / "cuda").exists()


def test_cli_refuses_a_negative_stability_fit_count(finished, capsys):
    from retinacodec.cli import main

    root, held_out, fit, *_ = finished
    argv = [
        "imagenet",
        "--images",
        str(held_out),
        "--fit-images",
        str(fit),
        "--stability-fits",
        "-1",
        "-o",
        str(root / "cli"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stability_fits is -1" in err[0]


def test_the_results_page_is_regenerated_from_a_finished_run(finished, tmp_path, results_page):
    module = results_page
    root, *_ = finished
    results = tmp_path / "results"
    results.mkdir()
    (results / "efficientnet_lite0_retinacodec").symlink_to(root / "run")  # <results>/<model>_<protocol>/
    page, figures = tmp_path / "docs" / "results" / "imagenet-control.md", tmp_path / "docs" / "figures"
    page.parent.mkdir(parents=True)
    page.write_text("# top\n<!-- imagenet-control:begin -->\nstale 9 %\n<!-- imagenet-control:end -->\nend\n")
    assert module.main([str(results), "--page", str(page), "--figures", str(figures)]) == 0
    text = page.read_text()
    summary = json.loads((root / "run" / "summary.json").read_text())
    assert text.startswith("# top\n") and text.endswith("<!-- imagenet-control:end -->\nend\n")
    assert "stale" not in text and "## efficientnet_lite0" in text and "### Protocol `retinacodec`" in text
    assert f"{100 * summary['top1']['accuracy']:.1f} %" in text
    assert "| block16 | " in text and "Sound layers:" in text  # the verdict table and its counts
    for name in module.FIGURES["retinacodec"]:
        assert (figures / f"imagenet_efficientnet_lite0_{name}").is_file()
        assert f"(../figures/imagenet_efficientnet_lite0_{name})" in text  # linked from the page
    page.write_text("no markers\n")
    assert module.main([str(results), "--page", str(page), "--figures", str(figures)]) == 2


def test_every_layer_reports_its_intervention_point_and_sanity(finished):
    root, held_out, fit, settings, report, lines = finished
    record = json.loads((root / "run" / "summary.json").read_text())
    entry = record["per_layer"]["block16"]
    assert entry["intervention_point"]["ablation"] == "zero" and not entry["intervention_point"]["non_negative"]
    assert set(entry["sanity"]) == {"ablate", "preserve"}
    assert entry["sanity"]["ablate"]["fraction"] == min(settings.fractions)
    assert entry["sanity"]["preserve"]["fraction"] == max(settings.fractions)
    assert all(len(v) == 3 for v in (entry["control"]["ablate_contribution"]["score"],))
    text = report.read_text()
    assert "Are the intervention points sound?" in text and "| block16 | zero |" in text
    assert "reference score" in text
    assert any("sanity check" in line.lower() and "block16" in line.lower() for line in lines)


@pytest.mark.filterwarnings("ignore:zero-ablating layer")
def test_mean_ablation_puts_in_the_fit_images_means(tmp_path):
    from retinacodec.models.adapter import adapt
    from retinacodec.models.zoo import load_classifier, model_spec
    from retinacodec.pipelines.imagenet.common.images import Views, find_images
    from retinacodec.pipelines.imagenet.common.layers import layer_aliases

    held_out, fit = _few("val", tmp_path / "val", per_class=2), _few("fit", tmp_path / "fit", per_class=2)
    settings = ControlSettings.fast(layers=("head",), n_target_images=1, n_off_target_images=1, ablation="mean")
    run_control(held_out, fit, tmp_path / "run", settings=settings, progress=False, log=lambda line: None)
    curves = read_netcdf(tmp_path / "run" / "control_head.curves.nc")
    assert curves.attrs["ablation"] == "mean" and curves.attrs["ablation_means"] == "given"
    assert curves.attrs["last_op"] == "ReLU6" and curves.attrs["non_negative"] == 1
    views = Views(find_images(fit), model_spec("efficientnet_lite0").preprocessing, 0, settings.seed)
    adapted = adapt(load_classifier("efficientnet_lite0"), layers=layer_aliases("efficientnet_lite0"))
    expected = adapted.intervention_point(views.load(views.center()), "head").channel_mean
    np.testing.assert_allclose(curves["fill"].values, expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(RetinaCodecError, match="ablation 'half'; expected one of zero, mean"):
        ControlSettings(ablation="half")

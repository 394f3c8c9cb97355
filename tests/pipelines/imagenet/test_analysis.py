"""The ImageNet pipeline: top-1 of the pretrained EfficientNet-Lite0 on the sample, a small
end-to-end run checked against hand computations, resumption, and bad input."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec import RetinaCodecError
from retinacodec.io import read_netcdf
from retinacodec.models.zoo import MODELS, weights_origin
from retinacodec.parallel import Execution
from retinacodec.pipelines.imagenet.common.images import Views, find_images, read_image
from retinacodec.pipelines.imagenet.common.predictions import predict
from retinacodec.pipelines.imagenet.layers.report import write_report
from retinacodec.pipelines.imagenet.layers.run import run_imagenet
from retinacodec.pipelines.imagenet.layers.settings import ImagenetSettings

PREP = MODELS["efficientnet_lite0"].preprocessing
SMALL = ImagenetSettings.fast(control_classes=(609,))
RUN = dict(device="cpu", execution=Execution(threads=None, progress=False))


def test_top1_of_pretrained_efficientnet_lite0_on_the_sample(lite0, sample_files):
    """A real pretrained model: it names the class (read from each file name) of most of the 20
    validation images (18 of 20 at the time of writing)."""
    views = Views(find_images("sample"), PREP, n_augment=0, seed=0)
    predicted = predict(lite0, views, batch_size=20, progress=False)
    labels = np.array([label for _, label in sample_files])
    correct = int((predicted == labels).sum())
    print(f"EfficientNet-Lite0 top-1 on the sample: {correct}/20")
    assert correct >= 14


def _outputs_with(model, layer_module, inputs, keep=None, drop=None):
    """Logits with channels of a layer's output zeroed by a hand-written hook."""

    def hook(module, args, output):
        mask = torch.ones(output.shape[1]) if drop is not None else torch.zeros(output.shape[1])
        mask[list(drop if drop is not None else keep)] = 0.0 if drop is not None else 1.0
        return output * mask.reshape(1, -1, 1, 1)

    handle = layer_module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            return model(inputs)
    finally:
        handle.remove()


@pytest.mark.slow
def test_small_run_end_to_end_and_resume(tmp_path, flat_folder, lite0, reference_transform, capsys):
    folder, labels_file = flat_folder
    out = tmp_path / "out"
    lines: list[str] = []
    summary = run_imagenet(folder, out, settings=SMALL, labels=labels_file, log=lines.append, **RUN)
    layer_dir = out / "layers" / "block16"
    for name in (
        "summary.nc",
        "control.nc",
        "maps.nc",
        "modes_contribution.nc",
        "modes_activation.nc",
        "control.png",
        "maps.png",
        "modes_contribution.png",
        "modes_activation.png",
    ):
        assert (layer_dir / name).stat().st_size > 0, name
    for name in (
        "summary.nc",
        "predictions.nc",
        "report.md",
        "control_across_layers.png",
        "sparsity.png",
        "PCA_dimensions.png",
        "mode_class_correlations.png",
    ):
        assert (out / name).stat().st_size > 0, name

    # references: the four center views through torchvision's transform, and the model by hand
    files = sorted(folder.glob("*.jpg"))
    labels = np.array([243, 559, 609, 609])
    inputs = torch.stack([reference_transform(PREP)(read_image(f)) for f in files])
    with torch.no_grad():
        predicted = lite0(inputs).argmax(1).numpy()
    assert summary.attrs["n_correct"] == int((predicted == labels).sum())
    assert any(line.startswith("top-1 accuracy of efficientnet_lite0 on 4 images") for line in lines)

    # activations of the center views: the block output summed over space, sign by sign
    recorded = []
    handle = lite0.blocks[15].register_forward_hook(lambda m, i, o: recorded.append(o))
    with torch.no_grad():
        lite0(inputs)
    handle.remove()
    block = recorded[0]
    parts = xr.concat([read_netcdf(p) for p in sorted((layer_dir / "contributions").glob("part-*.nc"))], "sample")
    assert parts.sizes["sample"] == 8
    center = parts["activation"].isel(sample=slice(0, None, 2))
    assert np.allclose(center.sel(sign="pos").values, block.clamp(min=0).sum((2, 3)).numpy(), rtol=1e-4, atol=1e-3)
    assert np.allclose(center.sel(sign="neg").values, block.clamp(max=0).sum((2, 3)).numpy(), rtol=1e-4, atol=1e-3)
    loadings = read_netcdf(layer_dir / "modes_contribution.nc")["loadings"]
    assert list(loadings["true_class"].values) == list(np.repeat(labels, 2))

    # control: the contribution mode's strongest 2 % channels (6 of 320), ablated and preserved by hand
    control = read_netcdf(layer_dir / "control.nc").sel(target_class=609)
    for selection in ("contribution", "activation"):
        dictionary = read_netcdf(layer_dir / f"modes_{selection}.nc")["modes"]
        weights = np.abs(dictionary.unstack("feature")).sum("sign").transpose("mode", "channel").values
        mode = int(control["mode"].sel(selection=selection))
        channels = np.argsort(-weights[mode], kind="stable")[:6]
        on_target = labels == 609
        for intervention, kwargs in (("ablate", {"drop": channels}), ("preserve", {"keep": channels})):
            correct = _outputs_with(lite0, lite0.blocks[15], inputs, **kwargs).argmax(1).numpy() == labels
            assert (
                float(control["target_accuracy"].sel(selection=selection, intervention=intervention))
                == correct[on_target].mean()
            )
            assert (
                float(control["off_target_accuracy"].sel(selection=selection, intervention=intervention))
                == correct[~on_target].mean()
            )
    assert (
        float(summary["target_accuracy"].sel(layer="block16", selection="contribution", intervention="none"))
        == (predicted == labels)[labels == 609].mean()
    )

    report = (out / "report.md").read_text()
    assert "| Control strategy | Contribution mode | Activation mode |" in report
    assert "| Ablation (remove 2% of channels): target-class accuracy |" in report
    assert "| Preservation (retain only 2% of channels): target-class accuracy |" in report
    assert "Off-target accuracy after ablation" in report
    assert f"Top-1 accuracy: {summary.attrs['n_correct']}/4" in report
    assert "augmented by random crops and flips: 1 random view per image" in report
    relative = 100 * float(summary["relative_completeness_error"].sel(layer="block16"))
    assert "median relative completeness error |" in report and f" {relative:.1f} % |" in report
    unweighted = summary.assign_attrs(
        weights="random", weights_sha256="", pretrained=False, warning=weights_origin("resnet50", None)["warning"]
    )
    text = write_report(unweighted, tmp_path / "random.md", {}).read_text()
    assert "**WARNING — RANDOM WEIGHTS: resnet50 has no pretrained weights here" in text

    # resume: the finished layer is read back, not recomputed
    stamp = (layer_dir / "summary.nc").stat().st_mtime_ns
    again = run_imagenet(folder, out, settings=SMALL, labels=labels_file, **RUN)
    assert "layer_block16: finished earlier" in capsys.readouterr().err
    assert (layer_dir / "summary.nc").stat().st_mtime_ns == stamp
    xr.testing.assert_identical(again["target_accuracy"], summary["target_accuracy"])
    with pytest.raises(RetinaCodecError, match="another model, recording or settings"):
        run_imagenet(folder, out, settings=dataclasses.replace(SMALL, n_steps=3), labels=labels_file, **RUN)


@pytest.mark.slow
def test_one_cluster_serves_every_layer_and_chunk_sizes_chosen_from_the_cost_keep_the_result(
    tmp_path, flat_folder, monkeypatch
):
    """Without a chunk size each layer's job sizes its chunks from the measured cost (a multiple of
    the 2 views per internal batch); the run on one local cluster for both layers gives the
    single-process contributions."""
    from retinacodec.parallel import cluster

    folder, labels_file = flat_folder
    settings = dataclasses.replace(SMALL, layers=("block14", "block16"), chunk_size=None, batch_size=4)
    started, real = [], cluster.local_cluster
    monkeypatch.setattr(cluster, "local_cluster", lambda workers: started.append(workers) or real(workers))
    runs = {}
    for name, workers in (("here", None), ("dask", 2)):
        where = Execution(workers=workers, threads=1, progress=False)
        run_imagenet(folder, tmp_path / name, settings=settings, labels=labels_file, device="cpu", execution=where)
        for layer in settings.layers:
            job = tmp_path / name / "layers" / layer / "contributions"
            chunking = json.loads((job / "manifest.json").read_text())["chunking"]
            assert chunking["n_inputs"] == 8 and chunking["chunk_size"] % 2 == 0
            runs[name, layer] = xr.concat([read_netcdf(p) for p in sorted(job.glob("part-*.nc"))], "sample")
    assert started == [2]
    for layer in settings.layers:
        xr.testing.assert_identical(runs["dask", layer], runs["here", layer])


def test_bad_input_is_refused(tmp_path, flat_folder):
    folder, labels_file = flat_folder
    with pytest.raises(RetinaCodecError, match="unknown model 'vgg'; expected efficientnet_lite0"):
        run_imagenet(folder, tmp_path, settings=ImagenetSettings(model="vgg"), labels=labels_file)
    with pytest.raises(RetinaCodecError, match="unknown layer 'block99' .*closest names: block9"):
        run_imagenet(folder, tmp_path, settings=ImagenetSettings(layers=("block99",)), labels=labels_file)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RetinaCodecError, match="no images found"):
        run_imagenet(empty, tmp_path)
    with pytest.raises(RetinaCodecError, match="unknown path"):
        ImagenetSettings(path="diagonal")
    for bad, message in (
        ({"n_steps": 0}, "n_steps is 0"),
        ({"control_fraction": 1.5}, "control_fraction is 1.5"),
        ({"layers": ()}, "list of layers is empty"),
        ({"n_augment": -1}, "n_augment is -1"),
    ):
        with pytest.raises(RetinaCodecError, match=message):
            ImagenetSettings(**bad)
    for bad, message in (
        ({"workers": 0}, "workers is 0"),
        ({"threads": -1}, "threads is -1"),
        ({"workers": 2, "scheduler": "tcp://127.0.0.1:1"}, "both workers and scheduler"),
    ):
        with pytest.raises(RetinaCodecError, match=message):
            run_imagenet(folder, tmp_path, labels=labels_file, execution=Execution(**bad))
    (tmp_path / "other.txt").write_text("a user's file")
    with pytest.raises(RetinaCodecError, match="holds other files"):
        run_imagenet(folder, tmp_path, settings=SMALL, labels=labels_file, **RUN)


@pytest.mark.slow
def test_cli_runs_the_per_layer_analysis_with_its_settings(tmp_path, flat_folder, capsys):
    """``retinacodec imagenet`` (no --fit-images): the flags become the run's settings, the report
    is written, and a bad setting is one line on stderr with exit status 2."""
    from retinacodec.cli import main

    folder, labels_file = flat_folder
    out = tmp_path / "cli"
    argv = [
        "imagenet",
        "--images",
        str(folder),
        "--labels",
        str(labels_file),
        "--layers",
        "block16",
        "--n-augment",
        "1",
        "--n-steps",
        "2",
        "--sae-epochs",
        "3",
        "--batch-size",
        "16",
        "--chunk-size",
        "6",
        "--control-classes",
        "1",
        "--device",
        "cpu",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert f"wrote {out / 'report.md'}: 1 layers, top-1" in printed.out
    assert "  block16: completeness error median " in printed.out and "median relative" in printed.out
    summary = read_netcdf(out / "summary.nc")
    assert json.loads(summary.attrs["params"])["n_steps"] == 2 and summary.attrs["n_augment"] == 1
    assert summary.sizes["layer"] == 1 and len(summary.attrs["control_classes"]) == 1
    assert json.loads((out / "manifest.json").read_text())["program"] == "retinacodec imagenet"
    assert main([*argv[:-1], str(tmp_path / "bad"), "--n-steps", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "n_steps is 0" in err[0]

"""A network of the user's own with its preprocessing (a Classifier), through top-1, the per-layer
run and the control run; its layers read from its structure; the run records model, weights and
preprocessing."""

from __future__ import annotations

import json
import shutil
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from retinacodec import RetinaCodecError
from retinacodec.io import read_netcdf
from retinacodec.models.classifier import Classifier
from retinacodec.models.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from retinacodec.parallel import Execution
from retinacodec.pipelines.imagenet.common.images import Views, find_images
from retinacodec.pipelines.imagenet.common.layers import default_layers
from retinacodec.pipelines.imagenet.common.predictions import top1
from retinacodec.pipelines.imagenet.control.run import run_control
from retinacodec.pipelines.imagenet.control.settings import ControlSettings
from retinacodec.pipelines.imagenet.layers.run import run_imagenet
from retinacodec.pipelines.imagenet.layers.settings import ImagenetSettings

from .conftest import FOOLBOX_DATA

PREP = Preprocessing(40, 32, IMAGENET_MEAN, IMAGENET_STD, "bilinear")


@pytest.fixture
def tiny() -> Classifier:
    """A small CNN whose trunk is ``features`` (4 modules, so layers block1 .. block4)."""
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2), nn.ReLU())
    module = nn.Sequential(
        OrderedDict(features=features, pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), fc=nn.Linear(16, 1000))
    )
    return Classifier(module.eval(), PREP, name="tiny")


def test_top1_of_a_module_uses_its_preprocessing(tiny, flat_folder):
    folder, labels = flat_folder
    result = top1(tiny, folder, labels=labels, progress=False, device="cpu")
    inputs = Views(find_images(folder, labels), PREP, 0, 0).load(range(4))
    assert inputs.shape == (4, 3, 32, 32)
    with torch.no_grad():
        assert list(result["predicted"].values) == tiny.module(inputs).argmax(1).tolist()
    assert result.attrs["model"] == "tiny" and result.attrs["weights"] == "given module"
    assert result.attrs["preprocessing"].startswith("resize 40, crop 32, bilinear")
    assert default_layers("tiny", module=tiny.module) == ["block1", "block2", "block3", "block4"]
    with pytest.raises(RetinaCodecError, match="weights or preprocessing given beside a Classifier"):
        top1(tiny, folder, labels=labels, preprocessing="resize=40,crop=32")


@pytest.mark.slow
def test_layer_run_of_a_module(tiny, flat_folder, tmp_path):
    folder, labels = flat_folder
    settings = ImagenetSettings.fast(layers=("block4",), control_classes=(609,))
    execution = Execution(threads=None, progress=False)
    summary = run_imagenet(
        folder, tmp_path / "run", settings=settings, labels=labels, weights=tiny, device="cpu", execution=execution
    )
    assert summary.attrs["model"] == "tiny" and summary.attrs["preprocessing"].startswith("resize 40, crop 32")
    assert summary.attrs["weights_sha256"].startswith("torch.nn.modules.container.Sequential:")
    modes = read_netcdf(tmp_path / "run" / "layers" / "block4" / "modes_contribution.nc")
    assert modes.sizes["feature"] == 32  # 16 channels, 2 signs
    report = (tmp_path / "run" / "report.md").read_text()
    assert "- Model: `tiny`, weights: given module" in report
    assert "- Preprocessing: resize 40, crop 32, bilinear" in report
    with torch.no_grad():
        tiny.module.fc.bias.add_(1.0)  # other weights: the folder holds a run of another network
    with pytest.raises(RetinaCodecError):
        run_imagenet(folder, tmp_path / "run", settings=settings, labels=labels, weights=tiny, execution=execution)


@pytest.mark.slow
def test_control_run_of_a_module(tiny, tmp_path):
    files = sorted(FOOLBOX_DATA.glob("imagenet_*.jpg"))
    for split, chosen in (("fit", files[:8]), ("held_out", files[8:16])):
        for i, file in enumerate(chosen):
            (tmp_path / split / f"class{i % 2}").mkdir(parents=True, exist_ok=True)
            shutil.copy(file, tmp_path / split / f"class{i % 2}" / file.name)
    settings = ControlSettings.fast(n_layers=2, n_target_images=2, n_off_target_images=2)
    lines: list[str] = []
    report = run_control(
        tmp_path / "held_out",
        tmp_path / "fit",
        tmp_path / "run",
        settings=settings,
        weights=tiny,
        progress=False,
        log=lines.append,
    )
    record = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert record["model"] == "tiny" and record["layers"] == ["block1", "block4"]
    assert record["preprocessing"].startswith("resize 40, crop 32, bilinear")
    assert any(line.startswith("tiny: weights given module; preprocessing resize 40") for line in lines)
    assert "preprocessing resize 40, crop 32" in report.read_text()
    assert np.isfinite(record["top1"]["accuracy"])

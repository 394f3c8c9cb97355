"""``retinacodec imagenet --model/--weights/--preprocessing`` against a seeded torch hub cache
(offline): each weight name with its own preprocessing, a weights file with and without
``--preprocessing``, ViT-B/16, and what is printed."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import torch

from retinacodec.cli import main

IMAGE = "imagenet_06_609.jpg"


def _folder(tmp_path) -> list[str]:
    """Arguments for a flat folder of one sample image with its labels file, top-1 only."""
    data = Path(list(importlib.util.find_spec("foolbox").submodule_search_locations)[0]) / "data"
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(data / IMAGE, folder / "a.jpg")
    labels = tmp_path / "labels.txt"
    labels.write_text("a.jpg 609\n")
    return ["--images", str(folder), "--labels", str(labels), "--top1-only", "-o", str(tmp_path / "out")]


def _run(arguments, capsys) -> tuple[int, str, str]:
    status = main(["imagenet", *arguments, "--device", "cpu"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.slow
@pytest.mark.parametrize(("weights", "resize"), [("IMAGENET1K_V1", 256), ("IMAGENET1K_V2", 232), ("DEFAULT", 232)])
def test_resnet50_weight_names(cache, tmp_path, capsys, weights, resize):
    cache("resnet50", "ResNet50_Weights.IMAGENET1K_V1")
    cache("resnet50", "ResNet50_Weights.IMAGENET1K_V2")
    status, out, _ = _run(["--model", "resnet50", "--weights", weights, *_folder(tmp_path)], capsys)
    assert status in (0, None)
    assert f"preprocessing resize {resize}, crop 224, bilinear" in out
    assert "top-1 accuracy of resnet50 on 1 images" in out


@pytest.mark.slow
def test_a_weights_file_with_and_without_preprocessing(cache, tmp_path, capsys):
    state = cache("resnet50", "ResNet50_Weights.IMAGENET1K_V2")
    file = tmp_path / "mine.pt"
    torch.save(state, file)
    arguments = ["--model", "resnet50", "--weights", str(file), *_folder(tmp_path)]
    status, _, err = _run(arguments, capsys)
    assert status == 2 and err.count("\n") == 1
    assert "cannot know which preprocessing weights file" in err and "--preprocessing" in err
    status, out, _ = _run([*arguments, "--preprocessing", "IMAGENET1K_V2"], capsys)
    assert status in (0, None) and "preprocessing resize 232, crop 224" in out
    status, out, _ = _run([*arguments, "--preprocessing", "resize=250,crop=224"], capsys)
    assert status in (0, None) and "preprocessing resize 250, crop 224" in out


def test_resnet18_and_a_bad_weight_name(cache, tmp_path, capsys):
    cache("resnet18", "ResNet18_Weights.IMAGENET1K_V1")
    images = _folder(tmp_path)
    status, out, _ = _run(["--model", "resnet18", "--weights", "IMAGENET1K_V1", *images], capsys)
    assert status in (0, None) and "ResNet18_Weights.IMAGENET1K_V1.transforms()" in out
    status, _, err = _run(["--model", "resnet18", "--weights", "ResNet50_Weights.IMAGENET1K_V2", *images], capsys)
    assert status == 2 and "are not resnet18's" in err


@pytest.mark.slow
def test_vit_b_16(cache, tmp_path, capsys):
    cache("vit_b_16", "ViT_B_16_Weights.IMAGENET1K_V1")
    status, out, _ = _run(["--model", "vit_b_16", "--weights", "IMAGENET1K_V1", *_folder(tmp_path)], capsys)
    assert status in (0, None) and "preprocessing resize 256, crop 224, bilinear" in out

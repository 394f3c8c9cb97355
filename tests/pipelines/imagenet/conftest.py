"""Shared fixtures of the ImageNet tests: the sample images and the pretrained EfficientNet-Lite0."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
import torch
from torchvision import transforms

from retinacodec.models.zoo import load_classifier

FOOLBOX_DATA = Path(list(importlib.util.find_spec("foolbox").submodule_search_locations)[0]) / "data"


def label_from_name(path: Path) -> int:
    """The class index in a foolbox sample file name ``imagenet_NN_CLASS.jpg``."""
    return int(path.stem.split("_")[-1])


@pytest.fixture(scope="session")
def reference_transform():
    """torchvision's standard evaluation transform (the independent reference of center views),
    built from a zoo Preprocessing."""

    def build(prep) -> transforms.Compose:
        mode = transforms.InterpolationMode(prep.interpolation)
        return transforms.Compose(
            [
                transforms.Resize(prep.resize, interpolation=mode),
                transforms.CenterCrop(prep.crop),
                transforms.ToTensor(),
                transforms.Normalize(prep.mean, prep.std),
            ]
        )

    return build


@pytest.fixture(scope="session")
def sample_files() -> list[tuple[Path, int]]:
    """The foolbox ImageNet files with the class index read from each name, in name order."""
    files = sorted(FOOLBOX_DATA.glob("imagenet_*.jpg"))
    return [(f, label_from_name(f)) for f in files]


@pytest.fixture(scope="session")
def lite0() -> torch.nn.Module:
    return load_classifier("efficientnet_lite0")


@pytest.fixture
def flat_folder(tmp_path: Path) -> tuple[Path, Path]:
    """Four sample images (two of class 609) copied to a flat folder, with a labels file."""
    names = ["imagenet_00_243.jpg", "imagenet_01_559.jpg", "imagenet_06_609.jpg", "imagenet_07_609.jpg"]
    folder = tmp_path / "flat"
    folder.mkdir()
    lines = ["# file label"]
    for i, name in enumerate(names):
        shutil.copy(FOOLBOX_DATA / name, folder / f"img{i}.jpg")
        lines.append(f"img{i}.jpg {label_from_name(Path(name))}")
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(lines) + "\n")
    return folder, labels


SHARED_IMAGENETTE = Path(
    os.environ.get("RETINACODEC_IMAGENETTE", Path(__file__).resolve().parents[4] / "shared" / "imagenette")
)
"""The shared imagenette images (fit and val splits), outside the repository (or where
``RETINACODEC_IMAGENETTE`` says)."""


@pytest.fixture(scope="session")
def imagenette_subset():
    """A function that links the first ``per_class`` images of ``classes`` of a shared imagenette
    split into ``destination`` (ImageFolder layout; the shared folder is never copied)."""

    def link(split: str, destination: Path, classes: tuple[str, ...], per_class: int) -> Path:
        for wnid in classes:
            (destination / wnid).mkdir(parents=True)
            for file in sorted((SHARED_IMAGENETTE / split / wnid).iterdir())[:per_class]:
                (destination / wnid / file.name).symlink_to(file)
        return destination

    return link


@pytest.fixture(scope="session")
def results_page():
    """The module of ``analyses/results_imagenet_control.py`` (the results page generator)."""
    script = Path(__file__).resolve().parents[3] / "analyses" / "results_imagenet_control.py"
    spec = importlib.util.spec_from_file_location("results_imagenet_control", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

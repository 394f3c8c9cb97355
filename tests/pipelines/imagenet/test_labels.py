"""Class labels of ImageNet folders from their WordNet ids (the shipped ImageNet-1k list)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from retinacodec import RetinaCodecError
from retinacodec.models.zoo import MODELS
from retinacodec.pipelines.imagenet.common.images import (
    Views,
    find_images,
    folder_labels,
    wnid_index,
)

SHARED = Path(__file__).resolve().parents[4] / "shared" / "imagenette"
needs_shared = pytest.mark.skipif(not (SHARED / "val").is_dir(), reason="shared imagenette images not present")


def _readme_table() -> dict[str, tuple[int, str]]:
    """wnid -> (index, class name) from the table of the shared images' README."""
    rows = re.findall(r"^\| (n\d{8}) \| (\d+) \| ([^|]+) \|$", (SHARED / "README.md").read_text(), re.M)
    return {wnid: (int(index), name.strip()) for wnid, index, name in rows}


def test_the_shipped_list_is_the_1000_imagenet_wnids_in_sorted_order():
    index = wnid_index()
    assert len(index) == 1000
    assert sorted(index, key=index.get) == sorted(index)  # ILSVRC-2012 numbers its classes in sorted wnid order
    assert index["n01440764"] == 0 and index["n15075141"] == 999


@needs_shared
def test_list_agrees_with_the_readme_and_torchvision_class_names():
    from torchvision.models import ResNet50_Weights

    names = ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    table = _readme_table()
    assert len(table) == 10
    for wnid, (index, name) in table.items():
        assert wnid_index()[wnid] == index
        assert names[index] == name


def _folders(root: Path, names: list[str]) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(root / name / "a.png")
    return root


def test_a_wnid_subset_gets_imagenet_indices(tmp_path):
    source = find_images(_folders(tmp_path / "imgs", ["n03888257", "n01440764", "n02102040"]))
    assert list(source.labels) == [0, 217, 701]  # sorted folders: n01440764, n02102040, n03888257
    assert "WordNet ids" in source.description


def test_other_layouts_keep_sorted_positions_and_say_so(tmp_path):
    source = find_images(_folders(tmp_path / "imgs", ["dog", "cat", "zebra"]))
    assert list(source.labels) == [0, 1, 2]
    assert "sorted folder position" in source.description


@pytest.mark.parametrize("names", [["n01440764", "cats"], ["n01440764", "n99999999"]])
def test_an_inconsistent_scheme_is_an_error(names):
    with pytest.raises(RetinaCodecError, match="not ImageNet-1k WordNet ids"):
        folder_labels(names)


@needs_shared
def test_lite0_classifies_the_shared_validation_images_under_their_wnid_labels(lite0):
    source = find_images(SHARED / "val")
    table = _readme_table()
    assert sorted(set(source.labels)) == sorted(index for index, _ in table.values())
    labels = np.asarray(source.labels)
    first_two = np.concatenate([np.flatnonzero(labels == c)[:2] for c in np.unique(labels)])
    views = Views(source, MODELS["efficientnet_lite0"].preprocessing, 0, 0)
    with torch.no_grad():
        predicted = lite0(views.load(views.center(first_two))).argmax(1).numpy()
    assert (predicted == labels[first_two]).mean() >= 0.6  # ~74 % on the whole val set; 0 under sorted positions


@needs_shared
def test_cli_top1_on_a_wnid_subset(tmp_path, capsys):
    """``retinacodec imagenet --top1-only`` on a subset of WordNet-id folders: labels from the wnids."""
    from retinacodec.cli import main

    for wnid in ("n01440764", "n03888257"):
        (tmp_path / wnid).mkdir()
        for file in sorted((SHARED / "val" / wnid).iterdir())[:3]:
            (tmp_path / wnid / file.name).symlink_to(file)
    assert main(["imagenet", "--top1-only", "--images", str(tmp_path), "-o", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "labels from ImageNet-1k WordNet ids" in printed and "on 6 images" in printed
    accuracy = float(printed.rsplit("=", 1)[1].strip(" %\n"))
    assert accuracy >= 50  # under sorted positions (labels 0, 1) it would be about 0 %


def test_cli_refuses_overlapping_fit_and_held_out_images(tmp_path, capsys):
    from retinacodec.cli import main

    folder = _folders(tmp_path / "imgs", ["n01440764", "n03888257"])
    assert main(["imagenet", "--images", str(folder), "--fit-images", str(folder), "-o", str(tmp_path / "o")]) == 2
    assert "both fit and held-out images" in capsys.readouterr().err

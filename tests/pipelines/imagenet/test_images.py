"""Image sources, preprocessing and augmentation of the ImageNet analyses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import ResNet50_Weights

from retinacodec import RetinaCodecError
from retinacodec.models.published import weight_preprocessing
from retinacodec.models.zoo import MODELS
from retinacodec.pipelines.imagenet.common.images import (
    Views,
    augmentations_needed,
    center_view,
    find_images,
    random_view,
    read_image,
)


def test_sample_images_are_found_and_labelled_from_file_names(sample_files):
    source = find_images("sample")
    assert len(source.paths) == 20
    assert [p.name for p in source.paths] == [f.name for f, _ in sample_files]
    assert list(source.labels) == [label for _, label in sample_files]
    assert source.labels[:3] == (243, 559, 438)  # imagenet_00_243, imagenet_01_559, imagenet_02_438


@pytest.mark.parametrize(
    "prep",
    [*(spec.preprocessing for spec in MODELS.values()), weight_preprocessing(ResNet50_Weights.IMAGENET1K_V2)],
    ids=[*MODELS, "resnet50_v2"],
)
def test_center_view_matches_torchvision_transform(prep, sample_files, reference_transform):
    image = read_image(sample_files[1][0])  # 1024 x 683, not square
    ours = center_view(image, prep)
    reference = reference_transform(prep)(image)
    assert ours.shape == (3, prep.crop, prep.crop)
    assert torch.allclose(ours, reference, atol=1e-6)


def test_normalisation_by_hand():
    """A uniform colour ends up as (value / 255 - mean) / std in every pixel."""
    image = Image.new("RGB", (300, 260), (255, 0, 128))
    lite = center_view(image, MODELS["efficientnet_lite0"].preprocessing)
    assert torch.allclose(lite[:, 100, 100], torch.tensor([1.0, -1.0, (128 / 255 - 0.5) / 0.5]), atol=1e-6)
    resnet = center_view(image, weight_preprocessing(ResNet50_Weights.IMAGENET1K_V1))
    expected = [(1.0 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (128 / 255 - 0.406) / 0.225]
    assert torch.allclose(resnet[:, 50, 200], torch.tensor(expected), atol=1e-5)


def test_random_views_are_seeded_and_flip_both_ways():
    prep = MODELS["efficientnet_lite0"].preprocessing
    half = np.zeros((200, 300, 3), dtype=np.uint8)
    half[:, 150:] = 255  # dark left half, bright right half
    image = Image.fromarray(half)
    views = [random_view(image, prep, np.random.default_rng([0, k])) for k in range(24)]
    again = random_view(image, prep, np.random.default_rng([0, 3]))
    assert torch.equal(views[3], again)
    assert all(v.shape == (3, 224, 224) for v in views)
    # every crop spans at least 60 % of the 200 px short side, so it straddles the edge at x=150 or lies on
    # one side of it; a flipped view has its bright part on the left
    flipped = [v[0, :, 0].mean() > v[0, :, -1].mean() for v in views]
    assert 3 <= sum(flipped) <= 21


def test_views_order_labels_and_determinism(sample_files):
    source = find_images("sample")
    views = Views(source, MODELS["efficientnet_lite0"].preprocessing, n_augment=2, seed=5)
    assert len(views) == 60
    assert list(views.image[:4]) == [0, 0, 0, 1] and list(views.view[:4]) == [0, 1, 2, 0]
    assert list(views.labels[::3]) == [label for _, label in sample_files]
    first = views.load([0, 1, 2, 3])
    assert torch.equal(first, views.load([0, 1, 2, 3]))
    assert torch.equal(first[0], center_view(read_image(source.paths[0]), views.preprocessing))
    other = Views(source, views.preprocessing, n_augment=2, seed=6).load([1])
    assert not torch.equal(first[1], other[0])
    coords = views.sample_coords()
    assert list(coords["true_class"].values[:3]) == [243, 243, 243]


def test_augmentations_needed_by_hand():
    assert augmentations_needed(20, 256) == 12  # 20 x 13 = 260 >= 256 > 240 = 20 x 12
    assert augmentations_needed(50_000, 256) == 0


def test_image_folder_layout(tmp_path, sample_files):
    for name, (path, _) in zip(["b_dog", "a_cat", "b_dog"], sample_files[:3]):
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / path.name).write_bytes(path.read_bytes())
    source = find_images(tmp_path)
    assert [p.parent.name for p in source.paths] == ["a_cat", "b_dog", "b_dog"]
    assert source.labels == (0, 1, 1)


def test_flat_folder_with_labels_file(flat_folder):
    folder, labels = flat_folder
    source = find_images(folder, labels)
    assert [p.name for p in source.paths] == [f"img{i}.jpg" for i in range(4)]
    assert source.labels == (243, 559, 609, 609)


def test_bad_image_sources(tmp_path, flat_folder, monkeypatch):
    with pytest.raises(RetinaCodecError, match="image folder not found"):
        find_images(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RetinaCodecError, match="no images found"):
        find_images(empty)
    folder, labels = flat_folder
    with pytest.raises(RetinaCodecError, match="labels file"):
        find_images(folder)
    bad = tmp_path / "bad_labels.txt"
    bad.write_text("img0.jpg cat\n")
    with pytest.raises(RetinaCodecError, match="line 1"):
        find_images(folder, bad)
    bad.write_text("nothere.jpg 3\n")
    with pytest.raises(RetinaCodecError, match="no image"):
        find_images(folder, bad)
    with monkeypatch.context() as patch:  # a folder the user may not list (tests run as root: simulate it)
        patch.setattr(Path, "iterdir", lambda self: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
        with pytest.raises(RetinaCodecError, match="cannot read the image folder .*Permission denied"):
            find_images(empty)
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    with pytest.raises(RetinaCodecError, match="cannot read image .*broken.jpg"):
        read_image(broken)


GREY = np.linspace(0.0, 1.0, 16 * 16).reshape(16, 16)  # fractions of white


@pytest.mark.parametrize(
    "make, suffix",
    [
        (lambda: Image.fromarray(np.round(GREY * 65535).astype(np.uint16)), ".png"),  # 16-bit PNG: I;16
        (lambda: Image.fromarray(np.round(GREY * 65535).astype(np.int32), "I"), ".tif"),
        (lambda: Image.fromarray(GREY.astype(np.float32), "F"), ".tif"),
        (lambda: Image.fromarray(np.round(GREY * 255).astype(np.uint8)).convert("P"), ".png"),
        (lambda: Image.fromarray(np.round(GREY * 255).astype(np.uint8)).convert("LA"), ".png"),
        (lambda: Image.fromarray(np.round(GREY * 255).astype(np.uint8)).convert("RGBA"), ".png"),
        (lambda: Image.fromarray(np.round(GREY * 255).astype(np.uint8)).convert("CMYK"), ".jpg"),
    ],
)
def test_images_of_every_depth_and_mode_are_read_by_their_full_scale(tmp_path, make, suffix):
    path = tmp_path / f"grey{suffix}"
    source = make()
    source.save(path, **({"quality": 100} if suffix == ".jpg" else {}))
    with Image.open(path) as check:
        assert check.mode == source.mode  # the file keeps its mode
    rgb = np.asarray(read_image(path), dtype=np.float64) / 255.0
    assert rgb.shape == (16, 16, 3)
    np.testing.assert_allclose(rgb, np.repeat(GREY[..., None], 3, axis=2), atol=0.02 if suffix == ".jpg" else 0.003)


def test_deep_grey_images_outside_their_full_scale_are_refused(tmp_path):
    path = tmp_path / "bright.tif"
    Image.fromarray(np.full((4, 4), 3.5, dtype=np.float32), "F").save(path)
    with pytest.raises(RetinaCodecError, match=r"mode F\) has values in \[3.5, 3.5\]; expected 0..1"):
        read_image(path)


def test_an_image_above_the_decompression_bomb_limit_is_refused(tmp_path, monkeypatch):
    """PIL's decompression-bomb error (an image over twice ``MAX_IMAGE_PIXELS``) is named, not raised raw."""
    path = tmp_path / "huge.png"
    Image.new("L", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4096 px > 2 x 1000: PIL refuses to decode
    with pytest.raises(RetinaCodecError, match="huge.png is larger than PIL's limit of 1,000 pixels"):
        read_image(path)

"""Preprocessing read from torchvision transforms, timm data configs and explicit text."""

from __future__ import annotations

import pytest
import torchvision

from retinacodec import RetinaCodecError
from retinacodec.models.preprocessing import (
    IMAGENET_MEAN,
    Preprocessing,
    from_timm_config,
    from_transforms,
    parse_preprocessing,
)


def test_from_torchvision_transforms():
    swag = from_transforms(torchvision.models.ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1.transforms())
    assert (swag.resize, swag.crop, swag.interpolation) == (384, 384, "bicubic")
    with pytest.raises(RetinaCodecError, match="cannot read the preprocessing of"):
        from_transforms(object())


def test_from_timm_config():
    config = {"input_size": (3, 224, 224), "crop_pct": 0.875, "interpolation": "bicubic"}
    config |= {"mean": (0, 0, 0), "std": (1, 1, 1)}
    assert from_timm_config(config) == Preprocessing(256, 224, (0, 0, 0), (1, 1, 1), "bicubic")
    with pytest.raises(RetinaCodecError, match="crop mode 'squash' is not supported"):
        from_timm_config({**config, "crop_mode": "squash"})


def test_parse_preprocessing():
    prep = parse_preprocessing("resize=232, crop=224")
    assert prep == Preprocessing(232, 224, IMAGENET_MEAN, (0.229, 0.224, 0.225), "bilinear")
    other = parse_preprocessing("resize=292,crop=260,mean=0.5/0.5/0.5,std=0.5/0.5/0.5,interpolation=bicubic")
    assert other.mean == (0.5, 0.5, 0.5) and other.interpolation == "bicubic"
    assert other.as_dict()["mean"] == [0.5, 0.5, 0.5]
    assert prep.describe() == "resize 232, crop 224, bilinear, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)"
    for text, message in [
        ("crop=224", "lacks resize or crop"),
        ("resize=232,crop=224,gamma=2", "KEY one of"),
        ("resize=a,crop=224", "not a number"),
        ("resize=232,crop=224,mean=0.5/0.5", "not a number"),
        ("resize=200,crop=224", "1 <= crop <= resize"),
        ("resize=232,crop=224,interpolation=lanczos", "interpolation one of"),
    ]:
        with pytest.raises(RetinaCodecError, match=message):
            parse_preprocessing(text)

"""The deviations from the reference code that a control run's report names."""

from __future__ import annotations

import dataclasses

from retinacodec.pipelines.imagenet.control.deviations import SAE_LIMITS, deviations
from retinacodec.pipelines.imagenet.control.settings import CodecSettings, ControlSettings


def _record(settings: ControlSettings, channels: dict[str, int], model: str = "efficientnet_lite0") -> dict:
    return {
        "protocol": settings.protocol,
        "model": model,
        "layers": list(channels),
        "settings": settings.as_dict(),
        "n_classes": 10,
        "fit_images": {"n_images": 2000},
        "top1": {"n_images": 500},
        "per_layer": {layer: {"n_channels": n} for layer, n in channels.items()},
    }


def test_a_reference_sized_codec_run_names_only_what_it_cannot_follow():
    found = deviations(_record(ControlSettings(protocol="codec"), {"block15": 320, "head": 1280}))
    text = "\n".join(found)
    assert "efficientnet_lite0" in text and "10 classes, not ImageNet's 1000" in text
    assert "2000 fit images" in text and "500 other (held-out) images" in text and "in-sample" in text
    assert "among the 9 other classes" in text and "held fixed along the path" in text
    assert all(limit in found for limit in SAE_LIMITS)
    for setting in ("IG steps", "SAE epochs", "mode rank", "trials per", "percentages", "seed of the", "batches"):
        assert setting not in text  # the reference's values: no deviation
    assert "0 channels" not in text  # 1 % of 320 is 3 channels
    assert "original accuracy is 0" not in text


def test_trials_whose_original_accuracy_is_zero_are_named():
    record = _record(ControlSettings(protocol="codec"), {"block15": 320, "head": 1280})
    record["per_layer"]["block15"]["n_undefined_trials"] = 3
    record["per_layer"]["head"]["n_undefined_trials"] = 1
    assert any(line.startswith("4 (trial, class) entries whose original accuracy is 0") for line in deviations(record))


def test_changed_codec_settings_and_narrow_layers_are_named():
    codec = dataclasses.replace(CodecSettings(), mode_rank=0, n_trials=5, sae_epochs=50)
    settings = ControlSettings(protocol="codec", ig_steps=4, codec=codec)
    text = "\n".join(deviations(_record(settings, {"block3": 40, "block15": 320}, model="resnet50")))
    assert "mode rank 0, not the reference's 1" in text and "trials per (layer, percentage) 5" in text
    assert "SAE epochs 50" in text and "IG steps 4, not the reference's 10" in text
    assert "block3 (40 channels)" in text and "block15 (320 channels)" not in text
    assert "not torchvision's ResNet-50" not in text


def test_todays_protocol_names_its_own_choices():
    text = "\n".join(deviations(_record(ControlSettings(), {"block15": 320})))
    assert "Gauss-Legendre" in text and "2C features" in text and "summed magnitude" in text
    assert "best-correlated mode" in text and "max(1, round(f C))" in text
    assert "no dropout" not in text  # the SAE limits concern the codec protocol's reference SAE

"""Classifiers by name as users have them: torchvision weight names loaded from a seeded torch hub
cache (never the network), each with its own preprocessing and categories; weights files, whose
preprocessing is identified or asked for; timm names; the Classifier type."""

from __future__ import annotations

import pytest
import torch
import torchvision

from retinacodec import RetinaCodecError
from retinacodec.models import published
from retinacodec.models.classifier import Classifier
from retinacodec.models.preprocessing import Preprocessing
from retinacodec.models.zoo import HeadwiseAttention, load_classifier, open_classifier, weights_origin


def test_weight_names_resolve():
    enum = torchvision.models.ResNet50_Weights
    assert published.torchvision_weight("resnet50", "IMAGENET1K_V1") is enum.IMAGENET1K_V1
    assert published.torchvision_weight("resnet50", "DEFAULT") is enum.IMAGENET1K_V2
    assert published.torchvision_weight("resnet50", "ResNet50_Weights.IMAGENET1K_V2") is enum.IMAGENET1K_V2
    assert published.torchvision_weight("resnet50", "weights.pt") is None  # a file name
    with pytest.raises(RetinaCodecError, match="weights 'ViT_B_16_Weights.IMAGENET1K_V1' are not resnet50's"):
        published.torchvision_weight("resnet50", "ViT_B_16_Weights.IMAGENET1K_V1")
    assert published.weight_of_digest("resnet50", "11ad3fa6" + "0" * 56) is enum.IMAGENET1K_V2
    assert published.weight_of_digest("resnet50", "0" * 64) is None


@pytest.mark.slow
@pytest.mark.parametrize(
    ("weights", "resize", "qualified"),
    [
        ("IMAGENET1K_V1", 256, "ResNet50_Weights.IMAGENET1K_V1"),
        ("IMAGENET1K_V2", 232, "ResNet50_Weights.IMAGENET1K_V2"),
        ("DEFAULT", 232, "ResNet50_Weights.IMAGENET1K_V2"),
        ("ResNet50_Weights.IMAGENET1K_V1", 256, "ResNet50_Weights.IMAGENET1K_V1"),
    ],
)
def test_resnet50_named_weights_come_from_the_cache_with_their_preprocessing(cache, weights, resize, qualified):
    state = cache("resnet50", qualified)
    classifier = open_classifier("resnet50", weights, fast=False)
    assert torch.equal(classifier.module.fc.weight, state["fc.weight"])
    assert torch.equal(classifier.module.layer1[0].bn1.running_var, state["layer1.0.bn1.running_var"])
    assert classifier.preprocessing == Preprocessing(
        resize, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bilinear"
    )
    assert classifier.categories[:2] == ("tench", "goldfish") and len(classifier.categories) == 1000
    record = classifier.record()
    assert record["weights"].startswith(qualified) and record["pretrained"] is True
    assert record["weights_sha256"] == published.sha256(published.cached_file(torchvision.models.get_weight(qualified)))
    assert record["preprocessing"].startswith(f"resize {resize}, crop 224, bilinear")
    assert record["preprocessing_source"] == f"{qualified}.transforms()"
    assert weights_origin("resnet50", weights)["weights_sha256"] == record["weights_sha256"]


@pytest.mark.slow
def test_a_weights_file_needs_a_known_preprocessing(cache, tmp_path, monkeypatch):
    state = cache("resnet50", "ResNet50_Weights.IMAGENET1K_V2")
    file = tmp_path / "finetuned.pt"
    torch.save(state, file)
    plain = load_classifier("resnet50", file, fast=False)  # the network alone needs no preprocessing
    assert torch.equal(plain.fc.weight, state["fc.weight"])
    with pytest.raises(RetinaCodecError, match="cannot know which preprocessing weights file .*finetuned.pt assumes"):
        open_classifier("resnet50", file, fast=False)
    assert open_classifier("resnet50", file, "IMAGENET1K_V2", fast=False).preprocessing.resize == 232
    v1 = open_classifier("resnet50", str(file), "ResNet50_Weights.IMAGENET1K_V1", fast=False)
    assert v1.preprocessing.resize == 256
    explicit = open_classifier("resnet50", file, "resize=300,crop=288,interpolation=bicubic", fast=False)
    assert (explicit.preprocessing.resize, explicit.preprocessing.crop) == (300, 288)
    assert explicit.origin["preprocessing_source"] == "given: resize=300,crop=288,interpolation=bicubic"
    given = Preprocessing(240, 224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bilinear")
    assert open_classifier("resnet50", file, given, fast=False).preprocessing is given
    with pytest.raises(RetinaCodecError, match="unknown preprocessing 'IMAGENET9K' for resnet50"):
        open_classifier("resnet50", file, "IMAGENET9K", fast=False)
    # a downloaded published file is recognised by its SHA-256 (its name carries the prefix)
    monkeypatch.setattr(published, "sha256", lambda path: "11ad3fa6" + "0" * 56)
    known = open_classifier("resnet50", file, fast=False)
    assert known.preprocessing.resize == 232 and known.categories is not None
    assert "the weights file is that published file" in known.origin["preprocessing_source"]


def test_missing_weights_and_the_network_say_what_to_do(cache, tmp_path):
    with pytest.raises(RetinaCodecError, match="weights file not found: .*IMAGENET1K_V3.*IMAGENET1K_V1, IMAGENET1K_V2"):
        load_classifier("resnet50", "IMAGENET1K_V3")
    with pytest.raises(RetinaCodecError, match="cannot load torchvision.s ResNet34_Weights.IMAGENET1K_V1 .*URLError"):
        load_classifier("resnet34", "IMAGENET1K_V1")  # not in the seeded cache: the download is refused
    with pytest.raises(RetinaCodecError, match="unknown model 'nope'; expected efficientnet_lite0"):
        load_classifier("nope")


@pytest.mark.parametrize(
    ("model", "weight", "preprocessing"),
    [
        ("resnet18", "ResNet18_Weights.IMAGENET1K_V1", (256, 224, "bilinear")),
        ("efficientnet_b0", "EfficientNet_B0_Weights.IMAGENET1K_V1", (256, 224, "bicubic")),
        ("mobilenet_v3_small", "MobileNet_V3_Small_Weights.IMAGENET1K_V1", (256, 224, "bilinear")),
    ],
)
def test_other_torchvision_classifiers(cache, model, weight, preprocessing):
    state = cache(model, weight)
    classifier = open_classifier(model, "IMAGENET1K_V1")
    prep = classifier.preprocessing
    assert (prep.resize, prep.crop, prep.interpolation) == preprocessing
    key = next(k for k in state if k.endswith("weight") and state[k].ndim == 2)  # the last linear layer's
    assert torch.equal(classifier.module.state_dict()[key], state[key])
    with torch.no_grad():
        assert classifier.module(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)


@pytest.mark.slow
def test_vit_b_16_from_the_cache(cache):
    state = cache("vit_b_16", "ViT_B_16_Weights.IMAGENET1K_V1")
    classifier = open_classifier("vit_b_16", "IMAGENET1K_V1")
    assert (classifier.preprocessing.resize, classifier.preprocessing.crop) == (256, 224)
    assert sum(isinstance(m, HeadwiseAttention) for m in classifier.module.modules()) == 12
    assert torch.equal(classifier.module.heads.head.weight, state["heads.head.weight"])


def test_random_torchvision_models_take_their_first_weights_preprocessing():
    with pytest.warns(UserWarning, match="RANDOM WEIGHTS: resnet50"):
        classifier = open_classifier("resnet50")
    assert classifier.preprocessing.resize == 256 and classifier.categories is None
    assert classifier.origin["preprocessing_source"] == "ResNet50_Weights.IMAGENET1K_V1.transforms() (random weights)"


def test_timm_names(tmp_path):
    with pytest.warns(UserWarning, match="RANDOM WEIGHTS: timm:test_vit"):
        classifier = open_classifier("timm:test_vit")
    assert classifier.preprocessing == Preprocessing(168, 160, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic")
    assert published.library_of("test_vit") == ("timm", "test_vit")  # torchvision lacks it
    assert published.library_of("resnet50") == ("torchvision", "resnet50")
    assert published.library_of("timm:resnet50") == ("timm", "resnet50")
    with pytest.raises(RetinaCodecError, match="unknown timm model 'nope'"):
        published.library_of("timm:nope")
    torch.save(classifier.module.state_dict(), tmp_path / "vit.pt")
    with pytest.raises(RetinaCodecError, match=r"expected --preprocessing: a weight name \(DEFAULT\)"):
        open_classifier("timm:test_vit", tmp_path / "vit.pt")
    assert open_classifier("timm:test_vit", tmp_path / "vit.pt", "DEFAULT").preprocessing.crop == 160


def test_classifier_type_checks_its_parts():
    module = torch.nn.Linear(3, 2)
    prep = Preprocessing(8, 8, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bilinear")
    with pytest.raises(RetinaCodecError, match="in training mode"):
        Classifier(module, prep)
    classifier = Classifier(module.eval(), prep, "mine")
    assert classifier.record()["model"] == "mine" and classifier.origin["preprocessing_source"] == "given"
    with pytest.raises(RetinaCodecError, match="expected a retinacodec.models.Preprocessing"):
        Classifier(module, {"resize": 8})
    with pytest.raises(RetinaCodecError, match="expected a torch.nn.Module"):
        Classifier("net", prep)

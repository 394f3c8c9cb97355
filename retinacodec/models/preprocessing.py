"""How a classifier's images are prepared for evaluation: :class:`Preprocessing`, read from
torchvision's weight transforms, timm's data config or an explicit ``resize=..,crop=..`` text."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import RetinaCodecError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
_KEYS = ("resize", "crop", "mean", "std", "interpolation")


@dataclass(frozen=True)
class Preprocessing:
    """How a model's training data were prepared for evaluation (center view).

    Attributes
    ----------
    resize : int
        Length in px of the image's shorter side after resizing.
    crop : int
        Side in px of the square center crop fed to the model.
    mean, std : tuple of float
        Per-colour (R, G, B) normalisation of intensities in [0, 1]: ``(x - mean) / std``.
    interpolation : str
        ``"bilinear"`` or ``"bicubic"`` resampling (with antialiasing), or ``"nearest"``.
    """

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str

    def as_dict(self) -> dict:
        """JSON-typed fields (for results and fingerprints)."""
        record = asdict(self)
        return {**record, "mean": list(self.mean), "std": list(self.std)}

    def describe(self) -> str:
        """One line: ``resize 232, crop 224, bilinear, mean (..), std (..)``."""
        return (
            f"resize {self.resize}, crop {self.crop}, {self.interpolation}, "
            f"mean ({', '.join(f'{v:g}' for v in self.mean)}), std ({', '.join(f'{v:g}' for v in self.std)})"
        )


def from_transforms(transforms: Any) -> Preprocessing:
    """The preprocessing of torchvision's ``weights.transforms()`` (an ``ImageClassification`` preset).

    Raises
    ------
    RetinaCodecError
        When the transforms are not a resize-crop-normalise preset.
    """
    try:
        resize, crop = transforms.resize_size, transforms.crop_size
        mean, std = transforms.mean, transforms.std
        interpolation = transforms.interpolation.value
    except AttributeError:
        raise RetinaCodecError(
            f"cannot read the preprocessing of {type(transforms).__name__}; expected torchvision's "
            "ImageClassification transforms (resize, center crop, normalise)"
        ) from None
    return Preprocessing(int(resize[0]), int(crop[0]), _three(mean), _three(std), str(interpolation))


def from_timm_config(config: dict) -> Preprocessing:
    """The preprocessing of a timm data config (``timm.data.resolve_data_config``): the shorter side
    resized to ``floor(crop / crop_pct)``, as timm's evaluation transform does.

    Raises
    ------
    RetinaCodecError
        For a crop mode other than ``"center"``.
    """
    if config.get("crop_mode", "center") != "center":
        raise RetinaCodecError(
            f"timm crop mode {config['crop_mode']!r} is not supported; expected 'center' "
            "(pass the preprocessing explicitly: resize=..,crop=..,mean=..,std=..)"
        )
    crop = int(config["input_size"][-1])
    resize = math.floor(crop / float(config.get("crop_pct", 1.0)))
    interpolation = str(config.get("interpolation", "bicubic"))
    return Preprocessing(resize, crop, _three(config["mean"]), _three(config["std"]), interpolation)


def parse_preprocessing(text: str) -> Preprocessing:
    """An explicit preprocessing ``resize=232,crop=224[,mean=R/G/B][,std=R/G/B][,interpolation=bilinear]``.

    ``mean`` and ``std`` default to ImageNet's (:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`),
    ``interpolation`` to bilinear.

    Raises
    ------
    RetinaCodecError
        For a missing resize or crop, an unknown key, or a value that is not a number (three for
        mean and std).
    """
    fields: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        if key.strip() not in _KEYS or not value:
            raise RetinaCodecError(
                f"cannot read {part!r} of preprocessing {text!r}; expected KEY=VALUE with KEY one of {', '.join(_KEYS)}"
            )
        fields[key.strip()] = value.strip()
    if "resize" not in fields or "crop" not in fields:
        raise RetinaCodecError(
            f"preprocessing {text!r} lacks resize or crop; expected e.g. resize=232,crop=224 "
            "(optional mean=R/G/B, std=R/G/B, interpolation=bilinear)"
        )
    try:
        resize, crop = int(fields["resize"]), int(fields["crop"])
        mean = _colours(fields.get("mean"), IMAGENET_MEAN)
        std = _colours(fields.get("std"), IMAGENET_STD)
    except ValueError:
        raise RetinaCodecError(
            f"preprocessing {text!r} has a value that is not a number; expected integer resize and "
            "crop, and three numbers R/G/B for mean and std"
        ) from None
    interpolation = fields.get("interpolation", "bilinear")
    if interpolation not in INTERPOLATIONS or resize < crop or crop < 1 or min(std) <= 0:
        raise RetinaCodecError(
            f"preprocessing {text!r}: expected 1 <= crop <= resize, std > 0 and interpolation one of "
            f"{', '.join(INTERPOLATIONS)}"
        )
    return Preprocessing(resize, crop, mean, std, interpolation)


def _colours(value: str | None, default: tuple[float, float, float]) -> tuple[float, float, float]:
    return default if value is None else _three(value.split("/"))


def _three(values) -> tuple[float, float, float]:
    """Three numbers (R, G, B) as floats; ValueError for another count."""
    red, green, blue = (float(v) for v in values)
    return (red, green, blue)

"""An image classifier as the ImageNet analyses take it: the network with the preprocessing its
weights assume, its class names and where its weights came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from ..errors import RetinaCodecError
from .preprocessing import Preprocessing


@dataclass(frozen=True)
class Classifier:
    """A classifier and how its images are prepared.

    Build one around a network of your own, or load one by name with
    :func:`retinacodec.models.zoo.open_classifier`.

    Attributes
    ----------
    module : torch.nn.Module
        The network, in eval mode: logits (image, class) for model-ready images (image, 3, crop,
        crop).
    preprocessing : Preprocessing
        How an image becomes model-ready (resize, center crop, normalisation).
    name : str
        The model's name in results and reports.
    categories : tuple of str, optional
        Class names, in logit order.
    origin : dict
        Provenance of the weights and the preprocessing, copied into every result: ``weights``,
        ``weights_sha256``, ``pretrained``, ``warning`` and ``preprocessing_source`` (filled with
        ``"given"`` where missing).

    Raises
    ------
    RetinaCodecError
        For a module that is not an ``nn.Module`` or is in training mode, a preprocessing that is
        not a :class:`Preprocessing`, or an empty name.
    """

    module: nn.Module
    preprocessing: Preprocessing
    name: str = "classifier"
    categories: tuple[str, ...] | None = None
    origin: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.module, nn.Module):
            raise RetinaCodecError(f"module is a {type(self.module).__name__}; expected a torch.nn.Module")
        if self.module.training:
            raise RetinaCodecError(
                f"{self.name}'s module is in training mode; expected eval mode (call module.eval() first)"
            )
        if not isinstance(self.preprocessing, Preprocessing):
            raise RetinaCodecError(
                f"preprocessing is a {type(self.preprocessing).__name__}; expected a "
                "retinacodec.models.Preprocessing(resize, crop, mean, std, interpolation)"
            )
        if not isinstance(self.name, str) or not self.name:
            raise RetinaCodecError(f"classifier name {self.name!r}; expected a non-empty string")
        given = {"weights": "given module", "weights_sha256": "", "pretrained": True, "warning": ""}
        object.__setattr__(self, "origin", {**given, "preprocessing_source": "given", **self.origin})

    def record(self) -> dict:
        """Attrs for results: ``model``, the weights' provenance, ``preprocessing`` (one line) and
        ``preprocessing_source``."""
        return {"model": self.name, **self.origin, "preprocessing": self.preprocessing.describe()}

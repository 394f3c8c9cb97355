"""What the IRF of an image classifier needs besides the shared gradient engine: telling images
from a stimulus, reading them, the class each target reads, and the labeled result."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from .. import __version__
from ..attribution.inputs import is_stimulus
from ..errors import RetinaCodecError
from ..io.cf import PIXEL_X, PIXEL_Y
from ..targets import ClassLogit, ClassPerInput, Target, TopLogit

IMAGE_DIMS = ("image", "channel", "y", "x")
"""Dims of images given as a DataArray, and of one image's IRF after (image, target)."""
IMAGE_IRF_UNITS = "1"
"""Units of an image IRF: the target's units per unit of the model's input, left as a number
(logits and normalised pixels carry no physical unit)."""
IMAGE_IRF_LONG_NAME = "input gradient of the target, per unit of the model input (per channel and pixel)"


def is_image_input(model: nn.Module, x: object) -> bool:
    """Whether ``irf`` treats ``model`` as an image classifier: it has no ``history`` of frames
    and ``x`` is not a (time, y, x) stimulus."""
    return not hasattr(model, "history") and not is_stimulus(x)


def image_values(images: xr.DataArray | torch.Tensor | np.ndarray) -> tuple[object, dict[str, np.ndarray]]:
    """Images as (N, C, H, W) values in that order, with their coords (numbered when not given).

    Raises
    ------
    RetinaCodecError
        For a DataArray whose dims are not (image, channel, y, x) in some order, or values that
        are not four-dimensional.
    """
    coords: dict[str, np.ndarray] = {}
    if isinstance(images, xr.DataArray):
        if set(images.dims) != set(IMAGE_DIMS):
            raise RetinaCodecError(
                f"images have dims {images.dims}; expected (image, channel, y, x) for an image classifier "
                "(a retina model takes a stimulus (time, y, x))"
            )
        images = images.transpose(*IMAGE_DIMS)
        coords = {d: images[d].values for d in IMAGE_DIMS if d in images.coords}
    shape = tuple(images.shape)
    if len(shape) != 4:
        raise RetinaCodecError(f"images have shape {shape}; expected (N, C, H, W) for an image classifier")
    for dim, size in zip(IMAGE_DIMS, shape):
        coords.setdefault(dim, np.arange(size))
    return images, coords


def target_classes(targets: Sequence[Target], output: torch.Tensor) -> np.ndarray:
    """(rows, T) class each target reads at output rows (rows, classes); -1 for a target that reads
    no single class (a cell, a function of the output)."""
    classes = np.full((output.shape[0], len(targets)), -1, dtype=np.int64)
    for t, target in enumerate(targets):
        if isinstance(target, TopLogit):
            classes[:, t] = output.detach().argmax(dim=1).cpu().numpy()
        elif isinstance(target, ClassLogit):
            classes[:, t] = target.k
        elif isinstance(target, ClassPerInput):
            classes[:, t] = target.classes.numpy()
    return classes


def label_image_irf(
    values: np.ndarray, coords: dict[str, np.ndarray], targets: Sequence[Target], classes: np.ndarray, attrs: dict
) -> xr.DataArray:
    """Label (image, target, channel, y, x) IRF values with their images, targets and pixels.

    ``classes`` (image, target) becomes the coordinate ``target_class``; ``attrs`` are added to the
    units and long name.
    """
    da = xr.DataArray(
        values,
        dims=("image", "target", *IMAGE_DIMS[1:]),
        coords={**coords, "target": [str(t) for t in targets]},
        name="irf",
        attrs={"units": IMAGE_IRF_UNITS, "long_name": IMAGE_IRF_LONG_NAME, **attrs},
    )
    da = da.assign_coords(
        target_class=(("image", "target"), classes, {"long_name": "class each target reads (-1: none)"})
    )
    da["y"].attrs.update(PIXEL_Y)
    da["x"].attrs.update(PIXEL_X)
    return da


def image_provenance(model: nn.Module, method: str, n_steps: int, rule: str, targets: Sequence[Target]) -> dict:
    """Attrs of an image IRF: package version, model, method, quadrature, baseline and targets."""
    return {
        "retinacodec_version": __version__,
        "model": str(getattr(model, "name", type(model).__name__)),
        "method": method,
        "n_steps": int(n_steps),
        "quadrature": rule if method == "ig" else "none",
        "baseline": "zero input",
        "target": ", ".join(map(str, targets)),
    }

"""Retinal phenomena explained by mode: which contribution modes of a layer carry the contrast of a
phenomenon's response in the CNN.

A phenomenon is a response contrast between two conditions: the mean rate in the 300 ms after a
full-field light (or dark) onset minus the mean rate over the grey 400 ms before it, and the mean
rate under differential minus that under global motion of a jittered grating (object-motion
sensitivity). Contributions of the layer's channels to every cell's rate are computed in both
conditions, each sample's contribution is split between the modes as the IRF by mode splits it
(:func:`~retinacodec.modes.selection.channel_shares`), and the contrast of each mode's part says
how much of the phenomenon flows through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
import xarray as xr
from torch import nn

from .. import __version__
from .._validation import check_number
from ..attribution.ig import contributions
from ..attribution.options import AttributionOptions
from ..errors import RetinaCodecError
from ..io.cf import RATE_UNITS
from ..models.registry import FRAME_RATE_TOLERANCE, frame_shape, windows
from ..models.virtual_retina.phenomena import FLASH_EPOCHS, flash_stimulus, onset_frames
from ..models.virtual_retina.retina import FRAME_RATE_HZ
from ..modes.result import Modes
from ..modes.sae import SAE
from ..modes.selection import channel_shares
from ..stimuli.base import make_stimulus
from ..stimuli.object_motion import object_motion
from ..targets import Cell

KIND = "phenomena_by_mode"
"""Value of the ``kind`` attr of a phenomena-by-mode Dataset."""
PHENOMENA = ("light_onset", "dark_onset", "object_motion")
"""The phenomena: response to a full-field light onset, to a dark onset, and object-motion
sensitivity (differential against global motion)."""
PHENOMENON_NAMES = {"light_onset": "light onset", "dark_onset": "dark onset", "object_motion": "object motion"}
"""Plain names of the phenomena."""
CONDITIONS = {
    "light_onset": ("300 ms after light onset", "400 ms of grey before it"),
    "dark_onset": ("300 ms after dark onset", "400 ms of grey before it"),
    "object_motion": ("differential motion", "global motion"),
}
"""Per phenomenon, its (response, reference) conditions in words."""


@dataclass(frozen=True)
class PhenomenaSettings:
    """How the phenomena are shown to the CNN and how its contributions are computed.

    Raises
    ------
    RetinaCodecError
        For an unknown phenomenon or a count or contrast out of range.
    """

    phenomena: tuple[str, ...] = PHENOMENA
    """Phenomena to explain (of :data:`PHENOMENA`)."""
    contrast: float = 1.0
    """Flash and grating contrast, in (0, 1]."""
    window_frames: int = 30
    """Frames after a flash onset in the onset response (as in
    :func:`~retinacodec.models.virtual_retina.phenomena.flash_response`)."""
    oms_frames: int = 400
    """Frames of each object-motion stimulus (100 Hz)."""
    oms_discard_frames: int = 50
    """Initial object-motion frames left out (the response to the grating's appearance)."""
    oms_stride: int = 5
    """Every this many frames of the object-motion stimuli is a window explained."""
    oms_seed: int = 0
    """Seed of the object-motion jitter (the same for both conditions)."""
    n_steps: int = 10
    """Quadrature nodes of the contributions (the modes' own when they record theirs)."""
    batch_size: int = 64
    """Network evaluations per batch."""

    def __post_init__(self) -> None:
        unknown = [p for p in self.phenomena if p not in PHENOMENA]
        if unknown or not self.phenomena:
            raise RetinaCodecError(
                f"phenomena are {list(self.phenomena)!r}; expected one or more of: {', '.join(PHENOMENA)}"
            )
        check_number("contrast", self.contrast, strictly_above=0.0, maximum=1.0)
        for name in ("window_frames", "oms_frames", "oms_stride", "n_steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RetinaCodecError(f"{name} is {value!r}; expected a positive integer")
        for name in ("oms_discard_frames", "oms_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RetinaCodecError(f"{name} is {value!r}; expected a non-negative integer")
        if self.oms_discard_frames >= self.oms_frames:
            raise RetinaCodecError(
                f"oms_discard_frames is {self.oms_discard_frames}; expected fewer than oms_frames ({self.oms_frames})"
            )


def at_phenomena_rate(model: nn.Module) -> bool:
    """Whether a retina model runs at the phenomena's 100 Hz (to the tolerance the model's stimuli have)."""
    rate = float(getattr(model, "frame_rate_hz", FRAME_RATE_HZ))
    return bool(np.isclose(rate, FRAME_RATE_HZ, rtol=FRAME_RATE_TOLERANCE))


def condition_windows(model: nn.Module, phenomenon: str, settings: PhenomenaSettings) -> tuple[torch.Tensor, ...]:
    """The model's input windows of a phenomenon's response and reference conditions.

    Parameters
    ----------
    model : RetinaCNN
        A retina model at 100 Hz.
    phenomenon : str
        One of :data:`PHENOMENA`.
    settings : PhenomenaSettings
        The protocol.

    Returns
    -------
    response, reference : torch.Tensor
        float32 (window, history, y, x) normalised inputs, one per explained frame.

    Raises
    ------
    RetinaCodecError
        For a model at another frame rate or an unknown phenomenon.
    """
    if not at_phenomena_rate(model):
        rate = float(cast(Any, model).frame_rate_hz)
        raise RetinaCodecError(
            f"the model runs at {rate:g} Hz; the phenomena's stimuli are defined at {FRAME_RATE_HZ:g} Hz"
        )
    height, width = frame_shape(model)
    if height != width:
        raise RetinaCodecError(f"the model's frames are {height} x {width} px; expected square frames")
    lead = int(cast(Any, model).history) - 1
    if phenomenon in ("light_onset", "dark_onset"):
        flash = flash_stimulus(settings.contrast, height)
        frames = np.concatenate([np.zeros((lead, height, width), np.float32), flash.values])
        inputs = windows(model, make_stimulus(frames, FRAME_RATE_HZ, kind="full_field_flash"))[0]
        epochs = np.concatenate([[name] * n for name, n in FLASH_EPOCHS])
        response, baseline = onset_frames(epochs, phenomenon.removesuffix("_onset"), settings.window_frames)
        return inputs[response], inputs[baseline]
    if phenomenon != "object_motion":
        raise RetinaCodecError(f"unknown phenomenon {phenomenon!r}; expected one of: {', '.join(PHENOMENA)}")
    first = max(settings.oms_discard_frames, lead)
    picked = torch.arange(first, settings.oms_frames, settings.oms_stride) - lead
    return tuple(
        windows(
            model,
            object_motion(
                n_frames=settings.oms_frames, seed=settings.oms_seed, mode=mode, size=height, contrast=settings.contrast
            ),
        )[0][picked]
        for mode in ("differential", "global")
    )


def mode_parts(found: xr.Dataset, modes: Modes) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's contribution split between the modes.

    Parameters
    ----------
    found : xarray.Dataset
        Contributions (sample, channel[, sign]) as :func:`retinacodec.contributions` returns them.
    modes : Modes
        Modes with an encoder of the same features.

    Returns
    -------
    parts : numpy.ndarray
        (sample, mode) each mode's part of the sample's summed contribution, in the target's units.
    unassigned : numpy.ndarray
        (sample,) the part through channels no active mode uses.

    Notes
    -----
    With loadings :math:`z` of the sample and channel weights :math:`W`, mode :math:`m`'s part is
    :math:`\\sum_c s_{mc} C_c` with :math:`s_{mc}` the share of
    :func:`~retinacodec.modes.selection.channel_shares` and :math:`C_c` channel :math:`c`'s
    contribution (summed over signs); the parts and the unassigned rest add up to
    :math:`\\sum_c C_c`.
    """
    loadings = np.asarray(modes.transform(found), dtype=float)
    weights = modes.channel_weights().values
    contribution = found["contribution"]
    per_channel = (contribution.sum("sign") if "sign" in contribution.dims else contribution).values.astype(float)
    shares = channel_shares(weights, loadings, np.arange(weights.shape[0])).astype(float)
    parts = np.einsum("smc,sc->sm", shares, per_channel)
    return parts, per_channel.sum(axis=1) - parts.sum(axis=1)


def _condition(found: xr.Dataset, modes: Modes, n_cells: int) -> xr.Dataset:
    """Per cell, means over one condition's windows: rate, mode parts, unassigned part, completeness error."""
    parts, unassigned = mode_parts(found, modes)
    shape = (-1, n_cells)  # samples are window-major: (window, target)
    return xr.Dataset(
        {
            "rate": ("cell", found["target_value"].values.reshape(shape).mean(0)),
            "mode_part": (("cell", "mode"), parts.reshape(*shape, parts.shape[1]).mean(0)),
            "unassigned": ("cell", unassigned.reshape(shape).mean(0)),
            "completeness_error": ("cell", found["completeness_error"].values.reshape(shape).mean(0)),
        }
    )


def _contrast(
    model: nn.Module, modes: Modes, layer: str, phenomenon: str, settings: PhenomenaSettings, device: str
) -> xr.Dataset:
    """One phenomenon's per-cell means of both conditions (dim ``condition``: response, reference)."""
    attrs = modes.dictionary.attrs
    response, reference = condition_windows(model, phenomenon, settings)
    cells = list(range(int(cast(Any, model).n_cells)))
    found = contributions(
        model,
        torch.cat([response, reference]),
        layer,
        [Cell(i) for i in cells],
        n_steps=int(attrs.get("n_steps", settings.n_steps)),
        batch_size=settings.batch_size,
        device=device,
        options=AttributionOptions(
            path=str(attrs.get("path", "layer")),
            split="sign" if "feature" in modes.dictionary.dims else None,
            progress=False,
        ),
    )
    per_window = np.arange(found.sizes["sample"]) // len(cells)
    conditions = [
        _condition(found.isel(sample=np.flatnonzero(pick)), modes, len(cells))
        for pick in (per_window < len(response), per_window >= len(response))
    ]
    return xr.concat(conditions, dim=xr.Variable("condition", ["response", "reference"]))


def phenomena_by_mode(
    model: nn.Module,
    modes: Modes | SAE,
    layer: str,
    settings: PhenomenaSettings | None = None,
    device: str = "cpu",
) -> xr.Dataset:
    """Which modes of a layer carry each phenomenon's response contrast, per cell type, in the CNN.

    Parameters
    ----------
    model : RetinaCNN
        A retina model at 100 Hz with a ``cell_type`` list.
    modes : Modes or SAE
        Contribution modes of ``layer`` with their encoder (a fitted SAE).
    layer : str
        The layer the modes were fitted on.
    settings : PhenomenaSettings, optional
        The protocol; the defaults when omitted.
    device : str
        Torch device of the contributions.

    Returns
    -------
    xarray.Dataset
        Over (phenomenon, cell_type[, mode]), each a mean over the type's cells, in Hz:
        ``response`` and ``reference`` (the mean rates of the two conditions), ``contrast``
        (response minus reference), ``mode_contrast`` (mode; each mode's part of the contrast),
        ``unassigned`` (the part through channels no active mode uses), ``completeness_error``
        (sum of the channels' contributions to the contrast minus the contrast); ``share``
        (mode_contrast / contrast) and ``leading_mode`` (the mode with the largest share; -1 when
        none carries a positive share). Coords ``response_condition``, ``reference_condition``
        (phenomenon). Attrs: kind, layer, settings, version.

    Raises
    ------
    RetinaCodecError
        For modes without an encoder, a model without cell types or at another frame rate.

    Notes
    -----
    The contrast of a quantity :math:`q` is :math:`\\bar q_\\mathrm{response} - \\bar q_\\mathrm{reference}`
    over the windows of each condition. Contributions start from one baseline for every window, so
    the baseline cancels and :math:`\\sum_m \\Delta P_m + \\Delta U = \\Delta r - \\Delta e`, with
    :math:`P_m` the mode parts (:func:`mode_parts`), :math:`U` the unassigned part, :math:`r` the rate
    and :math:`e` the completeness error of the Integrated Gradients.
    """
    settings = PhenomenaSettings() if settings is None else settings
    modes = Modes.coerce(modes)
    if not modes.has_encoder:
        raise RetinaCodecError("the modes come without their SAE; expected a fitted SAE, which encodes new samples")
    types = getattr(model, "cell_type", None)
    if types is None:
        raise RetinaCodecError(f"{type(model).__name__} has no cell_type list; expected a retina model of typed cells")
    per_cell = xr.concat(
        [_contrast(model, modes, layer, p, settings, device) for p in settings.phenomena],
        dim=xr.Variable("phenomenon", list(settings.phenomena)),
    ).assign_coords(cell_type=("cell", np.asarray(types, dtype=str)), mode=modes.dictionary["mode"].values)
    by_type = per_cell.groupby("cell_type").mean("cell")
    order = list(dict.fromkeys(str(t) for t in types))
    by_type = by_type.sel(cell_type=order)
    return _labelled(by_type, layer, settings)


def _labelled(by_type: xr.Dataset, layer: str, settings: PhenomenaSettings) -> xr.Dataset:
    """The phenomena-by-mode Dataset from per-type condition means (condition, phenomenon, cell_type[, mode])."""
    by_type = by_type.transpose("condition", "phenomenon", "cell_type", "mode")
    contrast = by_type.sel(condition="response") - by_type.sel(condition="reference")
    share = contrast["mode_part"] / contrast["rate"].where(contrast["rate"] != 0)
    finite = share.fillna(-np.inf).values
    leading = np.where(finite.max(axis=-1) > 0, share["mode"].values[finite.argmax(axis=-1)], -1)
    hz = {"units": RATE_UNITS}
    ds = xr.Dataset(
        {
            "response": by_type["rate"].sel(condition="response", drop=True).assign_attrs(hz),
            "reference": by_type["rate"].sel(condition="reference", drop=True).assign_attrs(hz),
            "contrast": contrast["rate"].assign_attrs(hz, long_name="response minus reference rate"),
            "mode_contrast": contrast["mode_part"].assign_attrs(hz, long_name="each mode's part of the contrast"),
            "unassigned": contrast["unassigned"].assign_attrs(hz, long_name="part through channels no mode uses"),
            "completeness_error": contrast["completeness_error"].assign_attrs(
                hz, long_name="sum of the channels' contributions to the contrast minus the contrast"
            ),
            "share": share.assign_attrs(units="1", long_name="each mode's share of the contrast"),
            "leading_mode": (("phenomenon", "cell_type"), leading.astype(int)),
        }
    )
    phenomena = list(ds["phenomenon"].values)
    ds = ds.assign_coords(
        response_condition=("phenomenon", [CONDITIONS[p][0] for p in phenomena]),
        reference_condition=("phenomenon", [CONDITIONS[p][1] for p in phenomena]),
    )
    ds.attrs.update(
        kind=KIND,
        layer=layer,
        retinacodec_version=__version__,
        **{f"setting_{k}": (", ".join(v) if isinstance(v, tuple) else v) for k, v in vars(settings).items()},
    )
    return ds

"""The designed test stimuli checked on the virtual retina: the hypothesis's block under its designed
stimulus and under natural jitter of the same length, each effect in Poisson standard errors."""

from __future__ import annotations

from contextlib import nullcontext
from typing import cast

import numpy as np
import xarray as xr

from .._progress import progress_bar
from ..control.recorded import PassCache
from ..errors import RetinaCodecError
from ..stimuli.base import validate_stimulus
from .design import DESIGN_KIND
from .effects import TYPE_DIM, by_type, effect_z, type_counts
from .score import retina_mean_rate


def signed_z(change: xr.DataArray, baseline: xr.DataArray, recording_s: float) -> xr.DataArray:
    """(..., type) change of each type's mean rate over its Poisson standard error, with its sign.

    Parameters
    ----------
    change : xarray.DataArray
        (..., cell) change of mean rate in Hz, with a ``cell_type`` coord.
    baseline : xarray.DataArray
        (cell) unperturbed mean rate in Hz.
    recording_s : float
        Length (s) of the recording of each condition.
    """
    effect = by_type(change)
    direction = cast(xr.DataArray, np.sign(effect))  # xarray implements numpy's ufuncs
    return direction * effect_z(effect, by_type(baseline), recording_s, type_counts(baseline))


def target_z(z: xr.DataArray, target: xr.DataArray) -> xr.DataArray:
    """(hypothesis) mean of the aimed-at types' z, each signed by its predicted direction."""
    aimed = target != 0
    return (z * target).where(aimed).sum(TYPE_DIM) / aimed.sum(TYPE_DIM)


def _observed(
    retina, hypotheses, stimuli: list[xr.DataArray], first: int, cache: PassCache
) -> tuple[xr.DataArray, xr.DataArray]:
    """(hypothesis, cell) true mean rate with each hypothesis's pathway blocked under its stimulus
    minus unperturbed, and the (hypothesis, cell) unperturbed rate."""
    gain = float(hypotheses.attrs.get("gain", 0.0))
    changes, baselines = [], []
    for block, stimulus in zip(hypotheses["block"].values, stimuli):
        baseline = retina_mean_rate(retina, stimulus, None, first=first, cache=cache)
        changes.append(retina_mean_rate(retina, stimulus, str(block), gain, first, cache) - baseline)
        baselines.append(baseline)
    coords = {"hypothesis": hypotheses["hypothesis"].values, "cell_type": ("cell", hypotheses["cell_type"].values)}
    dims = ("hypothesis", "cell")
    return xr.DataArray(np.stack(changes), dims=dims, coords=coords), xr.DataArray(
        np.stack(baselines), dims=dims, coords=coords
    )


def check_designs(
    designs: xr.Dataset,
    hypotheses: xr.Dataset,
    virtual_retina,
    jitter: xr.DataArray,
    *,
    progress: bool = True,
    cache: PassCache | None = None,
) -> xr.Dataset:
    """Block each hypothesis's pathway in the virtual retina under its designed stimulus and under
    natural jitter of the same length.

    Parameters
    ----------
    designs : xarray.Dataset
        From :func:`~retinacodec.hypotheses.design.design_tests` for ``hypotheses``.
    hypotheses : xarray.Dataset
        The hypotheses, each naming a pathway (``block``).
    virtual_retina : VirtualRetina
        The ground truth.
    jitter : xarray.DataArray
        (time, y, x) natural stimulus with as many frames as the designed ones.
    progress : bool
        Show a progress bar over the hypotheses.
    cache : PassCache, optional
        Where retina runs already made are taken from, or kept.

    Returns
    -------
    xarray.Dataset
        ``designs`` with ``observed_designed_z`` and ``observed_jitter_z`` (hypothesis, type): the
        true change of each type's mean rate under the block over its Poisson standard error in a
        recording of ``recording_s`` per condition (signed); ``observed_designed_target_z`` and
        ``observed_jitter_target_z`` (hypothesis): their mean over the aimed-at types, signed by
        the predicted direction (:func:`target_z`); and ``observed_ratio``, designed over jitter.
        The rates are means from frame ``model_history - 1`` on, the frames the model predicts.

    Raises
    ------
    RetinaCodecError
        For designs of other hypotheses, a hypothesis that names no pathway, or a jitter of
        another length.
    """
    if designs.attrs.get("kind") != DESIGN_KIND or list(designs["hypothesis"].values) != list(
        hypotheses["hypothesis"].values
    ):
        raise RetinaCodecError("expected the designs of design_tests() for these hypotheses, in their order")
    if "block" not in hypotheses or not all(str(b) for b in hypotheses["block"].values):
        raise RetinaCodecError("some hypotheses name no pathway; expected hypotheses matched to the retina")
    jitter = validate_stimulus(jitter)
    if jitter.sizes["time"] != designs.sizes["time"]:
        raise RetinaCodecError(
            f"the jitter has {jitter.sizes['time']} frames; expected {designs.sizes['time']}, as the designed stimuli"
        )
    first = int(hypotheses.attrs.get("model_history", 1)) - 1
    recording_s = float(designs.attrs["recording_s"])
    rows = list(designs["hypothesis"].values)
    designed = [
        designs["test_stimulus"].sel(hypothesis=name).drop_vars("hypothesis").assign_attrs(seed=-1, kind=str(name))
        for name in progress_bar(rows, desc="virtual retina checks", unit="hypothesis", progress=progress)
    ]
    with nullcontext(cache) if cache is not None else PassCache() as cache:
        change, baseline = _observed(virtual_retina, hypotheses, designed, first, cache)
        jitter_change, jitter_baseline = _observed(virtual_retina, hypotheses, [jitter] * len(rows), first, cache)
    result = designs.copy()
    target = designs["design_target"]
    for name, (delta, rate) in (("designed", (change, baseline)), ("jitter", (jitter_change, jitter_baseline))):
        z = xr.concat(
            [signed_z(delta.isel(hypothesis=k), rate.isel(hypothesis=k), recording_s) for k in range(len(rows))],
            dim="hypothesis",
        ).assign_coords(hypothesis=rows)
        result[f"observed_{name}_z"] = z.transpose("hypothesis", TYPE_DIM)
        result[f"observed_{name}_target_z"] = target_z(z, target)
    result["observed_ratio"] = result["observed_designed_target_z"] / result["observed_jitter_target_z"]
    result["observed_ratio"].attrs["long_name"] = "observed aimed-at z under the designed stimulus over under jitter"
    result.attrs["check"] = "virtual retina, each hypothesis's pathway blocked (or scaled by its gain)"
    return result

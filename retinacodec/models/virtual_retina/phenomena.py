"""Retinal phenomena measured on the virtual retina: flash responses and the OMS index."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import xarray as xr

from ...stimuli.base import make_stimulus
from ...stimuli.object_motion import object_motion
from .retina import FRAME_RATE_HZ, VirtualRetina

FLASH_EPOCHS = (("grey", 50), ("light", 100), ("grey", 100), ("dark", 100))
"""Full-field flash protocol: (epoch, frames) at 100 Hz: 0.5 s grey, 1 s light, 1 s grey, 1 s dark."""
BASELINE_FRAMES = 40
"""Grey frames before an onset whose mean rate is the baseline of the onset response (400 ms)."""


def flash_stimulus(contrast: float = 1.0, size: int = 50) -> xr.DataArray:
    """Full-field steps of +``contrast`` (light) and -``contrast`` (dark) between grey epochs.

    Returns
    -------
    xarray.DataArray
        float32 contrast (time, y, x) at 100 Hz with a coord ``epoch`` (time) naming each frame's
        epoch of :data:`FLASH_EPOCHS`.
    """
    level = {"grey": 0.0, "light": contrast, "dark": -contrast}
    epochs = np.concatenate([[name] * n for name, n in FLASH_EPOCHS])
    frames = np.array([level[name] for name in epochs], dtype=np.float32)[:, None, None]
    stim = make_stimulus(
        np.broadcast_to(frames, (len(epochs), size, size)), FRAME_RATE_HZ, kind="full_field_flash", contrast=contrast
    )
    stim.coords["epoch"] = ("time", epochs)
    return stim


def onset_frames(epochs: np.ndarray, name: str, window_frames: int = 30) -> tuple[slice, slice]:
    """Frames of the response to an epoch's onset and of the grey baseline before it.

    Parameters
    ----------
    epochs : numpy.ndarray
        Each frame's epoch name (the ``epoch`` coord of :func:`flash_stimulus`).
    name : str
        The epoch whose first frame is the onset (``"light"``, ``"dark"``).
    window_frames : int
        Frames after the onset in the response.

    Returns
    -------
    response, baseline : slice
        Frames ``onset .. onset + window_frames - 1`` and the :data:`BASELINE_FRAMES` before the onset.
    """
    onset = int(np.argmax(epochs == name))
    return slice(onset, onset + window_frames), slice(onset - BASELINE_FRAMES, onset)


def flash_response(
    retina: VirtualRetina, block: str | Iterable[str] | None = None, contrast: float = 1.0, window_frames: int = 30
) -> xr.Dataset:
    """Rates to a full-field flash and each cell's response at light and at dark onset.

    Parameters
    ----------
    retina : VirtualRetina
        The retina.
    block : str or iterable of str, optional
        As in :meth:`VirtualRetina.respond`.
    contrast : float
        Flash contrast.
    window_frames : int
        Frames after each onset averaged for the onset response (30 frames = 300 ms).

    Returns
    -------
    xarray.Dataset
        ``rate`` (time, cell) in Hz with coord ``epoch`` (time), and ``light_response``, ``dark_response`` (cell)
        in Hz: the
        mean rate in the window after onset minus the mean rate over the preceding grey epoch.
    """
    stim = flash_stimulus(contrast)
    epochs = stim["epoch"].values
    response = retina.respond(stim, block=block)
    rate = response["rate"].assign_coords(epoch=("time", epochs))
    result = {"rate": rate}
    for name in ("light", "dark"):
        response_frames, baseline_frames = onset_frames(epochs, name, window_frames)
        grey = rate.isel(time=baseline_frames).mean("time")
        result[f"{name}_response"] = rate.isel(time=response_frames).mean("time") - grey
        result[f"{name}_response"].attrs["units"] = "Hz"
    return xr.Dataset(
        result, attrs={"contrast": contrast, "window_frames": window_frames, "block": response.attrs["block"]}
    )


def oms_index(
    retina: VirtualRetina,
    block: str | Iterable[str] | None = None,
    n_frames: int = 400,
    seed: int = 0,
    discard_frames: int = 50,
    **object_kwargs,
) -> xr.DataArray:
    """Object-motion sensitivity of every cell: differential against global jitter.

    Parameters
    ----------
    retina : VirtualRetina
        The retina.
    block : str or iterable of str, optional
        As in :meth:`VirtualRetina.respond`.
    n_frames : int
        Frames of each of the two stimuli (same seed, so the object moves identically).
    seed : int
        Seed of the jitter.
    discard_frames : int
        Initial frames left out of the mean rates (the response to the grating's appearance).
    **object_kwargs
        Further arguments of :func:`~retinacodec.stimuli.object_motion.object_motion`
        (``center``, ``object_radius_px``, ``bar_period_px``, ``jitter_px``, ...).

    Returns
    -------
    xarray.DataArray
        Index in [-1, 1], dim (cell); coords ``distance_px`` (cell), each cell's distance from the
        object's centre, and the mean rates ``rate_differential``, ``rate_global`` (Hz); attrs
        ``block``, ``seed``, ``n_frames``.

    Notes
    -----
    :math:`\\mathrm{OMS} = (\\bar r_\\mathrm{diff} - \\bar r_\\mathrm{glob}) /
    (\\bar r_\\mathrm{diff} + \\bar r_\\mathrm{glob})` with :math:`\\bar r` the mean rate
    (Ölveczky et al. 2003). It is meaningful for cells whose receptive field lies inside the object.
    """
    rates = {}
    for mode in ("differential", "global"):
        stim = object_motion(n_frames=n_frames, seed=seed, mode=mode, **object_kwargs)
        response = retina.respond(stim, block=block)
        rates[mode] = response["rate"].isel(time=slice(discard_frames, None)).mean("time")
    center_y, center_x = stim.attrs["center"]
    index = (rates["differential"] - rates["global"]) / (rates["differential"] + rates["global"])
    cells = retina.cells
    return (
        index.assign_coords(
            distance_px=("cell", np.hypot(cells["y"].values - center_y, cells["x"].values - center_x)),
            rate_differential=rates["differential"],
            rate_global=rates["global"],
        )
        .rename("oms_index")
        .assign_attrs(block=response.attrs["block"], seed=seed, n_frames=n_frames)
    )

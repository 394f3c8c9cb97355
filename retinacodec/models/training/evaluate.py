"""Evaluation of trained models: on the virtual retina's true rates, and as tables."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ... import __version__
from ...errors import RetinaCodecError
from ..retina_cnn import RetinaCNN


def evaluate_on_virtual_retina(
    model: RetinaCNN,
    retina: Any = None,
    n_frames: int = 3000,
    seed: int = 1000,
    progress: bool = False,
    device: Any = None,
) -> xr.Dataset:
    """How well a model predicts its virtual retina's true rates on fresh natural jitter.

    Parameters
    ----------
    model : RetinaCNN
        Trained on the virtual retina (its cells must be the retina's, in order).
    retina : VirtualRetina, optional
        The ground truth; ``model.virtual_retina`` (set by :func:`retinacodec.models.load`) if None.
    n_frames : int
        Frames of natural jitter (at 100 Hz: 3000 frames = 30 s).
    seed : int
        Seed of the natural jitter; use one not used in training.
    progress : bool
        Show progress bars.
    device : str or torch.device, optional
        Torch device of the model's predictions (``"cpu"``, ``"cuda"``, ``"auto"``); by default
        where the model is.

    Returns
    -------
    xarray.Dataset
        ``predicted`` and ``true`` rates (time, cell) in Hz from frame ``history - 1`` on, and
        ``pearson_r`` (cell), with coords cell_type, y, x; attrs model, seed, n_frames.

    Raises
    ------
    RetinaCodecError
        If no virtual retina is given or attached, or its cells differ from the model's.
    """
    from ...metrics import pearson_r
    from ...stimuli import natural_jitter
    from ..registry import predict

    retina = retina if retina is not None else getattr(model, "virtual_retina", None)
    if retina is None:
        raise RetinaCodecError(f"model {model.name!r} has no virtual retina; expected one to evaluate against")
    cells = retina.cells
    if list(cells["cell_type"].values) != list(model.cell_type):
        raise RetinaCodecError(
            f"the virtual retina's cells ({list(cells['cell_type'].values)}) differ from the "
            f"model's ({model.cell_type}); expected the retina the model was trained on"
        )
    stim = natural_jitter(n_frames=n_frames, seed=seed, size=model.size, progress=progress)
    true = retina.respond(stim, progress=progress)["rate"]
    predicted = predict(model, stim, progress=progress, device=device)
    r = pearson_r(predicted, true)
    return xr.Dataset(
        {
            "predicted": predicted.drop_vars(["y", "x"]),
            "true": true.drop_vars(["y", "x"]).sel(time=predicted["time"]),
            "pearson_r": r,
        },
        attrs={
            "model": model.name,
            "stimulus": "natural_jitter",
            "seed": int(seed),
            "n_frames": int(n_frames),
            "retinacodec_version": __version__,
        },
    )


def fit_table(pearson_r: xr.DataArray) -> str:
    """Markdown table of Pearson r per cell type: cells, mean, min, max, and all cells.

    Parameters
    ----------
    pearson_r : xarray.DataArray
        (cell,) correlations with a ``cell_type`` coord.

    Returns
    -------
    str
        A Markdown table, one row per type and a final ``all`` row.
    """
    rows = ["| cell type | cells | mean r | min r | max r |", "|---|---|---|---|---|"]
    groups = [
        (str(t), pearson_r.where(pearson_r["cell_type"] == t, drop=True))
        for t in dict.fromkeys(pearson_r["cell_type"].values)
    ]
    for label, values in [*groups, ("all", pearson_r)]:
        rows.append(
            f"| {label} | {values.size} | {float(values.mean()):.3f} | "
            f"{float(values.min()):.3f} | {float(values.max()):.3f} |"
        )
    return "\n".join(rows)


SMOOTHING_FRAMES = 5
"""Boxcar (frames) that turns a recording's spike counts into the rate a model's fit is judged by."""


def recorded_rate(stimulus: xr.DataArray, spikes: xr.DataArray) -> xr.DataArray:
    """Spike counts x frame rate, smoothed over :data:`SMOOTHING_FRAMES` frames: (time, cell) Hz."""
    from scipy.ndimage import uniform_filter1d

    rate = spikes.transpose("time", "cell") * float(stimulus.attrs["frame_rate_hz"])
    smooth = rate.copy(data=uniform_filter1d(rate.values.astype(np.float64), SMOOTHING_FRAMES, axis=0))
    smooth.attrs = {"units": "Hz", "smoothing_frames": SMOOTHING_FRAMES}
    return smooth.reset_coords(drop=True)


def evaluate_recording(
    models: dict[str, Any],
    heldout: tuple[xr.DataArray, xr.DataArray],
    repeat_stimulus: xr.DataArray | None = None,
    repeats: xr.DataArray | None = None,
    device: Any = None,
) -> xr.Dataset:
    """Every model's fit on the held-out part of a recording and, when it has them, on its repeats.

    Parameters
    ----------
    models : dict of str to model
        Name (e.g. ``"cnn"``, ``"ln"``) -> fitted model with the same cells.
    heldout : (stimulus, spikes)
        The held-out end of the recording: (time, y, x) contrast and (time, cell) counts.
    repeat_stimulus, repeats : xarray.DataArray, optional
        The frozen segment (time, y, x) and the counts on each repeat (trial, time, cell).
    device : str or torch.device, optional
        Torch device of the predictions; by default where each model is.

    Returns
    -------
    xarray.Dataset
        ``predicted`` (model, time, cell) Hz and ``recorded`` (time, cell) Hz (smoothed, see
        :func:`recorded_rate`) on the held-out part; ``heldout_r`` (model, cell), their Pearson r;
        with repeats, ``repeat_r`` (model, cell), the correlation with the trial-averaged rate
        (:func:`retinacodec.metrics.trial_average_r`), and ``feve`` (model, cell)
        (:func:`retinacodec.metrics.feve`), both on unsmoothed frame bins from the first frame
        with a full history.
    """
    from ...metrics import feve, pearson_r, trial_average_r
    from ..registry import predict

    stimulus, spikes = heldout
    names = list(models)
    predicted = [
        predict(models[name], stimulus, device=device).assign_coords(cell=spikes["cell"].values) for name in names
    ]
    recorded = recorded_rate(stimulus, spikes).sel(time=predicted[0]["time"])
    data = {
        "predicted": xr.concat([p.reset_coords(["y", "x"], drop=True) for p in predicted], "model"),
        "recorded": recorded,
        "heldout_r": xr.concat([pearson_r(p, recorded) for p in predicted], "model"),
    }
    if repeats is not None:
        if repeat_stimulus is None:
            raise RetinaCodecError("repeats given without repeat_stimulus; expected the frozen segment (time, y, x)")
        trials = repeats * float(repeat_stimulus.attrs["frame_rate_hz"])
        on_repeat = [
            predict(models[name], repeat_stimulus, device=device).assign_coords(cell=repeats["cell"].values)
            for name in names
        ]
        data["repeat_r"] = xr.concat([trial_average_r(p, trials) for p in on_repeat], "model")
        data["feve"] = xr.concat([feve(p, trials) for p in on_repeat], "model")
    result = xr.Dataset(data).assign_coords(model=names)
    result.attrs = {
        "stimulus": "held-out recording",
        "smoothing_frames": SMOOTHING_FRAMES,
        "n_repeats": 0 if repeats is None else int(repeats.sizes["trial"]),
        "retinacodec_version": __version__,
    }
    return result


def recording_table(evaluation: xr.Dataset) -> str:
    """Markdown table of each model's mean (and min, max) scores on a recording."""
    measures = [m for m in ("heldout_r", "repeat_r", "feve") if m in evaluation]
    rows = [
        "| model | " + " | ".join(f"{m} mean [min, max]" for m in measures) + " |",
        "|---|" + "---|" * len(measures),
    ]
    for name in evaluation["model"].values:
        cells = [evaluation[m].sel(model=name) for m in measures]
        rows.append(
            f"| {name} | "
            + " | ".join(f"{float(v.mean()):.3f} [{float(v.min()):.3f}, {float(v.max()):.3f}]" for v in cells)
            + " |"
        )
    return "\n".join(rows)

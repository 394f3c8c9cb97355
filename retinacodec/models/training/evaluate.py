"""Evaluation of trained models: on the virtual retina's true rates, and as tables."""
from __future__ import annotations

from typing import Any

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
        raise RetinaCodecError(
            f"model {model.name!r} has no virtual retina; expected one to evaluate against"
        )
    cells = retina.cells
    if list(cells["cell_type"].values) != list(model.cell_type):
        raise RetinaCodecError(
            f"the virtual retina's cells ({list(cells['cell_type'].values)}) differ from the "
            f"model's ({model.cell_type}); expected the retina the model was trained on"
        )
    stim = natural_jitter(n_frames=n_frames, seed=seed, size=model.size, progress=progress)
    true = retina.respond(stim, progress=progress)["rate"]
    predicted = predict(model, stim, progress=progress)
    r = pearson_r(predicted, true)
    return xr.Dataset(
        {"predicted": predicted.drop_vars(["y", "x"]),
         "true": true.drop_vars(["y", "x"]).sel(time=predicted["time"]),
         "pearson_r": r},
        attrs={"model": model.name, "stimulus": "natural_jitter", "seed": int(seed),
               "n_frames": int(n_frames), "retinacodec_version": __version__},
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
    groups = [(str(t), pearson_r.where(pearson_r["cell_type"] == t, drop=True))
              for t in dict.fromkeys(pearson_r["cell_type"].values)]
    for label, values in [*groups, ("all", pearson_r)]:
        rows.append(f"| {label} | {values.size} | {float(values.mean()):.3f} | "
                    f"{float(values.min()):.3f} | {float(values.max()):.3f} |")
    return "\n".join(rows)

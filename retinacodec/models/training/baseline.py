"""The LN baseline fitted to the same training windows, validation stretch and normalisation as
the CNN (:func:`retinacodec.models.training.train_model`)."""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from ..ln import LNModel, fit_ln
from .data import _as_list, _cell_metadata, _check_pairs, _recordings
from .settings import TrainingSettings


def train_ln(
    stimulus: xr.DataArray | Sequence[xr.DataArray],
    responses: xr.DataArray | Sequence[xr.DataArray],
    history: int,
    settings: TrainingSettings | None = None,
    name: str = "ln",
) -> LNModel:
    """Fit an :class:`LNModel` to firing rates, with the CNN's data split.

    Parameters
    ----------
    stimulus, responses : xarray.DataArray or sequences of them
        As for :func:`train_model`: (time, y, x) contrast and (time, cell) rates in Hz.
    history : int
        Frames per window (the filter's length).
    settings : TrainingSettings, optional
        Only ``validation_fraction`` and ``segment_windows`` are used (the split).
    name : str
        Model name.

    Returns
    -------
    LNModel
        Fitted (ridge penalty chosen on the validation stretches), in eval mode; without
        ``y``/``x`` coords on the responses, the cells' positions are their STA peaks.
    """
    settings = settings or TrainingSettings()
    stimuli, responses = _check_pairs(_as_list(stimulus), _as_list(responses), history)
    cell_type, position = _cell_metadata(responses[0])
    model = LNModel(
        responses[0].sizes["cell"],
        history,
        stimuli[0].sizes["y"],
        cell_type=cell_type,
        cell_position=position,
        frame_rate_hz=float(stimuli[0].attrs["frame_rate_hz"]),
    )
    model.name = name
    recordings = _recordings(stimuli, responses, model, settings, "cpu")
    train = [(rec.frames[: rec.n_train + history - 1].numpy(), rec.rates[: rec.n_train].numpy()) for rec in recordings]
    validation = [
        (rec.frames[rec.validation_start :].numpy(), rec.rates[rec.validation_start :].numpy()) for rec in recordings
    ]
    return fit_ln(model, train, validation).eval()

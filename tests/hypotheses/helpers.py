"""Hand-made inputs of the hypotheses tests: a small mode dictionary and tested hypotheses whose
changes are spread equally over each type's cells."""

import numpy as np
import xarray as xr


def dictionary(layer="bipolar"):
    """Three modes over four channels: channels {0, 1}, {2} and {1, 3} at half weight or more."""
    weights = np.array([[1.0, 0.6, 0.1, 0.0], [0.0, 0.2, 1.0, 0.3], [0.0, 0.9, 0.0, 1.0]])
    return xr.DataArray(weights, dims=("mode", "channel"), attrs={"layer": layer})


def listed(text: xr.DataArray) -> list[int]:
    """The channels of a hypothesis's ``channels`` text."""
    return [int(c) for c in str(text.values).split(", ")]


def records(
    predicted, observed, confidence, shuffled, types=("on", "off", "oms"), per_type=4, baseline=10.0, blocks=None
):
    """Hand-made tested hypotheses: changes per type (Hz), spread equally over each type's cells."""
    cell_type = np.repeat(types, per_type)

    def per_cell(values):
        return np.repeat(np.asarray(values, dtype=float), per_type, axis=-1)

    n = len(predicted)
    coords = {
        "hypothesis": [f"h{i}" for i in range(n)],
        "cell": np.arange(cell_type.size),
        "cell_type": ("cell", cell_type),
        "shuffle": np.arange(len(shuffled)),
    }
    return xr.Dataset(
        {
            "predicted_change": (("hypothesis", "cell"), per_cell(predicted)),
            "observed_change": (("hypothesis", "cell"), per_cell(observed)),
            "shuffled_change": (("shuffle", "hypothesis", "cell"), per_cell(shuffled)),
            "baseline_rate": ("cell", np.full(cell_type.size, baseline)),
            "observed_baseline_rate": ("cell", np.full(cell_type.size, baseline)),
            "confidence": ("hypothesis", np.asarray(confidence, dtype=float)),
            "block": ("hypothesis", blocks or ["amacrine_wide"] * n),
        },
        coords=coords,
        attrs={"kind": "hypotheses", "recording_s": 60.0, "z_min": 2.0, "model_history": 1},
    )

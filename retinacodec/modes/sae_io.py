"""The saved-SAE file format: a fitted SAE as plain data (parameters and fitted state, no estimator
and no torch) and its netCDF Dataset (weights as variables, no pickle), both ways."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import RetinaCodecError
from ..io import read_netcdf, write_netcdf

SAVED_KIND = "retinacodec.SAE"
"""The ``kind`` attr that marks a file written by :func:`write_sae`."""
WEIGHT_PREFIX = "weight__"
"""Prefix of the variables that hold the network's weights (one per state-dict entry)."""
FITTED_SCALARS = ("scale", "r2", "l0", "n_iter", "n_resampled")
"""Fitted scalars saved as attrs (the estimator's ``scale_``, ``r2_`` ...)."""


@dataclass(frozen=True)
class SavedSAE:
    """A fitted SAE as data: what :func:`write_sae` writes and :func:`read_sae` reads back."""

    params: dict
    """Constructor parameters (``get_params()``)."""
    modes: xr.DataArray
    """Dictionary (mode, feature or channel), labeled as fitted or numbered."""
    weights: dict[str, np.ndarray]
    """The network's state dict as arrays."""
    history: np.ndarray
    """(period,) training loss."""
    dead_modes: np.ndarray
    """bool (mode,) modes never active on the training input."""
    fitted: dict
    """The :data:`FITTED_SCALARS` by name."""
    labeled: bool
    """Whether the SAE was fitted on labeled input (its modes keep the feature coords)."""
    input_attrs: dict
    """Provenance attrs of the training input."""
    provenance: dict
    """Attrs of the file (the estimator's provenance, ``sae_params`` among them)."""


def sae_params(attrs: dict) -> dict:
    """The SAE parameters recorded in ``attrs`` (``sae_params``, JSON text or a dict); {} when absent."""
    params = attrs.get("sae_params", {})
    return json.loads(params) if isinstance(params, str) else dict(params)


def is_saved_sae(data: xr.Dataset | xr.DataArray) -> bool:
    """Whether ``data`` (as read from a file) is a saved SAE."""
    return isinstance(data, xr.Dataset) and data.attrs.get("kind") == SAVED_KIND


def write_sae(saved: SavedSAE, path: str | os.PathLike) -> Path:
    """Write a fitted SAE to netCDF (atomic): modes, every network weight, training history and dead
    modes as variables; hyperparameters and fitted scalars as attrs.

    Parameters
    ----------
    saved : SavedSAE
        The estimator's parameters and fitted state.
    path : str or path-like
        Destination ``.nc`` file.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    ds = xr.Dataset({"modes": (saved.modes.dims, saved.modes.values)}, coords=saved.modes.coords)
    ds["history"] = ("period", saved.history)
    ds["dead_modes"] = ("mode", saved.dead_modes.astype(np.int8))
    for name, array in saved.weights.items():
        key = WEIGHT_PREFIX + name
        ds[key] = ([f"{key}_{axis}" for axis in range(array.ndim)], array)
    ds.attrs = {
        **saved.provenance,
        "kind": SAVED_KIND,
        "labeled": int(saved.labeled),
        **{name: saved.fitted[name] for name in FITTED_SCALARS},
        "input_attrs": json.dumps(saved.input_attrs),
    }
    return write_netcdf(ds, path)


def read_sae(path: str | os.PathLike) -> SavedSAE:
    """Read a file written by :func:`write_sae`.

    Parameters
    ----------
    path : str or path-like
        The netCDF file.

    Returns
    -------
    SavedSAE

    Raises
    ------
    RetinaCodecError
        If the file is not a saved SAE.
    """
    ds = read_netcdf(path)
    if not is_saved_sae(ds):
        raise RetinaCodecError(f"{path} is not a saved SAE (expected a file written by SAE.save)")
    scalars = {"n_iter": int, "n_resampled": int}
    return SavedSAE(
        params=sae_params(ds.attrs),
        modes=ds["modes"],
        weights={
            str(name)[len(WEIGHT_PREFIX) :]: ds[name].values
            for name in ds.data_vars
            if str(name).startswith(WEIGHT_PREFIX)
        },
        history=ds["history"].values,
        dead_modes=ds["dead_modes"].values.astype(bool),
        fitted={name: scalars.get(name, float)(ds.attrs[name]) for name in FITTED_SCALARS},
        labeled=bool(int(ds.attrs["labeled"])),
        input_attrs=json.loads(ds.attrs["input_attrs"]),
        provenance=dict(ds.attrs),
    )

"""Saving a fitted SAE to netCDF and reading it back (weights as variables, no pickle); reading
modes from either kind of modes file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import xarray as xr
from sklearn.utils.validation import check_is_fitted

from ..device import resolve_device
from ..errors import RetinaCodecError
from ..io import read_netcdf, write_netcdf
from ._network import ThresholdedSAE

if TYPE_CHECKING:
    from .sae import SAE

SAVED_KIND = "retinacodec.SAE"
"""The ``kind`` attr that marks a file written by :func:`save_sae`."""
WEIGHT_PREFIX = "weight__"
"""Prefix of the variables that hold the network's weights (one per state-dict entry)."""


def save_sae(sae: SAE, path: str | os.PathLike) -> Path:
    """Write a fitted SAE to netCDF (atomic): modes, every network weight, training history
    and dead modes as variables; hyperparameters and fitted scalars as attrs.

    Parameters
    ----------
    sae : SAE
        A fitted estimator.
    path : str or path-like
        Destination ``.nc`` file.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    check_is_fitted(sae, "modes_")
    modes = sae.modes_ if isinstance(sae.modes_, xr.DataArray) else xr.DataArray(sae.modes_, dims=("mode", "feature"))
    ds = xr.Dataset({"modes": (modes.dims, modes.values)}, coords=modes.coords)
    ds["history"] = ("epoch", sae.history_)
    ds["dead_modes"] = ("mode", sae.dead_modes_.astype(np.int8))
    for name, tensor in sae._network.state_dict().items():
        array = tensor.detach().cpu().numpy()
        key = WEIGHT_PREFIX + name
        ds[key] = ([f"{key}_{axis}" for axis in range(array.ndim)], array)
    ds.attrs = {
        **sae._provenance(),
        "kind": SAVED_KIND,
        "labeled": int(sae._features is not None),
        "scale": sae.scale_,
        "r2": sae.r2_,
        "l0": sae.l0_,
        "n_iter": sae.n_iter_,
        "n_resampled": sae.n_resampled_,
        "input_attrs": json.dumps(sae._attrs),
    }
    return write_netcdf(ds, path)


def load_sae(path: str | os.PathLike, cls: type[SAE]) -> SAE:
    """Read an SAE written by :func:`save_sae`; its transforms equal those before saving.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_sae`.
    cls : type
        The estimator class to build (:class:`~retinacodec.modes.sae.SAE` or a subclass).

    Returns
    -------
    SAE
        The fitted estimator, on the device its ``device`` parameter resolves to now.

    Raises
    ------
    RetinaCodecError
        If the file is not a saved SAE.
    """
    ds = read_netcdf(path)
    if not isinstance(ds, xr.Dataset) or ds.attrs.get("kind") != SAVED_KIND:
        raise RetinaCodecError(f"{path} is not a saved SAE (expected a file written by SAE.save)")
    sae = cls(**json.loads(ds.attrs["sae_params"]))
    modes = ds["modes"]
    n_modes, n_features = modes.shape
    network = ThresholdedSAE(n_features, n_modes, sae.threshold, sae.active_codes)
    state = {
        name[len(WEIGHT_PREFIX) :]: torch.from_numpy(ds[name].values)
        for name in ds.data_vars
        if str(name).startswith(WEIGHT_PREFIX)
    }
    network.load_state_dict(state)
    sae._attach(network.to(resolve_device(sae.device)))
    sae._generator = torch.Generator().manual_seed(int(sae.seed))
    sae._features = modes.isel(mode=0, drop=True) if int(ds.attrs["labeled"]) else None
    sae._attrs = json.loads(ds.attrs["input_attrs"])
    sae.n_features_in_ = n_features
    sae.scale_ = float(ds.attrs["scale"])
    sae.r2_ = float(ds.attrs["r2"])
    sae.l0_ = float(ds.attrs["l0"])
    sae.n_iter_ = int(ds.attrs["n_iter"])
    sae.n_resampled_ = int(ds.attrs["n_resampled"])
    sae.history_ = ds["history"].values
    sae.dead_modes_ = ds["dead_modes"].values.astype(bool)
    sae.modes_ = sae._label_modes()
    return sae


def read_modes(path: str | os.PathLike) -> SAE | xr.Dataset:
    """Read modes from a file: a fitted SAE (``retinacodec modes --save-sae``, per-sample
    loadings available) or a modes result (``retinacodec modes -o``: dictionary and loadings).

    Parameters
    ----------
    path : str or path-like
        The netCDF file.

    Returns
    -------
    SAE or xarray.Dataset
        The SAE, or the Dataset with ``modes`` and ``loadings``.

    Raises
    ------
    RetinaCodecError
        If the file is missing, unreadable or neither of these.
    """
    from .sae import SAE  # sae imports this module

    data = read_netcdf(path)
    if hasattr(data, "data_vars") and {"modes", "loadings"} <= set(data.data_vars):
        return data
    try:
        return SAE.load(path)
    except RetinaCodecError:
        raise RetinaCodecError(
            f"{path} holds no modes; expected a file written by 'retinacodec modes' (-o or --save-sae)"
        ) from None

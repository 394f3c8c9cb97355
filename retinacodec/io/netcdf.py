"""Atomic netCDF writing and validated reading of labeled results."""

from __future__ import annotations

import json
import numbers
import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._validation import check_input_file
from ..errors import RetinaCodecError
from .atomic import atomic_destination

_STACKED_ATTR = "_retinacodec_stacked"
_DATAARRAY_ATTR = "_retinacodec_dataarray"
_JSON_ATTRS = "_retinacodec_json_attrs"


def _unstack_multiindex(ds: xr.Dataset) -> xr.Dataset:
    """Replace every pandas MultiIndex by its level coords, remembering how to rebuild it."""
    stacked = {}
    for name, index in ds.indexes.items():  # a MultiIndex is listed under its dim and each level
        if isinstance(index, pd.MultiIndex) and name in ds.dims:
            stacked[name] = list(index.names)
    if stacked:
        ds = ds.reset_index(list(stacked))
        ds.attrs[_STACKED_ATTR] = json.dumps(stacked)
    return ds


def _restack_multiindex(ds: xr.Dataset, path: Path) -> xr.Dataset:
    stacked = json.loads(ds.attrs.pop(_STACKED_ATTR, "{}"))
    for dim, levels in stacked.items():  # from_arrays keeps one-level MultiIndexes too
        missing = [level for level in levels if level not in ds.variables]
        if missing:
            raise RetinaCodecError(
                f"{path}: the stacked index {dim!r} needs the variables {levels}, and {missing} are missing; "
                "expected a file as retinacodec wrote it"
            )
        index = pd.MultiIndex.from_arrays([ds[level].values for level in levels], names=levels)
        level_attrs = {level: ds[level].attrs for level in levels}
        ds = ds.drop_vars(levels).assign_coords(xr.Coordinates.from_pandas_multiindex(index, dim))
        for level, attrs in level_attrs.items():
            ds[level].attrs = attrs
    return ds


def _clean_attrs(attrs: dict) -> dict:
    """netCDF attrs hold strings, numbers and arrays; booleans, None, dicts, lists and tuples are
    stored as JSON text (netCDF would turn a one-element list into a scalar), their names listed
    under ``_JSON_ATTRS`` for :func:`_restore_attrs`."""
    clean, encoded = {}, []
    for key, value in attrs.items():
        if value is None or isinstance(value, (bool, np.bool_, dict, list, tuple)):
            clean[key] = json.dumps(value, default=_json_scalar)
            encoded.append(key)
        elif isinstance(value, (str, numbers.Number, np.generic, np.ndarray)):
            clean[key] = value
        else:
            raise RetinaCodecError(
                f"attr {key!r} is a {type(value).__name__} ({value!r}); netCDF stores strings, numbers, "
                "booleans, None, numpy values, and lists and dicts of them"
            )
    if encoded:
        clean[_JSON_ATTRS] = json.dumps(encoded)
    return clean


def _json_scalar(value):
    """JSON fallback for numpy scalars and arrays inside attrs."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise RetinaCodecError(
        f"attr value {value!r} of type {type(value).__name__} cannot be stored in netCDF; "
        "expected strings, numbers, booleans, None, numpy values, or lists and dicts of them"
    )


def _restore_attrs(attrs: dict) -> dict:
    """Undo :func:`_clean_attrs`."""
    attrs = dict(attrs)
    encoded = json.loads(attrs.pop(_JSON_ATTRS, "[]"))
    return {key: json.loads(value) if key in encoded else value for key, value in attrs.items()}


def write_netcdf(obj: xr.Dataset | xr.DataArray, path: str | os.PathLike) -> Path:
    """Write a labeled result to netCDF atomically.

    The data go to a temporary file in the target folder, which is then renamed onto ``path``,
    so an interruption never leaves a half-written file under the final name.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        The result. Stacked (MultiIndex) dims such as ``sample = (time, cell)`` are stored as their
        level coords and rebuilt by :func:`read_netcdf`.
    path : str or path-like
        Destination file; its folder is created if needed.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    if isinstance(obj, xr.DataArray):
        name = obj.name if obj.name is not None else "__xarray_dataarray_variable__"
        ds = obj.to_dataset(name=name)
        ds.attrs = dict(obj.attrs)
        ds.attrs[_DATAARRAY_ATTR] = str(name)
    elif isinstance(obj, xr.Dataset):
        ds = obj.copy()
    else:
        raise RetinaCodecError(f"cannot write {type(obj).__name__} to netCDF: expected an xarray Dataset or DataArray")
    ds = _unstack_multiindex(ds)
    ds.attrs = _clean_attrs(ds.attrs)
    for var in ds.variables.values():
        var.attrs = _clean_attrs(var.attrs)
    with atomic_destination(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")
    return path


def read_netcdf(path: str | os.PathLike) -> xr.Dataset | xr.DataArray:
    """Read a result written by :func:`write_netcdf` (or any netCDF file) fully into memory.

    Parameters
    ----------
    path : str or path-like
        A netCDF file.

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        A DataArray when one was written, else a Dataset; dims, coords, attrs and stacked
        indexes restored.

    Raises
    ------
    RetinaCodecError
        If the file is missing or is not a readable netCDF file.
    """
    path = check_input_file(path, "netCDF file", "an existing .nc file")
    try:
        with xr.open_dataset(path, engine="netcdf4") as opened:
            ds = opened.load()
    except (OSError, ValueError, RuntimeError) as exc:
        raise RetinaCodecError(
            f"cannot read {path} as netCDF ({exc.__class__.__name__}: {exc}); expected a netCDF4 file"
        ) from None
    try:
        ds.attrs = _restore_attrs(ds.attrs)
        for var in ds.variables.values():
            var.attrs = _restore_attrs(var.attrs)
    except (json.JSONDecodeError, TypeError) as exc:
        raise RetinaCodecError(
            f"{path} has an attr that is not valid JSON ({exc}); expected a file written by retinacodec"
        ) from None
    ds = _restack_multiindex(ds, path)
    name = ds.attrs.pop(_DATAARRAY_ATTR, None)
    if name is not None:
        da = ds[name]
        da.attrs = dict(ds.attrs)
        if name == "__xarray_dataarray_variable__":
            da.name = None
        return da
    return ds

"""Atomic netCDF writing (CF conventions, zlib compression) and validated reading of labeled results."""

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
from .cf import CONVENTIONS

_STACKED_ATTR = "_retinacodec_stacked"
"""Names the stacked dims of a file written before the CF encoding (still read)."""
_DATAARRAY_ATTR = "_retinacodec_dataarray"
_JSON_ATTRS = "_retinacodec_json_attrs"
_GATHERED = "compress"
"""CF attribute of a dim coordinate that indexes the product of the dims it names."""
ZLIB_LEVEL = 4
"""zlib level of the numeric variables (a higher level costs write time and saves little)."""
MIN_COMPRESSED_BYTES = 4096
"""Smaller arrays are stored uncompressed: the chunk index of a compressed one outweighs the gain."""


def _gather(ds: xr.Dataset) -> xr.Dataset:
    """Encode every stacked (MultiIndex) dim as CF compression by gathering, as
    ``cf_xarray.encode_multi_index_as_compress`` does: each level becomes a dim holding its
    distinct values, and the stacked dim an integer index into the product of those dims, named
    by its ``compress`` attribute."""
    stacked = [name for name, index in ds.indexes.items() if isinstance(index, pd.MultiIndex) and name in ds.dims]
    for dim in stacked:
        index = ds.indexes[dim].remove_unused_levels()
        names = [str(name) for name in index.names]
        clash = [name for name in names if name in ds.dims]
        if clash or any((codes < 0).any() for codes in index.codes):
            problem = f"levels {clash} are also dims" if clash else "a level holds missing values"
            raise RetinaCodecError(
                f"cannot write the stacked dim {dim!r} ({', '.join(names)}): {problem}; expected level "
                "names that are not dims and levels without missing values"
            )
        attrs = {name: dict(ds[name].attrs) for name in names}
        dim_attrs = {**ds[dim].attrs, _GATHERED: " ".join(names)}
        ds = ds.drop_vars([dim, *names]).assign_coords(
            {name: (name, np.asarray(level), attrs[name]) for name, level in zip(names, index.levels, strict=True)}
        )
        ds = ds.assign_coords({dim: (dim, np.ravel_multi_index(index.codes, index.levshape), dim_attrs)})
    return ds


def _ungather(ds: xr.Dataset, path: Path) -> xr.Dataset:
    """Undo :func:`_gather`: a dim coordinate with a ``compress`` attribute becomes a MultiIndex."""
    gathered = [str(name) for name, var in ds.variables.items() if _GATHERED in var.attrs and var.dims == (name,)]
    for dim in gathered:
        names = str(ds[dim].attrs[_GATHERED]).split()
        missing = [name for name in names if name not in ds.coords or ds[name].dims != (name,)]
        if not names or missing:
            raise RetinaCodecError(
                f"{path}: the {_GATHERED} attribute of {dim!r} names {names}, and {missing} are missing; "
                "expected dims with coordinates (a file as retinacodec wrote it)"
            )
        try:
            positions = np.unravel_index(ds[dim].values, [ds.sizes[name] for name in names])
        except (ValueError, TypeError) as exc:
            raise RetinaCodecError(
                f"{path}: {dim!r} does not index the product of {names} ({exc}); expected a file written by retinacodec"
            ) from None
        levels = [ds[name].values[where] for name, where in zip(names, positions, strict=True)]
        dim_attrs = {key: value for key, value in ds[dim].attrs.items() if key != _GATHERED}
        ds = _assign_stacked(ds.drop_vars(dim), dim, names, levels)
        ds[dim].attrs = dim_attrs
    return ds


def _restack_multiindex(ds: xr.Dataset, path: Path) -> xr.Dataset:
    """Rebuild the stacked dims of a file written before :func:`_gather` (level coords along the dim)."""
    stacked = json.loads(ds.attrs.pop(_STACKED_ATTR, "{}"))
    for dim, levels in stacked.items():
        missing = [level for level in levels if level not in ds.variables]
        if missing:
            raise RetinaCodecError(
                f"{path}: the stacked index {dim!r} needs the variables {levels}, and {missing} are missing; "
                "expected a file as retinacodec wrote it"
            )
        ds = _assign_stacked(ds, dim, levels, [ds[level].values for level in levels])
    return ds


def _assign_stacked(ds: xr.Dataset, dim: str, names: list[str], levels: list[np.ndarray]) -> xr.Dataset:
    """Replace the coords ``names`` by a MultiIndex ``dim`` of the given level values, keeping
    their attrs (from_arrays keeps one-level MultiIndexes too)."""
    index = pd.MultiIndex.from_arrays(levels, names=names)
    attrs = {name: ds[name].attrs for name in names}
    ds = ds.drop_vars(names).assign_coords(xr.Coordinates.from_pandas_multiindex(index, dim))
    for name in names:
        ds[name].attrs = attrs[name]
    return ds


def _compression(ds: xr.Dataset, compress: bool) -> dict[str, dict]:
    """netCDF4 encoding of every numeric array: zlib with the byte shuffle, or none (always none
    below :data:`MIN_COMPRESSED_BYTES`)."""
    numeric = {str(name): var for name, var in ds.variables.items() if var.ndim and var.dtype.kind in "biufMm"}
    return {
        name: {"zlib": True, "complevel": ZLIB_LEVEL, "shuffle": True}
        if compress and var.nbytes >= MIN_COMPRESSED_BYTES
        else {"zlib": False}
        for name, var in numeric.items()
    }


def _clean_attrs(attrs: dict) -> dict:
    """netCDF attrs hold strings, numbers and arrays; booleans, None, dicts, lists and tuples are
    stored as JSON text (netCDF would turn a one-element list into a scalar), their names listed
    under ``_JSON_ATTRS`` for :func:`_restore_attrs`."""
    clean: dict[str, object] = {}
    encoded: list[str] = []
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


def write_netcdf(obj: xr.Dataset | xr.DataArray, path: str | os.PathLike, *, compress: bool = True) -> Path:
    """Write a labeled result to netCDF atomically, following the CF conventions.

    The data go to a temporary file in the target folder, which is then renamed onto ``path``,
    so an interruption never leaves a half-written file under the final name.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        The result. Stacked (MultiIndex) dims such as ``sample = (time, cell)`` are stored with
        CF compression by gathering (as ``cf_xarray.encode_multi_index_as_compress`` does) and
        rebuilt by :func:`read_netcdf` (or by ``cf_xarray.decode_compress_to_multi_index``).
    path : str or path-like
        Destination file; its folder is created if needed.
    compress : bool
        Compress every numeric array with zlib (level :data:`ZLIB_LEVEL`, lossless); False
        writes them uncompressed.

    Returns
    -------
    pathlib.Path
        The written path.

    Notes
    -----
    The file gets the global attribute ``Conventions = "CF-1.11"`` unless ``obj`` names its own;
    :func:`read_netcdf` removes it again.
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
    ds = _gather(ds)
    ds.attrs = _clean_attrs({"Conventions": CONVENTIONS, **ds.attrs})
    for var in ds.variables.values():
        var.attrs = _clean_attrs(var.attrs)
    with atomic_destination(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=_compression(ds, compress))
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
        indexes restored (from CF compression by gathering, or from files written by earlier
        versions), without the ``Conventions`` attribute that :func:`write_netcdf` adds.

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
    if ds.attrs.get("Conventions") == CONVENTIONS:
        del ds.attrs["Conventions"]
    ds = _restack_multiindex(_ungather(ds, path), path)
    name = ds.attrs.pop(_DATAARRAY_ATTR, None)
    if name is not None:
        da = ds[name]
        da.attrs = dict(ds.attrs)
        if name == "__xarray_dataarray_variable__":
            da.name = None
        return da
    return ds

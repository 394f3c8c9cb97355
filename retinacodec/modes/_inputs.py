"""Turn what a user hands the SAE (numpy array, DataArray, contributions Dataset) into a checked
(sample, feature) matrix, and remember the labels needed to label the results."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import RetinaCodecError

SAMPLE_DIM = "sample"
SIGN_DIM = "sign"
FEATURE_DIM = "feature"
"""Name of the stacked (channel, sign) dim of split-sign inputs."""
NEGATIVE_TOLERANCE = 0.05
"""Largest norm of the negative part of a non-negative fit's input, relative to the input's norm,
that is taken for noise (fitted, with a warning) rather than for signed data (refused)."""


@dataclass(frozen=True)
class FeatureMatrix:
    """A validated (sample, feature) matrix with the labels it came with.

    Attributes
    ----------
    values : numpy.ndarray
        float32 array (n_samples, n_features); split-sign inputs hold magnitudes.
    samples : xarray.DataArray or None
        1-D template over the sample dim carrying the sample coords (None for numpy input).
    features : xarray.DataArray or None
        1-D template over the feature dim carrying the feature coords (None for numpy input).
    attrs : dict
        Provenance attrs of the input (Dataset attrs updated by the variable's attrs).
    """

    values: np.ndarray
    samples: xr.DataArray | None
    features: xr.DataArray | None
    attrs: dict

    @property
    def labeled(self) -> bool:
        return self.samples is not None


def select_variable(data: xr.Dataset | xr.DataArray, variable: str) -> xr.DataArray:
    """Pick ``variable`` out of a contributions Dataset (a DataArray passes through), with the
    Dataset's attrs merged under the variable's own."""
    if isinstance(data, xr.DataArray):
        return data
    if variable not in data.data_vars:
        raise RetinaCodecError(
            f"the Dataset has no variable {variable!r} (it has {sorted(map(str, data.data_vars))}); "
            "expected a contributions Dataset with 'contribution' and 'activation'"
        )
    selected = data[variable]
    return selected.assign_attrs({**data.attrs, **selected.attrs})


def as_feature_matrix(data, variable: str = "contribution") -> FeatureMatrix:
    """Validate ``data`` and flatten it to a (sample, feature) matrix.

    Parameters
    ----------
    data : numpy.ndarray, xarray.DataArray or xarray.Dataset
        A 2-D array (sample, feature); a DataArray with dims (sample, channel) or
        (sample, channel, sign); or a contributions Dataset, of which ``variable`` is used.
        The sample dim is ``"sample"`` when present, else the first dim.
    variable : str
        Variable of a Dataset to use (``"contribution"`` or ``"activation"``).

    Returns
    -------
    FeatureMatrix
        For (sample, channel, sign) input the feature dim is ``"feature"``, a stacked index over
        (channel, sign) with sign varying fastest, and the values are magnitudes ``|x|`` (so the
        ``neg`` features are the sizes of the negative contributions, whichever sign convention
        the input used).

    Raises
    ------
    RetinaCodecError
        On non-numeric data, a wrong number of dims, no samples or features, or NaN/inf values.
    """
    if isinstance(data, (xr.Dataset, xr.DataArray)):
        return _from_dataarray(select_variable(data, variable))
    try:
        values = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise RetinaCodecError(
            f"cannot read {type(data).__name__} as a numeric array; expected a 2-D array "
            "(sample, feature), an xarray DataArray or a contributions Dataset"
        ) from None
    if values.ndim != 2:
        raise RetinaCodecError(f"input has shape {values.shape}; expected a 2-D array (sample, feature)")
    return FeatureMatrix(_checked(values), None, None, {})


def _from_dataarray(da: xr.DataArray) -> FeatureMatrix:
    if da.ndim not in (2, 3):
        raise RetinaCodecError(f"input has dims {da.dims}; expected (sample, channel) or (sample, channel, sign)")
    samples_along = sample_dim(da)
    feature_dims = sorted((dim for dim in da.dims if dim != samples_along), key=lambda dim: dim == SIGN_DIM)
    da = da.transpose(samples_along, *feature_dims)
    features = da.isel({samples_along: 0}, drop=True)
    samples = da.isel({dim: 0 for dim in feature_dims}, drop=True)
    values = da.values.astype(np.float64)
    if len(feature_dims) == 2:
        if SIGN_DIM not in feature_dims:
            raise RetinaCodecError(f"3-D input has dims {da.dims}; expected (sample, channel, sign) with a 'sign' dim")
        features = features.stack({FEATURE_DIM: feature_dims})
        values = np.abs(values.reshape(len(values), -1))
    return FeatureMatrix(_checked(values), samples, features, dict(da.attrs))


def sample_dim(da: xr.DataArray) -> str:
    """The sample dim of ``da``: ``"sample"`` when present, else the first dim."""
    return SAMPLE_DIM if SAMPLE_DIM in da.dims else str(da.dims[0])


def _checked(values: np.ndarray) -> np.ndarray:
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise RetinaCodecError(f"input has shape {values.shape}; expected at least one sample and one feature")
    n_bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
    if n_bad:
        raise RetinaCodecError(
            f"input has {n_bad} NaN or infinite values; expected finite numbers (drop or fill them first)"
        )
    with np.errstate(over="ignore"):
        single = values.astype(np.float32)
    if not np.isfinite(single).all():
        raise RetinaCodecError(
            f"input values reach {np.abs(values).max():.3g}, beyond float32's range (3.4e38); expected "
            "values that fit float32 (divide by a constant first)"
        )
    return single


def check_trainable(values: np.ndarray) -> None:
    """Refuse a (sample, feature) matrix no modes can be learned from.

    Parameters
    ----------
    values : numpy.ndarray
        float32 training input, (sample, feature).

    Raises
    ------
    RetinaCodecError
        For a single sample, all zeros, every sample the same, or a standard deviation that is not
        finite in float32 (the fit divides the input by it).
    """
    n_samples, n_features = values.shape
    if n_samples < 2:
        raise RetinaCodecError(f"input has {n_samples} sample; expected at least 2 samples that differ")
    if not values.any():
        raise RetinaCodecError(
            f"input is all zeros ({n_samples} samples x {n_features} features); expected values that vary "
            "across samples"
        )
    if (values == values[0]).all():
        raise RetinaCodecError(
            f"all {n_samples} samples of the input are the same; expected values that vary across samples"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        scale = values.std()
    if not np.isfinite(scale):
        raise RetinaCodecError(
            f"input's standard deviation overflows float32 (largest |value| {np.abs(values).max():.3g}); "
            "expected values whose squares fit float32 (divide by a constant first)"
        )


def check_negative_part(values: np.ndarray) -> None:
    """Warn about a negative part small enough to be noise; refuse a larger one.

    Parameters
    ----------
    values : numpy.ndarray
        Input of a non-negative fit, (sample, feature), with some negative entries.

    Raises
    ------
    RetinaCodecError
        If the norm of the negative part exceeds :data:`NEGATIVE_TOLERANCE` x the input's norm.
    """
    share = float(np.linalg.norm(np.minimum(values, 0.0)) / np.linalg.norm(values))
    if share > NEGATIVE_TOLERANCE:
        raise RetinaCodecError(
            f"input has negative values (min {values.min():.3g}, {100 * share:.1f}% of the input's norm, "
            f"more than the {100 * NEGATIVE_TOLERANCE:g}% taken for noise) but nonnegative=True: non-negative "
            "modes and loadings cannot reconstruct them; pass split-sign contributions (sample, channel, sign), "
            "non-negative data, or nonnegative=False"
        )
    warnings.warn(
        f"input has small negative values (min {values.min():.3g}, {100 * share:.2f}% of the input's "
        "norm), taken for noise: fitted as they are, though non-negative modes cannot reconstruct them",
        stacklevel=4,
    )


def label_matrix(
    values: np.ndarray, rows: xr.DataArray | str, columns: xr.DataArray | str, attrs: dict
) -> xr.DataArray:
    """Label a 2-D array: each axis by a 1-D template whose coords it takes, or by a dim name
    (then numbered 0, 1, ...)."""
    axes = [rows, columns]
    dims = [axis.dims[0] if isinstance(axis, xr.DataArray) else axis for axis in axes]
    labeled = xr.DataArray(values, dims=dims, attrs=attrs)
    for axis, dim, size in zip(axes, dims, values.shape):
        labeled = labeled.assign_coords(axis.coords if isinstance(axis, xr.DataArray) else {dim: np.arange(size)})
    return labeled

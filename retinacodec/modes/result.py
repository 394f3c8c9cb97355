"""One type for a set of modes, however it was made: a fitted SAE, the modes file of
``retinacodec modes -o``, a saved SAE (``--save-sae``) or a bare dictionary."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import xarray as xr
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ..errors import RetinaCodecError
from ..io import read_netcdf
from .sae import SAE
from .sae_io import is_saved_sae, sae_params

DICTIONARY_DIMS = ({"mode", "channel"}, {"mode", "channel", "sign"})
"""Dims a dictionary may have once its ``feature`` index is unstacked into (channel, sign)."""


@dataclass(frozen=True, eq=False)
class Modes:
    """A set of modes: the dictionary and, when known, the loadings, dead modes and usage of the
    samples they were fitted on and the SAE that computes loadings of new data.

    Build one with :meth:`from_sae`, :meth:`from_dataset`, :meth:`from_dictionary` or
    :meth:`read`; :meth:`coerce` takes any of their inputs (or a ``Modes``).
    """

    dictionary: xr.DataArray
    """(mode, feature) atoms in the input's units: ``feature`` is the stacked (channel, sign) of
    split-sign input, else the channel dim (or (mode, channel, sign)). Attrs: the provenance of the
    fit (``layer`` and ``sae_params`` when recorded)."""
    loadings: xr.DataArray | None = None
    """(sample, mode) loadings of the samples the modes were fitted on, when known."""
    dead_modes: np.ndarray | None = None
    """bool (mode,): modes never active on those samples, when known."""
    usage: np.ndarray | None = None
    """(mode,) fraction of those samples where each mode is active, when known."""
    sae: SAE | None = None
    """The fitted SAE, when known: it computes loadings of new data (:meth:`transform`)."""

    @classmethod
    def from_sae(cls, sae: SAE) -> Modes:
        """The modes of a fitted SAE: its dictionary and dead modes, and the SAE as encoder.

        Raises
        ------
        RetinaCodecError
            If the SAE is not fitted.
        """
        try:
            check_is_fitted(sae, "modes_")
        except NotFittedError:
            raise RetinaCodecError(
                "the SAE is not fitted; expected a fitted SAE (call fit first) or its modes_"
            ) from None
        return cls(_dictionary(sae.modes_), dead_modes=np.asarray(sae.dead_modes_, dtype=bool), sae=sae)

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> Modes:
        """The modes of a :func:`~retinacodec.modes.workflow.fit_modes` result (``retinacodec modes -o``).

        Parameters
        ----------
        ds : xarray.Dataset
            ``modes`` (mode, feature); ``loadings`` (sample, mode), ``dead_modes`` and
            ``mode_usage`` (mode) are used when present. The dictionary takes the Dataset's attrs
            under its own.

        Raises
        ------
        RetinaCodecError
            Without a ``modes`` variable.
        """
        if "modes" not in ds:
            raise RetinaCodecError("the modes Dataset has no 'modes' variable; expected the result of fit_modes()")
        return cls(
            _dictionary(ds["modes"].assign_attrs({**ds.attrs, **ds["modes"].attrs})),
            loadings=ds["loadings"] if "loadings" in ds else None,
            dead_modes=np.asarray(ds["dead_modes"].values, dtype=bool) if "dead_modes" in ds else None,
            usage=np.asarray(ds["mode_usage"].values, dtype=float) if "mode_usage" in ds else None,
        )

    @classmethod
    def from_dictionary(cls, dictionary: xr.DataArray | np.ndarray) -> Modes:
        """Modes known only by their dictionary: a DataArray with a ``mode`` dim, or a 2-D array
        (mode, channel), numbered 0, 1, ... along both."""
        return cls(_dictionary(dictionary))

    @classmethod
    def read(cls, path: str | os.PathLike) -> Modes:
        """Read modes from a file: a modes result (``retinacodec modes -o``: dictionary and
        loadings) or a fitted SAE (``retinacodec modes --save-sae``: an encoder of new data).

        Raises
        ------
        RetinaCodecError
            If the file is missing, unreadable or neither of these.
        """
        data = read_netcdf(path)
        if isinstance(data, xr.Dataset) and {"modes", "loadings"} <= set(data.data_vars):
            return cls.from_dataset(data)
        if is_saved_sae(data):
            return cls.from_sae(SAE.load(path))
        raise RetinaCodecError(
            f"{path} holds no modes; expected a file written by 'retinacodec modes' (-o or --save-sae)"
        )

    @classmethod
    def coerce(cls, modes: Modes | SAE | xr.Dataset | xr.DataArray | np.ndarray) -> Modes:
        """``modes`` as :class:`Modes`: a fitted SAE, a modes Dataset or a dictionary is converted, a
        ``Modes`` passes through."""
        if isinstance(modes, Modes):
            return modes
        if isinstance(modes, SAE):
            return cls.from_sae(modes)
        if isinstance(modes, xr.Dataset):
            return cls.from_dataset(modes)
        return cls.from_dictionary(modes)

    @property
    def n_modes(self) -> int:
        """Number of modes (dead ones included)."""
        return int(self.dictionary.sizes["mode"])

    @property
    def layer(self) -> str | None:
        """The layer the modes were fitted on, when recorded."""
        layer = self.dictionary.attrs.get("layer")
        return None if layer is None else str(layer)

    @property
    def variable(self) -> str | None:
        """What the modes decompose (``"contribution"`` or ``"activation"``), when known."""
        if self.sae is not None:
            return str(self.sae.variable)
        variable = sae_params(self.dictionary.attrs).get("variable")
        return None if variable is None else str(variable)

    @property
    def has_encoder(self) -> bool:
        """Whether loadings of new data can be computed (:meth:`transform`)."""
        return self.sae is not None

    def transform(self, X) -> np.ndarray | xr.DataArray:
        """Loadings (sample, mode) of new data, by the SAE (see :meth:`SAE.transform`).

        Raises
        ------
        RetinaCodecError
            Without an SAE (modes read from a modes result or a bare dictionary).
        """
        if self.sae is None:
            raise RetinaCodecError(
                "the modes come without their SAE, which computes loadings of new data; expected a fitted "
                "SAE or a file written by SAE.save"
            )
        return self.sae.transform(X)

    def channel_weights(self) -> xr.DataArray:
        """The non-negative weight of every channel in every mode.

        Returns
        -------
        xarray.DataArray
            float64 (mode, channel), :math:`W_{mc} = \\sum_s |d_{mcs}|` (the sum over signs of the
            magnitudes of the dictionary entries), with coords mode and channel (0, 1, ... when the
            dictionary has none) and the dictionary's attrs.

        Raises
        ------
        RetinaCodecError
            For dims other than (mode, channel), (mode, feature) with feature = (channel, sign), or
            (mode, channel, sign), or for non-finite entries.
        """
        atoms = self.dictionary
        if "feature" in atoms.dims:
            atoms = atoms.unstack("feature")
        if set(atoms.dims) not in DICTIONARY_DIMS:
            raise _dims_error(atoms.dims)
        weights = abs(atoms.astype(float))
        if "sign" in weights.dims:
            weights = weights.sum("sign")
        weights = weights.transpose("mode", "channel")
        if not np.isfinite(weights.values).all():
            raise RetinaCodecError("modes hold NaN or infinite values; expected a finite dictionary")
        for dim in ("mode", "channel"):
            if dim not in weights.coords:
                weights = weights.assign_coords({dim: np.arange(weights.sizes[dim])})
        return weights.assign_attrs(atoms.attrs).rename("channel_weight")

    def __repr__(self) -> str:
        known = [name for name in ("loadings", "dead_modes", "usage", "sae") if getattr(self, name) is not None]
        return (
            f"<Modes: {self.n_modes} modes of {self.variable or 'an unrecorded variable'} in layer "
            f"{self.layer or '(unrecorded)'}, dims {self.dictionary.dims}; with {', '.join(known) or 'nothing else'}>"
        )


def _dictionary(dictionary: xr.DataArray | np.ndarray) -> xr.DataArray:
    """A dictionary as a DataArray with a ``mode`` dim: a DataArray as it is, an array as float64
    (mode, channel) numbered 0, 1, ... along both."""
    if isinstance(dictionary, xr.DataArray):
        if "mode" not in dictionary.dims:
            raise _dims_error(dictionary.dims)
        return dictionary
    try:
        values = np.asarray(dictionary, dtype=float)
    except (TypeError, ValueError):
        raise RetinaCodecError(
            f"cannot read {type(dictionary).__name__} as modes; expected a fitted SAE, a modes Dataset, a "
            "dictionary DataArray (mode, feature) or a 2-D array (mode, channel)"
        ) from None
    if values.ndim != 2:
        raise RetinaCodecError(f"modes have shape {values.shape}; expected a 2-D array (mode, channel)")
    return xr.DataArray(
        values, dims=("mode", "channel"), coords={"mode": np.arange(len(values)), "channel": np.arange(values.shape[1])}
    )


def _dims_error(dims: tuple) -> RetinaCodecError:
    return RetinaCodecError(
        f"modes have dims {dims}; expected (mode, channel), (mode, feature) with feature = (channel, sign), "
        "or (mode, channel, sign)"
    )

"""Which modes, of which layer, :func:`retinacodec.irf` and :func:`contribution_maps` decompose by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..modes.result import Modes
from ..modes.sae import SAE


@dataclass(frozen=True)
class ModeSelection:
    """A mode set, the modes of it to return and the layer it belongs to.

    Pass it where a function takes ``modes``; a bare mode set means every mode, at the layer the
    modes record.

    Attributes
    ----------
    modes : Modes, SAE, xarray.Dataset, xarray.DataArray or numpy.ndarray
        Anything :meth:`~retinacodec.modes.result.Modes.coerce` takes: a fitted SAE (loadings
        from each sample's contributions), a modes Dataset or a dictionary (mode, channel) or
        (mode, feature) (every mode loading 1); see
        :func:`~retinacodec.modes.selection.channel_weights`.
    positions : sequence of int, optional
        Positions along ``mode`` of the modes to return (all by default). The shares of each
        channel still count every mode; the parts of the others fall into the residual.
    layer : str, optional
        The hidden layer of the modes; by default the one they record (a dictionary that records
        none needs it).
    """

    modes: Modes | SAE | xr.Dataset | xr.DataArray | np.ndarray
    positions: Sequence[int] | np.ndarray | None = None
    layer: str | None = None

    @classmethod
    def of(cls, modes: ModeSelection | Modes | SAE | xr.Dataset | xr.DataArray | np.ndarray) -> ModeSelection:
        """``modes`` as a selection: itself, or every mode of a bare mode set."""
        return modes if isinstance(modes, ModeSelection) else cls(modes)


SelectionLike = ModeSelection | Modes | SAE | xr.Dataset | xr.DataArray | np.ndarray
"""What a function that decomposes by modes takes as ``modes``: a selection or a bare mode set."""

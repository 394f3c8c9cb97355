"""What to read from an NWB recording: the stimulus, epochs and units, as one value."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import xarray as xr
from pynwb import NWBFile

from .epochs import Epoch
from .read import read_nwb
from .units import UnitFilter


@dataclass(frozen=True)
class NWBSelection:
    """The stimulus, epochs and units to read from a recording (:func:`read_nwb`'s options).

    Attributes
    ----------
    stimulus : str, optional
        Name of the stimulus series or presentations table.
    epochs : str, (float, float) or a list of these, optional
        Epochs by name or as (start, stop) in s.
    units : str, sequence of str or mapping, optional
        Unit conditions such as ``"quality==good"``.
    electrode_groups : str or sequence of str, optional
        Electrode groups (names) whose units are kept.
    """

    stimulus: str | None = None
    epochs: Epoch | Sequence[Epoch] | None = None
    units: UnitFilter | None = None
    electrode_groups: str | Sequence[str] | None = None

    def read(self, source: str | os.PathLike | NWBFile) -> xr.Dataset:
        """:func:`read_nwb` of ``source`` with this selection."""
        return read_nwb(
            source, self.stimulus, epochs=self.epochs, units=self.units, electrode_groups=self.electrode_groups
        )

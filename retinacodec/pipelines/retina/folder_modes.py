"""The modes of a cell as a demo folder holds them: for ``retinacodec design --cell``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from ...errors import RetinaCodecError
from ...io import read_netcdf
from ...modes.result import Modes


@dataclass(frozen=True)
class CellModes:
    """Modes with their encoder, the positions of the ones asked for at a cell, and the demo's
    decomposed IRF (None for a bare SAE file)."""

    modes: Modes
    positions: list[int]
    irf: xr.Dataset | None
    model: Path | None
    """The model of a demo of a recording (``model/cnn``), else None (the shipped model's demo)."""


def _irf(folder: Path) -> xr.Dataset:
    irf = read_netcdf(folder / "irf.nc")
    if not isinstance(irf, xr.Dataset) or "cell_modes" not in irf or "layer" not in irf.attrs:
        raise RetinaCodecError(f"{folder / 'irf.nc'} is not a demo's IRF by mode; expected a demo folder")
    return irf


def modes_at_cell(source: str | os.PathLike, cell: int, modes: Sequence[int] | None) -> CellModes:
    """The modes to design for at ``cell``, from a demo folder or a saved SAE.

    Parameters
    ----------
    source : str or path-like
        A demo folder (its ``irf.nc`` names the layer and each IRF cell's modes, ``sae_<layer>.nc``
        encodes them) or a file written by :meth:`SAE.save <retinacodec.modes.SAE.save>`.
    cell : int
        The cell.
    modes : sequence of int, optional
        Mode positions; by default the cell's modes in the demo's ``irf.nc``.

    Returns
    -------
    CellModes

    Raises
    ------
    RetinaCodecError
        For a missing or unreadable source, no modes given for a cell the demo's IRF does not hold
        (or for an SAE file), or a mode out of range.
    """
    path = Path(source)
    irf = _irf(path) if path.is_dir() else None
    found = Modes.read(path / f"sae_{irf.attrs['layer']}.nc" if irf is not None else path)
    if modes is None:
        if irf is None or cell not in irf["cell"].values:
            held = "" if irf is None else f" (its IRF holds cells {[int(c) for c in irf['cell'].values]})"
            raise RetinaCodecError(f"no modes given for cell {cell}{held}; expected --mode K (repeatable)")
        modes = [int(m) for m in irf["cell_modes"].sel(cell=cell).values if m >= 0]
    positions = [int(m) for m in modes]
    bad = [m for m in positions if not 0 <= m < found.n_modes]
    if bad or not positions:
        raise RetinaCodecError(f"modes {positions}; expected distinct positions in 0..{found.n_modes - 1}")
    model = path / "model" / "cnn" if irf is not None and (path / "model" / "cnn").is_dir() else None
    return CellModes(found, list(dict.fromkeys(positions)), irf, model)

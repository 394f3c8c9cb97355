"""Figures, one module per result kind; matplotlib only (Agg backend, no screen needed).

Each figure function returns a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes it.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure

from ..io.atomic import atomic_destination


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save ``fig`` to ``path`` atomically (temp file, then rename) and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or path-like
        Destination; the format follows the suffix (``.png``, ``.pdf``, ``.svg``).
    dpi : int
        Resolution for raster formats.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with atomic_destination(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path

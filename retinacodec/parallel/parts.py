"""One chunk of a job computed and written as its own netCDF part, wherever it runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import xarray as xr

from ..device import torch_threads
from ..errors import RetinaCodecError
from ..io.netcdf import write_netcdf
from ..io.resumable import file_digest
from .manifest import Chunk

ChunkFunction = Callable[[Chunk, Any], xr.Dataset]
"""``compute(chunk, data) -> Dataset``: the result for one chunk's inputs ``data``."""


def compute_part(compute: ChunkFunction, chunk: Chunk, data: Any, path: str, dim: str, threads: int) -> tuple[str, int]:
    """Compute one chunk and write its part atomically; return the part's SHA-256 and size.

    Runs wherever the chunk is scheduled (this process or a Dask worker), so it is a plain
    module-level function.

    Raises
    ------
    RetinaCodecError
        If the result is not a Dataset along ``dim``.
    """
    with torch_threads(threads):
        result = compute(chunk, data)
    if not isinstance(result, xr.Dataset) or dim not in result.dims:
        raise RetinaCodecError(
            f"chunk {chunk.index} gave {type(result).__name__} without a {dim!r} "
            f"dim; expected an xarray Dataset along {dim!r}"
        )
    write_netcdf(result, path)
    return file_digest(path), Path(path).stat().st_size

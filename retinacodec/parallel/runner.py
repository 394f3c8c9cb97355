"""The chunked job runner: compute missing chunks (here or on Dask workers), then concatenate."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import xarray as xr
from tqdm.auto import tqdm

from ..errors import RetinaCodecError
from ..io.netcdf import read_netcdf, write_netcdf
from .cluster import dask_client
from .manifest import Chunk, Chunking, Manifest, file_digest

ChunkFunction = Callable[[Chunk, Any], xr.Dataset]
"""``compute(chunk, data) -> Dataset``: the result for one chunk's inputs ``data``."""


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` intra-op torch threads (restored afterwards)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def compute_part(compute: ChunkFunction, chunk: Chunk, data: Any, path: str, dim: str,
                 threads: int) -> tuple[str, int]:
    """Compute one chunk and write its part atomically; return the part's SHA-256 and size.

    Runs wherever the chunk is scheduled (this process or a Dask worker), so it is a plain
    module-level function.

    Raises
    ------
    RetinaCodecError
        If the result is not a Dataset along ``dim``.
    """
    with _torch_threads(threads):
        result = compute(chunk, data)
    if not isinstance(result, xr.Dataset) or dim not in result.dims:
        raise RetinaCodecError(f"chunk {chunk.index} gave {type(result).__name__} without a {dim!r} "
                               f"dim; expected an xarray Dataset along {dim!r}")
    write_netcdf(result, path)
    return file_digest(path)


def _no_data(chunk: Chunk) -> None:
    return None


def run_chunked(
    compute: ChunkFunction,
    chunking: Chunking,
    out_dir: str | os.PathLike,
    params: Mapping[str, Any],
    data: Callable[[Chunk], Any] = _no_data,
    dim: str = "sample",
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> xr.Dataset:
    """Run a job chunk by chunk into a resumable job folder and return the concatenated result.

    Each chunk's result is written atomically as its own netCDF part in ``out_dir`` and recorded
    (with its SHA-256 and size) in ``manifest.json``. A rerun in the same folder verifies the
    recorded parts and computes only the missing or damaged ones, so an interrupted job resumes
    where it stopped.

    Parameters
    ----------
    compute : callable
        ``compute(chunk, data) -> xarray.Dataset`` along ``dim``; called with ``data(chunk)``.
        Must be picklable (a module-level function or an instance of a module-level class) when
        run on Dask workers, and deterministic: the same chunk gives the same result.
    chunking : Chunking
        The fixed chunks of the inputs.
    out_dir : str or path-like
        The job folder (created if needed).
    params : mapping
        JSON-typed description of everything the result depends on (model, inputs and their
        fingerprints, settings); a rerun in the same folder must pass equal parameters.
    data : callable
        ``data(chunk)``: the chunk's inputs, taken in this process and shipped to the worker
        (e.g. a stimulus slice or a batch of images); default None (``compute`` loads its own).
    dim : str
        Dim the parts are concatenated along.
    workers : int or None
        Run on a local Dask cluster of this many single-threaded worker processes.
    scheduler : str or None
        Run on the Dask cluster of this scheduler address instead.
    threads : int
        Torch intra-op threads per chunk, the same wherever it runs (so results do not depend on
        where or how the job was run).
    overwrite : bool
        Discard a different job's results found in ``out_dir`` instead of refusing.
    progress : bool
        Show a progress bar over chunks.

    Returns
    -------
    xarray.Dataset
        The parts concatenated along ``dim`` in chunk order, attrs from the first part.

    Raises
    ------
    RetinaCodecError
        If ``out_dir`` holds a different job (and not ``overwrite``), for bad ``threads``,
        ``workers`` or ``scheduler``, or when a chunk raises it.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise RetinaCodecError(f"threads is {threads!r}; expected a positive integer")
    manifest = Manifest.open(out_dir, params, chunking, overwrite=overwrite)
    todo = manifest.pending()
    bar = tqdm(total=len(chunking), initial=len(chunking) - len(todo), disable=not progress,
               desc=f"chunks in {manifest.folder.name}", unit="chunk")
    with bar, dask_client(workers, scheduler) as client:
        finished = (_run_here(compute, todo, data, manifest, dim, threads) if client is None
                    else _run_on_dask(client, compute, todo, data, manifest, dim, threads))
        for chunk, (sha256, size) in finished:
            manifest.record(chunk, sha256, size)
            bar.update()
    parts = [read_netcdf(manifest.part_path(chunk)) for chunk in chunking]
    return xr.concat(parts, dim=dim, combine_attrs="override") if len(parts) > 1 else parts[0]


def _run_here(compute: ChunkFunction, todo: list[Chunk], data: Callable[[Chunk], Any],
              manifest: Manifest, dim: str, threads: int) -> Iterator[tuple[Chunk, tuple[str, int]]]:
    for chunk in todo:
        yield chunk, compute_part(compute, chunk, data(chunk), str(manifest.part_path(chunk)), dim, threads)


def _run_on_dask(client, compute: ChunkFunction, todo: list[Chunk], data: Callable[[Chunk], Any],
                 manifest: Manifest, dim: str, threads: int) -> Iterator[tuple[Chunk, tuple[str, int]]]:
    """Submit chunks with at most two per worker thread in flight (inputs are taken as they go)."""
    from distributed import as_completed

    [compute_future] = client.scatter([compute], broadcast=True)
    queue = iter(todo)

    def submit(chunk: Chunk):
        future = client.submit(compute_part, compute_future, chunk, data(chunk),
                               str(manifest.part_path(chunk)), dim, threads, pure=False)
        chunks[future.key] = chunk
        return future

    chunks: dict[str, Chunk] = {}
    window = max(2, 2 * sum(client.nthreads().values()))
    running = as_completed([submit(chunk) for _, chunk in zip(range(window), queue)])
    for future in running:
        yield chunks.pop(future.key), future.result()
        for chunk in queue:
            running.add(submit(chunk))
            break

"""The chunked job runner: compute missing chunks (here or on Dask workers), then concatenate."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import xarray as xr

from .._progress import progress_bar
from ..device import torch_threads
from ..errors import RetinaCodecError
from ..io.netcdf import read_netcdf
from .chunk_size import choose_chunk_size, seconds_per_input
from .cluster import dask_client
from .execution import Execution
from .manifest import Chunk, Chunking, Manifest
from .parts import ChunkFunction, compute_part


def _no_data(chunk: Chunk) -> None:
    return None


def run_chunked(
    compute: ChunkFunction,
    chunking: Chunking,
    out_dir: str | os.PathLike,
    params: Mapping[str, Any],
    data: Callable[[Chunk], Any] = _no_data,
    dim: str = "sample",
    execution: Execution | None = None,
) -> xr.Dataset:
    """Run a job chunk by chunk into a resumable job folder and return the concatenated result.

    Each chunk's result is written atomically as its own netCDF part in ``out_dir`` and recorded
    (with its SHA-256 and size) in ``manifest.json``. A rerun in the same folder verifies the
    recorded parts and computes only the missing or damaged ones, so an interrupted job resumes
    where it stopped. On Dask, ``compute`` and ``data`` go to each worker once (a worker plugin,
    see :mod:`retinacodec.parallel.workers`); each task carries only its chunk's index range, and
    the worker writes the part itself.

    Parameters
    ----------
    compute : callable
        ``compute(chunk, data) -> xarray.Dataset`` along ``dim``; called with ``data(chunk)``.
        Must be deterministic (the same chunk gives the same result) and, on Dask, picklable by
        cloudpickle. Optional attributes: ``prepare()``, called once per worker before its first
        chunk (e.g. to load a model), and ``inputs_per_batch``, the multiple a chosen chunk size
        keeps to.
    chunking : Chunking
        The fixed chunks of the inputs; with ``chunk_size=None`` the size recorded in ``out_dir``
        (when resuming) or one chosen from the cost per input measured here (see
        :func:`retinacodec.parallel.chunk_size.choose_chunk_size`).
    out_dir : str or path-like
        The job folder (created if needed).
    params : mapping
        JSON-typed description of everything the result depends on (model, inputs and their
        fingerprints, settings); a rerun in the same folder must pass equal parameters.
    data : callable
        ``data(chunk)``: the chunk's inputs (e.g. a stimulus slice or a batch of images read from
        their paths), taken where the chunk runs; default None (``compute`` loads its own). On
        Dask it is shipped once per worker with everything it refers to (so a stimulus it slices
        travels once, and image paths must be readable there).
    dim : str
        Dim the parts are concatenated along.
    execution : Execution, optional
        Where the chunks run (here by default, or on a Dask cluster), torch threads per chunk (1
        by default), whether another job's results in ``out_dir`` are discarded, and a progress
        bar; see :class:`~retinacodec.parallel.execution.Execution`.

    Returns
    -------
    xarray.Dataset
        The parts concatenated along ``dim`` in chunk order, attrs from the first part.

    Raises
    ------
    RetinaCodecError
        If ``out_dir`` holds a different job (and not ``execution.overwrite``), for a scheduler
        that cannot be reached, or when a chunk raises it.
    """
    execution = execution or Execution()
    threads, overwrite = execution.chunk_threads(), execution.overwrite
    if chunking.chunk_size is None:
        recorded = Manifest.recorded_chunk_size(out_dir, params, chunking.n_inputs)
        chunking = chunking if recorded is None else Chunking(chunking.n_inputs, recorded)
    # a known chunking: refuse another job's folder before starting a cluster
    manifest = None if chunking.chunk_size is None else Manifest.open(out_dir, params, chunking, overwrite)
    with dask_client(execution.workers, execution.scheduler) as client:
        if manifest is None:
            chunking = _measured_chunking(
                compute, data, chunking.n_inputs, threads, 1 if client is None else sum(client.nthreads().values())
            )
            manifest = Manifest.open(out_dir, params, chunking, overwrite)
        todo = manifest.pending()
        with progress_bar(
            total=len(chunking),
            initial=len(chunking) - len(todo),
            progress=execution.progress,
            desc=f"chunks in {manifest.folder.name}",
            unit="chunk",
        ) as bar:
            for chunk, (sha256, size) in _finished(client, compute, todo, data, manifest, dim, threads):
                manifest.record(chunk, sha256, size)
                bar.update()
    parts = [_part(manifest.part_path(chunk)) for chunk in chunking]
    return xr.concat(parts, dim=dim, combine_attrs="override") if len(parts) > 1 else parts[0]


def _part(path: Path) -> xr.Dataset:
    """A recorded part, read back: a Dataset, as :func:`~retinacodec.parallel.parts.compute_part` wrote it."""
    part = read_netcdf(path)
    assert isinstance(part, xr.Dataset)  # compute_part writes only Datasets, and the manifest checked the file
    return part


def _measured_chunking(
    compute: ChunkFunction, data: Callable[[Chunk], Any], n_inputs: int, threads: int, n_threads: int
) -> Chunking:
    """Chunks sized from the cost per input measured here (at ``threads`` torch threads)."""
    multiple = int(getattr(compute, "inputs_per_batch", 1))
    with torch_threads(threads):
        cost = seconds_per_input(compute, data, n_inputs, multiple)
    return Chunking(n_inputs, choose_chunk_size(cost, n_inputs, n_threads, multiple))


def _finished(
    client,
    compute: ChunkFunction,
    todo: list[Chunk],
    data: Callable[[Chunk], Any],
    manifest: Manifest,
    dim: str,
    threads: int,
) -> Iterator[tuple[Chunk, tuple[str, int]]]:
    """Compute ``todo`` (here, or on ``client``'s workers); yield each chunk and its part's digest."""
    if client is None:
        for chunk in todo:
            yield chunk, compute_part(compute, chunk, data(chunk), str(manifest.part_path(chunk)), dim, threads)
        return
    from .workers import JobPlugin, run_on_dask

    yield from run_on_dask(client, JobPlugin(compute, data, dim, threads), todo, manifest)


def remove_finished_job(out_dir: str | os.PathLike, output: str | os.PathLike, result: xr.Dataset) -> None:
    """Remove a chunked job's folder once its result is written to ``output`` and reads back.

    Parameters
    ----------
    out_dir : str or path-like
        The job folder of :func:`run_chunked`.
    output : str or path-like
        The netCDF file the result was written to.
    result : xarray.Dataset
        The result :func:`run_chunked` returned.

    Raises
    ------
    RetinaCodecError
        If ``output`` does not hold ``result``'s variables with its sizes (the job folder is kept).
    """
    written = read_netcdf(output)
    if dict(written.sizes) != dict(result.sizes) or set(written.variables) != set(result.variables):
        raise RetinaCodecError(
            f"{output} does not hold the result of the job in {out_dir}; expected its variables and "
            "sizes (the job's parts are kept)"
        )
    Manifest.remove(out_dir)

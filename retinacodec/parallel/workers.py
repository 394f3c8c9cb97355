"""What a job's Dask workers hold: the job, registered once per worker by a worker plugin.

:class:`JobPlugin` carries the chunk function and the inputs (a stimulus, or a loader that reads
images from paths the workers see) to every worker once, when it joins, and prepares the job there
(a model is loaded before the first chunk). A task then carries only its chunk (an index range)
and its part's path; the worker writes the part and sends back its SHA-256 and size. A worker
that dies and is restarted by its nanny gets the plugin again; the scheduler reruns its chunks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import dask
from distributed import WorkerPlugin, as_completed

from ..errors import RetinaCodecError
from .manifest import Chunk, Manifest
from .parts import compute_part

_JOBS: dict[str, JobPlugin] = {}
"""This worker's registered jobs, by plugin name."""


class JobPlugin(WorkerPlugin):
    """A Dask worker plugin holding one job: ``compute``, ``data`` and how parts are made.

    Parameters
    ----------
    compute : callable
        ``compute(chunk, data(chunk)) -> xarray.Dataset``; if it has a ``prepare()`` method, that
        is called once on each worker when the plugin is set up (e.g. to load the model).
    data : callable
        ``data(chunk)``: the chunk's inputs, taken on the worker.
    dim : str
        Dim the result must have.
    threads : int
        Torch threads per chunk.
    """

    def __init__(self, compute: Callable, data: Callable[[Chunk], Any], dim: str, threads: int) -> None:
        self.compute, self.data, self.dim, self.threads = compute, data, dim, threads
        self.name = f"retinacodec-job-{uuid.uuid4().hex}"

    def setup(self, worker: Any = None) -> None:
        """Register the job in this worker process and prepare it."""
        prepare = getattr(self.compute, "prepare", None)
        if callable(prepare):
            prepare()
        _JOBS[self.name] = self

    def teardown(self, worker: Any = None) -> None:
        """Forget the job (and the inputs it holds)."""
        _JOBS.pop(self.name, None)


def run_registered_part(name: str, chunk: Chunk, path: str) -> tuple[str, int]:
    """Compute ``chunk`` of the registered job ``name`` on this worker and write its part.

    Returns
    -------
    tuple of (str, int)
        The part's SHA-256 (hex) and size in bytes.

    Raises
    ------
    RetinaCodecError
        If this worker holds no such job, or the chunk's result is not a Dataset along the dim.
    """
    job = _JOBS.get(name)
    if job is None:
        raise RetinaCodecError(
            f"this Dask worker holds no job {name!r}; expected the job's worker plugin "
            f"to be registered before its chunks are submitted"
        )
    # xarray writes netCDF under a lock of the current Dask scheduler: on a worker that would be a
    # distributed lock, a round trip to the scheduler per variable; the part is this task's alone
    with dask.config.set(scheduler="synchronous"):
        return compute_part(job.compute, chunk, job.data(chunk), path, job.dim, job.threads)


def run_on_dask(
    client: Any, plugin: JobPlugin, todo: list[Chunk], manifest: Manifest
) -> Iterator[tuple[Chunk, tuple[str, int]]]:
    """Run ``todo`` on ``client``'s workers; yield each chunk with its part's digest as it finishes.

    The plugin is registered on every worker (and on workers that join later) for the duration.
    At most two chunks per worker thread are in flight, so a worker never waits for its next task
    and finished chunks are recorded as they come.
    """
    client.register_plugin(plugin, name=plugin.name)
    try:
        chunks: dict[str, Chunk] = {}

        def submit(chunk: Chunk):
            future = client.submit(run_registered_part, plugin.name, chunk, str(manifest.part_path(chunk)), pure=False)
            chunks[future.key] = chunk
            return future

        queue = iter(todo)
        window = max(2, 2 * sum(client.nthreads().values()))
        running = as_completed([submit(chunk) for _, chunk in zip(range(window), queue)])
        for future in running:
            yield chunks.pop(future.key), future.result()
            for chunk in queue:
                running.add(submit(chunk))
                break
    finally:
        client.unregister_worker_plugin(plugin.name)

"""Dask clients for the runner: a fresh local cluster, an existing scheduler, or none at all."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from .._optional import require
from ..errors import RetinaCodecError

_TRIM = "MALLOC_TRIM_THRESHOLD_"


def check_cluster_options(workers: int | None, scheduler: str | None) -> None:
    """Refuse cluster options :func:`dask_client` cannot use, before any work is done.

    Raises
    ------
    RetinaCodecError
        If both are given or ``workers`` is not a positive integer.
    """
    if workers is not None and scheduler is not None:
        raise RetinaCodecError(
            "both workers and scheduler given; expected at most one (a local "
            "cluster of N workers, or the address of a running scheduler)"
        )
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise RetinaCodecError(f"workers is {workers!r}; expected a positive integer")


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | Any | None = None) -> Iterator[Any]:
    """Yield a ``dask.distributed.Client``, or None for the single-process path.

    Parameters
    ----------
    workers : int or None
        Start a ``LocalCluster`` of this many worker processes (one thread each), closed on exit.
    scheduler : str, distributed.Client or None
        Address of a running Dask scheduler (e.g. ``"tcp://10.0.0.1:8786"``) to connect to, or a
        client already connected (yielded as it is, so several jobs of one run share it); the
        cluster itself, and a given client, are left running on exit.

    Yields
    ------
    distributed.Client or None
        None when neither is given (no Dask is imported).

    Raises
    ------
    RetinaCodecError
        If both are given, ``workers`` is not a positive integer, or the scheduler cannot be
        reached.
    """
    check_cluster_options(workers, scheduler)
    if workers is None and scheduler is None:
        yield None
        return
    Client = require("distributed", "dask", "a Dask cluster").Client

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise RetinaCodecError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); expected the address of a running scheduler"
            ) from None
        with client:
            yield client
        return
    assert workers is not None  # no scheduler: workers was given (checked above)
    with local_cluster(workers) as cluster, Client(cluster) as client:
        yield client


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A ``LocalCluster`` of ``workers`` single-threaded worker processes, closed on exit.

    Its workers start without Dask's default ``MALLOC_TRIM_THRESHOLD_`` (65536): setting it turns
    off glibc's adaptive mmap threshold, so every tensor above 128 KiB is mapped and unmapped afresh
    and a torch chunk spends two to three times as long in the kernel. Several jobs can share one
    cluster through its ``scheduler_address``. The scheduler's HTTP server (and
    dashboard, if bokeh is installed) listens on a free port, not 8787.

    Parameters
    ----------
    workers : int
        Worker processes (one thread each).

    Yields
    ------
    distributed.LocalCluster
    """
    dask = require("dask", "dask", "a local Dask cluster")
    LocalCluster = require("distributed", "dask", "a local Dask cluster").LocalCluster

    inherited = os.environ.pop(_TRIM, None)  # the workers inherit this process's environment
    try:
        with dask.config.set({f"distributed.nanny.pre-spawn-environ.{_TRIM}": None}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    finally:
        if inherited is not None:
            os.environ[_TRIM] = inherited
    with cluster:
        yield cluster

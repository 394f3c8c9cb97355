"""Dask clients for the runner: a fresh local cluster, an existing scheduler, or none at all."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..errors import RetinaCodecError


def check_cluster_options(workers: int | None, scheduler: str | None) -> None:
    """Refuse cluster options :func:`dask_client` cannot use, before any work is done.

    Raises
    ------
    RetinaCodecError
        If both are given or ``workers`` is not a positive integer.
    """
    if workers is not None and scheduler is not None:
        raise RetinaCodecError("both workers and scheduler given; expected at most one (a local "
                               "cluster of N workers, or the address of a running scheduler)")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise RetinaCodecError(f"workers is {workers!r}; expected a positive integer")


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """Yield a ``dask.distributed.Client``, or None for the single-process path.

    Parameters
    ----------
    workers : int or None
        Start a ``LocalCluster`` of this many worker processes (one thread each), closed on exit.
    scheduler : str or None
        Address of a running Dask scheduler (e.g. ``"tcp://10.0.0.1:8786"``) to connect to; the
        cluster itself is left running on exit.

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
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise RetinaCodecError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); "
                                   f"expected the address of a running scheduler") from None
        with client:
            yield client
        return
    # ":0": the scheduler's HTTP server (and dashboard, if bokeh is installed) on a free port, not 8787
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client

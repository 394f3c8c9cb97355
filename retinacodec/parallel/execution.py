"""Where and how a chunked job runs (never what it computes): cluster, threads, overwrite, progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..errors import RetinaCodecError
from .cluster import check_cluster_options


@dataclass(frozen=True)
class Execution:
    """How a chunked job runs: here or on a Dask cluster, with how many torch threads per chunk.

    None of it changes what the job computes beyond float rounding (and nothing at equal
    ``threads``), so none of it is part of a job's parameters.

    Raises
    ------
    RetinaCodecError
        If both ``workers`` and ``scheduler`` are given, ``workers`` is not a positive integer, or
        ``threads`` is neither a positive integer nor None.
    """

    workers: int | None = None
    """Run on a local Dask cluster of this many single-threaded worker processes."""
    scheduler: str | Any | None = None
    """Run on the Dask cluster of this scheduler address, or of this connected
    ``distributed.Client`` (left open, so that several jobs share one cluster), instead."""
    threads: int | None = 1
    """Torch intra-op threads per chunk, the same wherever it runs (so results do not depend on
    where or how the job was run); None: this process's torch threads when the chunks run here, 1
    on Dask workers."""
    overwrite: bool = False
    """Discard a different job's results found in the job folder instead of refusing."""
    progress: bool = True
    """Show a progress bar over chunks."""

    def __post_init__(self) -> None:
        check_cluster_options(self.workers, self.scheduler)
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise RetinaCodecError(f"threads is {self.threads!r}; expected a positive integer (or None)")

    @property
    def distributed(self) -> bool:
        """Whether the chunks run on a Dask cluster."""
        return self.workers is not None or self.scheduler is not None

    def chunk_threads(self) -> int:
        """Torch threads per chunk: ``threads``, or for None this process's torch threads here and
        1 on Dask workers."""
        if self.threads is not None:
            return self.threads
        return 1 if self.distributed else torch.get_num_threads()

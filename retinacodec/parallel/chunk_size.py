"""Chunk size from the measured cost per input, for jobs whose user leaves it open.

A chunk should take long against the fixed cost of a chunk (a task's round trip, writing and
hashing its part, recording it: tens of ms), yet the job should still have a few chunks per worker
thread, so that workers finish together and an interrupted job loses little.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .manifest import Chunk

TARGET_SECONDS = 2.0
"""Aimed-at compute time of one chunk, in s."""
CHUNKS_PER_THREAD = 4
"""Fewest chunks per worker thread the chosen size still allows (when inputs suffice)."""
PROBE_SECONDS = 0.1
"""The probe grows until one timed call takes at least this long, in s."""


def choose_chunk_size(seconds_per_input: float, n_inputs: int, n_threads: int, multiple: int = 1) -> int:
    """Inputs per chunk: about :data:`TARGET_SECONDS` of work, but at least
    :data:`CHUNKS_PER_THREAD` chunks per thread, rounded to a multiple of ``multiple``.

    Parameters
    ----------
    seconds_per_input : float
        Measured compute time per input (window, image), in s.
    n_inputs : int
        Inputs in the job.
    n_threads : int
        Worker threads that share the job (1 in a single process).
    multiple : int
        Chunk sizes are multiples of this (e.g. a model's inputs per internal batch, so that
        chunked results equal one call bit for bit); ``multiple`` itself is the smallest size.

    Returns
    -------
    int
        Between ``multiple`` and ``n_inputs`` (rounded up to ``multiple``).
    """
    by_time = TARGET_SECONDS / max(seconds_per_input, 1e-9)
    by_balance = n_inputs / (CHUNKS_PER_THREAD * max(n_threads, 1))
    size = max(1, int(min(by_time, by_balance)) // multiple) * multiple
    return min(size, -(-n_inputs // multiple) * multiple)


def seconds_per_input(
    compute: Callable[[Chunk, Any], Any], data: Callable[[Chunk], Any], n_inputs: int, multiple: int = 1
) -> float:
    """Time ``compute`` on the first inputs of a job, in s per input.

    A first call on ``multiple`` inputs warms up (imports, model load, allocator); then the probe
    doubles from ``multiple`` inputs until one call takes :data:`PROBE_SECONDS` or covers all
    inputs. Runs in this process, with the caller's torch threads.
    """
    size = min(multiple, n_inputs)
    compute(Chunk(0, 0, size), data(Chunk(0, 0, size)))
    while True:
        chunk = Chunk(0, 0, size)
        inputs = data(chunk)
        started = time.perf_counter()
        compute(chunk, inputs)
        seconds = time.perf_counter() - started
        if seconds >= PROBE_SECONDS or size >= n_inputs:
            return seconds / size
        size = min(2 * size, n_inputs)

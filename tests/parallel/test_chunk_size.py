"""Chunk sizes chosen from the cost per input: hand-computed cases."""

import time

from retinacodec.parallel.chunk_size import (
    CHUNKS_PER_THREAD,
    TARGET_SECONDS,
    choose_chunk_size,
    seconds_per_input,
)


def test_the_chunk_holds_the_target_time_of_work_unless_threads_would_idle():
    assert TARGET_SECONDS == 2.0 and CHUNKS_PER_THREAD == 4
    assert choose_chunk_size(0.01, 10_000, 1) == 200  # 2 s / 0.01 s
    assert choose_chunk_size(0.01, 10_000, 2, multiple=3) == 198  # rounded down to a multiple
    assert choose_chunk_size(0.01, 1000, 2, multiple=3) == 123  # 1000 / (4 x 2) = 125 -> 123
    assert choose_chunk_size(10.0, 1000, 1, multiple=3) == 3  # never under one batch
    assert choose_chunk_size(1e-6, 5, 1, multiple=3) == 3  # nor over the inputs, rounded up
    assert choose_chunk_size(1e-6, 2, 1, multiple=3) == 3


def test_the_probe_grows_until_a_call_takes_long_enough():
    sizes = []

    def compute(chunk, data):
        sizes.append(chunk.stop - chunk.start)
        time.sleep(0.001 * (chunk.stop - chunk.start))  # 1 ms per input

    cost = seconds_per_input(compute, lambda chunk: None, 1000, multiple=4)
    assert sizes == [4, 4, 8, 16, 32, 64, 128]  # a warm-up, then doubling until >= 0.1 s
    assert 0.001 <= cost < 0.002

"""Retina CNN inference speed: ``python -m retinacodec.bench inference [--frames 10000]``.

Times :func:`retinacodec.models.registry.predict` (the first layer as one FFT convolution over
each batch of frames) against plain ``model(windows)`` forwards of the same network in the same
process: one window at a time (``batch_size=1``) and in batches, on a prefix of the stimulus,
and checks that all three give the same rates.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ._record import Record, add_record_option


def _reference_rates(model, inputs: torch.Tensor, batch_size: int) -> tuple[np.ndarray, float]:
    """Rates from ``model.forward`` on ``inputs`` in batches, and the seconds it took."""
    started = time.perf_counter()
    with torch.no_grad():
        rates = torch.cat(
            [model(inputs[i : i + batch_size].contiguous()) for i in range(0, inputs.shape[0], batch_size)]
        )
    return rates.numpy(), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print times, throughput and speed-up ratios; returns 0."""
    parser = argparse.ArgumentParser(prog="python -m retinacodec.bench inference", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="model name or checkpoint (default: default)")
    parser.add_argument("--frames", type=int, default=10_000, help="frames of white noise to predict")
    parser.add_argument(
        "--reference-frames",
        type=int,
        default=500,
        help="windows the batch_size=1 reference runs on (its time is extrapolated)",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="predict's batch size (windows)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the white noise")
    add_record_option(parser)
    args = parser.parse_args(argv)
    record = Record("inference", list(argv or []))
    if args.threads:
        torch.set_num_threads(args.threads)

    from ..models.registry import load, predict, windows
    from ..stimuli import white_noise

    model = load(args.model)
    stimulus = white_noise(n_frames=args.frames, size=model.size, block_size=2, seed=args.seed)
    print(
        f"model {model.name!r}: {model.n_cells} cells, history {model.history} frames; "
        f"{args.frames} frames of {model.size}x{model.size} px white noise; "
        f"{torch.get_num_threads()} torch threads"
    )

    predict(model, stimulus.isel(time=slice(0, model.history + 10)))  # warm-up
    started = time.perf_counter()
    rates = predict(model, stimulus, batch_size=args.batch_size).values
    ours = time.perf_counter() - started
    n_windows = rates.shape[0]
    print(f"predict (FFT first layer, batch {args.batch_size}): {ours:.2f} s, {n_windows / ours:.0f} frames/s")

    inputs, _ = windows(model, stimulus)
    n_reference = min(args.reference_frames, n_windows)
    single, single_s = _reference_rates(model, inputs[:n_reference], batch_size=1)
    batched, batched_s = _reference_rates(model, inputs[: max(n_reference, 2000)], batch_size=250)
    single_total = single_s / n_reference * n_windows
    batched_total = batched_s / batched.shape[0] * n_windows
    print(
        f"reference forward, batch_size=1: {single_s:.2f} s for {n_reference} windows "
        f"-> {single_total:.1f} s for {n_windows} (extrapolated); ratio {single_total / ours:.1f}x"
    )
    print(
        f"reference forward, batch 250: {batched_s:.2f} s for {batched.shape[0]} windows "
        f"-> {batched_total:.1f} s for {n_windows} (extrapolated); ratio {batched_total / ours:.1f}x"
    )
    error = max(np.abs(single - rates[:n_reference]).max(), np.abs(batched - rates[: batched.shape[0]]).max())
    print(f"largest difference from the references: {error:.2e} Hz (rates up to {np.abs(rates).max():.1f} Hz)")
    record.figures.update(
        frames=n_windows,
        threads=torch.get_num_threads(),
        predict_s=ours,
        batch1_s=single_total,
        batch250_s=batched_total,
        max_difference_hz=float(error),
    )
    for label, seconds in (
        (f"batch-1 forward (extrapolated from {n_reference} windows)", single_total),
        ("batch-250 forward", batched_total),
    ):
        record.row(
            f"{n_windows:,} frames of the retina CNN, {torch.get_num_threads()} threads",
            f"{ours:.1f} s",
            f"{label} {seconds:.1f} s",
            f"{seconds / ours:.1f}x faster",
        )
    record.write(args.record)
    return 0

"""Virtual-retina simulation speed: the torch path against the plain scipy reference.

``python -m retinacodec.bench virtual_retina [--frames 10000] [--seed 0] [--block-size 1]``

Both run the same circuit on the same white noise in this process: the torch path (FFT along time,
banded matrix products in space, float32, time chunks) and the reference (``scipy.signal.lfilter``
along time, ``scipy.ndimage.gaussian_filter`` frame by frame, float64). The benchmark checks that
they give the same rates and prints both times and their ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ._record import Record, add_record_option

RATE_TOLERANCE_HZ = 1e-2
"""Largest accepted difference between the two rates (float32 FFT against float64 IIR)."""


def main(argv: list[str]) -> int:
    """Run the benchmark; return 0 when both paths agree, 1 otherwise."""
    from ..models.virtual_retina import VirtualRetina
    from ..stimuli.white_noise import white_noise

    parser = argparse.ArgumentParser(
        prog="python -m retinacodec.bench virtual_retina", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--frames", type=int, default=10_000, help="frames of white noise (100 Hz)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the white noise")
    parser.add_argument("--block-size", type=int, default=1, help="edge of a noise check in px")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own choice)")
    add_record_option(parser)
    args = parser.parse_args(argv)
    record = Record("virtual_retina", list(argv))
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)

    retina = VirtualRetina()
    stimulus = white_noise(n_frames=args.frames, seed=args.seed, block_size=args.block_size)
    retina.respond(stimulus.isel(time=slice(0, 100)))  # first-call costs (imports, caches)

    times, cpu, results = {}, {}, {}
    for backend in ("torch", "scipy"):
        start, start_cpu = time.perf_counter(), time.process_time()
        results[backend] = retina.respond(stimulus, backend=backend, pathway_drive=True)
        times[backend] = time.perf_counter() - start
        cpu[backend] = time.process_time() - start_cpu
    rate_error = float(np.abs(results["torch"]["rate"] - results["scipy"]["rate"]).max())
    drive_error = float(np.abs(results["torch"]["drive"] - results["scipy"]["drive"]).max())
    seconds = args.frames / retina.frame_rate_hz
    print(
        f"virtual retina: {args.frames} frames ({seconds:g} s) of "
        f"{stimulus.sizes['y']}x{stimulus.sizes['x']} px white noise, "
        f"{retina.cells.sizes['cell']} cells"
    )
    print(f"  torch  (FFT + matrix blur, float32): {times['torch']:8.2f} s wall, {cpu['torch']:8.2f} s CPU")
    print(f"  scipy  (lfilter + gaussian_filter):  {times['scipy']:8.2f} s wall, {cpu['scipy']:8.2f} s CPU")
    print(
        f"  speed-up scipy / torch: {times['scipy'] / times['torch']:.1f}x wall, {cpu['scipy'] / cpu['torch']:.1f}x CPU"
    )
    print(
        f"  max |rate difference| {rate_error:.2e} Hz (mean rate "
        f"{float(results['scipy']['rate'].mean()):.1f} Hz), max |drive difference| {drive_error:.2e}"
    )
    agree = rate_error < RATE_TOLERANCE_HZ
    print("  results agree" if agree else f"  RESULTS DIFFER (tolerance {RATE_TOLERANCE_HZ:g} Hz)")
    record.figures.update(frames=args.frames, wall_s=times, cpu_s=cpu, max_rate_difference_hz=rate_error)
    record.row(
        f"{args.frames:,} frames of {stimulus.sizes['y']}x{stimulus.sizes['x']} px white noise, "
        f"{retina.cells.sizes['cell']} cells" + ("" if agree else " (RESULTS DIFFER)"),
        f"torch path {times['torch']:.2f} s",
        f"scipy lfilter + gaussian_filter {times['scipy']:.2f} s",
        f"{times['scipy'] / times['torch']:.1f}x faster",
    )
    record.write(args.record)
    return 0 if agree else 1

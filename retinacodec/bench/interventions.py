"""Channel-set interventions: ``python -m retinacodec.bench interventions [--frames 6000]``.

Times :func:`retinacodec.control.recorded.scaled_mean_rates` on every set of one and two
channels of each layer of the retina CNN (the hypotheses' ceiling) against the same sets run as
masked downstream passes, one set at a time, in the same process, and checks that both give the
same rates. The bipolar layer feeds a convolution, which the fast path runs once per batch for
all sets; the amacrine layer has no such convolution, so there both paths are the masked passes.
"""

from __future__ import annotations

import argparse
import time
from itertools import combinations

import numpy as np
import torch

from ._record import Record, add_record_option, speed_ratio


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print times and speed-up ratios per layer; returns 0."""
    parser = argparse.ArgumentParser(
        prog="python -m retinacodec.bench interventions", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model", default="default", help="model name or checkpoint (default: default)")
    parser.add_argument("--frames", type=int, default=6000, help="frames of natural jitter (the demo's test: 6000)")
    parser.add_argument("--largest-set", type=int, default=2, help="largest channel set silenced")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the demo's: 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the natural jitter")
    add_record_option(parser)
    args = parser.parse_args(argv)
    record = Record("interventions", list(argv or []))
    torch.set_num_threads(args.threads)

    from ..control import recorded as interventions
    from ..device import evaluating
    from ..models.adapter import adapt
    from ..models.registry import load
    from ..stimuli import natural_jitter

    model = load(args.model)
    stimulus = natural_jitter(n_frames=args.frames, size=model.size, seed=args.seed, progress=False)
    print(f"model {model.name!r}; {args.frames} frames of natural jitter; {torch.get_num_threads()} torch threads")
    for layer in ("bipolar", "amacrine"):
        recording = interventions.record_layer(model, stimulus, layer)
        n_channels = recording.activation.shape[1]
        sets = [s for size in range(1, args.largest_set + 1) for s in combinations(range(n_channels), size)]
        started = time.perf_counter()
        ours = interventions.scaled_mean_rates(model, recording, layer, sets, 0.0, 250)
        ours_s = time.perf_counter() - started
        downstream = adapt(model).downstream(layer)
        started = time.perf_counter()
        with evaluating(model, torch.device("cpu")) as dtype, torch.no_grad():
            masked = np.stack(
                interventions.masked_mean_rates(
                    downstream, recording.activation, sets, 0.0, 250, torch.device("cpu"), dtype
                )
            )
        masked_s = time.perf_counter() - started
        error = float(np.abs(ours - masked).max())
        path = "convolution once per batch" if interventions.leading_convolution(downstream.steps) else "masked passes"
        print(
            f"{layer}: {len(sets)} sets, scaled_mean_rates ({path}) {ours_s:.1f} s, one masked pass per set "
            f"{masked_s:.1f} s, {speed_ratio(masked_s, ours_s)}; largest difference {error:.1e} Hz"
        )
        record.figures.update(
            {
                f"{layer}_sets": len(sets),
                f"{layer}_s": ours_s,
                f"{layer}_masked_s": masked_s,
                f"{layer}_max_difference_hz": error,
            }
        )
        record.row(
            f"{len(sets)} silenced channel sets of the {layer} layer, {args.frames} frames",
            f"{ours_s:.1f} s",
            f"one masked pass per set {masked_s:.1f} s",
            speed_ratio(masked_s, ours_s),
        )
    record.write(args.record)
    return 0

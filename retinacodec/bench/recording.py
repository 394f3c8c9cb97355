"""Models of a recording: training time, and the CNN against the LN baseline on the truth.

``python -m retinacodec.bench recording [--kind white_noise|full_field] [--minutes 20] [--size 50]
[--threads 2] [--out DIR]``

Writes a recording as a rig would (:mod:`retinacodec.bench.rig`: the virtual retina's 20 cells,
Poisson spike times, 8-bit luminance frames with timestamps, no positions), then times
``train_nwb`` on it (the CNN and the LN baseline, as ``retinacodec train --nwb`` runs them) against
the recording's own duration. White noise: both models are then scored against the virtual
retina's true rates on fresh natural jitter (and on fresh white noise), each mean with a 95%
bootstrap interval over cells, and the CNN's gain over the LN baseline (paired). Full field: the held-out
repeats give each model's correlation with the trial average and its FEVE. One duration per run,
so each run fits in one locked job; ``summary.json`` in ``--out`` collects the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

EVALUATION_FRAMES = 3000
"""Frames (30 s) of fresh natural jitter and white noise the models are scored on."""
EVALUATION_SEED = 1000
"""Seed of the fresh evaluation stimuli (training stimuli use seeds below 100)."""


def cell_interval(values: np.ndarray, n_bootstrap: int = 10000, level: float = 0.95, seed: int = 0) -> list[float]:
    """Percentile bootstrap interval (over cells, resampled with replacement) of the mean of
    per-cell ``values`` (cells,): the spread a different sample of cells would give."""
    values = np.asarray(values, float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (n_bootstrap, values.size))].mean(1)
    return np.quantile(means, [(1 - level) / 2, (1 + level) / 2]).round(3).tolist()


def _truth_scores(result, retina) -> dict:
    """Mean (and per-cell) r of each model with the true rates on fresh stimuli."""
    from ..metrics import pearson_r
    from ..models.registry import predict
    from ..stimuli import natural_jitter, white_noise

    fresh = {"natural_jitter": natural_jitter(n_frames=EVALUATION_FRAMES, seed=EVALUATION_SEED, progress=False),
             "white_noise": white_noise(n_frames=EVALUATION_FRAMES, seed=EVALUATION_SEED, block_size=2,
                                        contrast=0.4)}
    scores = {}
    for name, stimulus in fresh.items():
        true = retina.respond(stimulus)["rate"]
        for label, model in (("cnn", result.cnn), ("ln", result.ln)):
            stim = stimulus.assign_attrs(frame_rate_hz=model.frame_rate_hz)
            r = pearson_r(predict(model, stim).assign_coords(cell=true["cell"].values), true)
            scores[f"{label}_{name}_r"] = float(r.mean())
            scores[f"{label}_{name}_r_per_cell"] = np.round(r.values, 3).tolist()
            scores[f"{label}_{name}_r_interval"] = cell_interval(r.values)
        gap = np.subtract(scores[f"cnn_{name}_r_per_cell"], scores[f"ln_{name}_r_per_cell"])
        scores[f"gap_{name}_r"], scores[f"gap_{name}_r_interval"] = float(gap.mean()), cell_interval(gap)
        scores[f"cnn_better_{name}_cells"] = int((gap > 0).sum())
    return scores


def _repeat_scores(evaluation) -> dict:
    scores = {}
    for measure in ("heldout_r", "repeat_r", "feve"):
        if measure in evaluation:
            for model in evaluation["model"].values:
                values = evaluation[measure].sel(model=model).values
                scores[f"{model}_{measure}"] = float(np.nanmean(values))
                scores[f"{model}_{measure}_per_cell"] = np.round(values, 3).tolist()
    return scores


def main(argv: list[str]) -> int:
    """Run the benchmark; print and write the figures; return 0."""
    from ..io.atomic import atomic_destination
    from ..models.training import train_nwb
    from ..models.virtual_retina import VirtualRetina
    from .rig import record_full_field, record_white_noise

    parser = argparse.ArgumentParser(prog="python -m retinacodec.bench recording", description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("white_noise", "full_field"), default="white_noise")
    parser.add_argument("--minutes", type=float, default=20.0, help="recording length (default 20)")
    parser.add_argument("--size", type=int, default=50, help="white noise: recorded frame edge in px (50)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the stimulus and spikes")
    parser.add_argument("--out", default="bench_recording", help="folder for the recording and the models")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out) / f"{args.kind}_{args.minutes:g}min"
    out.mkdir(parents=True, exist_ok=True)
    retina = VirtualRetina()
    path = out / "recording.nwb"
    started = time.perf_counter()
    if not path.is_file():
        if args.kind == "white_noise":
            record_white_noise(path, args.minutes, seed=args.seed, size=args.size, retina=retina)
        else:
            record_full_field(path, args.minutes, seed=args.seed, retina=retina)
    simulated = time.perf_counter() - started
    load_before = os.getloadavg()
    started = time.perf_counter()
    result = train_nwb(path, out / "models", progress=False)
    seconds = time.perf_counter() - started
    figures = {"kind": args.kind, "minutes": args.minutes, "threads": args.threads,
               "train_seconds": seconds, "train_over_recording": seconds / (60 * args.minutes),
               "epochs": len(result.log["train_loss"]), "best_epoch": result.log["best_epoch"],
               "cnn_epoch_seconds": result.log["epoch_seconds"], "simulate_seconds": simulated,
               "load_average_before": load_before, "load_average_after": os.getloadavg(),
               **_repeat_scores(result.evaluation)}
    if args.kind == "white_noise":
        figures |= _truth_scores(result, retina)
    with atomic_destination(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(figures, indent=1) + "\n")
    print(f"recording bench: {args.kind}, {args.minutes:g} min, {args.threads} threads, load {load_before[0]:.1f}")
    print(f"  train (read + LN + CNN + evaluation): {seconds:.0f} s = {figures['train_over_recording']:.2f} x "
          f"the recording's duration; CNN {figures['epochs']} epochs (best {figures['best_epoch']})")
    for key, value in figures.items():
        if key.endswith("_r") or key.endswith("_feve"):
            interval = figures.get(f"{key}_interval")
            print(f"  {key:32s} {value:+.3f}" + (f" [{interval[0]:+.3f}, {interval[1]:+.3f}]" if interval else ""))
    print(f"  wrote {out / 'summary.json'}")
    return 0

"""SAE benchmark: training throughput at the paper's scale, and a race against scikit-learn.

``python -m retinacodec.bench sae [--quick] [--threads 2] [--device auto]``

1. Throughput: fit time per epoch and samples/s on 50,000 x 256 non-negative inputs with
   768 modes (3 x 256, the default overcompleteness).
2. Race: on planted problems (24 features, 12 true atoms), scikit-learn's
   MiniBatchDictionaryLearning (12 atoms, alpha 0.1, positive code and dictionary) is fitted
   and timed; the SAE then trains epoch by epoch (``partial_fit``) until its atom recovery
   reaches scikit-learn's. Printed: both scores and times and their ratio (< 1: faster), and
   the recovery and time of a plain ``SAE().fit`` with its defaults (early stopping).
   Both run on one thread (torch and BLAS): the matrices are tiny, so more threads only add
   synchronisation, and on a shared machine they make the timings erratic.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.decomposition import MiniBatchDictionaryLearning
from threadpoolctl import threadpool_limits

from ..device import resolve_device
from ..modes.planted import atom_recovery, planted_problem
from ..modes.sae import SAE


def throughput(n_samples: int, n_features: int, n_modes: int, epochs: int, device: str) -> dict:
    """Seconds per epoch and samples per second of ``SAE.fit`` (no early stopping)."""
    x, _ = planted_problem(n_samples, n_features, n_atoms=n_features, n_active=8, density=0.1, seed=0)
    sae = SAE(n_modes=n_modes, epochs=epochs, early_stopping=False, progress=False, device=device)
    start = time.perf_counter()
    sae.fit(x)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "per_epoch": seconds / epochs,
            "samples_per_s": epochs * n_samples / seconds, "r2": sae.r2_, "l0": sae.l0_}


def race(seed: int, max_epochs: int, device: str) -> dict:
    """Time for scikit-learn to fit a planted problem, for the SAE to match its recovery, and
    for a default ``SAE.fit`` (early stopping) with the recovery it ends at."""
    x, atoms = planted_problem(seed=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coordinate-descent convergence chatter
        reference = MiniBatchDictionaryLearning(
            n_components=len(atoms), alpha=0.1, positive_code=True, positive_dict=True,
            fit_algorithm="cd", transform_algorithm="lasso_cd", batch_size=128, max_iter=100,
            random_state=seed,
        ).fit(x)
    sklearn_seconds = time.perf_counter() - start
    goal = atom_recovery(atoms, reference.components_)
    sae = SAE(progress=False, device=device, seed=seed)
    seconds, best = 0.0, -1.0
    for epoch in range(1, max_epochs + 1):
        start = time.perf_counter()
        sae.partial_fit(x)
        seconds += time.perf_counter() - start
        best = max(best, atom_recovery(atoms, np.asarray(sae.modes_)))  # scored outside the clock
        if best >= goal:
            break
    start = time.perf_counter()
    fitted = SAE(progress=False, device=device, seed=seed).fit(x)
    fit_seconds = time.perf_counter() - start
    return {"sklearn_score": goal, "sklearn_seconds": sklearn_seconds, "sae_score": best,
            "sae_seconds": seconds, "epochs": epoch, "reached": best >= goal,
            "fit_score": atom_recovery(atoms, np.asarray(fitted.modes_)), "fit_seconds": fit_seconds}


def main(argv: list[str]) -> int:
    """Run the benchmark and print its table; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m retinacodec.bench sae", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads of the throughput fit (default 2)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the throughput fit")
    parser.add_argument("--seeds", type=int, default=4, help="planted problems in the race")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = str(resolve_device(args.device))
    n_samples, n_features, seeds = (5000, 64, 1) if args.quick else (50_000, 256, args.seeds)
    print(f"SAE benchmark on {device} ({torch.get_num_threads()} CPU threads), torch {torch.__version__}")
    # pay torch's one-time costs (optimizer imports, kernel set-up, ~1 s) before any clock runs
    SAE(epochs=1, batch_size=4, progress=False, device=device).fit(np.random.default_rng(0).random((8, 3)))

    result = throughput(n_samples, n_features, 3 * n_features, args.epochs, device)
    print(f"\nthroughput: {n_samples} x {n_features} inputs, {3 * n_features} modes, {args.epochs} epochs")
    print(f"  fit {result['seconds']:.1f} s = {result['per_epoch']:.2f} s/epoch, "
          f"{result['samples_per_s']:,.0f} samples/s (R^2 {result['r2']:.3f}, L0 {result['l0']:.1f})")

    print("\nrace on planted problems (2000 x 24, 12 atoms): time to reach scikit-learn's recovery")
    print(f"  {'seed':>4} {'sklearn':>8} {'s':>6} {'SAE':>8} {'s':>6} {'epochs':>6} {'SAE/sklearn time':>17}"
          f" {'SAE.fit':>8} {'s':>6}")
    torch.set_num_threads(1)
    for seed in range(seeds):
        with threadpool_limits(limits=1):
            r = race(seed, max_epochs=300, device=device)
        ratio = f"{r['sae_seconds'] / r['sklearn_seconds']:.2f}" if r["reached"] else "not reached"
        print(f"  {seed:>4} {r['sklearn_score']:8.4f} {r['sklearn_seconds']:6.2f} {r['sae_score']:8.4f} "
              f"{r['sae_seconds']:6.2f} {r['epochs']:>6} {ratio:>17} {r['fit_score']:8.4f} {r['fit_seconds']:6.2f}")
    return 0

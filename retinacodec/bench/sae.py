"""SAE benchmark: training throughput at the paper's scale, and a race against scikit-learn.

``python -m retinacodec.bench sae [--quick] [--threads 2] [--device auto] [--repeats 3]``

1. Throughput: fit time per epoch and samples/s on 50,000 x 256 non-negative inputs with
   768 modes (3 x 256, the default overcompleteness), on ``--threads`` torch threads.
2. Race: on planted problems (2000 samples, 24 features, 12 true atoms), scikit-learn's
   MiniBatchDictionaryLearning (12 atoms, positive code and dictionary, alpha 0.1, batch 128,
   its own early stopping) and ``SAE().fit`` (defaults, and with the L1 on the codes) are each
   timed from the start of ``fit`` to the end of the first step (scikit-learn: mini-batch; SAE: epoch) after which
   their atom recovery reaches scikit-learn's final recovery. Recoveries are scored from
   snapshots of the dictionary after the fit, outside the clock. Printed: the recoveries,
   both times (best of ``--repeats``) and their ratio (< 1: the SAE is faster), and where
   each fit ends. Both run on one thread (torch and BLAS): the matrices are tiny, so more
   threads only add synchronisation, and on a shared machine they make timings erratic.
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

RACE_SETTINGS = {"defaults (L1 on the dictionary, 1e-4)": {}, "l1_on='codes', l1=1.0": {"l1_on": "codes", "l1": 1.0}}
"""The SAE settings raced against scikit-learn."""


def throughput(n_samples: int, n_features: int, n_modes: int, epochs: int, device: str) -> dict:
    """Seconds per epoch and samples per second of ``SAE.fit`` (no early stopping)."""
    x, _ = planted_problem(n_samples, n_features, n_atoms=n_features, n_active=8, density=0.1, seed=0)
    sae = SAE(n_modes=n_modes, epochs=epochs, early_stopping=False, progress=False, device=device)
    start = time.perf_counter()
    sae.fit(x)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "per_epoch": seconds / epochs,
            "samples_per_s": epochs * n_samples / seconds, "r2": sae.r2_, "l0": sae.l0_}


class _Trace:
    """Wall time and dictionary after each step of a fit, with its own cost taken off the clock."""

    def __init__(self):
        self.times, self.dictionaries = [], []
        self._overhead = 0.0
        self.start = time.perf_counter()

    def record(self, dictionary: np.ndarray) -> None:
        now = time.perf_counter()
        self.times.append(now - self.start - self._overhead)
        self.dictionaries.append(np.array(dictionary, copy=True))
        self._overhead += time.perf_counter() - now

    def reach(self, atoms: np.ndarray, goal: float) -> tuple[float, float, int]:
        """Seconds and steps until the recovery first reaches ``goal`` (inf when never) and the
        final recovery."""
        scores = [atom_recovery(atoms, d) for d in self.dictionaries]
        hit = next((i for i, score in enumerate(scores) if score >= goal), None)
        seconds = self.times[hit] if hit is not None else float("inf")
        return seconds, scores[-1], (hit + 1 if hit is not None else len(scores))


def fit_sklearn(x: np.ndarray, n_atoms: int, seed: int) -> tuple[MiniBatchDictionaryLearning, _Trace]:
    """scikit-learn's fit with a snapshot of its dictionary after every mini-batch step."""
    trace = _Trace()
    reference = MiniBatchDictionaryLearning(
        n_components=n_atoms, alpha=0.1, positive_code=True, positive_dict=True,
        fit_algorithm="cd", transform_algorithm="lasso_cd", batch_size=128, max_iter=100,
        random_state=seed, callback=lambda state: trace.record(state["dictionary"]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coordinate-descent convergence chatter
        trace.start = time.perf_counter()
        reference.fit(x)
        trace.record(reference.components_)  # the step that stopped the fit has no callback
    return reference, trace


def fit_sae(x: np.ndarray, seed: int, device: str, params: dict) -> tuple[SAE, _Trace]:
    """``SAE(**params).fit`` with a snapshot of its dictionary after every epoch."""
    sae = SAE(progress=False, device=device, seed=seed, **params)
    trace = _Trace()
    epoch = sae._epoch

    def traced_epoch(x_scaled):
        result = epoch(x_scaled)
        trace.record(sae._network.dictionary.detach().cpu().numpy())
        return result

    sae._epoch = traced_epoch
    trace.start = time.perf_counter()
    sae.fit(x)
    return sae, trace


def race(seed: int, device: str, repeats: int, params: dict) -> dict:
    """Best-of-``repeats`` times for scikit-learn to reach its final recovery on a planted
    problem and for an SAE fit with ``params`` to reach the same recovery."""
    x, atoms = planted_problem(seed=seed)
    row = {"sklearn_seconds": np.inf, "sae_seconds": np.inf, "sklearn_fit": np.inf, "sae_fit": np.inf}
    for _ in range(repeats):
        reference, trace = fit_sklearn(x, len(atoms), seed)
        goal = atom_recovery(atoms, reference.components_)
        seconds, _, steps = trace.reach(atoms, goal)
        row.update(sklearn_score=goal, sklearn_steps=steps, sklearn_seconds=min(row["sklearn_seconds"], seconds),
                   sklearn_fit=min(row["sklearn_fit"], trace.times[-1]))
        sae, trace = fit_sae(x, seed, device, params)
        seconds, final, epochs = trace.reach(atoms, goal)
        row.update(sae_final=final, sae_epochs=epochs, sae_n_iter=sae.n_iter_, sae_r2=sae.r2_,
                   sae_seconds=min(row["sae_seconds"], seconds), sae_fit=min(row["sae_fit"], trace.times[-1]))
    return row


def main(argv: list[str]) -> int:
    """Run the benchmark and print its table; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m retinacodec.bench sae", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads of the throughput fit (default 2)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the throughput fit")
    parser.add_argument("--seeds", type=int, default=4, help="planted problems in the race")
    parser.add_argument("--repeats", type=int, default=3, help="race timings are the best of this many fits")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = str(resolve_device(args.device))
    n_samples, n_features, seeds, repeats = (5000, 64, 1, 1) if args.quick else (50_000, 256, args.seeds, args.repeats)
    print(f"SAE benchmark on {device} ({torch.get_num_threads()} CPU threads), torch {torch.__version__}")
    # pay torch's one-time costs (optimizer imports, kernel set-up, ~1 s) before any clock runs
    SAE(epochs=1, batch_size=4, progress=False, device=device).fit(np.random.default_rng(0).random((8, 3)))

    result = throughput(n_samples, n_features, 3 * n_features, args.epochs, device)
    print(f"\nthroughput: {n_samples} x {n_features} inputs, {3 * n_features} modes, {args.epochs} epochs")
    print(f"  fit {result['seconds']:.1f} s = {result['per_epoch']:.2f} s/epoch, "
          f"{result['samples_per_s']:,.0f} samples/s (R^2 {result['r2']:.3f}, L0 {result['l0']:.1f})")

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    for name, params in RACE_SETTINGS.items():
        _print_race(name, params, seeds, device, repeats)
    torch.set_num_threads(previous)
    return 0


def _print_race(name: str, params: dict, seeds: int, device: str, repeats: int) -> None:
    print(f"\nrace on planted problems (2000 x 24, 12 atoms), SAE {name}: time to reach scikit-learn's "
          f"final recovery, best of {repeats}")
    print(f"  {'seed':>4} | {'sklearn':>7} {'s':>6} {'steps':>5} {'fit s':>6} | {'SAE s':>6} {'epochs':>6}"
          f" {'ratio':>6} | {'SAE end':>7} {'epochs':>6} {'fit s':>6} {'R^2':>6}")
    ratios = []
    for seed in range(seeds):
        with threadpool_limits(limits=1):
            r = race(seed, device, repeats, params)
        ratio = r["sae_seconds"] / r["sklearn_seconds"]
        ratios.append(ratio)
        shown = f"{ratio:.2f}" if np.isfinite(ratio) else "never"
        print(f"  {seed:>4} | {r['sklearn_score']:7.4f} {r['sklearn_seconds']:6.2f} {r['sklearn_steps']:>5}"
              f" {r['sklearn_fit']:6.2f} | {r['sae_seconds']:6.2f} {r['sae_epochs']:>6} {shown:>6} |"
              f" {r['sae_final']:7.4f} {r['sae_n_iter']:>6} {r['sae_fit']:6.2f} {r['sae_r2']:6.3f}")
    if all(np.isfinite(ratios)):
        print(f"  geometric mean ratio {np.exp(np.mean(np.log(ratios))):.2f} (SAE time / scikit-learn time)")

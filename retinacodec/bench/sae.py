"""SAE benchmark: a family of planted dictionary problems against scikit-learn, and throughput.

``python -m retinacodec.bench sae [--quick] [--problems NAME ...] [--imagenet] [--second-job] [--no-nmf]
[--sae-seeds 1] [--params JSON]``

1. Recovery race. On each planted problem of :data:`PROBLEMS` (non-negative atoms of unit norm,
   30% non-zero entries, amplitudes 0.5-1.5, Gaussian noise, not clipped at 0, so the noisy
   problems hold small negative values as recorded data do; with noise SD 0.05 the negative
   part is 5.5% of the norm, beyond the SAE's 5% noise tolerance, so that problem is clipped at 0
   as a user would), three fits:

   - scikit-learn's ``MiniBatchDictionaryLearning`` (the true number of atoms, positive code and
     dictionary, alpha 0.1, batch 128, its own early stopping), on the data as they are;
   - scikit-learn's ``NMF`` (the true number of atoms; NNDSVDa start, random when overcomplete),
     on the data clipped at 0 (NMF refuses negative values);
   - ``SAE(n_modes=2 x atoms)`` with its defaults (or ``--params``).

   Printed per problem: recovery (mean Hungarian-matched best cosine with the true atoms), R^2
   of the reconstruction, L0 (mean non-zero codes per sample), dead modes (SAE), fit time, and
   for the SAE the time to reach scikit-learn's final recovery against scikit-learn's own time
   to reach it (ratio < 1: the SAE is faster), and the whole fit's time against scikit-learn's
   whole fit ("whole"). The SAE runs as a user calls it, on its own thread setting; scikit-learn
   on one BLAS thread, as the race always ran it (on its own setting it slowed 10x beside other
   jobs in one run here, which would flatter the SAE); recoveries are scored from snapshots after
   the fit, outside the clock.
   ``--no-nmf`` leaves NMF out (it takes minutes on the 48-feature problems beside other jobs).
   ``--imagenet`` adds the problem at an ImageNet layer's shape (:data:`IMAGENET`), which
   ``--problems "512/2048 k8 s.01"`` runs alone;
   ``--second-job`` runs everything beside a CPU-bound competing process (a numpy matrix-product
   loop on one thread), as on a shared machine.
2. Throughput: seconds per epoch and samples/s on 50,000 x 256 inputs with 768 modes on
   ``--threads`` threads (skipped with ``--no-throughput``).

The problems' seeds (100 and up) are not the tests' seeds (0-3), so the defaults are never
tuned on the problems that check them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import NMF, MiniBatchDictionaryLearning
from threadpoolctl import threadpool_limits

from ..device import resolve_device, torch_threads
from ..modes.planted import atom_recovery, planted_problem
from ..modes.sae import SAE
from ._record import Record, add_record_option

PROBLEMS = {
    "12/24 k3 s.01": dict(n_samples=2000, n_features=24, n_atoms=12, n_active=3, noise=0.01, seed=100),
    "48/32 k3 s.01": dict(n_samples=5000, n_features=32, n_atoms=48, n_active=3, noise=0.01, seed=101),
    "48/32 k1 s0": dict(n_samples=5000, n_features=32, n_atoms=48, n_active=1, noise=0.0, seed=102),
    "48/32 k3 s.05": dict(n_samples=5000, n_features=32, n_atoms=48, n_active=3, noise=0.05, clip=True, seed=103),
    "48/32 k3 cos.6": dict(
        n_samples=5000, n_features=32, n_atoms=48, n_active=3, noise=0.01, pair_cosine=0.6, seed=104
    ),
    "96/64 k8 s.01": dict(n_samples=8000, n_features=64, n_atoms=96, n_active=8, noise=0.01, seed=105),
    "256/128 k3 s.01": dict(n_samples=8000, n_features=128, n_atoms=256, n_active=3, noise=0.01, seed=106),
    "64/48 k5 s.03": dict(n_samples=5000, n_features=48, n_atoms=64, n_active=5, noise=0.03, seed=107),
}
"""The benchmark's planted problems: atoms/features, active atoms per sample (k), noise SD (s),
correlated pairs (cos); sample counts keep the whole family within a few minutes."""
QUICK = ("12/24 k3 s.01", "48/32 k3 s.01")
"""Problems of a ``--quick`` run."""
IMAGENET = {
    "512/2048 k8 s.01": dict(
        n_samples=50_000, n_features=2048, n_atoms=512, n_active=8, noise=0.01, density=0.1, clip=True, seed=108
    ),
}
"""The problem at an ImageNet layer's shape (``--imagenet``): 2048 features (ResNet-50's last
block) and 50,000 samples, as the ``codec`` control analysis fits them. Clipped at 0, as the
positive parts of contributions that analysis fits are: with sparse atoms (10% non-zero) the
noise's negative part is 5.9% of the norm, which the default SAE refuses as more than noise.
512 atoms, not the reference's 3 x 2048 = 6144 modes: with 6144 atoms scikit-learn's coordinate
descent needs a 6144 x 6144 Gram matrix per batch and neither fit ends within the benchmark's
minutes on 2 cores."""
SNAPSHOTS_OVER = 10_000_000
"""scikit-learn's dictionary is kept after every step on inputs up to this many values, after every
(values / this)-th step on bigger ones."""
SECOND_JOB = "import numpy as np\na = np.random.default_rng(0).random((512, 512))\nwhile True:\n    b = a @ a\n"
"""The competing process of ``--second-job``: a numpy matrix-product loop, CPU-bound."""


class _Trace:
    """Wall time and dictionary after every ``every``-th step of a fit, with its own cost taken off
    the clock (a big problem's thousands of steps would not fit in memory)."""

    def __init__(self, every: int = 1):
        self.times: list[float] = []
        self.dictionaries: list[np.ndarray] = []
        self._overhead = 0.0
        self._every, self._steps = every, 0
        self.start = time.perf_counter()

    def record(self, dictionary: np.ndarray, last: bool = False) -> None:
        """Keep the dictionary after this step: every ``every``-th step, and the ``last``."""
        self._steps += 1
        if self._steps % self._every and not last:
            return
        now = time.perf_counter()
        self.times.append(now - self.start - self._overhead)
        self.dictionaries.append(np.array(dictionary, copy=True))
        self._overhead += time.perf_counter() - now

    def reach(self, atoms: np.ndarray, goal: float) -> float:
        """Seconds until the recovery first reaches ``goal`` (inf when never)."""
        for seconds, dictionary in zip(self.times, self.dictionaries):
            if atom_recovery(atoms, dictionary) >= goal:
                return seconds
        return float("inf")


def fit_sklearn(x: np.ndarray, n_atoms: int, seed: int) -> tuple[MiniBatchDictionaryLearning, _Trace]:
    """scikit-learn's dictionary learning with a snapshot of its dictionary after every step (on
    big problems after every n-th, see :data:`SNAPSHOTS_OVER`)."""
    trace = _Trace(every=max(1, x.size // SNAPSHOTS_OVER))
    reference = MiniBatchDictionaryLearning(
        n_components=n_atoms,
        alpha=0.1,
        positive_code=True,
        positive_dict=True,
        fit_algorithm="cd",
        transform_algorithm="lasso_cd",
        transform_alpha=0.1,
        batch_size=128,
        max_iter=100,
        random_state=seed,
        callback=lambda state: trace.record(state["dictionary"]),
    )
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")  # coordinate-descent convergence chatter
        trace.start = time.perf_counter()
        reference.fit(x)
        trace.record(reference.components_, last=True)  # the step that stopped the fit has no callback
    return reference, trace


def fit_sae(x: np.ndarray, n_modes: int, seed: int, device: str, params: dict) -> tuple[SAE, _Trace]:
    """``SAE(**params).fit`` with a snapshot of its dictionary after every period (an epoch, or a
    part of one on inputs of more than 100 batches)."""
    sae = SAE(n_modes=n_modes, progress=False, device=device, seed=seed, **params)
    trace = _Trace()
    period = sae._pass

    def traced_period(x_scaled, order):
        result = period(x_scaled, order)
        trace.record(sae._network.dictionary.detach().cpu().numpy())
        return result

    sae._pass = traced_period  # type: ignore[method-assign]  # the trace wraps the fitted instance's periods
    trace.start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the noisy problems' small negative part
        sae.fit(x)
    return sae, trace


def _scores(x: np.ndarray, atoms: np.ndarray, dictionary: np.ndarray, codes: np.ndarray) -> dict:
    reconstruction = codes @ dictionary
    total = np.square(x - x.mean(0)).sum()
    return {
        "recovery": atom_recovery(atoms, dictionary),
        "r2": 1.0 - np.square(x - reconstruction).sum() / total,
        "l0": float((codes > 0).sum(1).mean()),
    }


def run_problem(problem: dict, sae_seeds: int, device: str, params: dict, nmf: bool = True) -> dict:
    """Scores and times of the three fits on one planted problem (NMF's None when not ``nmf``)."""
    x, atoms = planted_problem(**{"clip": False, **problem})
    n_atoms, seed = len(atoms), problem["seed"]
    reference, trace = fit_sklearn(x, n_atoms, seed)
    goal = atom_recovery(atoms, reference.components_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        row: dict[str, Any] = {
            "sklearn": {
                **_scores(x, atoms, reference.components_, reference.transform(x)),
                "fit_s": trace.times[-1],
                "to_goal_s": trace.reach(atoms, goal),
            }
        }
        row["nmf"] = _fit_nmf(x, atoms, seed) if nmf else None
    row["sae"] = []
    for sae_seed in range(sae_seeds):
        sae, sae_trace = fit_sae(x, 2 * n_atoms, sae_seed, device, params)
        row["sae"].append(
            {
                "recovery": atom_recovery(atoms, np.asarray(sae.modes_)),
                "r2": sae.r2_,
                "l0": sae.l0_,
                "dead": int(sae.dead_modes_.sum()),
                "epochs": sae.n_iter_,
                "fit_s": sae_trace.times[-1],
                "to_goal_s": sae_trace.reach(atoms, goal),
            }
        )
    return row


@contextlib.contextmanager
def second_job(active: bool = True) -> Iterator[subprocess.Popen | None]:
    """Run the block beside a CPU-bound competing process (:data:`SECOND_JOB`, one BLAS thread),
    which is ended on exit and yielded; nothing (None) when not ``active``."""
    if not active:
        yield None
        return
    one_thread = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    job = subprocess.Popen([sys.executable, "-c", SECOND_JOB], env={**os.environ, **one_thread})
    try:
        yield job
    finally:
        job.terminate()
        job.wait()


def _fit_nmf(x: np.ndarray, atoms: np.ndarray, seed: int) -> dict:
    """Scores and time of scikit-learn's NMF with the true number of atoms, on ``x`` clipped at 0."""
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        nmf = NMF(n_components=len(atoms), max_iter=500, random_state=seed)  # NNDSVDa when not overcomplete
        codes = nmf.fit_transform(np.clip(x, 0.0, None))
    return {**_scores(x, atoms, nmf.components_, codes), "fit_s": time.perf_counter() - start}


def throughput(n_samples: int, n_features: int, n_modes: int, epochs: int, device: str) -> dict:
    """Seconds per epoch and samples per second of ``SAE.fit`` (no early stopping)."""
    x, _ = planted_problem(n_samples, n_features, n_atoms=n_features, n_active=8, density=0.1, seed=0)
    sae = SAE(n_modes=n_modes, epochs=epochs, early_stopping=False, progress=False, device=device)
    start = time.perf_counter()
    sae.fit(x)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "per_epoch": seconds / epochs,
        "samples_per_s": epochs * n_samples / seconds,
        "r2": sae.r2_,
        "l0": sae.l0_,
    }


def main(argv: list[str]) -> int:
    """Run the benchmark and print its tables; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m retinacodec.bench sae", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two small problems, small throughput run")
    parser.add_argument("--problems", nargs="+", choices=sorted(PROBLEMS | IMAGENET), help="run only these problems")
    parser.add_argument(
        "--imagenet", action="store_true", help="add the problem at an ImageNet layer's shape (2048 x 50,000)"
    )
    parser.add_argument("--no-nmf", action="store_true", help="leave scikit-learn's NMF out of the race")
    parser.add_argument(
        "--second-job", action="store_true", help="run beside a CPU-bound competing process, as on a shared machine"
    )
    parser.add_argument("--sae-seeds", type=int, default=1, help="SAE seeds per problem (default 1)")
    parser.add_argument("--params", default="{}", help="SAE parameters as JSON (default: the defaults)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads of the throughput fit (default 2)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the throughput fit")
    parser.add_argument("--no-throughput", action="store_true", help="skip the throughput fit")
    add_record_option(parser)
    args = parser.parse_args(argv)
    record = Record("sae", list(argv))
    device = str(resolve_device(args.device))
    params = json.loads(args.params)
    names = args.problems or (QUICK if args.quick else tuple(PROBLEMS))
    problems = {name: (PROBLEMS | IMAGENET)[name] for name in names} | (IMAGENET if args.imagenet else {})
    print(f"SAE benchmark on {device}, torch {torch.__version__}; SAE parameters {params or 'defaults'}")
    # pay torch's one-time costs (optimizer imports, kernel set-up, ~1 s) before any clock runs
    SAE(epochs=1, batch_size=4, progress=False, device=device).fit(np.random.default_rng(0).random((8, 3)))
    with second_job(args.second_job):
        _run(args, record, problems, device, params)
    record.write(args.record)
    return 0


def _run(args: argparse.Namespace, record: Record, problems: dict[str, dict], device: str, params: dict) -> None:
    """The recovery race and the throughput fit, printed and recorded."""
    if args.second_job:
        print("beside a second job: a CPU-bound numpy process runs for the whole benchmark")
    results = _print_family(problems, args.sae_seeds, device, params, args.no_nmf)
    _record_family(record, results, args.sae_seeds, args.second_job)
    if not args.no_throughput:
        n_samples, n_features = (5000, 64) if args.quick else (50_000, 256)
        with torch_threads(args.threads):
            result = throughput(n_samples, n_features, 3 * n_features, args.epochs, device)
        print(
            f"\nthroughput: {n_samples} x {n_features} inputs, {3 * n_features} modes, {args.epochs} epochs, "
            f"{args.threads} threads: {result['per_epoch']:.2f} s/epoch, {result['samples_per_s']:,.0f} samples/s "
            f"(R^2 {result['r2']:.3f}, L0 {result['l0']:.1f})"
        )
        record.figures["throughput"] = result


def _span(values) -> str:
    """``low-high`` of some figures, to 3 decimals (one figure when they agree)."""
    low, high = f"{min(values):.3f}", f"{max(values):.3f}"
    return low if low == high else f"{low}-{high}"


def _record_family(record, results: dict[str, dict], sae_seeds: int, loaded: bool) -> None:
    """The recovery race's rows on the benchmarks page (time to scikit-learn's recovery, and the
    whole fit's time at its recovery) and raw figures."""
    fits = [(fit, r["sklearn"]) for r in results.values() for fit in r["sae"]]
    nmf = [r["nmf"]["recovery"] for r in results.values() if r["nmf"] is not None]
    condition = ", beside a second job" if loaded else ""
    record.figures["problems"] = results
    record.figures["second_job"] = loaded
    record.row(
        f"{len(results)} planted problems ({', '.join(results)}), defaults, {sae_seeds} seed(s) each{condition}",
        f"recovery {_span([fit['recovery'] for fit, _ in fits])}",
        f"MiniBatchDictionaryLearning {_span([r['sklearn']['recovery'] for r in results.values()])}"
        + (f" (NMF {_span(nmf)})" if nmf else ""),
        f"{_span([fit['to_goal_s'] / sk['to_goal_s'] for fit, sk in fits])}x of its time to its final recovery",
    )
    equal = sum(_equal_recovery(fit, sk) for fit, sk in fits)
    record.row(
        f"whole default fit `SAE(n_modes=2 x atoms).fit(x)` on the same problems{condition}",
        f"{_span([fit['fit_s'] for fit, _ in fits])} s, recovery not below scikit-learn's in {equal} of {len(fits)}",
        f"MiniBatchDictionaryLearning.fit {_span([sk['fit_s'] for _, sk in fits])} s",
        f"{_span([fit['fit_s'] / sk['fit_s'] for fit, sk in fits])}x of its whole fit's time",
    )


def _equal_recovery(fit: dict, sklearn: dict) -> bool:
    """The SAE's recovery is at least scikit-learn's, to 0.01."""
    return fit["recovery"] >= sklearn["recovery"] - 0.01


def _print_family(
    problems: dict[str, dict], sae_seeds: int, device: str, params: dict, no_nmf: bool = False
) -> dict[str, dict]:
    """Run the recovery race on the problems, print its table and return each problem's results
    (no NMF with ``no_nmf`` nor on the ImageNet-shape problem: 500 iterations of it there take
    longer than all the rest)."""
    results = {}
    print(
        "\nrecovery race (recovery = mean matched cosine with the true atoms; 'to sk' = seconds to reach "
        "scikit-learn's final recovery; ratio = SAE's / scikit-learn's; whole = SAE's fit s / scikit-learn's)"
    )
    print(
        f"  {'problem':<16} | {'sklearn':>7} {'R^2':>5} {'L0':>5} {'fit s':>5} {'to sk':>5} | {'NMF':>6} {'R^2':>5}"
        f" {'fit s':>5} | {'SAE':>6} {'R^2':>5} {'L0':>5} {'dead':>4} {'ep':>3} {'fit s':>5} {'to sk':>5}"
        f" {'ratio':>5} {'whole':>5} | bar"
    )
    for name, problem in problems.items():
        r = results[name] = run_problem(problem, sae_seeds, device, params, nmf=not no_nmf and name not in IMAGENET)
        sk, nmf = r["sklearn"], r["nmf"] or {"recovery": np.nan, "r2": np.nan, "fit_s": np.nan}
        for fit in r["sae"]:
            ratio = fit["to_goal_s"] / sk["to_goal_s"]
            bar = _equal_recovery(fit, sk) and (fit["recovery"] >= 0.98 or sk["recovery"] < 0.98)
            print(
                f"  {name:<16} | {sk['recovery']:7.4f} {sk['r2']:5.3f} {sk['l0']:5.1f} {sk['fit_s']:5.1f}"
                f" {sk['to_goal_s']:5.1f} | {nmf['recovery']:6.4f} {nmf['r2']:5.3f} {nmf['fit_s']:5.1f} |"
                f" {fit['recovery']:6.4f} {fit['r2']:5.3f} {fit['l0']:5.1f} {fit['dead']:4d} {fit['epochs']:3d}"
                f" {fit['fit_s']:5.1f} {fit['to_goal_s']:5.1f} {ratio:5.2f} {fit['fit_s'] / sk['fit_s']:5.2f} |"
                f" {'met' if bar else 'MISSED'}",
                flush=True,
            )
    return results

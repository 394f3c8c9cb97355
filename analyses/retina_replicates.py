"""The retina demo's hypothesis results over independent stimulus seeds, with intervals.

One demo run tests its hypotheses on one 60 s stimulus, and its recovery score moves with that
stimulus. This script runs the whole demo (``retinacodec demo``) once per seed, every stimulus drawn
afresh (``DemoSettings.seed``: seed, seed + 1, ... for the fit, analysis, hypothesis and matching
stimuli), and reports over the seeds the mean and a 95 % t-interval of the recovery score, of its two
controls (shuffled channels; hypotheses from activation modes), of the paired differences, of the
ceiling and of the pathways named by a confirmed hypothesis. It then retests the first seed's
hypotheses (the same channel sets) on every seed's test stimulus, 20 s and 60 s long, to show how
much of the spread the test stimulus alone makes. With ``--sae-fits K`` it also refits each seed's
SAEs with K - 1 more seeds on the same contributions and stimuli (:func:`sae_spread`): how much of a
run's score is its SAE's fit, and what a consensus of the K fits (:func:`consensus`) scores.

Usage::

    python analyses/retina_replicates.py -o results/retina_replicates [--seeds 9200 9300 ...]
        [--model default] [--sae-fits 5] [--page docs/results/replicates.md]
    python analyses/retina_replicates.py -o results/retina_replicates --redraw --page docs/results/replicates.md

The default seeds (9200-9500, 9800-10100) exclude the demo's own seed (9100), on whose stimuli the
hypothesis rules were chosen, and 9600 and 9700, on which two of their settings were tuned. The rule
that leaves out channel sets with no visible effect was chosen after reading the hypotheses of
9100-9500, so only 9800-10100 are independent of it. Each run takes about 2 minutes on 2 CPU cores
and resumes (each seed's folder is a demo folder); the retests take about 10 minutes more, and each
SAE refit (``--sae-fits``) about 15 s per seed. The results go to ``OUT/summary.json`` and
``OUT/replicates.png``; with ``--page`` the page's ``retina-replicates`` section is rewritten from
them, and the figure copied to ``--figures`` (default ``docs/figures``). ``--redraw`` runs nothing:
it draws the figure and the section again from an earlier run's ``OUT/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import stats

from retinacodec.device import machine
from retinacodec.errors import RetinaCodecError, one_line_errors
from retinacodec.hypotheses import recovery_score
from retinacodec.hypotheses.coverage import CONFIRMED
from retinacodec.io.atomic import atomic_destination
from retinacodec.io.markdown import replace_section
from retinacodec.io.netcdf import read_netcdf
from retinacodec.models.registry import load
from retinacodec.modes.workflow import fit_modes
from retinacodec.pipelines.retina import DemoSettings
from retinacodec.pipelines.retina.report import machine_line
from retinacodec.pipelines.retina.run import run_demo
from retinacodec.pipelines.retina.steps import tested_hypotheses
from retinacodec.stimuli import natural_jitter

QUANTITIES = {
    "recovery_score": "recovery score (contribution modes)",
    "recovery_score_activation": "recovery score, hypotheses from activation modes",
    "recovery_score_shuffled": "recovery score, shuffled channels",
    "recovery_ceiling": "ceiling (best small channel set per pathway)",
    "recovery_ceiling_named": "the same hypotheses with the best set of their layer for their pathway",
    "recovery_match_all_sets": "the closest-following set of all per pathway, by activity (no modes)",
    "hypotheses_shared_with_activation": "hypotheses silencing the same channels as an activation-mode one",
    "pathways_covered": "pathways named by a confirmed hypothesis (of 6)",
    "pathways_covered_activation": "the same, from activation modes",
    "pathways_confirmable": f"pathways a confirmed hypothesis of up to {DemoSettings().ceiling_channels} channels "
    "could name at best (uses the outcomes)",
    "pathways_confirmable_assigned": "the same, counting only the sets the match assigns the pathway",
    "model_r": "model r on the seed's natural jitter",
}
"""summary.json entries compared over seeds, and how the table names them."""
CONTROL = {
    f"control_{layer}_{intervention}_{selection}": (
        layer,
        intervention,
        selection,
        f"control specificity, {layer} {intervention}, {selection} {kind}",
    )
    for layer in ("bipolar", "amacrine")
    for intervention in ("ablate", "preserve")
    for selection, kind in (("contribution", "modes"), ("activation", "modes"), ("random", "channels"))
}
"""Control-curve specificities (``control_specificity_<layer>`` of summary.json: mean over cell
types and k of on- minus off-target change) compared over seeds, flattened, and their names."""
RETEST_FRAMES = (2000, 6000)
"""Test stimulus lengths (frames at 100 Hz: 20 s, and 60 s, the demo's) on which the first seed's
hypotheses are retested (:func:`retest`)."""
DIFFERENCES = {
    "modes - activation": ("recovery_score", "recovery_score_activation"),
    "modes - shuffled": ("recovery_score", "recovery_score_shuffled"),
}
"""Paired differences over seeds (same stimuli, same model)."""
CONTROL_DIFFERENCES = {
    f"{layer} {intervention}": (
        f"control_{layer}_{intervention}_contribution",
        f"control_{layer}_{intervention}_activation",
    )
    for layer in ("bipolar", "amacrine")
    for intervention in ("ablate", "preserve")
}
"""Paired control-specificity differences over seeds, contribution minus activation modes, per layer
and intervention."""
SAE_SEED_STEP = 10007
"""Fit j of a seed's SAE refits (:func:`sae_spread`) uses SAE seed ``seed + j * SAE_SEED_STEP``; fit 0
is the demo's own (SAE seed = the stimulus seed), and the step keeps clear of the demo's stability
fits (seed + 1, seed + 2) and of the other stimulus seeds' fits."""
SAE_QUANTITIES = {
    "single": "recovery score, the demo's own SAE fit",
    "mean_over_fits": "recovery score, mean over the SAE fits",
    "spread": "range of the recovery score over the SAE fits (max - min)",
    "consensus_score": "recovery score, consensus of the SAE fits",
    "pathways_single": "pathways named by a confirmed hypothesis, the demo's own fit",
    "pathways_consensus": "pathways named by a confirmed hypothesis, consensus",
}
"""Per-seed results of :func:`sae_spread` compared over seeds, and how the table names them."""


def interval(values: list[float], level: float = 0.95) -> dict:
    """Mean, standard deviation and the two-sided t-interval of the mean of ``values``."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return {"mean": mean, "sd": float("nan"), "low": float("nan"), "high": float("nan"), "n": len(values)}
    sd = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1)) * sd / np.sqrt(len(values))
    return {"mean": mean, "sd": sd, "low": mean - half, "high": mean + half, "n": len(values)}


def band_text(band: dict, spec: str = ".2f") -> str:
    """``mean [low, high]`` of an :func:`interval`."""
    return f"{band['mean']:{spec}} [{band['low']:{spec}}, {band['high']:{spec}}]"


def quantities(summary: dict) -> dict[str, float]:
    """The entries of one run's summary.json compared over seeds (:data:`QUANTITIES`, and
    :data:`CONTROL` flattened from ``control_specificity_<layer>``)."""
    control = {
        key: summary[f"control_specificity_{layer}"][intervention][selection]
        for key, (layer, intervention, selection, _) in CONTROL.items()
    }
    return {key: summary[key] for key in QUANTITIES} | control


def replicate(out: Path, seeds: list[int], model: str = "default", sae_fits: int = 1) -> dict:
    """Run (or resume) one demo of ``model`` (a name or a checkpoint folder with its virtual
    retina) per seed under ``out`` and summarise the quantities over seeds; with ``sae_fits`` > 1
    also each seed's :func:`sae_spread` over that many SAE fits."""
    runs = {}
    for seed in seeds:
        folder = out / f"seed_{seed}"
        run_demo(
            folder,
            model=model,
            settings=DemoSettings(seed=seed),
            progress=False,
            log=lambda line, seed=seed: print(f"[seed {seed}] {line}", flush=True),
        )
        summary = json.loads((folder / "summary.json").read_text())
        runs[seed] = quantities(summary)
    result = {
        "model": str(model),
        "machine": machine(),
        "seeds": seeds,
        "runs": {str(seed): values for seed, values in runs.items()},
        "intervals": {key: interval([runs[s][key] for s in seeds]) for key in {**QUANTITIES, **CONTROL}},
        "differences": {
            name: interval([runs[s][a] - runs[s][b] for s in seeds]) for name, (a, b) in DIFFERENCES.items()
        },
        "control_differences": {
            pair: interval([runs[s][a] - runs[s][b] for s in seeds]) for pair, (a, b) in CONTROL_DIFFERENCES.items()
        },
        "retest": retest(
            out / f"seed_{seeds[0]}", DemoSettings(seed=seeds[0]), [s + 2 for s in seeds], list(RETEST_FRAMES), model
        ),
    }
    if sae_fits > 1:
        spreads = {seed: sae_spread(out / f"seed_{seed}", DemoSettings(seed=seed), sae_fits, model) for seed in seeds}
        result["sae_fits"] = {
            "n_fits": sae_fits,
            "runs": {str(seed): spread for seed, spread in spreads.items()},
            "intervals": {key: interval([spreads[s][key] for s in seeds]) for key in SAE_QUANTITIES},
            "consensus - single": interval([spreads[s]["consensus_score"] - spreads[s]["single"] for s in seeds]),
        }
    with atomic_destination(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(result, indent=1) + "\n")
    return result


def _records(tested) -> list[dict]:
    """One plain record per tested hypothesis: what the consensus needs and what it is scored by."""
    return [
        {
            "layer": str(tested["layer"].values[i]),
            "block": str(tested["block"].values[i]),
            "outputs": str(tested["blocked_outputs"].values[i]) if "blocked_outputs" in tested else "all",
            "channels": str(tested["channels"].values[i]),
            "match_r": float(tested["match_r"].values[i]),
            "outcome": str(tested["outcome"].values[i]),
            "type_agreement": float(tested["type_agreement"].values[i]),
            "confidence": float(tested["confidence"].values[i]),
        }
        for i in range(tested.sizes["hypothesis"])
    ]


def score_records(records: list[dict]) -> dict:
    """Recovery score of hypothesis records (:func:`retinacodec.hypotheses.recovery_score`) and the
    pathways a confirmed one names."""
    agreement = xr.DataArray([r["type_agreement"] for r in records], dims="hypothesis")
    confidence = xr.DataArray([r["confidence"] for r in records], dims="hypothesis")
    return {
        "recovery": float(recovery_score(agreement, confidence)),
        "pathways": len({r["block"] for r in records if r["outcome"] == CONFIRMED}),
    }


def consensus(fits: list[list[dict]]) -> list[dict]:
    """The hypotheses that several SAE fits of the same contributions agree on (stability selection).

    Parameters
    ----------
    fits : list of list of dict
        Per fit, its hypotheses' records (``layer``, ``block``, ``channels``, ``match_r``, ...;
        ``outputs``, the blocked outputs, "all" when absent).

    Returns
    -------
    list of dict
        One record per (layer, pathway, blocked outputs) named by at least half of the fits: the
        channel set chosen
        for it most often, ties going to the set that follows the pathway most closely (larger
        ``match_r``, the rule by which one fit merges the sets matched to a pathway), then to the
        earlier fit. The rule reads the fits' hypotheses only, never their outcomes.
    """
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for records in fits:
        for record in records:
            groups.setdefault((record["layer"], record["block"], record.get("outputs", "all")), []).append(record)
    kept = []
    for members in groups.values():
        if 2 * len(members) < len(fits):
            continue
        counts: dict[str, int] = {}
        for member in members:
            counts[member["channels"]] = counts.get(member["channels"], 0) + 1
        kept.append(max(members, key=lambda m: (counts[m["channels"]], m["match_r"])))
    return kept


def sae_spread(folder: Path, settings: DemoSettings, n_fits: int, model: str = "default") -> dict:
    """One run's hypotheses from ``n_fits`` SAE fits of its own contributions, at its own stimuli.

    Fit 0 is the run's own (its ``modes_<layer>.nc``); fit j > 0 refits every layer's SAE as the
    demo does, with SAE seed ``settings.seed + j * SAE_SEED_STEP``. Each fit's hypotheses are
    generated and tested as in the demo (its hypothesis and matching stimuli), and
    :func:`consensus` keeps the ones the fits agree on.

    Returns
    -------
    dict
        ``fits`` (per fit: ``sae_seed``, ``recovery``, ``pathways``, ``hypotheses`` records),
        ``consensus`` (``recovery``, ``pathways``, ``hypotheses``) and the :data:`SAE_QUANTITIES`.
    """
    network = load(model)
    stimulus = natural_jitter(n_frames=settings.hypothesis_frames, seed=settings.seed + 2, progress=False)
    match = natural_jitter(n_frames=settings.match_frames, seed=settings.seed + 3, progress=False)
    fits = []
    contributions: dict = {}  # read once, at the first refit
    for j in range(n_fits):
        sae_seed = settings.seed + j * SAE_SEED_STEP
        if j == 0:
            modes = {layer: read_netcdf(folder / f"modes_{layer}.nc") for layer in settings.layers}
        else:
            contributions = contributions or {
                layer: read_netcdf(folder / f"contributions_{layer}.nc") for layer in settings.layers
            }
            modes = {
                layer: fit_modes(
                    contributions[layer],
                    labels="cell_type",
                    variable="contribution",
                    epochs=settings.sae_epochs,
                    batch_size=settings.sae_batch_size,
                    seed=sae_seed,
                    stability_fits=0,
                )[1]
                for layer in settings.layers
            }
        records = _records(tested_hypotheses(network, stimulus, modes, settings, False, network.virtual_retina, match))
        fits.append({"sae_seed": sae_seed, **score_records(records), "hypotheses": records})
        print(f"[seed {settings.seed}, SAE fit {j}] recovery {fits[-1]['recovery']:.3f}", flush=True)
    agreed = consensus([fit["hypotheses"] for fit in fits])
    together = score_records(agreed)
    scores = [fit["recovery"] for fit in fits]
    return {
        "fits": fits,
        "consensus": {**together, "hypotheses": agreed},
        "single": scores[0],
        "mean_over_fits": float(np.mean(scores)),
        "spread": float(np.ptp(scores)),
        "consensus_score": together["recovery"],
        "pathways_single": fits[0]["pathways"],
        "pathways_consensus": together["pathways"],
    }


def retest(
    folder: Path, settings: DemoSettings, test_seeds: list[int], frames: list[int], model: str = "default"
) -> dict:
    """The recovery score of one run's hypotheses (its modes and matching stimulus, so the same
    channel sets and pathways) tested on other stimuli: how much of a run's score is its test
    stimulus.

    Parameters
    ----------
    folder : Path
        A finished demo folder of ``model``.
    settings : DemoSettings
        That run's settings (its matching stimulus is natural jitter of seed + 3, as in the demo).
    test_seeds : list of int
        Seeds of the natural-jitter test stimuli.
    frames : list of int
        Test stimulus lengths (100 Hz frames), e.g. 2000 (20 s) and the demo's 6000 (60 s, as long
        as the recording whose standard errors decide what counts as a change).

    Returns
    -------
    dict
        Per length (str): ``scores`` (per test seed) and ``interval`` (:func:`interval`).
    """
    seed = settings.seed
    network = load(model)
    match = natural_jitter(n_frames=settings.match_frames, seed=seed + 3, progress=False)
    modes = {layer: read_netcdf(folder / f"modes_{layer}.nc") for layer in settings.layers}
    result = {}
    for n_frames in frames:
        scores = []
        for test_seed in test_seeds:
            stimulus = natural_jitter(n_frames=n_frames, seed=test_seed, progress=False)
            tested = tested_hypotheses(network, stimulus, modes, settings, False, network.virtual_retina, match)
            scores.append(float(tested["recovery_score"]))
            print(f"[retest {n_frames} frames, test seed {test_seed}] recovery {scores[-1]:.3f}", flush=True)
        result[str(n_frames)] = {"scores": scores, "interval": interval(scores)}
    return {"seed": seed, "test_seeds": test_seeds, "frames": result}


def earlier_result(out: Path) -> dict:
    """The result an earlier :func:`replicate` wrote to ``out/summary.json``.

    Raises
    ------
    RetinaCodecError
        If the file is missing or is not such a result.
    """
    path = out / "summary.json"
    try:
        result = json.loads(path.read_text())
        _ = result["seeds"], result["runs"], result["intervals"], result["retest"], result["machine"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RetinaCodecError(
            f"{path} is not the summary of a replicates run ({exc!r}); expected the "
            "summary.json that analyses/retina_replicates.py -o OUT writes"
        ) from None
    return result


def plot(result: dict, path: Path) -> Path:
    """Each seed's recovery score and its two controls, with the means and their 95 % intervals."""
    from matplotlib.figure import Figure

    from retinacodec.plots import save_figure

    keys = [
        "recovery_score",
        "recovery_score_activation",
        "recovery_score_shuffled",
        "recovery_match_all_sets",
        "recovery_ceiling",
        "recovery_ceiling_named",
    ]
    labels = [
        "contribution\nmodes",
        "activation\nmodes",
        "shuffled\nchannels",
        "closest set\nof all",
        "ceiling",
        "best sets for\nthe named",
    ]
    fig = Figure(figsize=(7, 3.6))
    ax = fig.subplots()
    for i, key in enumerate(keys):
        values = [result["runs"][str(s)][key] for s in result["seeds"]]
        ax.plot(np.full(len(values), i) + np.linspace(-0.12, 0.12, len(values)), values, "o", color="0.55", ms=4)
        band = result["intervals"][key]
        ax.errorbar(
            i + 0.25,
            band["mean"],
            yerr=[[band["mean"] - band["low"]], [band["high"] - band["mean"]]],
            fmt="s",
            color="k",
            capsize=4,
        )
    ax.axhline(0.8, color="tab:red", lw=0.8, ls="--", label="goal 0.8")
    ax.set(
        xticks=range(len(keys)),
        xticklabels=labels,
        ylim=(0, 1.05),
        ylabel="recovery score",
        title=f"retina demo over {len(result['seeds'])} stimulus seeds (grey: one seed; black: mean, 95 % CI)",
    )
    ax.title.set_fontsize(9)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)


def section(result: dict, figure: str) -> str:
    """The results page's markdown for the replicates: a table of means and intervals and the figure
    (``figure``: its link from the page)."""
    seeds = ", ".join(map(str, result["seeds"]))
    rows = ["| quantity | mean [95 % CI] | per seed |", "|---|---|---|"]
    rows += [
        f"| {name} | {band_text(result['intervals'][key])} | "
        + ", ".join(f"{result['runs'][str(s)][key]:.2f}" for s in result["seeds"])
        + " |"
        for key, name in QUANTITIES.items()
    ]
    rows += [
        f"| difference, {name} (paired) | {band_text(result['differences'][name], '+.2f')} | |" for name in DIFFERENCES
    ]
    control = ["| quantity | mean [95 % CI] | per seed |", "|---|---|---|"]
    control += [
        f"| {entry[3]} | {band_text(result['intervals'][key], '+.3f')} | "
        + ", ".join(f"{result['runs'][str(s)][key]:+.3f}" for s in result["seeds"])
        + " |"
        for key, entry in CONTROL.items()
    ]
    pairs = result["control_differences"]
    control += [
        f"| difference, control specificity, {pair}: modes - activation (paired) | {band_text(band, '+.3f')} | |"
        for pair, band in pairs.items()
    ]
    above = [pair for pair, band in pairs.items() if band["low"] > 0]
    below = [pair for pair, band in pairs.items() if band["high"] < 0]
    control.append(
        "\nContribution modes are more specific than activation modes (paired interval above 0) in "
        + (", ".join(above) if above else "none")
        + f" of the {len(pairs)} layer and intervention pairs, less specific (interval below 0) in "
        + (", ".join(below) if below else "none")
        + "."
    )
    again = result["retest"]
    retested = ["| test stimulus | recovery score, mean [95 % CI] | per test stimulus |", "|---|---|---|"]
    demo = {str(DemoSettings().hypothesis_frames): " (the demo's)"}
    retested += [
        f"| {int(n) / 100:g} s of natural jitter{demo.get(n, '')} | {band_text(entry['interval'])} | "
        + ", ".join(f"{v:.2f}" for v in entry["scores"])
        + " |"
        for n, entry in again["frames"].items()
    ]
    return (
        "One demo run scores its hypotheses on one stimulus. Over independent stimulus seeds "
        f"({seeds}; written by `analyses/retina_replicates.py` from its `summary.json`; machine: "
        f"{machine_line(result['machine'])}):\n\n"
        + "\n".join(rows)
        + f"\n\n![Recovery over stimulus seeds]({figure})\n\n"
        f"How much of that spread is the test stimulus: the hypotheses of the seed-{again['seed']} run (the "
        "same channel sets and pathways) tested on the test stimuli of every seed "
        f"({', '.join(map(str, again['test_seeds']))}), "
        + " and ".join(f"{int(n) / 100:g} s" for n in again["frames"])
        + " long (the demo's 60 s are as long as the recording whose standard errors decide what counts as a "
        "change):\n\n"
        + "\n".join(retested)
        + "\n\nControl curves over the same seeds (each seed fits its own modes; specificity is the mean over "
        "cell types and k = 1..8 of the on- minus off-target relative rate change, see `report.md`):\n\n"
        + "\n".join(control)
        + _sae_section(result)
    )


def _sae_section(result: dict) -> str:
    """The section's part on the SAE refits (:func:`sae_spread`), empty when none were run."""
    if "sae_fits" not in result:
        return ""
    fits = result["sae_fits"]

    rows = ["| quantity | mean [95 % CI] | per seed |", "|---|---|---|"]
    rows += [
        f"| {name} | {band_text(fits['intervals'][key])} | "
        + ", ".join(f"{fits['runs'][str(s)][key]:.2f}" for s in result["seeds"])
        + " |"
        for key, name in SAE_QUANTITIES.items()
    ]
    paired = band_text(fits["consensus - single"], "+.2f")
    rows.append(f"| difference, consensus - the demo's own fit (paired) | {paired} | |")
    return (
        "\n\nHow much of the spread is the SAE's fit: each seed's SAEs refitted with "
        f"{fits['n_fits'] - 1} more SAE seeds on the same contributions, the hypotheses generated and tested "
        "at the same stimuli. The consensus keeps each (layer, pathway, whole set or inhibitory outputs) that "
        "at least half of the fits name, with the channel set chosen most often for it (ties: the set that "
        "follows the pathway most closely); it reads the fits' hypotheses, never their outcomes.\n\n" + "\n".join(rows)
    )


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("results/retina_replicates"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[9200, 9300, 9400, 9500, 9800, 9900, 10000, 10100])
    parser.add_argument(
        "--model",
        default="default",
        help="model name or checkpoint folder with its virtual retina (default: the shipped model)",
    )
    parser.add_argument(
        "--sae-fits",
        type=int,
        default=1,
        help="also refit each seed's SAEs this many times in all "
        "(the demo's own fit included) and score the fits' consensus (1: no refits)",
    )
    parser.add_argument("--page", type=Path, help="rewrite this page's retina-replicates section")
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"), help="folder of the page's figures")
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="run nothing: draw the figure and the section from OUTPUT/summary.json of an earlier run",
    )
    args = parser.parse_args(argv)
    if args.sae_fits < 1:
        raise RetinaCodecError(f"--sae-fits is {args.sae_fits}; expected an integer >= 1")
    result = (
        earlier_result(args.output) if args.redraw else replicate(args.output, args.seeds, args.model, args.sae_fits)
    )
    figure = plot(result, args.output / "replicates.png")
    if args.page:
        target = args.figures / "retina_replicates.png"
        shutil.copyfile(figure, target)
        link = Path(os.path.relpath(target, args.page.parent)).as_posix()
        replace_section(args.page, "retina-replicates", section(result, link))
    bands = {**result["intervals"], **result["differences"], **result["control_differences"]}
    if "sae_fits" in result:
        bands |= {f"sae {key}": band for key, band in result["sae_fits"]["intervals"].items()}
        bands["sae consensus - single"] = result["sae_fits"]["consensus - single"]
    for key, band in bands.items():
        print(f"{key:30s} {band['mean']:+.3f} [{band['low']:+.3f}, {band['high']:+.3f}] (n={band['n']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

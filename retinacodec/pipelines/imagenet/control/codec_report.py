"""Summary, figures and report of a ``codec``-protocol control run: the reference code's
quantities (ratio curves, areas, layer scores) and every deviation of the run from it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from .... import __version__
from ....plots import save_figure
from ....plots.reference_curves import plot_layer_scores, plot_ratio_curves
from .deviations import deviations
from .report import _completeness, _fmt, _interval, _rounded, assemble_report
from .settings import ControlSettings

FIGURES = {
    "codec_curves_ablate.png": "ablate",
    "codec_curves_preserve.png": "preserve",
    "codec_layer_scores.png": None,
}
MODE_SELECTIONS = ("contribution", "activation")


def draw_figures(results: dict, layers: list[str], folder: Path) -> list[str]:
    """The ratio-curve figures (ablate, preserve) and the layer scores; returns the file names."""
    summaries = {layer: results[layer]["curve_summary"] for layer in layers}
    for name, intervention in FIGURES.items():
        figure = plot_layer_scores(summaries) if intervention is None else plot_ratio_curves(summaries, intervention)
        save_figure(figure, folder / name)
    return list(FIGURES)


def _chosen_modes(curves: xr.Dataset) -> dict:
    """Per selection, class -> [mode, its correlation with the class on the fit images]."""
    targets = curves["trial_class"].sel(role="target").values
    chosen: dict = {}
    for selection in MODE_SELECTIONS:
        modes = curves["mode"].sel(selection=selection).values
        r = curves["mode_correlation"].sel(selection=selection).values
        chosen[selection] = {
            str(int(c)): [int(modes[targets == c][0]), round(float(r[targets == c][0]), 4)] for c in np.unique(targets)
        }
    return chosen


def _per_role(values: xr.DataArray) -> dict:
    """Target and off-target entries of a (role[, pct]) array, rounded."""
    return {
        role: _rounded(part) if part.ndim == 0 else [_rounded(v) for v in part]
        for role, part in ((r, values.sel(role=r)) for r in ("target", "off_target"))
    }


def _layer_record(result: dict) -> dict:
    s, curves, stats = result["curve_summary"], result["curves"], result["statistics"]
    interventions = s["intervention"].values.tolist()
    selections = s["selection"].values.tolist()
    random_target = s["ratio_mean"].sel(selection="random", role="target")
    return {
        "n_channels": int(s.attrs["n_channels_layer"]),
        "counts": {f"{p:g}": int(n) for p, n in zip(s["pct"].values, s["n_channels"].values)},
        "score": {
            i: {sel: _interval(s, "score", selection=sel, intervention=i) for sel in selections} for i in interventions
        },
        "score_gap": {i: _interval(s, "score_gap", intervention=i) for i in interventions},
        "score_vs_random": {
            i: {sel: _interval(s, "score_vs_random", selection=sel, intervention=i) for sel in MODE_SELECTIONS}
            for i in interventions
        },
        "auc": {
            i: {sel: _per_role(s["auc"].sel(intervention=i, selection=sel)) for sel in selections}
            for i in interventions
        },
        "ratio_mean": {
            i: {sel: _per_role(s["ratio_mean"].sel(intervention=i, selection=sel)) for sel in selections}
            for i in interventions
        },
        "sanity_random": {
            "ablate_smallest": _rounded(random_target.sel(intervention="ablate").isel(pct=0)),
            "preserve_largest": _rounded(random_target.sel(intervention="preserve").isel(pct=-1)),
        },
        "n_undefined_trials": int(s["n_undefined"].sum()),
        "modes": _chosen_modes(curves),
        "statistics": {
            v: {
                "sae_r2": _rounded(stats["r2"].sel(variable=v)),
                "max_mode_class_correlation": _rounded(stats["best_correlation"].sel(variable=v)),
                "n_dead_modes": int(stats["n_dead_modes"].sel(variable=v)),
            }
            for v in MODE_SELECTIONS
        },
        "completeness": {
            name: round(float(stats[name]), 4)
            for name in ("completeness_error_median", "completeness_error_max", "relative_completeness_error")
        },
    }


def summary(
    predictions: xr.Dataset,
    results: dict,
    layers: list[str],
    settings: ControlSettings,
    origin: dict,
    seconds: dict[str, float],
    fit: dict,
) -> dict:
    """The run's numbers as a JSON-typed record: top-1, per-layer scores, curves and statistics,
    timings and the deviations from the reference; ``fit`` describes the fit images."""
    correct = predictions["correct"].values
    record = {
        "retinacodec_version": __version__,
        "protocol": settings.protocol,
        "model": settings.model,
        "weights": origin["weights"],
        "top1": {"correct": int(correct.sum()), "n_images": int(correct.size), "accuracy": float(correct.mean())},
        "held_out_images": predictions.attrs.get("images", ""),
        "n_classes": int(np.unique(predictions["true_class"].values).size),
        "fit_images": fit,
        "settings": settings.as_dict(),
        "ig_method": settings.ig_rule,
        "layers": layers,
        "per_layer": {layer: _layer_record(results[layer]) for layer in layers},
        "seconds": {step: round(value, 1) for step, value in seconds.items()},
        "total_seconds": round(sum(seconds.values()), 1),
    }
    record["deviations"] = deviations(record)
    return record


def _score_cell(values: list[float]) -> str:
    return "n/a" if values[0] is None or not np.isfinite(values[0]) else _fmt(values, False)


def tables(record: dict) -> str:
    """Markdown tables: layer scores, the random-channel sanity ratios, completeness and SAE fits."""
    layers, per_layer = record["layers"], record["per_layer"]
    lines = [
        "| layer | channels | ablate score: contribution | activation | random | C - A | preserve score: "
        "contribution | activation | random | C - A |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for layer in layers:
        entry = per_layer[layer]
        cells = []
        for i in ("ablate", "preserve"):
            cells += [_score_cell(entry["score"][i][s]) for s in ("contribution", "activation", "random")]
            cells.append(_score_cell(entry["score_gap"][i]))
        lines.append(f"| {layer} | {entry['n_channels']} | " + " | ".join(cells) + " |")
    pcts = record["settings"]["codec"]["pcts"]
    lines += [
        "",
        f"| layer | channels at {min(pcts):g} % | random, ablate {min(pcts):g} %: target ratio | random, preserve "
        f"{max(pcts):g} %: target ratio |",
        "|---|---|---|---|",
    ]
    for layer in layers:
        entry = per_layer[layer]
        sanity = entry["sanity_random"]
        lines.append(
            f"| {layer} | {entry['counts'][f'{min(pcts):g}']} | {_ratio(sanity['ablate_smallest'])} | "
            f"{_ratio(sanity['preserve_largest'])} |"
        )
    lines += [
        "",
        "| layer | completeness error: median (max) | SAE R² C / A | max mode-class r C / A | dead modes C / A |",
        "|---|---|---|---|---|",
    ]
    for layer in layers:
        c, a = (per_layer[layer]["statistics"][v] for v in MODE_SELECTIONS)
        lines.append(
            f"| {layer} | {_completeness(per_layer[layer])} | {_ratio(c['sae_r2'])} / {_ratio(a['sae_r2'])} | "
            f"{_ratio(c['max_mode_class_correlation'])} / {_ratio(a['max_mode_class_correlation'])} | "
            f"{c['n_dead_modes']} / {a['n_dead_modes']} |"
        )
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def sizes(record: dict) -> str:
    """One paragraph stating what the run computed, and at which sizes."""
    s, c = record["settings"], record["settings"]["codec"]
    undefined = sum(entry["n_undefined_trials"] for entry in record["per_layer"].values())
    return (
        f"Protocol `codec` (the paper's reference code). {record['model']}, top-1 on the held-out images "
        f"{record['top1']['correct']}/{record['top1']['n_images']} = {100 * record['top1']['accuracy']:.1f} %. "
        f"Contributions to the top logit by Integrated Gradients from a zero input, {s['ig_steps']} steps of the "
        f"trapezoid rule in the layer's activation ({record['ig_method']}); split into positive and negative parts "
        f"per element, summed over space. SAE per layer on the positive parts ({record['fit_images']['n_images']} "
        f"fit images, divided by their global SD; 3 x C atoms, sigmoid codes over threshold {c['sae_threshold']}, "
        f"L1 5e-5 on the atoms, Adam lr 5e-5, {c['sae_epochs']} epochs), the same for the activations' positive "
        f"parts. Per (layer, percentage) {c['n_trials']} trials of a random target and off-target class with "
        f"{c['n_trial_images']} held-out images each (seed {c['trial_seed']}); the target's mode is rank "
        f"{c['mode_rank']} ({'the second' if c['mode_rank'] == 1 else 'position ' + str(c['mode_rank'])}) of the "
        f"live modes by correlation with the class on the fit images; its int(C pct / 100) largest signed atom "
        f"entries zeroed at every position (ablate) or every other channel zeroed (preserve), at "
        f"{', '.join(f'{p:g}' for p in c['pcts'])} %. Score per layer: (AUC_target - AUC_off) / AUC_off of the "
        f"mean perturbed / original top-1 accuracy over a linear % axis, with 95 % intervals from {s['n_bootstrap']} "
        f"bootstrap resamples of the trials (in brackets). Trials whose original accuracy is 0: {undefined}. "
        f"Wall time of all steps: {record['total_seconds'] / 60:.1f} min."
    )


def write_report(record: dict, figures: list[str], path: str | os.PathLike) -> Path:
    """``report.md``: sizes, tables, the deviations from the reference, figures and the timings."""
    title = f"# CODEC control analysis (codec protocol): {record['model']}"
    return assemble_report(title, [sizes(record), tables(record)], record, figures, path)

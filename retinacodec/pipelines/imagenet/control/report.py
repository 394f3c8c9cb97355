"""Summary, figures and report of the ImageNet control analysis (numbers from the run's results
only; the paper's figures, for ResNet-50, stand beside them as published)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import xarray as xr

from .... import __version__
from ....control.curves.classifier import sanity
from ....io.atomic import atomic_destination
from ....plots import save_figure
from ....plots.control_curves import plot_control_curves, plot_layerwise_control
from ..common.statistics import COMPLETENESS
from .deviations import deviations
from .settings import ControlSettings

PAPER = {
    "ablate_2pct_target_accuracy": {"contribution": 0.0, "activation": 0.2},
    "preserve_2pct_target_accuracy": {"contribution": 0.8, "activation": 0.5},
    "max_mode_class_correlation": {"contribution": 0.45, "activation": 0.30},
    "n_modes_above_0.2": {"contribution": 80, "activation": 40},
    "pca_dimensions_95": {"contribution": 200, "activation": 150},
}
"""The paper's figures (ResNet-50, ImageNet validation; approximate, read from its text): control
at 2 % of the channels, best mode-class correlation (intermediate layers), modes over 0.2
(layer 13) and PCA dimensions (layer 14)."""
FIGURES = {
    "control_curves_ablate.png": "ablate",
    "control_curves_preserve.png": "preserve",
    "control_layerwise.png": None,
}


def draw_figures(results: dict, layers: list[str], folder: Path) -> list[str]:
    """The curve figures (ablate, preserve) and the layer-wise summary; returns the file names."""
    summaries = {layer: results[layer]["curve_summary"] for layer in layers}
    for name, intervention in FIGURES.items():
        figure = (
            plot_layerwise_control(summaries) if intervention is None else plot_control_curves(summaries, intervention)
        )
        save_figure(figure, folder / name)
    return list(FIGURES)


def sanity_line(curves: xr.Dataset) -> str:
    """One log line on the layer's sanity check (:func:`~retinacodec.control.curves.classifier.sanity`),
    in capitals when it fails."""
    checked = sanity(curves)
    parts = [
        f"{i} {100 * float(row['fraction']):g} % random channels: accuracy {float(row['accuracy']):.3f} "
        f"against {float(row['unperturbed']):.3f}"
        for i in checked["intervention"].values.tolist()
        for row in [checked.sel(intervention=i)]
    ]
    where = f"layer {curves.attrs['layer']} ({curves.attrs.get('ablation', 'zero')} ablation)"
    if bool(checked["passed"].all()):
        return f"sanity check passed at {where}: " + "; ".join(parts)
    return (
        f"SANITY CHECK FAILED AT {where.upper()}: " + "; ".join(parts) + f" (more than "
        f"{100 * checked.attrs['tolerance']:g} % lost): small random interventions already break the network "
        "here, so its control curves say nothing about the channels chosen"
    )


def _sanity_record(curves: xr.Dataset) -> dict:
    checked = sanity(curves)
    return {
        i: {
            "fraction": float(row["fraction"]),
            "accuracy": round(float(row["accuracy"]), 4),
            "unperturbed": round(float(row["unperturbed"]), 4),
            "relative": _rounded(row["relative"]),
            "passed": bool(row["passed"]),
            "n_pairs": int(row["n_pairs"]),
        }
        for i in checked["intervention"].values.tolist()
        for row in [checked.sel(intervention=i)]
    }


def _point_record(curves: xr.Dataset) -> dict:
    """The intervention point and the ablation, from the curves' attrs."""
    a = curves.attrs
    return {
        "ablation": a.get("ablation", "zero"),
        "last_op": a.get("last_op", ""),
        "non_negative": bool(a.get("non_negative", 0)),
        "zero_fraction": round(float(a.get("zero_fraction", float("nan"))), 4),
        "mean_offset": round(float(a.get("mean_offset", float("nan"))), 4),
    }


def _interval(ds: xr.Dataset, name: str, **where) -> list[float]:
    """[value, low, high] of a summary variable at ``where``."""
    return [round(float(ds[key].sel(**where)), 4) for key in (name, f"{name}_low", f"{name}_high")]


def _rounded(value: xr.DataArray) -> float | None:
    """A scalar rounded to 4 digits, None for NaN (JSON has no NaN)."""
    number = float(value)
    return None if math.isnan(number) else round(number, 4)


def _layer_record(result: dict) -> dict:
    s = result["curve_summary"]
    stats = result["statistics"]
    at = {"fraction": 0.02, "method": "nearest"}
    control = {}
    for selection in s["selection"].values.tolist():
        for intervention in s["intervention"].values.tolist():
            where = {"selection": selection, "intervention": intervention}
            control[f"{intervention}_{selection}"] = {
                "target_accuracy_2pct": _interval(s.sel(**where).sel(**at), "target_accuracy"),
                "off_target_accuracy_2pct": _interval(s.sel(**where).sel(**at), "off_target_accuracy"),
                "target_accuracy_auc": _interval(s, "target_accuracy_auc", **where),
                "off_target_accuracy_auc": _interval(s, "off_target_accuracy_auc", **where),
                "specificity_auc": _interval(s, "specificity_auc", **where),
                "score": _interval(s, "score", **where),
                "score_vs_random": _interval(s, "score_vs_random", **where),
            }
    gap = (
        {i: _interval(s, "gap_auc", intervention=i) for i in s["intervention"].values.tolist()}
        if "gap_auc" in s
        else {}
    )
    table = {}
    for variable in ("contribution", "activation"):
        v = stats.sel(variable=variable)
        table[variable] = {
            "hoyer_median": round(float(v["hoyer"].sel(quantile=0.5, method="nearest")), 4)
            if "quantile" in v["hoyer"].dims
            else round(float(v["hoyer"]), 4),
            "pca_dimensions_95": int(v["n_dimensions"]),
            "max_mode_class_correlation": round(float(v["best_correlation"]), 4),
            "n_modes_above": int(v["n_modes_above"]),
            "sign_coupling": round(float(v["sign_coupling"]), 4),
            "sae_r2": round(float(v["r2"]), 4),
            "mean_stability": _rounded(v["mean_stability"]),
        }
    completeness = {name: round(float(stats[name]), 4) for name in COMPLETENESS}
    return {
        "completeness": completeness,
        "intervention_point": _point_record(result["curves"]),
        "sanity": _sanity_record(result["curves"]),
        "n_channels": int(s.attrs.get("n_channels_layer", -1)),
        "control": control,
        "gap_specificity_auc": gap,
        "statistics": table,
        "n_channels_at_2pct": int(s["n_channels"].sel(fraction=0.02, method="nearest")),
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
    """The run's numbers as a JSON-typed record: protocol, top-1, per-layer control and statistics,
    timings and the deviations from the reference; ``fit`` describes the fit images (``n_images``,
    ``description``)."""
    correct = predictions["correct"].values
    record = {
        "retinacodec_version": __version__,
        "protocol": settings.protocol,
        "model": settings.model,
        "weights": origin["weights"],
        "preprocessing": f"{origin.get('preprocessing', '')} ({origin.get('preprocessing_source', '')})",
        "top1": {"correct": int(correct.sum()), "n_images": int(correct.size), "accuracy": float(correct.mean())},
        "held_out_images": predictions.attrs.get("images", ""),
        "fit_images": fit,
        "n_classes": int(np.unique(predictions["true_class"].values).size),
        "settings": settings.as_dict(),
        "layers": layers,
        "per_layer": (per_layer := {layer: _layer_record(results[layer]) for layer in layers}),
        "gap_opens": {
            i: next((layer for layer in layers if per_layer[layer]["gap_specificity_auc"].get(i, [0, 0])[1] > 0), None)
            for i in ("ablate", "preserve")
        },
        "seconds": {step: round(value, 1) for step, value in seconds.items()},
        "total_seconds": round(sum(seconds.values()), 1),
        "paper": PAPER,
    }
    record["deviations"] = deviations(record)
    return record


def _fmt(values: list[float], percent: bool = True) -> str:
    scale = 100 if percent else 1
    return (
        f"{scale * values[0]:.0f} [{scale * values[1]:.0f}, {scale * values[2]:.0f}]"
        if percent
        else f"{values[0]:.2f} [{values[1]:.2f}, {values[2]:.2f}]"
    )


def tables(record: dict) -> str:
    """Markdown tables of a summary record: control at 2 %, specificity per layer, the seed's table."""
    layers = record["layers"]
    paper = record["paper"]
    lines = [
        "| layer | ch. (2 %) | ablate 2 %: contribution | activation | random | preserve 2 %: contribution | "
        "activation | random |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for layer in layers:
        c = record["per_layer"][layer]["control"]
        cells = [
            _fmt(c[f"{i}_{s}"]["target_accuracy_2pct"])
            for i in ("ablate", "preserve")
            for s in ("contribution", "activation", "random")
        ]
        lines.append(f"| {layer} | {record['per_layer'][layer]['n_channels_at_2pct']} | " + " | ".join(cells) + " |")
    lines.append(
        f"| paper (ResNet-50) | | ~{100 * paper['ablate_2pct_target_accuracy']['contribution']:.0f} | "
        f"~{100 * paper['ablate_2pct_target_accuracy']['activation']:.0f} | | "
        f"~{100 * paper['preserve_2pct_target_accuracy']['contribution']:.0f} | "
        f"~{100 * paper['preserve_2pct_target_accuracy']['activation']:.0f} | |"
    )
    lines += [
        "",
        "| layer | ablate specificity AUC: contribution | activation | random | gap | preserve: contribution "
        "| activation | random | gap |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for layer in layers:
        c = record["per_layer"][layer]["control"]
        gap = record["per_layer"][layer]["gap_specificity_auc"]
        cells = []
        for i in ("ablate", "preserve"):
            cells += [_fmt(c[f"{i}_{s}"]["specificity_auc"], False) for s in ("contribution", "activation", "random")]
            cells.append(_fmt(gap[i], False) if i in gap else "")
        lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| layer | sparsity (Hoyer, median) C / A | PCA dims 95 % C / A | max mode-class r C / A | "
        "modes > 0.2 C / A | pos-neg coupling C / A | seed stability C / A | SAE R² C / A | "
        "completeness error: median (max) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for layer in layers:
        t = record["per_layer"][layer]["statistics"]
        c, a = t["contribution"], t["activation"]
        lines.append(
            f"| {layer} | {c['hoyer_median']:.2f} / {a['hoyer_median']:.2f} | {c['pca_dimensions_95']} / "
            f"{a['pca_dimensions_95']} | {c['max_mode_class_correlation']:.2f} / "
            f"{a['max_mode_class_correlation']:.2f} | {c['n_modes_above']} / {a['n_modes_above']} | "
            f"{c['sign_coupling']:.2f} / {a['sign_coupling']:.2f} | {_stability(c)} / {_stability(a)} | "
            f"{c['sae_r2']:.2f} / {a['sae_r2']:.2f} | {_completeness(record['per_layer'][layer])} |"
        )
    lines.append(
        f"| paper (ResNet-50) | C higher | ~{paper['pca_dimensions_95']['contribution']} / "
        f"~{paper['pca_dimensions_95']['activation']} | {paper['max_mode_class_correlation']['contribution']}+"
        f" / ~{paper['max_mode_class_correlation']['activation']} | {paper['n_modes_above_0.2']['contribution']}+"
        f" / ~{paper['n_modes_above_0.2']['activation']} | decouples with depth | | | |"
    )
    return "\n".join(lines)


def sanity_table(record: dict) -> str:
    """Markdown: per layer, the intervention point and accuracy after the smallest random ablation
    and the largest random preservation, against the unperturbed accuracy on the same images;
    preceded by a warning naming every layer that fails."""
    layers = record["layers"]
    failed = [
        layer for layer in layers if not all(v["passed"] for v in record["per_layer"][layer].get("sanity", {}).values())
    ]
    lines = []
    if failed:
        lines += [
            f"**SANITY CHECK FAILED at {', '.join(failed)}**: small random interventions already cost more than "
            "a few percent of the accuracy there, so those layers' control curves say nothing about the channels "
            "chosen.",
            "",
        ]
    lines += [
        "| layer | ablation | last op | non-negative | zeros | channel means / RMS | ablate random: accuracy "
        "(unperturbed) | preserve random: accuracy (unperturbed) | sound |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for layer in layers:
        entry = record["per_layer"][layer]
        point, checked = entry.get("intervention_point"), entry.get("sanity")
        if point is None or checked is None:
            continue
        cells = [
            f"{100 * c['fraction']:g} %: {c['accuracy']:.3f} ({c['unperturbed']:.3f})"
            for c in (checked["ablate"], checked["preserve"])
        ]
        lines.append(
            f"| {layer} | {point['ablation']} | {point['last_op'] or 'sum'} | "
            f"{'yes' if point['non_negative'] else 'no'} | {100 * point['zero_fraction']:.0f} % | "
            f"{point['mean_offset']:.2f} | {cells[0]} | {cells[1]} | "
            f"{'yes' if all(c['passed'] for c in checked.values()) else '**NO**'} |"
        )
    return "\n".join(lines)


def score_table(record: dict) -> str:
    """Markdown: per layer, the reference's score (AUC_target - AUC_off) / AUC_off of the ratio
    curves, and the score against the random channels' target curve, for each selection."""
    lines = [
        "| layer | intervention | reference score: contribution | activation | random | against random: "
        "contribution | activation |",
        "|---|---|---|---|---|---|---|",
    ]
    for layer in record["layers"]:
        c = record["per_layer"][layer]["control"]
        for i in ("ablate", "preserve"):
            if f"{i}_contribution" not in c or "score" not in c[f"{i}_contribution"]:
                continue
            cells = [_fmt(c[f"{i}_{sel}"]["score"], False) for sel in ("contribution", "activation", "random")]
            cells += [_fmt(c[f"{i}_{sel}"]["score_vs_random"], False) for sel in ("contribution", "activation")]
            lines.append(f"| {layer} | {i} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _stability(statistics: dict) -> str:
    value = statistics.get("mean_stability")
    return "n/a" if value is None else f"{value:.2f}"


def _completeness(layer: dict) -> str:
    """Median (max) absolute completeness error in logits, and the median relative to |f(x) - f(x0)|."""
    c = layer.get("completeness")
    if c is None:
        return "n/a"
    return (
        f"{c['completeness_error_median']:.2g} ({c['completeness_error_max']:.2g}) logit, "
        f"{100 * c['relative_completeness_error']:.1f} %"
    )


def sizes(record: dict) -> str:
    """One paragraph stating the sizes of the run."""
    s = record["settings"]
    method = s.get("ig_method") or "gausslegendre"
    names = {"gausslegendre": "Gauss-Legendre nodes", "activation_trapezoid": "activation-trapezoid steps"}
    rule = names.get(method, f"{method} nodes")
    return (
        f"{record['model']} (weights {record['weights']}; preprocessing {record.get('preprocessing', '')}), "
        f"top-1 on the held-out images {record['top1']['correct']}/{record['top1']['n_images']}"
        f" = {100 * record['top1']['accuracy']:.1f} %. Modes: SAE fits on {record['fit_images']['n_images']} fit "
        f"images' input-path contributions "
        f"to the top logit ({s['ig_steps']} {rule}, all layers in one pass) and activations. "
        f"Control on held-out images only: per class and selection {s['n_target_images']} target and "
        f"{s['n_off_target_images']} off-target images; {s['n_random_draws']} random selections per fraction on "
        f"{s['n_random_images']} images; fractions {', '.join(f'{100 * f:g} %' for f in s['fractions'])}; "
        f"{s['n_bootstrap']} bootstrap resamples of the images (within class), 95 % intervals in brackets. "
        f"Seed stability of the modes: {_stability_fits(s)}. "
        f"Wall time of all steps: {record['total_seconds'] / 60:.1f} min. First layer whose contribution-minus-"
        f"activation specificity gap (AUC) has its interval above 0: ablate "
        f"{record['gap_opens']['ablate'] or 'none'}, preserve {record['gap_opens']['preserve'] or 'none'}."
    )


def _stability_fits(settings: dict) -> str:
    n = settings.get("stability_fits", 2)
    return (
        "not scored (no extra fits)"
        if n == 0
        else f"each live mode's cosine with its partner in a one-to-one (Hungarian) match to the modes of "
        f"{n} SAE fit(s) with other seeds, averaged over the modes"
    )


def write_report(record: dict, figures: list[str], path: str | os.PathLike) -> Path:
    """``report.md``: sizes, tables, figures and the per-step timings."""
    scores = (
        "## Layer scores: the reference's and against random channels\n\n"
        "Ratio curves: perturbed / unperturbed accuracy on the same images, per class, averaged; "
        "areas by the trapezoid rule over the linear % axis. Reference score: (AUC_target - AUC_off) "
        "/ AUC_off; against random: (AUC_target - AUC_random) / AUC_random, the random channels' "
        "target curve at the same layer.\n\n" + score_table(record)
    )
    sanity = "## Are the intervention points sound?\n\n" + sanity_table(record)
    sections = [sizes(record), sanity, tables(record), scores]
    return assemble_report(f"# CODEC control analysis: {record['model']}", sections, record, figures, path)


def assemble_report(title: str, sections: list[str], record: dict, figures: list[str], path: str | os.PathLike) -> Path:
    """Write ``report.md`` atomically: ``title``, the protocol's ``sections``, the deviations from the
    reference, the figures, the per-step timings and the package version."""
    steps = "\n".join(f"| {step} | {seconds:.0f} |" for step, seconds in record["seconds"].items())
    parts = [
        title,
        *sections,
        "## Deviations from the reference\n\n" + "\n".join(f"- {line}" for line in record["deviations"]),
        "\n".join(f"![{name}]({name})" for name in figures),
        "| step | s |\n|---|---|\n" + steps,
        f"retinacodec {record['retinacodec_version']}",
    ]
    path = Path(path)
    with atomic_destination(path) as tmp:
        tmp.write_text("\n\n".join(parts) + "\n")
    return path

"""``report.md`` of an ImageNet run: model and accuracy, the network-control table in the paper's
form (contribution modes against activation modes), per-layer tables and the figures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import xarray as xr

from ....errors import RetinaCodecError
from ....io.atomic import atomic_destination
from ..common.images import CROP_FRACTION

_SELECTIONS = ("contribution", "activation")


def _pair(values: xr.DataArray, fmt: str = "{:.2f}") -> list[str]:
    """The contribution and activation entries of a (selection,) or (variable,) array."""
    dim = "selection" if "selection" in values.dims else "variable"
    return [fmt.format(float(values.sel({dim: s}))) for s in _SELECTIONS]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def control_table(summary: xr.Dataset) -> list[str]:
    """The network-control table (mean over layers and control classes), as markdown lines."""
    mean = summary[["target_accuracy", "off_target_accuracy"]].mean("layer")
    percent = f"{100 * summary.attrs.get('control_fraction', 0.02):g}%"
    target, off = mean["target_accuracy"], mean["off_target_accuracy"]
    rows = [
        [f"Ablation (remove {percent} of channels): target-class accuracy", *_pair(target.sel(intervention="ablate"))],
        [
            f"Preservation (retain only {percent} of channels): target-class accuracy",
            *_pair(target.sel(intervention="preserve")),
        ],
        ["Off-target accuracy after ablation", *_pair(off.sel(intervention="ablate"))],
        ["Off-target accuracy after preservation", *_pair(off.sel(intervention="preserve"))],
        [
            "Unperturbed: target-class / off-target accuracy",
            *[
                f"{float(target.sel(intervention='none', selection=s)):.2f} / "
                f"{float(off.sel(intervention='none', selection=s)):.2f}"
                for s in _SELECTIONS
            ],
        ],
    ]
    return _table(["Control strategy", "Contribution mode", "Activation mode"], rows)


def _layer_rows(summary: xr.Dataset) -> tuple[list[str], list[str]]:
    control_rows, stats_rows = [], []
    for layer in summary["layer"].values:
        s = summary.sel(layer=layer)
        name = f"{layer} (`{s['layer_module'].item()}`)"
        target, off = s["target_accuracy"], s["off_target_accuracy"]
        control_rows.append(
            [
                name,
                str(int(s["control_n_channels"].sel(selection="contribution"))),
                *_pair(target.sel(intervention="ablate")),
                *_pair(target.sel(intervention="preserve")),
                *_pair(off.sel(intervention="ablate")),
                *_pair(off.sel(intervention="preserve")),
            ]
        )
        stats_rows.append(
            [
                name,
                *_pair(s["r2"]),
                *_pair(s["n_modes_above"], "{:.0f}"),
                *_pair(s["best_correlation"]),
                *_pair(s["hoyer_mean"]),
                *_pair(s["n_dimensions"], "{:.0f}"),
                f"{float(s['completeness_error_max']):.2g}",
                f"{100 * float(s['relative_completeness_error']):.1f} %",
                f"{float(s['runtime'].sum()):.0f}",
            ]
        )
    control = _table(
        [
            "layer",
            "channels",
            "ablation C",
            "ablation A",
            "preservation C",
            "preservation A",
            "off-target abl. C",
            "off-target abl. A",
            "off-target pres. C",
            "off-target pres. A",
        ],
        control_rows,
    )
    stats = _table(
        [
            "layer",
            "SAE R² C",
            "SAE R² A",
            f"modes r>{summary.attrs.get('threshold', 0.2):g} C",
            f"modes r>{summary.attrs.get('threshold', 0.2):g} A",
            "best mode-class r C",
            "best mode-class r A",
            "Hoyer C",
            "Hoyer A",
            "PCA dims 95% C",
            "PCA dims 95% A",
            "max abs completeness error",
            "median relative completeness error",
            "runtime (s)",
        ],
        stats_rows,
    )
    return control, stats


def write_report(summary: xr.Dataset, path: str | os.PathLike, figures: dict[str, str]) -> Path:
    """Write the markdown report of an ImageNet run.

    Parameters
    ----------
    summary : xarray.Dataset
        The summary of :func:`retinacodec.pipelines.imagenet.layers.run.run_imagenet`.
    path : str or path-like
        Destination (written atomically).
    figures : dict of str to str
        Title -> file name (relative to the report's folder) of the figures across layers.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    if summary.attrs.get("kind") != "imagenet_summary":
        raise RetinaCodecError("expected the summary Dataset of run_imagenet (attr kind = imagenet_summary)")
    a = summary.attrs
    params = json.loads(a["params"])
    lines = [f"# CODEC ImageNet analysis: {a['model']}", ""]
    if a.get("warning"):
        lines += [f"> **WARNING — {a['warning']}.**", ""]
    lines += [
        f"- Model: `{a['model']}`, weights: {a['weights']}"
        + (f" (sha256 {a['weights_sha256'][:12]}…)" if a.get("weights_sha256") else ""),
        f"- Preprocessing: {a.get('preprocessing', '')} ({a.get('preprocessing_source', '')})",
        f"- Images: {a['images']}",
        f"- **Top-1 accuracy: {a['n_correct']}/{a['n_images']} = {100 * a['top1_accuracy']:.1f} %** (center views)",
    ]
    if a["n_augment"] > 0:
        low, high = (round(100 * f) for f in CROP_FRACTION)
        lines.append(
            f"- With only {a['n_images']} images, the SAE samples were augmented by random crops and flips: "
            f"{a['n_augment']} random view{'s' if a['n_augment'] > 1 else ''} per image "
            f"(square crops of {low}–{high} % of the shorter side at random places, resized to the model's input "
            f"size, flipped left-right with probability 1/2), so "
            f"{a['n_images']} × (1 + {a['n_augment']}) = {a['n_samples']} samples in all."
        )
    lines += [
        f"- Contributions: Integrated Gradients to the top logit along the `{params['path']}` path, "
        f"{params['n_steps']} {params['method']} nodes, positive and negative parts summed over space "
        "separately; activations likewise.",
        f"- SAE: at most {params['sae_epochs']} epochs, seed {params['seed']}"
        + (f", {params['sae_params']}" if params["sae_params"] else "")
        + ".",
        f"- Control: the top {100 * a['control_fraction']:g} % channels of the mode most correlated with each of "
        f"{len(a['control_classes'])} classes ({', '.join(map(str, a['control_classes']))}) ablated or preserved; "
        f"accuracy on the center views of {a['n_control_images']} images (all images of those classes and a pool "
        "of others).",
        "",
        f"## Network control (mean over {summary.sizes['layer']} layers and the control classes)",
        "",
        *control_table(summary),
        "",
    ]
    control, stats = _layer_rows(summary)
    lines += [
        "## Per layer: control (C = contribution modes, A = activation modes)",
        "",
        *control,
        "",
        "## Per layer: contributions vs activations",
        "",
        *stats,
        "",
        "Per-layer files are in `layers/<layer>/`: contributions (chunk parts), `modes_*.nc`, `control.nc`, "
        "`maps.nc` and their figures.",
        "",
        "## Figures",
        "",
    ]
    lines += [f"![{title}]({name})" for title, name in figures.items()]
    path = Path(path)
    with atomic_destination(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return path

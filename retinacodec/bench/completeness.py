"""Completeness of EfficientNet-Lite0's input-path contributions, per layer, for each quadrature
rule and node count.

``python -m retinacodec.bench completeness --folder DIR [--images 16] [--nodes 4,10,20,32,64]
[--methods gausslegendre,riemann_trapezoid,activation_trapezoid] [--runs RULE:N,...] [--threads 2]
[--batch-size 40]``

The shipped EfficientNet-Lite0 weights; the default layers of the control analysis
(:func:`~retinacodec.pipelines.imagenet.control.steps.spread_layers`, 8 blocks) and the
1280-channel head after ReLU6; contributions to the top logit along the input path from the zero
baseline, every layer in one pass, as the control analysis computes them; the center views of
``--images`` images of ``--folder`` (an ImageNet-style folder), drawn evenly over its sorted list
(so over its classes). Per rule and node count: per layer the median and the 90th percentile over
the images of the relative completeness error :math:`|\\sum_c C_c - (f(x) - f(x_0))| / |f(x) - f(x_0)|`,
and the wall seconds per image of the whole pass. A rule's rows name the fewest nodes whose median
is under ``--goal`` at every layer, and its cost. ``activation_trapezoid`` runs ``n + 1``
network evaluations for ``n`` nodes (steps); the others ``n``. ``--runs`` names the (rule, nodes)
pairs instead of the grid of ``--methods`` and ``--nodes``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from ._record import Record, add_record_option

MODEL = "efficientnet_lite0"
HEAD = "head"
"""The 1280-channel head after ReLU6 (:func:`retinacodec.models.zoo.efficientnet_chain`)."""
METHODS = ("gausslegendre", "riemann_trapezoid", "activation_trapezoid")


def _setup(folder: str, n_images: int):
    """The model, the layers (alias -> module name) and the model-ready center views."""
    from ..models.zoo import MODELS, load_classifier
    from ..pipelines.imagenet.common.images import Views, find_images
    from ..pipelines.imagenet.common.layers import layer_aliases
    from ..pipelines.imagenet.control.steps import spread_layers

    model = load_classifier(MODEL)
    aliases = layer_aliases(MODEL)
    layers = {alias: aliases[alias] for alias in spread_layers(MODEL, 8)} | {HEAD: HEAD}
    source = find_images(folder)
    chosen = np.unique(np.round(np.linspace(0, len(source.paths) - 1, n_images)).astype(int))
    views = Views(source, MODELS[MODEL].preprocessing, 0, 0)
    return model, layers, views.load(views.center(chosen))


def relative_errors(result) -> np.ndarray:
    """Per image, :math:`|e| / |f(x) - f(x_0)|` of one layer's contributions Dataset."""
    change = np.abs(result["target_value"].values - result["baseline_value"].values)
    return np.abs(result["completeness_error"].values) / change


def _measure(model, layers: dict[str, str], images, method: str, n: int, batch_size: int) -> dict:
    """One pass over every layer: seconds per image and, per layer alias, the median and 90th
    percentile of the relative completeness error."""
    from ..attribution.ig import contributions
    from ..attribution.options import AttributionOptions

    start = time.perf_counter()
    results = contributions(
        model,
        images,
        list(layers.values()),
        target="top",
        method=method,
        n_steps=n,
        batch_size=batch_size,
        options=AttributionOptions(path="input", progress=False),
    )
    seconds = (time.perf_counter() - start) / images.shape[0]
    per_layer = {}
    for alias, name in layers.items():
        relative = relative_errors(results[name])
        per_layer[alias] = {"median": float(np.median(relative)), "p90": float(np.quantile(relative, 0.9))}
    return {"seconds_per_image": seconds, "layers": per_layer}


REFERENCE = ("activation_trapezoid", 10)
"""The CODEC reference code's rule and step count, the reference column of every row."""


def _worst(measured: dict) -> float:
    """The largest per-layer median relative error of one run."""
    return max(v["median"] for v in measured["layers"].values())


def _rows(record: Record, table: dict, goal: float, n_images: int) -> None:
    """Per rule, the fewest of its node counts reaching the goal at every layer (else its most),
    with the worst layer's median and the cost, beside the reference rule's."""
    reference = table.get(REFERENCE[0], {}).get(REFERENCE[1])
    for method, by_nodes in table.items():
        reached = [n for n, m in by_nodes.items() if _worst(m) < goal]
        n = min(reached) if reached else max(by_nodes)
        measured = by_nodes[n]
        verdict = "reaches it" if reached else "does not reach it"
        record.row(
            f"EfficientNet-Lite0 input-path contributions, 8 control layers and the head, {n_images} images: "
            f"{method} at {', '.join(map(str, by_nodes))} nodes, median relative completeness error under "
            f"{100 * goal:g} % at every layer",
            f"{n} nodes {verdict}: worst layer median {100 * _worst(measured):.1f} %, "
            f"{measured['seconds_per_image']:.2f} s/image",
            f"{REFERENCE[0]}, {REFERENCE[1]} steps (the reference's): {100 * _worst(reference):.1f} %, "
            f"{reference['seconds_per_image']:.2f} s/image"
            if reference
            else "",
            f"{measured['seconds_per_image'] / reference['seconds_per_image']:.1f}x its time" if reference else "",
        )


def _print(method: str, n: int, measured: dict) -> None:
    cells = "  ".join(f"{100 * v['median']:5.1f}/{100 * v['p90']:5.1f}" for v in measured["layers"].values())
    print(f"   {method:<21} {n:>3}  {measured['seconds_per_image']:7.2f}  {cells}", flush=True)


def main(argv: list[str]) -> int:
    """Run the benchmark and print its table."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench.contributions
    import torch

    parser = argparse.ArgumentParser(
        prog="python -m retinacodec.bench completeness", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--folder", required=True, help="ImageNet-style image folder (e.g. imagenette/fit)")
    parser.add_argument("--images", type=int, default=16, help="images, drawn evenly over the folder (default 16)")
    parser.add_argument("--nodes", default="4,10,20,32,64", help="comma-separated node counts")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated quadrature rules")
    parser.add_argument("--runs", help="comma-separated RULE:N pairs instead of the --methods x --nodes grid")
    parser.add_argument("--goal", type=float, default=0.05, help="median relative error aimed at (default 0.05)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--batch-size", type=int, default=40, help="network evaluations per batch (default 40)")
    add_record_option(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs = (
        [(rule, int(n)) for rule, n in (pair.split(":") for pair in args.runs.split(","))]
        if args.runs
        else [(rule, int(n)) for rule in args.methods.split(",") for n in args.nodes.split(",")]
    )
    model, layers, images = _setup(args.folder, args.images)
    print(
        f"relative completeness error, median/90th percentile (%) over {images.shape[0]} images, per layer; "
        f"seconds per image for all {len(layers)} layers in one input-path pass ({args.threads} threads)"
    )
    print(f"   {'rule':<21} {'n':>3}  {'s/image':>7}  " + "  ".join(f"{alias:>11}" for alias in layers))
    record = Record("completeness", list(argv))
    table: dict[str, dict[int, dict]] = {}
    for method, n in runs:
        measured = _measure(model, layers, images, method, n, args.batch_size)
        _print(method, n, measured)
        table.setdefault(method, {})[n] = measured
    record.figures = {
        "model": MODEL,
        "layers": layers,
        "n_images": int(images.shape[0]),
        "goal": args.goal,
        "table": {method: {str(n): m for n, m in by_nodes.items()} for method, by_nodes in table.items()},
    }
    _rows(record, table, args.goal, int(images.shape[0]))
    record.write(args.record)
    return 0

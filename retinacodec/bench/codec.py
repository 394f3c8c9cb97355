"""Cost of the EfficientNet-Lite0 replication (the ``codec`` protocol and today's), step by step,
and what fits a time budget.

``python -m retinacodec.bench codec --images DIR --fit-images DIR [--threads 2] [--budget-min 90] [--layers A,B]
[--record FILE.json]``; ``--figures FILE.json`` (a record) estimates again from its figures without measuring.

Measures, on ``--threads`` CPU threads with the shipped Lite0 weights, at each candidate layer
(:func:`candidate_layers`: block outputs spread over the depth, ``block14_depthwise`` and the
head): the seconds per distinct (mask, image) pair of the reference control curves (downstream
passes on a sample of the held-out images, random rankings) and, for comparison, per pair as the
control steps scored them before (every pair, batches of 32 on ``--threads`` torch threads); the
distinct pairs of the full ``codec`` run (its trial draws over the held-out labels, rankings shared
by a class); the seconds per SAE epoch on 2,000 samples of the layer's width at the ``codec``
settings (C features, 3 C atoms) and today's (2 C features, 6 C atoms); and, once, the seconds
per fit image of the contributions at every candidate layer in one pass (10 steps, each
protocol's rule) and of a forward pass. The estimate multiplies them by the sizes of the full run
(:func:`estimate`). A fixed reference workload (:func:`reference_workload`) is timed before, after
each layer and at the end: how much slower than on a quiet machine it ran (:func:`slowdowns`)
divides each step's figure by the slowdown of its kind of work, for the quiet estimate.
"""

from __future__ import annotations

import argparse
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ._record import Record, add_record_option, speed_ratio

MODEL = "efficientnet_lite0"
N_BLOCK_LAYERS = 7
"""Block outputs among the candidates, spread over the depth (first and last included)."""
EXTRA_LAYERS = ("block14_depthwise", "head")
"""Post-ReLU6 candidates: the late depthwise output and the 1280-channel head."""
N_FIT = 2000
N_HELD_OUT = 500
SAMPLE_IMAGES = 16
"""Held-out images loaded to time the control passes."""
TODAY = {"classes": 10}
"""Classes of the held-out images (imagenette): today's control conditions are per class."""
DEFAULT_SIZES = {"fit_images": N_FIT, "codec_sae_epochs": 300, "today_sae_epochs": 200, "today_stability_fits": 2}
"""The full run's sizes: fit images, the ``codec`` SAE's epochs (the reference's), today's SAE
epochs as the CLI sets them (an upper bound: early stopping may end a fit sooner) and its extra
stability fits per variable."""
MARGIN = 0.85
"""Share of the budget a proposal may fill (the per-step figures vary by tens of percent between runs)."""
MEASURED = (
    "reference",
    "forward_s",
    "contribution_s_activation_trapezoid",
    "contribution_s_gausslegendre",
    "layers",
)
"""The figures :func:`measure` returns (what ``--figures`` reads back)."""
QUIET_FORWARD_S = 0.015
"""Seconds per image of the reference workload on 2 threads of a quiet machine at most (13-17 ms,
:func:`retinacodec.models.zoo.fast_inference`)."""


def candidate_layers() -> list[str]:
    """The 9 candidate layers of the Lite0 replication, in network order."""
    from ..pipelines.imagenet.control.steps import spread_layers

    return [*spread_layers(MODEL, N_BLOCK_LAYERS), *EXTRA_LAYERS]


def reference_workload(module, images) -> dict:
    """Seconds per image of a fixed workload, EfficientNet-Lite0 forward passes in batches of 8:
    ``two_threads`` on 2 torch threads, ``workers`` on 2 worker threads of one torch thread each (as
    the control passes run), ``one_thread`` on one (and its CPU seconds, ``one_thread_cpu``)."""
    import torch

    from ..device import torch_threads

    batches = list(torch.split(images, 8))
    run = functools.partial(forward_s, module)
    figures = {}
    with torch_threads(2):
        run(images[:8])  # warm-up
        figures["two_threads"] = run(images)
    with torch_threads(1), ThreadPoolExecutor(2) as pool:
        start = time.perf_counter()
        list(pool.map(run, batches))
        figures["workers"] = (time.perf_counter() - start) / images.shape[0]
        cpu = time.thread_time()
        figures["one_thread"] = run(images)
        figures["one_thread_cpu"] = (time.thread_time() - cpu) / images.shape[0]
    return figures


def _sample_trials(labels: np.ndarray, n_channels: int, seed: int):
    """Rankings (selection, pct, trial, rank), all distinct, and trials over ``labels``' images."""
    import xarray as xr

    rng = np.random.default_rng(seed)
    pcts = [10, 50, 99]
    chosen = rng.integers(0, labels.size, size=(len(pcts), 2, 2, 4))
    trials = xr.Dataset(
        {
            "trial_image": (("pct", "trial", "role", "slot"), chosen),
            "trial_class": (("pct", "trial", "role"), labels[chosen[..., 0]]),
        },
        coords={"pct": pcts},
    )
    order = np.array([[[rng.permutation(n_channels) for _ in range(2)] for _ in pcts] for _ in range(3)])
    return xr.DataArray(order, dims=("selection", "pct", "trial", "rank"), coords={"pct": pcts}), trials


def control_cost(adapted, images, labels: np.ndarray, layer: str, repeats: int = 2) -> dict:
    """Seconds per distinct (mask, image) pair now (the captures of the sample left out), per pair
    as scored before (every pair, batches of 32 on the process's torch threads), and per captured
    image; the best of ``repeats``, the two ways taken in turn."""
    import torch

    from ..control.curves.classifier import _masked_correct
    from ..control.curves.reference import reference_control_curves

    with torch.no_grad():
        capture = adapted.capture(images, layer)
    n_channels = int(capture.activation.shape[1])
    rankings, trials = _sample_trials(labels, n_channels, 0)
    n_pairs = int(np.prod(rankings.shape[:-1])) * 2 * 2 * trials.sizes["slot"]
    n_captured = np.unique(trials["trial_image"].values).size
    masks = torch.as_tensor((np.random.default_rng(1).random((128, n_channels)) > 0.5).astype(np.float32))
    pairs = np.stack([np.arange(128), np.arange(128) % images.shape[0]], axis=1)
    bar = type("Bar", (), {"update": lambda self, n: None})()
    target = torch.as_tensor(labels)
    seconds: dict[str, list[float]] = {"capture_s": [], "pair_s": [], "previous_pair_s": []}
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.no_grad():
            capture = adapted.capture(images, layer)
            _ = capture.context
        seconds["capture_s"].append((time.perf_counter() - start) / images.shape[0])
        start = time.perf_counter()
        reference_control_curves(adapted, images, labels, layer, rankings, trials, progress=False)
        scoring = time.perf_counter() - start - n_captured * seconds["capture_s"][-1]
        seconds["pair_s"].append(max(scoring, 0.0) / n_pairs)
        start = time.perf_counter()
        _masked_correct(adapted, layer, capture, target, (masks, None), pairs, 32, bar)
        seconds["previous_pair_s"].append((time.perf_counter() - start) / len(pairs))
    return {"channels": n_channels, **{key: min(values) for key, values in seconds.items()}}


def full_pairs(held_out_labels: np.ndarray, layers: list[str], layer: str, n_channels: int) -> dict:
    """Every and distinct (mask, image) pairs of the full ``codec`` run at ``layer``: the trials it
    draws, contribution and activation rankings one per class, random ones per trial."""
    from ..control.curves.reference import distinct_pairs, reference_count, reference_masks
    from ..pipelines.imagenet.control.codec import layer_trials
    from ..pipelines.imagenet.control.settings import ControlSettings

    settings = ControlSettings(protocol="codec")
    trials = layer_trials(held_out_labels, layers, layer, settings)
    targets = trials["trial_class"].sel(role="target").values
    rng = np.random.default_rng(layers.index(layer))
    by_class = [{c: rng.permutation(n_channels) for c in np.unique(held_out_labels)} for _ in range(2)]
    order = np.empty((3, *targets.shape, n_channels), dtype=np.int64)
    for index in np.ndindex(targets.shape):
        order[(0, *index)], order[(1, *index)] = by_class[0][targets[index]], by_class[1][targets[index]]
        order[(2, *index)] = rng.permutation(n_channels)
    pcts = trials["pct"].values
    masks = reference_masks(order, [reference_count(n_channels, p) for p in pcts])
    chosen = trials["trial_image"].transpose("pct", "trial", "role", "slot").values
    _, pairs, pair_of = distinct_pairs(masks, chosen)
    return {"pairs": int(pair_of.size), "distinct_pairs": int(len(pairs)), "images": int(np.unique(chosen).size)}


def sae_epoch_s(n_features: int, codec: bool) -> float:
    """Seconds per SAE epoch on 2,000 half-normal samples of ``n_features`` features (3 x features
    atoms), at the ``codec`` settings or today's defaults: two fits (1 and 3 epochs), the difference
    over 2 (the setup left out)."""
    from ..modes.sae import SAE
    from ..pipelines.imagenet.control.codec import SAE_BATCH_SIZE, SAE_PARAMS

    x = np.abs(np.random.default_rng(0).standard_normal((N_FIT, n_features))).astype(np.float32)
    params = {**SAE_PARAMS, "threshold": 0.8} if codec else {"early_stopping": False}
    seconds = []
    for epochs in (1, 3):
        sae = SAE(epochs=epochs, batch_size=SAE_BATCH_SIZE, progress=False, device="cpu", **params)
        start = time.perf_counter()
        sae.fit(x)
        seconds.append(time.perf_counter() - start)
    return max(seconds[1] - seconds[0], 0.0) / 2


def contribution_s(adapted, images, layers: list[str], method: str) -> float:
    """Seconds per image of the input-path contributions to the top logit at every layer in one
    pass, 10 steps of ``method``, split by sign (as the control analysis computes them)."""
    from ..attribution.ig import contributions
    from ..attribution.options import AttributionOptions

    options = AttributionOptions(path="input", split="sign", progress=False)
    start = time.perf_counter()
    contributions(adapted, images, layers, "top", n_steps=10, method=method, batch_size=40, options=options)
    return (time.perf_counter() - start) / images.shape[0]


def forward_s(module, images) -> float:
    """Seconds per image of a forward pass (batches of 8)."""
    import torch

    start = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, images.shape[0], 8):
            module(images[first : first + 8])
    return (time.perf_counter() - start) / images.shape[0]


def _setup(held_out: str, fit: str, n_sample: int):
    """The adapted Lite0, its module, ``n_sample`` held-out center views (spread over the sorted
    list) with their labels, two fit-image views, and every held-out label."""
    from ..models.adapter import adapt
    from ..models.zoo import MODELS, load_classifier
    from ..pipelines.imagenet.common.images import Views, find_images
    from ..pipelines.imagenet.common.layers import layer_aliases

    module = load_classifier(MODEL)
    adapted = adapt(module, layers=layer_aliases(MODEL, module))
    source, fit_source = find_images(held_out), find_images(fit)
    labels = np.asarray(source.labels)
    chosen = np.unique(np.round(np.linspace(0, labels.size - 1, n_sample)).astype(int))
    views = Views(source, MODELS[MODEL].preprocessing, 0, 0)
    fit_views = Views(fit_source, MODELS[MODEL].preprocessing, 0, 0)
    return (
        adapted,
        module,
        views.load(views.center(chosen)),
        labels[chosen],
        fit_views.load(fit_views.center([0, 1])),
        labels,
    )


def measure(held_out: str, fit: str, layers: list[str]) -> dict:
    """Every per-step cost (see the module docstring), per layer and once, with the reference
    workload timed before, after each layer and at the end (``reference``, a list)."""
    adapted, module, sample, sample_labels, fit_images, labels = _setup(held_out, fit, SAMPLE_IMAGES)
    figures: dict = {"reference": [reference_workload(module, sample)], "layers": {}}
    figures["forward_s"] = forward_s(module, sample)
    for method in ("activation_trapezoid", "gausslegendre"):
        figures[f"contribution_s_{method}"] = contribution_s(adapted, fit_images, layers, method)
    for layer in layers:
        cost = control_cost(adapted, sample, sample_labels, layer)
        cost.update(full_pairs(labels, layers, layer, cost["channels"]))
        cost["sae_epoch_s_codec"] = sae_epoch_s(cost["channels"], codec=True)
        cost["sae_epoch_s_today"] = sae_epoch_s(2 * cost["channels"], codec=False)
        figures["layers"][layer] = cost
        figures["reference"].append(reference_workload(module, sample))
        print(f"  {layer}: " + ", ".join(f"{k} {v:.4g}" for k, v in cost.items()), flush=True)
    return figures


def slowdowns(figures: dict) -> dict[str, float]:
    """How many times slower than on a quiet machine each kind of work ran (at least 1): the
    reference workload's mean over its timings against its fastest timing (for 2 torch threads at
    most :data:`QUIET_FORWARD_S`), for 2 torch threads and for 2 one-thread workers; for one thread,
    its wall over its CPU seconds."""
    runs = figures["reference"]
    mean = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
    fastest = {key: float(np.min([r[key] for r in runs])) for key in runs[0]}
    return {
        "two_threads": max(1.0, mean["two_threads"] / min(fastest["two_threads"], QUIET_FORWARD_S)),
        "workers": max(1.0, mean["workers"] / fastest["workers"]),
        "one_thread": max(1.0, mean["one_thread"] / mean["one_thread_cpu"]),
    }


def estimate(figures: dict, layers: list[str], sizes: dict, slow: dict[str, float] | None = None) -> dict:
    """Seconds of each protocol's run at ``sizes`` (``fit_images``, ``codec_sae_epochs``,
    ``today_sae_epochs``, ``today_stability_fits``) over ``layers``: ``total``, ``once``
    (predictions and contributions) and per layer ``sae`` and ``control``; divided by the
    slowdowns ``slow`` of each kind of work when given (a quiet machine)."""
    from ..modes.sae import SMALL_WORK
    from ..pipelines.imagenet.control.codec import SAE_BATCH_SIZE
    from ..pipelines.imagenet.control.settings import ControlSettings

    slow = slow or {"two_threads": 1.0, "workers": 1.0, "one_thread": 1.0}
    today = ControlSettings()
    per_class = 2 * len(today.fractions) * 2 * (today.n_target_images + today.n_off_target_images)
    today_pairs = TODAY["classes"] * per_class + today.n_random_draws * len(today.fractions) * 2 * today.n_random_images
    samples = sizes["fit_images"] / N_FIT
    two, workers, one = slow["two_threads"], slow["workers"], slow["one_thread"]
    result = {}
    for protocol, rule in (("codec", "activation_trapezoid"), ("today", "gausslegendre")):
        once = (N_HELD_OUT * figures["forward_s"] + sizes["fit_images"] * figures[f"contribution_s_{rule}"]) / two
        per_layer = {}
        for layer in layers:
            f = figures["layers"][layer]
            captures = f["images"] * f["capture_s"] / two
            if protocol == "codec":
                sae = 2 * sizes["codec_sae_epochs"] * f["sae_epoch_s_codec"] * samples / one
                control = f["distinct_pairs"] * f["pair_s"] / workers + captures
            else:
                width = 2 * f["channels"]
                kind = one if SAE_BATCH_SIZE * width * 4 * width < SMALL_WORK else two
                fits = 2 * (1 + sizes["today_stability_fits"]) * sizes["today_sae_epochs"]
                sae = fits * f["sae_epoch_s_today"] * samples / kind
                control = today_pairs * f["previous_pair_s"] / two + captures
            per_layer[layer] = {"sae": sae, "control": control}
        total = once + sum(v["sae"] + v["control"] for v in per_layer.values())
        result[protocol] = {"total": total, "once": once, "per_layer": per_layer}
    return result


def propose(figures: dict, layers: list[str], budget_s: float, slow: dict[str, float]) -> dict:
    """Layers and sizes whose quiet estimate of both protocols fits ``MARGIN * budget_s``: today's
    stability fits left out, then its SAE epochs halved, then layers dropped (the most costly first;
    never the first or the last block output nor the head, and at least 6 layers kept), then today's
    SAE epochs halved again and the fit images halved, until it fits (``fits`` False if it never does)."""
    sizes = dict(DEFAULT_SIZES)
    kept = list(layers)
    budget_s = MARGIN * budget_s
    blocks = [layer for layer in layers if "_" not in layer and layer != "head"]
    droppable = set(layers) - {blocks[0], blocks[-1], "head"}

    def total(trial: dict) -> float:
        quiet = estimate(figures, kept, trial, slow)
        return quiet["codec"]["total"] + quiet["today"]["total"]

    for name, value in (("today_stability_fits", 0), ("today_sae_epochs", 100)):
        if total(sizes) > budget_s:
            sizes[name] = value
    while total(sizes) > budget_s and len(kept) > 6 and droppable & set(kept):
        quiet = estimate(figures, kept, sizes, slow)
        cost = {
            layer: sum(quiet[p]["per_layer"][layer][k] for p in quiet for k in ("sae", "control"))
            for layer in droppable & set(kept)
        }
        kept.remove(max(cost, key=lambda layer: cost[layer]))
    for name, value in (("today_sae_epochs", 50), ("fit_images", 1000)):
        if total(sizes) > budget_s:
            sizes[name] = value
    return {"layers": kept, "sizes": sizes, "quiet_s": total(sizes), "fits": total(sizes) <= budget_s}


def _report(record: Record, figures: dict, layers: list[str], budget_s: float) -> None:
    """Print the estimate and the proposal, and add them to ``record`` (figures and rows)."""
    slow = slowdowns(figures)
    loaded = estimate(figures, layers, DEFAULT_SIZES)
    quiet = estimate(figures, layers, DEFAULT_SIZES, slow)
    plan = propose(figures, layers, budget_s, slow)
    before = {
        layer: f["pairs"] * f["previous_pair_s"] + f["images"] * f["capture_s"]
        for layer, f in figures["layers"].items()
    }
    record.figures.update(slowdowns=slow, estimate_loaded=loaded, estimate_quiet=quiet, proposal=plan)
    print("slowdown against a quiet machine: " + ", ".join(f"{k} {v:.1f}x" for k, v in slow.items()))
    for layer in layers:
        now = loaded["codec"]["per_layer"][layer]["control"]
        print(f"  codec control of {layer}: {before[layer]:.0f} s before, {now:.0f} s now (as measured)")
    for protocol in ("codec", "today"):
        print(
            f"{protocol}, {len(layers)} layers, full sizes: {loaded[protocol]['total'] / 60:.0f} min measured, "
            f"{quiet[protocol]['total'] / 60:.0f} min quiet"
        )
    print(f"proposal ({plan['quiet_s'] / 60:.0f} min quiet, fits {plan['fits']}): {plan['layers']} {plan['sizes']}")
    now_s = sum(loaded["codec"]["per_layer"][layer]["control"] for layer in layers)
    record.row(
        f"codec control curves of Lite0, {len(layers)} layers, 21,600 (mask, image) pairs each: distinct pairs "
        "once, one-thread workers, against every pair on 2 threads (as measured; the load is in the record)",
        f"{now_s / 60:.1f} min",
        f"{sum(before.values()) / 60:.1f} min",
        speed_ratio(sum(before.values()), now_s),
    )
    record.row(
        f"Lite0 replication, both protocols, {len(layers)} candidate layers, {N_FIT} fit and {N_HELD_OUT} held-out "
        "images, codec SAE 300 epochs, today's 200 x 3 fits (upper bound)",
        f"{(quiet['codec']['total'] + quiet['today']['total']) / 60:.0f} min quiet (estimate)",
        f"{(loaded['codec']['total'] + loaded['today']['total']) / 60:.0f} min as measured",
        "—",
    )
    record.row(
        f"Lite0 replication proposed for {budget_s / 60:.0f} min: {', '.join(plan['layers'])}; "
        + ", ".join(f"{k} {v}" for k, v in plan["sizes"].items()),
        f"{plan['quiet_s'] / 60:.0f} min quiet (estimate)",
        f"budget {budget_s / 60:.0f} min",
        "fits" if plan["fits"] else "does not fit",
    )


def main(argv: list[str]) -> int:
    """Measure (or read ``--figures``), print the estimate and the proposal; returns 0."""
    import json

    import torch

    parser = argparse.ArgumentParser(prog="python -m retinacodec.bench codec", description=__doc__.splitlines()[0])
    parser.add_argument("--images", help="held-out images (ImageNet folder layout)")
    parser.add_argument("--fit-images", help="fit images (ImageNet folder layout)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--budget-min", type=float, default=90.0, help="the replication's budget in minutes")
    parser.add_argument("--layers", default=None, help="comma-separated layers (default: the 9 candidates)")
    parser.add_argument("--figures", metavar="FILE.json", help="a record of this benchmark: estimate from its figures")
    add_record_option(parser)
    args = parser.parse_args(argv)
    if args.figures is None and (args.images is None or args.fit_images is None):
        parser.error("--images and --fit-images are needed unless --figures names a record")
    torch.set_num_threads(args.threads)
    record = Record("codec", list(argv))
    if args.figures:  # the record keeps the measuring run's command, date and load
        source = json.loads(Path(args.figures).read_text())
        figures = {k: source["figures"][k] for k in MEASURED}
        kept = ("command", "date", "seconds", "load_average_before", "load_average_after")
        record.measured = {k: source[k] for k in kept}
        layers = args.layers.split(",") if args.layers else list(figures["layers"])
    else:
        layers = args.layers.split(",") if args.layers else candidate_layers()
        figures = measure(args.images, args.fit_images, layers)
    record.figures.update(figures)
    _report(record, figures, layers, 60 * args.budget_min)
    record.write(args.record)
    return 0

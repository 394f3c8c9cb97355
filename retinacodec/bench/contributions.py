"""Contributions engine against Captum: speed, quadrature convergence and memory per image.

``python -m retinacodec.bench contributions [--threads 2] [--size 224] [--steps 10] [--repeats 3]
[--max-steps 32] [--sections speed,convergence,memory,layers,timm]``

1. Speed on a random ResNet-50 (weights=None, random batch-norm statistics), 2 images: our layer
   path at ``layer4`` against Captum's LayerIntegratedGradients, and our input path (conductance)
   at ``layer4`` and ``layer3`` against Captum's LayerConductance, same steps, same process,
   interleaved repeats (best wall time of each); the agreement of the results is printed too.
2. Steps each quadrature rule needs for 1% and 0.1% relative completeness error
   (sum over samples of |error| / sum of |f(x) - f(baseline)|), doubling from 1 up to
   ``--max-steps``, on the retina CNN (the shipped default if there is one, else a random one), on
   the ResNet-50 and on the same ResNet-50 with Softplus for ReLU, next to the error of Captum's
   default (Gauss-Legendre, 50 steps), and the time of each at equal completeness error. The input
   path is measured at layers with a nonlinear network above them (``bipolar``, ``layer3``): above
   ``layer4`` (pool and a linear map) every rule is complete with a single node.
3. Peak memory per image (Linux): each job runs in a fresh process; after building the model and
   one plain forward pass the peak resident set size is reset (``/proc/self/clear_refs``); the
   figure is the job's peak (``VmHWM``) above the resident size before it, per image.
4. (``layers``) All 16 block layers of the pretrained EfficientNet-Lite0 in one input-path pass
   against single-layer input-path runs at block1, block8 and block16 (the ratio of wall times),
   and the largest difference between the two results.
5. (``timm``) A model the adapter does not know: timm's ResNet-50 (random weights and batch-norm
   statistics), whose layer path runs the ``torch.fx`` graph after ``layer4.0``, against
   torchvision's ResNet-50 (a known chain) at the same layer, 2 images, same steps, same process,
   interleaved repeats (best wall time of each); also timm's full rerun at every step (the fallback
   for an untraceable model), and the largest difference between the split's and the rerun's results.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from collections.abc import Callable

import numpy as np

from ._record import Record, add_record_option, speed_ratio

TOLERANCES = (1e-2, 1e-3)
CAPTUM_DEFAULT_STEPS = 50


def _resnet50(seed: int = 0, smooth: bool = False):
    """A random ResNet-50 whose batch norms have random statistics and affine terms (a fresh one is
    positively homogeneous, which makes IG from a zero baseline exact with any rule); ``smooth``
    swaps its ReLUs for Softplus (no kinks along the path)."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.resnet50(weights=None)
    generator = torch.Generator().manual_seed(seed + 1)
    for module in model.modules():
        _randomize_batch_norm(module, generator)
        if smooth and hasattr(module, "relu"):
            module.relu = torch.nn.Softplus()
    return model.eval()


def _randomize_batch_norm(module, generator) -> None:
    """Random running statistics and affine terms for ``module`` if it is a BatchNorm2d."""
    import torch

    if isinstance(module, torch.nn.BatchNorm2d):
        assert module.running_mean is not None and module.running_var is not None  # ResNet tracks statistics
        module.running_mean.normal_(0, 0.3, generator=generator)
        module.running_var.uniform_(0.5, 2.0, generator=generator)
        module.weight.data.normal_(1.0, 0.2, generator=generator)
        module.bias.data.normal_(0.0, 0.3, generator=generator)


def _images(size: int, n: int = 2, seed: int = 2):
    import torch

    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _jobs(model, images, steps: int) -> dict[str, Callable]:
    """The timed computations: ours and Captum's, the layer path at ``layer4`` and the input path
    at ``layer4`` and ``layer3``."""
    import torch
    from captum.attr import LayerConductance, LayerIntegratedGradients

    from ..attribution.ig import contributions
    from ..attribution.options import AttributionOptions
    from ..targets import TopLogit

    with torch.no_grad():
        classes = model(images).argmax(1)
    zeros = torch.zeros_like(images)

    def ours(layer: str, path: str) -> Callable:
        return lambda: (
            contributions(
                model, images, layer, TopLogit(), n_steps=steps, options=AttributionOptions(path=path, progress=False)
            ).contribution.values
        )

    def captum(method, layer: str) -> Callable:
        return lambda: (
            method(model, getattr(model, layer))
            .attribute(images, baselines=zeros, target=classes, n_steps=steps)
            .sum((2, 3))
            .detach()
            .numpy()
        )

    return {
        "ours layer path": ours("layer4", "layer"),
        "Captum LayerIntegratedGradients": captum(LayerIntegratedGradients, "layer4"),
        "ours input path": ours("layer4", "input"),
        "Captum LayerConductance": captum(LayerConductance, "layer4"),
        "ours input path layer3": ours("layer3", "input"),
        "Captum LayerConductance layer3": captum(LayerConductance, "layer3"),
    }


def _speed(args, record: Record) -> None:
    model, images = _resnet50(), _images(args.size)
    jobs = _jobs(model, images, args.steps)
    results = {name: job() for name, job in jobs.items()}  # warm-up, and the results to compare
    best = {name: np.inf for name in jobs}
    for _ in range(args.repeats):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            best[name] = min(best[name], time.perf_counter() - start)
    print(
        f"\n1. speed: ResNet-50 (random), {images.shape[0]} images of {args.size} px, layer4 (and layer3), "
        f"{args.steps} steps, {args.threads} threads, best of {args.repeats} (wall s)"
    )
    for ours, captum in (
        ("ours layer path", "Captum LayerIntegratedGradients"),
        ("ours input path", "Captum LayerConductance"),
        ("ours input path layer3", "Captum LayerConductance layer3"),
    ):
        gap = np.linalg.norm(results[ours] - results[captum]) / np.linalg.norm(results[captum])
        print(
            f"   {ours:<24} {best[ours]:7.2f}   {captum:<32} {best[captum]:7.2f}   "
            f"speed-up {best[captum] / best[ours]:5.1f}x   relative difference {gap:.1e}",
            flush=True,
        )
        record.figures[f"speed: {ours}"] = {"ours_s": best[ours], "captum_s": best[captum], "difference": float(gap)}
        record.row(
            f"{ours.removeprefix('ours ')} at ResNet-50 `{ours.split()[-1] if 'layer3' in ours else 'layer4'}`, "
            f"{images.shape[0]} images of {args.size} px, {args.steps} steps",
            f"{best[ours]:.2f} s",
            f"{captum.removesuffix(' layer3')} {best[captum]:.2f} s",
            speed_ratio(best[captum], best[ours]),
        )


def _relative_completeness(ds) -> float:
    return float(np.abs(ds.completeness_error).sum() / np.abs(ds.target_value - ds.baseline_value).sum())


def _first_steps(
    error_at: Callable[[int], float], minimum: int, maximum: int, thresholds: list[float]
) -> dict[float, tuple[int, float]]:
    """For each threshold, the first step count (doubling from ``minimum``) whose error is below it,
    with the wall time of that run; thresholds not reached by ``maximum`` are left out."""
    found: dict[float, tuple[int, float]] = {}
    n = minimum
    while n <= maximum and len(found) < len(thresholds):
        start = time.perf_counter()
        error = error_at(n)
        seconds = time.perf_counter() - start
        for threshold in thresholds:
            if error <= threshold and threshold not in found:
                found[threshold] = (n, seconds)
        n *= 2
    return found


def _retina_case():
    """The retina CNN (shipped default, else random) and white noise for 20 windows."""
    import torch

    from ..errors import RetinaCodecError
    from ..models.registry import load
    from ..models.retina_cnn import RetinaCNN
    from ..stimuli.base import make_stimulus

    try:
        model, label = load("default"), "default (trained)"
    except RetinaCodecError:
        torch.manual_seed(0)
        model, label = RetinaCNN(4).eval(), "random init (no trained default shipped)"
    frames = np.random.default_rng(0).uniform(-1, 1, (model.history + 19, model.size, model.size))
    stimulus = make_stimulus(frames.astype(np.float32), frame_rate_hz=model.frame_rate_hz, kind="white_noise")
    return model, stimulus, label


def _convergence(args, record: Record) -> None:
    from ..attribution.ig import contributions
    from ..attribution.options import AttributionOptions
    from ..attribution.quadrature import METHODS
    from ..targets import Cell, TopLogit

    retina, stimulus, retina_label = _retina_case()
    resnet, images = _resnet50(), _images(args.size)
    cases = {  # column: (model, x, layer, target, path, baseline)
        "retina layer bipolar": (retina, stimulus, "bipolar", Cell(0), "layer", "mean"),
        "retina input bipolar": (retina, stimulus, "bipolar", Cell(0), "input", "mean"),
        "resnet50 layer layer3": (resnet, images, "layer3", TopLogit(), "layer", "zero"),
        "resnet50 input layer3": (resnet, images, "layer3", TopLogit(), "input", "zero"),
        "softplus-resnet50 input": (_resnet50(smooth=True), images, "layer3", TopLogit(), "input", "zero"),
    }
    print(
        f"\n2. steps for relative completeness error 1% / 0.1% (doubling up to {args.max_steps}); "
        f"retina CNN: {retina_label}, {stimulus.sizes['time'] - retina.history + 1} windows; "
        f"ResNet-50: {images.shape[0]} images of {args.size} px"
    )
    captum = {}
    for name, case in cases.items():
        start = time.perf_counter()
        captum[name] = (_captum_completeness(*case), time.perf_counter() - start)
    print(f"   {'rule':<28}" + "".join(f"{name:>24}" for name in cases), flush=True)
    matched: dict[str, list[tuple[float, str, int]]] = {name: [] for name in cases}
    for method in METHODS:
        cells = []
        for name, (model, x, layer, target, path, baseline) in cases.items():

            def error_at(n, model=model, x=x, layer=layer, target=target, path=path, baseline=baseline, method=method):
                quiet = AttributionOptions(path=path, progress=False)
                return _relative_completeness(
                    contributions(model, x, layer, target, baseline=baseline, n_steps=n, method=method, options=quiet)
                )

            found = _first_steps(
                error_at, 2 if method == "riemann_trapezoid" else 1, args.max_steps, [*TOLERANCES, captum[name][0]]
            )
            cells.append(" / ".join(str(found[t][0]) if t in found else f">{args.max_steps}" for t in TOLERANCES))
            if captum[name][0] in found:
                n, seconds = found[captum[name][0]]
                matched[name].append((seconds, method, n))
        print(f"   {'ours ' + method:<28}" + "".join(f"{cell:>24}" for cell in cells), flush=True)
    print(f"   {'Captum default: error':<28}" + "".join(f"{error:>24.1e}" for error, _ in captum.values()))
    print(
        "   at equal completeness error (Captum's default against our fastest rule reaching its error; "
        "for the layer path Captum computes our sum, so equal steps give equal error):"
    )
    for name, (error, seconds) in captum.items():
        model, x, layer, target, path, baseline = cases[name]
        ours, rule = None, None
        if path == "layer":
            start = time.perf_counter()
            quiet = AttributionOptions(progress=False)
            contributions(model, x, layer, target, baseline=baseline, n_steps=CAPTUM_DEFAULT_STEPS, options=quiet)
            ours, rule = time.perf_counter() - start, f"gausslegendre, {CAPTUM_DEFAULT_STEPS} steps"
        elif matched[name]:
            ours, method, n = min(matched[name])
            rule = f"{method}, {n} steps"
        verdict = (
            f"ours {rule} {ours:.2f} s: speed-up {seconds / ours:.1f}x"
            if ours is not None
            else f"no rule of ours reaches it within {args.max_steps} steps"
        )
        print(f"     {name:<24} Captum {CAPTUM_DEFAULT_STEPS} steps {seconds:.2f} s; {verdict}")
        record.figures[f"equal error: {name}"] = {
            "captum_error": error,
            "captum_s": seconds,
            "ours_s": ours,
            "rule": rule,
        }
        record.row(
            f"{name} to Captum's default completeness error ({error:.1e}, Gauss-Legendre {CAPTUM_DEFAULT_STEPS} steps)",
            f"{ours:.2f} s ({rule})" if rule else f"not reached within {args.max_steps} steps",
            f"Captum {seconds:.2f} s",
            speed_ratio(seconds, ours) if ours is not None else "",
        )


def _captum_completeness(model, x, layer, target, path, baseline) -> float:
    """Relative completeness error of Captum's default (Gauss-Legendre, 50 steps) on one case:
    LayerIntegratedGradients for the layer path, LayerConductance for the input path."""
    import torch
    from captum.attr import LayerConductance, LayerIntegratedGradients

    from ..attribution.inputs import prepare_inputs
    from ..models.adapter import adapt
    from ..targets import TopLogit

    module = dict(model.named_modules())[adapt(model).resolve(layer)]
    prepared = prepare_inputs(model, x, baseline, torch.float32, torch.device("cpu"))
    inputs = prepared.values.contiguous()
    start = prepared.baseline.expand_as(inputs)
    with torch.no_grad():
        output, reference = model(inputs), model(start)
    if isinstance(target, TopLogit):
        classes = output.argmax(1)
    else:
        classes = torch.full((len(inputs),), target.i if hasattr(target, "i") else target.k)
    method = LayerIntegratedGradients if path == "layer" else LayerConductance
    attribution = (
        method(model, module).attribute(inputs, baselines=start, target=classes, n_steps=CAPTUM_DEFAULT_STEPS).detach()
    )
    change = (output.gather(1, classes[:, None]) - reference.gather(1, classes[:, None])).squeeze(1)
    error = (attribution.flatten(1).sum(1) - change).abs().sum()
    return float(error / change.abs().sum())


def _memory_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status (Linux), in KiB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def _memory_job(job_name: str, size: int, steps: int, threads: int, queue) -> None:
    import torch

    torch.set_num_threads(threads)
    model, images = _resnet50(), _images(size)
    jobs = _jobs(model, images, steps)
    with torch.no_grad():
        model(images)
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the peak (VmHWM) to the current resident set size
    before = _memory_kib("VmRSS")
    jobs[job_name]()
    queue.put((_memory_kib("VmHWM") - before) / 1024 / images.shape[0])


def _memory(args, record: Record) -> None:
    context = multiprocessing.get_context("spawn")
    print(
        f"\n3. peak memory per image (MiB above the resident size before the job; fresh process per job), "
        f"ResNet-50, {args.size} px, layer4, {args.steps} steps"
    )
    peaks = {}
    for name in (
        "ours layer path",
        "Captum LayerIntegratedGradients",
        "ours input path",
        "Captum LayerConductance",
        "ours input path layer3",
        "Captum LayerConductance layer3",
    ):
        queue = context.Queue()
        process = context.Process(target=_memory_job, args=(name, args.size, args.steps, args.threads, queue))
        process.start()
        process.join()
        peaks[name] = queue.get()
        print(f"   {name:<32} {peaks[name]:8.0f} MiB/image", flush=True)
    record.figures["peak memory MiB per image"] = peaks
    for ours, captum in (
        ("ours layer path", "Captum LayerIntegratedGradients"),
        ("ours input path", "Captum LayerConductance"),
        ("ours input path layer3", "Captum LayerConductance layer3"),
    ):
        record.row(
            f"peak memory per image, {ours.removeprefix('ours ')}"
            f"{'' if 'layer3' in ours else ' layer4'}, {args.size} px, {args.steps} steps",
            f"{peaks[ours]:.0f} MiB",
            f"{captum.removesuffix(' layer3')} {peaks[captum]:.0f} MiB",
            f"{peaks[captum] / peaks[ours]:.1f}x less",
        )


def _layers(args, record: Record) -> None:
    """All 16 block layers of EfficientNet-Lite0 in one input-path pass against single-layer runs."""

    from ..attribution.ig import contributions
    from ..attribution.options import AttributionOptions
    from ..models.zoo import load_classifier
    from ..pipelines.imagenet.common.layers import layer_aliases
    from ..targets import TopLogit

    model = load_classifier("efficientnet_lite0")
    layers = [f"blocks.{k}" for k in range(16)]
    images = _images(args.size)

    def run(layer):
        options = AttributionOptions(path="input", progress=False)
        return contributions(model, images, layer, TopLogit(), n_steps=args.steps, options=options)

    singles = {layer: run(layer) for layer in ("blocks.0", "blocks.7", "blocks.15")}
    together = run(layers)  # warm-up too
    best = {name: np.inf for name in ["all 16"] + list(singles)}
    for _ in range(args.repeats):
        for name in best:
            start = time.perf_counter()
            run(layers) if name == "all 16" else run(name)
            best[name] = min(best[name], time.perf_counter() - start)
    gap = max(
        float(
            np.abs(together[layer].contribution - singles[layer].contribution).max()
            / np.abs(singles[layer].contribution).max()
        )
        for layer in singles
    )
    aliases = {v: k for k, v in layer_aliases("efficientnet_lite0").items()}
    print(
        f"\n4. layers: EfficientNet-Lite0 (pretrained), {images.shape[0]} images of {args.size} px, input path, "
        f"{args.steps} steps, {args.threads} threads, best of {args.repeats} (wall s)"
    )
    print(f"   all 16 block layers in one pass {best['all 16']:7.2f}")
    for layer in singles:
        print(
            f"   {aliases[layer]:<8} alone {best[layer]:7.2f}   16 layers cost {best['all 16'] / best[layer]:4.2f}x "
            f"this layer alone (16 separate runs: {sum(best[k] for k in singles) / len(singles) * 16:6.1f} s est.)"
        )
    print(
        f"   largest difference to the single-layer results, relative to each layer's largest contribution: {gap:.1e}",
        flush=True,
    )
    record.figures["layers"] = {
        "all_16_s": best["all 16"],
        **{f"{aliases[k]}_s": best[k] for k in singles},
        "difference": gap,
    }
    ratios = [best["all 16"] / best[layer] for layer in singles]
    record.row(
        f"16 EfficientNet-Lite0 block layers in one input-path pass, {images.shape[0]} images, {args.steps} "
        f"steps (largest relative difference to per-layer runs {gap:.0e})",
        f"{best['all 16']:.2f} s",
        "one layer alone: " + ", ".join(f"{aliases[k]} {best[k]:.2f} s" for k in singles),
        f"{min(ratios):.2f}-{max(ratios):.2f}x its time",
    )


def _timm(args, record: Record) -> None:
    """timm's ResNet-50 through the torch.fx split against torchvision's ResNet-50, same layer."""
    import contextlib
    from unittest import mock

    import torch

    from .._optional import require
    from ..attribution.ig import contributions
    from ..attribution.options import AttributionOptions
    from ..models import adapter
    from ..targets import TopLogit

    timm = require("timm", "test", "the timm benchmark")
    torch.manual_seed(0)
    timm_model = timm.create_model("resnet50", pretrained=False)
    generator = torch.Generator().manual_seed(1)
    for module in timm_model.modules():
        _randomize_batch_norm(module, generator)
    models = {"timm": timm_model.eval(), "torchvision": _resnet50()}
    images, layer = _images(args.size), "layer4.0"

    def run(name: str, split: bool = True) -> np.ndarray:
        # without the split, the adapter falls back as for an untraceable model: the whole model reruns per step
        with contextlib.nullcontext() if split else mock.patch.object(adapter, "split_at", lambda *args: None):
            ds = contributions(
                models[name], images, layer, TopLogit(), n_steps=args.steps, options=AttributionOptions(progress=False)
            )
        return ds.contribution.values

    jobs = {
        "timm": lambda: run("timm"),
        "torchvision": lambda: run("torchvision"),
        "timm rerun": lambda: run("timm", split=False),
    }
    split, rerun = run("timm"), run("timm", split=False)  # warm-up, and the results to compare
    run("torchvision")
    gap = float(np.abs(split - rerun).max() / np.abs(rerun).max())
    best = {name: np.inf for name in jobs}
    for _ in range(args.repeats):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            best[name] = min(best[name], time.perf_counter() - start)
    ratio = best["timm"] / best["torchvision"]
    print(
        f"\n5. timm: ResNet-50 (random) `{layer}`, {images.shape[0]} images of {args.size} px, {args.steps} steps, "
        f"{args.threads} threads, best of {args.repeats} (wall s)\n"
        f"   timm (torch.fx split) {best['timm']:7.2f}   torchvision {best['torchvision']:7.2f}   "
        f"ratio {ratio:4.2f}x   timm full rerun {best['timm rerun']:7.2f}   "
        f"split against rerun: largest relative difference {gap:.1e}",
        flush=True,
    )
    record.figures["timm"] = {
        "timm_s": best["timm"],
        "torchvision_s": best["torchvision"],
        "timm_rerun_s": best["timm rerun"],
        "ratio": ratio,
        "difference": gap,
    }
    record.row(
        f"layer path at timm ResNet-50 `{layer}` (torch.fx split; full rerun {best['timm rerun']:.2f} s), "
        f"{images.shape[0]} images of {args.size} px, {args.steps} steps",
        f"{best['timm']:.2f} s",
        f"torchvision ResNet-50 {best['torchvision']:.2f} s",
        f"{ratio:.2f}x its time",
    )


SECTIONS = {"speed": _speed, "convergence": _convergence, "memory": _memory, "layers": _layers, "timm": _timm}


def main(argv: list[str]) -> int:
    """Run the benchmark and print its tables."""
    # idle OpenMP threads sleep instead of spinning: on shared cores, spinning threads of one job
    # steal time from the other and make the timings erratic (only effective before torch loads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    parser = argparse.ArgumentParser(
        prog="python -m retinacodec.bench contributions", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--size", type=int, default=224, help="image edge in px (default 224)")
    parser.add_argument("--steps", type=int, default=10, help="quadrature steps for the speed test")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (best is kept)")
    parser.add_argument("--max-steps", type=int, default=32, help="largest step count tried for convergence")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: {','.join(SECTIONS)})",
    )
    add_record_option(parser)
    args = parser.parse_args(argv)
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; expected some of {', '.join(SECTIONS)}")
    torch.set_num_threads(args.threads)
    record = Record("contributions", list(argv))
    for section in args.sections.split(","):
        SECTIONS[section](args, record)
    record.write(args.record)
    return 0

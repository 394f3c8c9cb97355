"""Per-image cost of the paper's Figure 6 on ResNet-50, and the whole reproduction's time from it.

``python -m retinacodec.bench figure6 [--device cpu|cuda] [--images 4] [--steps 10] [--threads 2]
[--repeats 2] [--record FILE.json]``

Times, on ``--device``, the two kinds of work the reproduction repeats (ResNet-50 with random
weights: the time does not depend on the weights): input-path contributions to the top logit at
the reference's 8 analysed Bottleneck outputs (blocks 4, 7, 8, 10, 12, 14, 15, 16; all layers in
one pass, ``--steps`` steps, split by sign, as the control analysis computes them), and a forward
pass (what every control condition costs per image). The estimate multiplies them by the
reference's sizes: contributions of the 50,000 ImageNet validation images, their top-1, and 8
layers x 9 percentages x 20 trials x 2 classes x 10 images x 2 interventions x 3 channel
selections (contribution modes, activation modes, random) of intervened forward passes. The SAE
fits are not included (``python -m retinacodec.bench sae`` times them).
"""

from __future__ import annotations

import argparse
import time
import warnings

from ._record import Record, add_record_option

LAYERS = ("block4", "block7", "block8", "block10", "block12", "block14", "block15", "block16")
"""The reference's analysed blocks (its 0-based ``[3, 6, 7, 9, 11, 13, 14, 15]``)."""
N_IMAGES = 50_000
"""ImageNet validation images: the reference's contributions, modes and top-1."""
N_CONTROL_FORWARDS = 8 * 9 * 20 * 2 * 10 * 2 * 3
"""Intervened forward passes of the reference's control curves, with random channels beside."""


def _best(run, repeats: int, synchronize) -> float:
    run()  # warm-up: kernels, allocator, lazy imports
    best = float("inf")
    for _ in range(repeats):
        synchronize()
        started = time.perf_counter()
        run()
        synchronize()
        best = min(best, time.perf_counter() - started)
    return best


def measure(device: str, n_images: int, steps: int, repeats: int) -> dict:
    """Seconds per image of the contributions at :data:`LAYERS` and of a forward pass."""
    import torch

    from ..attribution.ig import contributions
    from ..attribution.options import AttributionOptions
    from ..models.adapter import adapt
    from ..models.zoo import load_classifier
    from ..pipelines.imagenet.common.layers import layer_aliases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights, on purpose
        module = load_classifier("resnet50", fast=device == "cpu").to(device)
    adapted = adapt(module, layers=layer_aliases("resnet50"))
    images = torch.randn(n_images, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    options = AttributionOptions(path="input", split="sign", progress=False)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def attribute():
        contributions(adapted, images, list(LAYERS), "top", n_steps=steps, device=device, options=options)

    def forward():
        with torch.no_grad():
            module(images.to(device))

    return {
        "contributions_s_per_image": _best(attribute, repeats, sync) / n_images,
        "forward_s_per_image": _best(forward, repeats, sync) / n_images,
    }


def main(argv: list[str]) -> int:
    """Time the per-image costs, print them and the estimate; returns 0."""
    import torch

    parser = argparse.ArgumentParser(prog="python -m retinacodec.bench figure6", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--images", type=int, default=4, help="images per timed call (default 4)")
    parser.add_argument("--steps", type=int, default=10, help="integration steps (default 10, the reference's)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats (best is kept)")
    add_record_option(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    record = Record("figure6", list(argv))
    cost = measure(args.device, args.images, args.steps, args.repeats)
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU, {args.threads} threads"
    hours = (N_IMAGES * (cost["contributions_s_per_image"] + cost["forward_s_per_image"])) / 3600
    hours += N_CONTROL_FORWARDS * cost["forward_s_per_image"] / 3600
    record.figures.update(cost, device=name, steps=args.steps, layers=list(LAYERS), estimate_hours=hours)
    print(f"ResNet-50 on {name}, {args.images} images per call, best of {args.repeats}:")
    per_image = cost["contributions_s_per_image"]
    print(f"  contributions at {len(LAYERS)} blocks, {args.steps} steps: {per_image:.3f} s/image")
    print(f"  forward pass: {1000 * cost['forward_s_per_image']:.1f} ms/image")
    print(f"  Figure 6 reproduction (SAE fits aside): {hours:.1f} h")
    record.row(
        f"Figure 6 on ResNet-50, per image: input-path contributions at the reference's {len(LAYERS)} blocks in "
        f"one pass, {args.steps} steps, {name}",
        f"{cost['contributions_s_per_image']:.3f} s",
        f"a forward pass {1000 * cost['forward_s_per_image']:.1f} ms",
        f"{cost['contributions_s_per_image'] / cost['forward_s_per_image']:.0f} forward passes' time",
    )
    record.row(
        f"Figure 6 on ResNet-50, whole: contributions and top-1 of {N_IMAGES:,} images, {N_CONTROL_FORWARDS:,} "
        f"intervened forward passes (SAE fits aside), {name}",
        f"{hours:.1f} h",
        "—",
        "—",
    )
    record.write(args.record)
    return 0

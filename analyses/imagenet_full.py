"""Full-size CODEC ImageNet analysis: every default layer of a zoo classifier on a folder of
ImageNet validation images (e.g. all 50,000, in torchvision ImageFolder layout).

Usage::

    python analyses/imagenet_full.py --images /data/imagenet/val -o results/imagenet_lite0
    python analyses/imagenet_full.py --images /data/imagenet/val --model resnet50 \\
        --weights resnet50_imagenet1k_v1.pth -o results/imagenet_resnet50
    python analyses/imagenet_full.py --estimate --n-images 50000      # timed small run, extrapolated

Settings follow the paper: Integrated Gradients with 10 nodes to the top logit, SAE for up to 300
epochs (3 x features modes), 2 % of the channels ablated or preserved; no augmentation (enough
images). The run resumes where it stopped (contributions chunk by chunk, then layer by layer).

Expected runtime
----------------
Measured with ``OMP_NUM_THREADS=1 python analyses/imagenet_full.py --estimate --device cpu``
(EfficientNet-Lite0, its 16 block layers, 8 sample images through each layer's contributions
with 10 IG nodes, 20 through the top-1 pass; each layer's SAE timed for one epoch on 2,048
random samples of its width) on one core of the shared 2-core CPU machine this was written on
(78 s wall for the estimate itself), and extrapolated linearly to 50,000 images:

=================================  ==========================  ======================
stage (50,000 images, 16 layers)   measured unit cost          extrapolated
=================================  ==========================  ======================
top-1 predictions                  0.08 s / image              1.1 h
contributions (all 16 layers)      7.75 s / image              108 h
SAE, 2 fits per layer, 300 epochs  5.2 ms / sample and epoch   22 h (early stopping
                                   (all 32 fits together)      only shortens it)
control, 10 classes per layer      0.08 s / forward, 800,000   18 h
                                   forwards (5 conditions x
                                   1,000 images x 10 x 16)
=================================  ==========================  ======================

about **150 hours on one CPU core**, dominated by the contributions. Use a GPU
(``--device auto`` picks CUDA; every stage is batched); no GPU was available to time it here.
ResNet-50 and ViT-B/16 need about 10 x and 40 x the FLOPs per image of EfficientNet-Lite0
(4.1 and 17.6 against 0.4 GFLOPs; not timed), and ViT-B/16 has 36 default layers.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.errors import RetinaCodecError, one_line_errors
from retinacodec.models.adapter import adapt
from retinacodec.models.zoo import load_classifier, model_spec
from retinacodec.modes.sae import SAE
from retinacodec.pipelines.imagenet.common.images import Views, find_images
from retinacodec.pipelines.imagenet.common.layers import default_layers, layer_aliases
from retinacodec.pipelines.imagenet.common.predictions import predict
from retinacodec.pipelines.imagenet.layers.run import run_imagenet
from retinacodec.pipelines.imagenet.layers.settings import ImagenetSettings

N_STEPS = 10
SAE_EPOCHS = 300
CONTROL_CLASSES = 10
N_OFF_TARGET = 500


def estimate(model: str, n_images: int, n_views: int, device: str) -> dict[str, float]:
    """Time each stage on a few sample images and extrapolate to ``n_images`` (seconds)."""
    module = load_classifier(model)
    views = Views(find_images("sample"), model_spec(model).preprocessing, 0, 0)
    inputs = views.load(views.center(range(n_views)))
    adapted = adapt(module, layers=layer_aliases(model))
    start = time.perf_counter()
    predict(module, views, batch_size=n_views, device=device, progress=False)
    forward = (time.perf_counter() - start) / len(views.source.paths)
    per_image, sae_seconds = 0.0, 0.0
    for alias in default_layers(model):
        start = time.perf_counter()
        options = AttributionOptions(split="sign", progress=False)
        result = contributions(
            adapted, inputs, alias, "top", n_steps=N_STEPS, batch_size=64, device=device, options=options
        )
        per_image += (time.perf_counter() - start) / n_views
        features = 2 * result.sizes["channel"]
        data = np.abs(np.random.default_rng(0).standard_normal((2048, features))).astype(np.float32)
        start = time.perf_counter()
        SAE(epochs=1, early_stopping=False, resample_dead=False, device=device, progress=False).fit(data)
        sae_seconds += 2 * (time.perf_counter() - start) / 2048  # contribution and activation fits
        print(f"{alias}: {features} features, contributions {per_image:.2f} s/image so far", flush=True)
    n_layers = len(default_layers(model))
    # per layer and class: 5 conditions on every image of the control classes and the off-target pool
    control_forwards = n_layers * CONTROL_CLASSES * 5 * (CONTROL_CLASSES * n_images / 1000 + N_OFF_TARGET)
    return {
        "top-1 predictions": forward * n_images,
        "contributions": per_image * n_images,
        "SAE": sae_seconds * n_images * SAE_EPOCHS,
        "control": forward * control_forwards,
    }


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--images", help="ImageFolder-layout folder of validation images (or a flat folder with --labels)"
    )
    parser.add_argument("--labels", help="labels file of a flat folder (lines FILE_NAME CLASS_INDEX)")
    parser.add_argument("--model", default="efficientnet_lite0", help="efficientnet_lite0, resnet50 or vit_b_16")
    parser.add_argument("--weights", help="state_dict file (ResNet-50, ViT-B/16 have no shipped weights)")
    parser.add_argument("--layers", nargs="+", help="layer aliases (default: every block)")
    parser.add_argument("-o", "--output", default="imagenet_full", help="output folder (resumable)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    parser.add_argument("--estimate", action="store_true", help="time a small run and extrapolate instead")
    parser.add_argument("--n-images", type=int, default=50_000, help="images to extrapolate to (--estimate)")
    args = parser.parse_args(argv)
    if args.estimate:
        seconds = estimate(args.model, args.n_images, 8, args.device)
        for stage, value in seconds.items():
            print(f"{stage:>20}: {value / 3600:8.1f} h")
        print(f"{'total':>20}: {sum(seconds.values()) / 3600:8.1f} h for {args.n_images} images")
        return 0
    if args.images is None:
        raise RetinaCodecError("no --images folder given; expected a folder of ImageNet validation images")
    settings = ImagenetSettings(
        model=args.model,
        layers=tuple(args.layers) if args.layers else None,
        n_steps=N_STEPS,
        sae_epochs=SAE_EPOCHS,
        control_classes=CONTROL_CLASSES,
        n_off_target=N_OFF_TARGET,
        batch_size=128,
        chunk_size=1024,
    )
    summary = run_imagenet(
        args.images, args.output, settings=settings, labels=args.labels, weights=args.weights, device=args.device
    )
    print(
        f"wrote {args.output}/report.md: {summary.sizes['layer']} layers, top-1 "
        f"{100 * summary.attrs['top1_accuracy']:.1f} %"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

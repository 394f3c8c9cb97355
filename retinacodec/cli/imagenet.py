"""``retinacodec imagenet``: CODEC analyses of an image classifier on ImageNet images."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``retinacodec imagenet`` to the command's subparsers."""
    p = sub.add_parser("imagenet", help="CODEC analyses of an image classifier on ImageNet images")
    p.add_argument(
        "--model",
        default="efficientnet_lite0",
        help="efficientnet_lite0, efficientnet_lite2 (pretrained, shipped), resnet50 or vit_b_16",
    )
    p.add_argument(
        "--images",
        default="sample",
        help="'sample' (20 shipped ImageNet images), an ImageFolder (class folders named by WordNet id "
        "get their ImageNet-1k index) or a flat folder; with --fit-images: the held-out images",
    )
    p.add_argument(
        "--fit-images",
        help="run the control analysis: fit the modes on these images, measure control on --images (held out)",
    )
    p.add_argument("--top1-only", action="store_true", help="only report the top-1 accuracy on --images")
    p.add_argument("--n-layers", type=int, default=8, help="--fit-images: layers spread over the depth (default 8)")
    p.add_argument(
        "--fractions", type=float, nargs="+", help="--fit-images: fractions of channels (default 1, 2, 4 .. 64, 99 %%)"
    )
    p.add_argument("--n-target", type=int, default=50, help="--fit-images: target-class images per condition")
    p.add_argument("--n-off-target", type=int, default=45, help="--fit-images: other images per condition")
    p.add_argument("--random-draws", type=int, default=3, help="--fit-images: random selections per fraction")
    p.add_argument("--random-images", type=int, default=200, help="--fit-images: images of the random selections")
    p.add_argument(
        "--ablation",
        choices=("zero", "mean"),
        default="zero",
        help="--fit-images: a silenced channel becomes zero, or its mean over the fit images (default zero)",
    )
    p.add_argument(
        "--stability-fits",
        type=int,
        default=2,
        help="--fit-images: extra SAE fits per layer and variable that score the modes' seed stability (0: none)",
    )
    p.add_argument("--time-budget", type=float, help="--fit-images: start no step after this many seconds")
    p.add_argument("--overwrite", action="store_true", help="replace a run of other inputs or settings in --output")
    p.add_argument("--labels", help="labels file for a flat image folder")
    p.add_argument("--weights", help="local state_dict file for resnet50 / vit_b_16")
    p.add_argument("--layers", nargs="+", help="layer names or aliases (default: every block)")
    p.add_argument("--n-augment", type=int, help="random crops/flips per image (default: enough for 256 SAE samples)")
    p.add_argument("--n-steps", type=int, default=10, help="quadrature nodes along the path")
    p.add_argument("--path", choices=("layer", "input"), default="layer")
    p.add_argument("--sae-epochs", type=int, default=200)
    p.add_argument("--control-classes", type=int, default=10)
    p.add_argument("--no-class-token", action="store_true", help="ViT heads: sum over patch tokens only")
    p.add_argument("--batch-size", type=int, default=64, help="network evaluations per batch")
    p.add_argument(
        "--chunk-size",
        type=int,
        help="views per resumable contributions chunk (the unit of distribution; default: chosen from "
        "the measured cost per view, about 2 s of work per chunk)",
    )
    p.add_argument("--workers", type=int, help="contributions on a local Dask cluster of N worker processes")
    p.add_argument("--scheduler", help="contributions on the Dask cluster at this scheduler address")
    p.add_argument("--threads", type=int, help="torch threads per chunk (default: all here, 1 on Dask workers)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.add_argument("-o", "--output", required=True, help="output folder (resumable per layer)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Run ``retinacodec imagenet`` with its parsed arguments."""
    if args.fit_images is not None:
        return _run_control(args)
    if args.top1_only:
        from ..pipelines.imagenet.common.predictions import top1

        result = top1(
            args.model, args.images, labels=args.labels, weights=args.weights, seed=args.seed, device=args.device
        )
        print(
            f"top-1 accuracy of {args.model} on {result.sizes['image']} images ({result.attrs['images']}): "
            f"{int(result['correct'].sum())}/{result.sizes['image']} = {100 * result.attrs['accuracy']:.1f} %"
        )
        return None
    from ..parallel.execution import Execution
    from ..pipelines.imagenet.layers.run import run_imagenet
    from ..pipelines.imagenet.layers.settings import ImagenetSettings

    settings = ImagenetSettings(
        model=args.model,
        layers=tuple(args.layers) if args.layers else None,
        n_augment=args.n_augment,
        n_steps=args.n_steps,
        path=args.path,
        sae_epochs=args.sae_epochs,
        control_classes=args.control_classes,
        class_token=not args.no_class_token,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
        seed=args.seed,
    )
    summary = run_imagenet(
        args.images,
        args.output,
        settings=settings,
        labels=args.labels,
        weights=args.weights,
        execution=Execution(
            workers=args.workers, scheduler=args.scheduler, threads=args.threads, overwrite=args.overwrite
        ),
        device=args.device,
    )
    print(
        f"wrote {Path(args.output) / 'report.md'}: {summary.sizes['layer']} layers, "
        f"top-1 {100 * summary.attrs['top1_accuracy']:.1f} %"
    )


def _run_control(args: argparse.Namespace) -> None:
    from ..pipelines.imagenet.control.run import run_control
    from ..pipelines.imagenet.control.settings import FRACTIONS, ControlSettings

    settings = ControlSettings(
        model=args.model,
        layers=tuple(args.layers) if args.layers else None,
        n_layers=args.n_layers,
        ig_steps=args.n_steps,
        sae_epochs=args.sae_epochs,
        fractions=tuple(args.fractions) if args.fractions else FRACTIONS,
        n_target_images=args.n_target,
        n_off_target_images=args.n_off_target,
        n_random_draws=args.random_draws,
        n_random_images=args.random_images,
        ablation=args.ablation,
        stability_fits=args.stability_fits,
        seed=args.seed,
    )
    path = run_control(
        args.images,
        args.fit_images,
        args.output,
        settings=settings,
        weights=args.weights,
        time_budget_s=args.time_budget,
        device=args.device,
        overwrite=args.overwrite,
    )
    print(f"wrote {path}" if path.name == "report.md" else f"unfinished (time budget); rerun to resume: {path}")

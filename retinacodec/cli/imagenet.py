"""``retinacodec imagenet``: CODEC analyses of an image classifier on ImageNet images."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``retinacodec imagenet`` to the command's subparsers."""
    p = sub.add_parser("imagenet", help="CODEC analyses of an image classifier on ImageNet images")
    _data_arguments(p)
    p.add_argument("--top1-only", action="store_true", help="only report the top-1 accuracy on --images")
    _control_arguments(p.add_argument_group("control analysis (with --fit-images)"))
    p.add_argument("--overwrite", action="store_true", help="replace a run of other inputs or settings in --output")
    p.add_argument("--layers", nargs="+", help="layer names or aliases (default: every block)")
    p.add_argument("--n-augment", type=int, help="random crops/flips per image (default: enough for 256 SAE samples)")
    p.add_argument("--n-steps", type=int, default=10, help="quadrature nodes along the path")
    p.add_argument(
        "--method",
        help="quadrature rule: gausslegendre (default), riemann_trapezoid, riemann_left, riemann_right, "
        "riemann_middle, activation_trapezoid (the paper's and --protocol codec's default; --n-steps counts its steps)",
    )
    p.add_argument("--path", choices=("layer", "input"), default="layer")
    p.add_argument(
        "--sae-epochs", type=int, help="SAE epochs (default 200; 300 with --protocol codec, as the reference)"
    )
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


def _data_arguments(p: argparse.ArgumentParser) -> None:
    """The classifier (name, weights, preprocessing) and the images."""
    p.add_argument(
        "--model",
        default="efficientnet_lite0",
        help="efficientnet_lite0, efficientnet_lite2 (pretrained, shipped), any torchvision classifier "
        "(resnet50, vit_b_16, ...) or timm model (timm:NAME; a plain name torchvision lacks is looked up in timm)",
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
    p.add_argument("--labels", help="labels file for a flat image folder")
    p.add_argument(
        "--weights",
        help="a torchvision weight name (IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT, ResNet50_Weights.IMAGENET1K_V2; "
        "torchvision fetches it once into $TORCH_HOME; DEFAULT for timm's pretrained weights) or a local "
        "state_dict file (default: the packaged weights, or random)",
    )
    p.add_argument(
        "--preprocessing",
        help="the preprocessing a --weights file assumes: a weight name whose transforms to use (IMAGENET1K_V2, "
        "DEFAULT, ...) or resize=232,crop=224[,mean=R/G/B,std=R/G/B,interpolation=bilinear] "
        "(default: the weights' own; refused when a file's cannot be known)",
    )


def _control_arguments(p: argparse._ArgumentGroup) -> None:
    """Sizes and protocol of the control analysis."""
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
    p.add_argument(
        "--protocol",
        choices=("retinacodec", "codec"),
        default="retinacodec",
        help="--fit-images: this package's control protocol (default) or codec, the paper's reference code's",
    )
    p.add_argument(
        "--mode-rank",
        type=int,
        default=1,
        help="--protocol codec: which mode of a class by correlation, 0 the best, 1 the second (the reference's)",
    )
    p.add_argument("--trials", type=int, default=20, help="--protocol codec: trials per layer and percentage")
    p.add_argument("--trial-images", type=int, default=10, help="--protocol codec: images per class and trial")
    p.add_argument("--time-budget", type=float, help="--fit-images: start no step after this many seconds")


def run(args: argparse.Namespace) -> None:
    """Run ``retinacodec imagenet`` with its parsed arguments."""
    if args.fit_images is not None:
        return _run_control(args)
    if args.top1_only:
        from ..pipelines.imagenet.common.predictions import top1

        result = top1(
            args.model,
            args.images,
            labels=args.labels,
            weights=args.weights,
            seed=args.seed,
            device=args.device,
            preprocessing=args.preprocessing,
        )
        attrs = result.attrs
        print(
            f"{args.model}: weights {attrs['weights']}; preprocessing {attrs['preprocessing']} "
            f"({attrs['preprocessing_source']})"
        )
        print(
            f"top-1 accuracy of {args.model} on {result.sizes['image']} images ({result.attrs['images']}): "
            f"{int(result['correct'].sum())}/{result.sizes['image']} = {100 * result.attrs['accuracy']:.1f} %"
        )
        return None
    from ..parallel.execution import Execution
    from ..pipelines.imagenet.common.statistics import completeness_lines
    from ..pipelines.imagenet.layers.run import run_imagenet
    from ..pipelines.imagenet.layers.settings import ImagenetSettings

    settings = ImagenetSettings(
        model=args.model,
        layers=tuple(args.layers) if args.layers else None,
        n_augment=args.n_augment,
        n_steps=args.n_steps,
        path=args.path,
        method=args.method or "gausslegendre",
        sae_epochs=200 if args.sae_epochs is None else args.sae_epochs,
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
        weights=_weights(args),
        execution=Execution(
            workers=args.workers, scheduler=args.scheduler, threads=args.threads, overwrite=args.overwrite
        ),
        device=args.device,
    )
    print(
        f"wrote {Path(args.output) / 'report.md'}: {summary.sizes['layer']} layers, "
        f"top-1 {100 * summary.attrs['top1_accuracy']:.1f} %"
    )
    for line in completeness_lines(summary):
        print(f"  {line}")


def _run_control(args: argparse.Namespace) -> None:
    from ..pipelines.imagenet.common.statistics import completeness_lines
    from ..pipelines.imagenet.control.run import SUMMARY, run_control
    from ..pipelines.imagenet.control.settings import FRACTIONS, CodecSettings, ControlSettings

    codec = CodecSettings(mode_rank=args.mode_rank, n_trials=args.trials, n_trial_images=args.trial_images)
    if args.sae_epochs is not None:
        codec = dataclasses.replace(codec, sae_epochs=args.sae_epochs)
    settings = ControlSettings(
        model=args.model,
        layers=tuple(args.layers) if args.layers else None,
        n_layers=args.n_layers,
        ig_steps=args.n_steps,
        ig_method=args.method,
        sae_epochs=200 if args.sae_epochs is None else args.sae_epochs,
        fractions=tuple(args.fractions) if args.fractions else FRACTIONS,
        n_target_images=args.n_target,
        n_off_target_images=args.n_off_target,
        n_random_draws=args.random_draws,
        n_random_images=args.random_images,
        ablation=args.ablation,
        stability_fits=args.stability_fits,
        seed=args.seed,
        protocol=args.protocol,
        codec=codec,
    )
    path = run_control(
        args.images,
        args.fit_images,
        args.output,
        settings=settings,
        weights=_weights(args),
        time_budget_s=args.time_budget,
        device=args.device,
        overwrite=args.overwrite,
    )
    print(f"wrote {path}" if path.name == "report.md" else f"unfinished (time budget); rerun to resume: {path}")
    if path.name == "report.md":
        record = json.loads((path.parent / SUMMARY).read_text())
        for line in completeness_lines({layer: r["completeness"] for layer, r in record["per_layer"].items()}):
            print(f"  {line}")


def _weights(args: argparse.Namespace):
    """``--weights`` as the pipelines take it: the name or file, or with ``--preprocessing`` the
    classifier with that preprocessing."""
    if args.preprocessing is None:
        return args.weights
    from ..models.zoo import open_classifier

    return open_classifier(args.model, args.weights, args.preprocessing, args.seed)

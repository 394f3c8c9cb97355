"""The ``retinacodec`` command line: each subcommand parses its arguments and calls the library.

A user's mistake (a :class:`RetinaCodecError`) is printed as one line on stderr with exit status 2;
never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_retina import DEFAULT_IRF_TIMES, cmd_control, cmd_irf
from .errors import RetinaCodecError


def _cmd_stimulus(args: argparse.Namespace) -> None:
    from .io import write_netcdf
    from .stimuli import render_protocol

    stim = render_protocol(args.protocol)
    write_netcdf(stim, args.output)
    print(f"wrote {args.output}: {stim.attrs['kind']} stimulus, {stim.sizes['time']} frames of "
          f"{stim.sizes['y']}x{stim.sizes['x']} px at {stim.attrs['frame_rate_hz']:g} Hz")
    if args.plot:
        from .plots import save_figure
        from .plots.stimulus import plot_stimulus

        save_figure(plot_stimulus(stim), args.plot)
        print(f"wrote {args.plot}")


def _cmd_train(args: argparse.Namespace) -> None:
    if args.nwb is not None:
        from .models.training import train_nwb

        result = train_nwb(args.nwb, args.output, stimulus=args.stimulus, history_s=args.history_s,
                           resume=not args.restart, device=args.device)
    else:
        from .models.training import train_from_recipe

        result = train_from_recipe(args.recipe, args.output, resume=not args.restart, device=args.device)
    print(result.summary())


def _cmd_contributions(args: argparse.Namespace) -> None:
    from .attribution.ig import contributions
    from .io import write_netcdf
    from .models.registry import load
    from .stimuli import load_stimulus

    stim = load_stimulus(args.stimulus)
    targets = args.target.split(",")
    target = targets if len(targets) > 1 else targets[0]
    options = {"path": args.path, "baseline": args.baseline, "n_steps": args.n_steps, "method": args.method,
               "split": args.split, "activation": args.activation, "batch_size": args.batch_size,
               "device": args.device}
    if any(v is not None for v in (args.workers, args.scheduler, args.chunk_size, args.job_dir)):
        from .parallel import run_contributions

        result = run_contributions(
            args.model, stim, args.layer, target, args.job_dir or f"{args.output}.parts",
            chunk_size=args.chunk_size, workers=args.workers, scheduler=args.scheduler,
            overwrite=args.overwrite, **options,
        )
    else:
        result = contributions(load(args.model), stim, args.layer, target, **options)
    write_netcdf(result, args.output)
    error = abs(result["completeness_error"]).max().item()
    print(f"wrote {args.output}: contributions of {result.sizes['channel']} channels of "
          f"'{args.layer}' to {args.target} for {result.sizes['sample']} samples; "
          f"max |completeness error| {error:.2e}")
    if args.plot:
        from .plots import save_figure
        from .plots.contributions import plot_contributions

        save_figure(plot_contributions(result), args.plot)
        print(f"wrote {args.plot}")


def _cmd_modes(args: argparse.Namespace) -> None:
    from .io import read_netcdf, write_netcdf
    from .modes.workflow import fit_modes

    data = read_netcdf(args.contributions)
    if not hasattr(data, "data_vars") or args.variable not in data:
        raise RetinaCodecError(
            f"{args.contributions} holds no '{args.variable}' variable; expected a contributions "
            "file written by 'retinacodec contributions'"
        )
    sae, result = fit_modes(
        data, variable=args.variable, labels=args.labels, nonnegative=not args.signed,
        n_modes=args.n_modes, epochs=args.epochs, seed=args.seed, device=args.device,
    )
    write_netcdf(result, args.output)
    print(f"wrote {args.output}: {result.sizes['mode']} modes of {args.variable}, "
          f"R^2 {float(result['r2']):.3f}, mean L0 {float(result['mean_l0']):.2f}, "
          f"{int(result['dead_modes'].sum())} dead modes")
    if args.save_sae:
        sae.save(args.save_sae)
        print(f"wrote {args.save_sae}")
    if args.plot:
        from .plots import save_figure
        from .plots.modes import plot_modes

        save_figure(plot_modes(result["modes"], result["loadings"]), args.plot)
        print(f"wrote {args.plot}")


def _cmd_imagenet(args: argparse.Namespace) -> None:
    if args.fit_images is not None:
        return _cmd_imagenet_control(args)
    if args.top1_only:
        from .pipelines.imagenet.predictions import top1

        result = top1(args.model, args.images, labels=args.labels, weights=args.weights, seed=args.seed,
                      device=args.device)
        print(f"top-1 accuracy of {args.model} on {result.sizes['image']} images ({result.attrs['images']}): "
              f"{int(result['correct'].sum())}/{result.sizes['image']} = {100 * result.attrs['accuracy']:.1f} %")
        return None
    from .pipelines.imagenet.analysis import run_imagenet

    summary = run_imagenet(
        args.model, args.images, labels=args.labels, weights=args.weights, layers=args.layers,
        out_dir=args.output, n_augment=args.n_augment, n_steps=args.n_steps, path=args.path,
        sae_epochs=args.sae_epochs, control_classes=args.control_classes,
        class_token=not args.no_class_token, batch_size=args.batch_size, chunk_size=args.chunk_size,
        workers=args.workers, scheduler=args.scheduler, threads=args.threads, seed=args.seed, device=args.device,
    )
    print(f"wrote {Path(args.output) / 'report.md'}: {summary.sizes['layer']} layers, "
          f"top-1 {100 * summary.attrs['top1_accuracy']:.1f} %")


def _cmd_imagenet_control(args: argparse.Namespace) -> None:
    from .pipelines.imagenet.run import run_control
    from .pipelines.imagenet.settings import FRACTIONS, ControlSettings

    settings = ControlSettings(
        model=args.model, layers=tuple(args.layers) if args.layers else None, n_layers=args.n_layers,
        ig_steps=args.n_steps, sae_epochs=args.sae_epochs,
        fractions=tuple(args.fractions) if args.fractions else FRACTIONS, n_target_images=args.n_target,
        n_off_target_images=args.n_off_target, n_random_draws=args.random_draws,
        n_random_images=args.random_images, seed=args.seed)
    path = run_control(args.images, args.fit_images, args.output, settings=settings, weights=args.weights,
                       time_budget_s=args.time_budget, overwrite=args.overwrite)
    print(f"wrote {path}" if path.name == "report.md" else f"unfinished (time budget); rerun to resume: {path}")


def _cmd_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo
    from .pipeline.settings import DemoSettings

    run_demo(  # it reports each step and the report's path as it goes
        args.output, model=args.model, nwb=args.nwb, overwrite=args.overwrite,
        settings=DemoSettings.fast() if args.fast else None,
    )


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``retinacodec`` command."""
    parser = argparse.ArgumentParser(
        prog="retinacodec",
        description="Contribution decomposition (CODEC) for retina models and image classifiers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("stimulus", help="render a stimulus protocol (shipped name or TOML file) to netCDF")
    p.add_argument("protocol", help="shipped protocol name (see stimuli/) or path to a TOML recipe")
    p.add_argument("-o", "--output", required=True, help="output netCDF file")
    p.add_argument("--plot", help="also save a figure (a few frames + mean luminance) to this PNG")
    p.set_defaults(func=_cmd_stimulus)

    p = sub.add_parser("train", help="train a retina CNN from a TOML recipe, or a CNN and the LN baseline "
                                     "from an NWB recording's spikes (resumes if interrupted)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--recipe", help="training recipe, e.g. models/default/recipe.toml")
    source.add_argument("--nwb", help="NWB recording (stimulus ImageSeries + units): fits the CNN and the LN "
                                      "baseline, evaluates both on held-out data and writes fit.png")
    p.add_argument("--stimulus", help="with --nwb: name of the ImageSeries when the file holds several")
    p.add_argument("--history-s", type=float, default=0.4, help="with --nwb: stimulus history in s (0.4)")
    p.add_argument("-o", "--output", required=True, help="model folder to write")
    p.add_argument("--restart", action="store_true", help="ignore a previous run's checkpoint")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("contributions", help="hidden-layer contributions (Integrated Gradients)")
    p.add_argument("--model", default="default", help="'default' or a checkpoint path")
    p.add_argument("--stimulus", required=True, help="protocol name, TOML recipe or netCDF stimulus")
    p.add_argument("--layer", required=True, help="layer name or alias, e.g. bipolar, amacrine")
    p.add_argument("--target", required=True,
                   help="cell:I, type:NAME, class:K or top; several separated by commas")
    p.add_argument("--path", choices=("layer", "input"), default="layer",
                   help="integrate in the layer's space (layer) or along the input (input)")
    p.add_argument("--baseline", choices=("zero", "mean"), default="zero")
    p.add_argument("--n-steps", type=int, default=20, help="quadrature nodes along the path")
    p.add_argument("--method", default="gausslegendre",
                   help="gausslegendre, riemann_trapezoid, riemann_left, riemann_right, riemann_middle")
    p.add_argument("--split", choices=("sign",), default=None,
                   help="keep positive and negative parts apart before summing over space")
    p.add_argument("--activation", choices=("space", "cell"), default="space",
                   help="activation summed over space (default), or per cell over its receptive-field window "
                        "(cell targets; what contributions are compared with per cell)")
    p.add_argument("--batch-size", type=int, default=64, help="inputs x steps per forward pass")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--workers", type=int, help="run on a local Dask cluster of N worker processes")
    p.add_argument("--scheduler", help="run on the Dask cluster at this scheduler address")
    p.add_argument("--chunk-size", type=int, help="windows per resumable chunk (default: chosen from the "
                   "measured cost per window, about 2 s of work per chunk)")
    p.add_argument("--job-dir", help="folder for the chunk parts and manifest (default OUTPUT.parts)")
    p.add_argument("--overwrite", action="store_true",
                   help="discard a different job's parts in --job-dir")
    p.add_argument("-o", "--output", required=True, help="output netCDF file")
    p.add_argument("--plot", help="also save a figure to this PNG")
    p.set_defaults(func=_cmd_contributions)

    p = sub.add_parser("modes", help="fit sparse-autoencoder modes to a contributions file")
    p.add_argument("contributions", help="netCDF file written by 'retinacodec contributions'")
    p.add_argument("-o", "--output", required=True, help="output netCDF file")
    p.add_argument("--variable", choices=("contribution", "activation"), default="contribution")
    p.add_argument("--labels", help="sample coord to correlate modes with, e.g. cell_type")
    p.add_argument("--signed", action="store_true",
                   help="allow a signed dictionary (needed for contributions without --split sign)")
    p.add_argument("--n-modes", type=int, default=None, help="default: 3 x channels")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--save-sae", help="also save the fitted SAE (netCDF) for irf/control")
    p.add_argument("--plot", help="also save a figure to this PNG")
    p.set_defaults(func=_cmd_modes)

    p = sub.add_parser("irf", help="instantaneous receptive fields of retina cells, optionally split by modes")
    p.add_argument("--model", default="default", help="'default' or a checkpoint path")
    p.add_argument("--stimulus", required=True, help="protocol name, TOML recipe or netCDF stimulus")
    p.add_argument("--cells", required=True, help="cell indices, comma-separated, e.g. 0,3")
    p.add_argument("--times", help="times in s: comma-separated seconds and/or start:stop[:step] ranges "
                   f"(stop included, step one frame by default); default {DEFAULT_IRF_TIMES} evenly spaced "
                   "times, since the whole time axis can take several GB")
    p.add_argument("--method", choices=("gradient", "ig"), default="gradient",
                   help="gradient at the stimulus, or averaged along the path from zero contrast (ig)")
    p.add_argument("--n-steps", type=int, default=20, help="quadrature nodes for ig (and SAE loadings)")
    p.add_argument("--modes", help="split each IRF by these modes: an SAE saved by 'retinacodec modes "
                   "--save-sae' (per-sample loadings) or a 'retinacodec modes' output (every mode loading 1)")
    p.add_argument("--layer", help="layer the modes were fitted on (default: the one they record)")
    p.add_argument("--selected-modes", help="mode positions to keep, comma-separated (the rest go to the "
                   "residual; default all)")
    p.add_argument("--batch-size", type=int, default=32, help="windows x path nodes per forward pass")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("-o", "--output", required=True, help="output netCDF file")
    p.add_argument("--plot", help="also save a figure of the first cell to this PNG")
    p.set_defaults(func=cmd_irf)

    p = sub.add_parser(
        "control", help="silence a retina layer's top channels of a contribution and an activation mode",
        description="Ablate (zero) or preserve (keep alone) the top channels of the contribution mode, and of "
                    "the activation mode, most tied to a target, and measure the cells' rates. Retina models "
                    "only: for image classifiers, 'retinacodec imagenet' runs the control experiment per layer.",
    )
    p.add_argument("--model", default="default", help="'default' or a checkpoint path")
    p.add_argument("--stimulus", required=True, help="protocol name, TOML recipe or netCDF stimulus")
    p.add_argument("--modes", required=True, help="contribution modes: the output of 'retinacodec modes' "
                   "(or its --save-sae file, with --mode)")
    p.add_argument("--activation-modes", help="activation modes to compare with: the output of "
                   "'retinacodec modes --variable activation' (or its --save-sae file, with --activation-mode)")
    p.add_argument("--target", help="type:NAME or cell:I: the modes most tied to it are silenced (unless "
                   "--mode / --activation-mode) and the table sets its cells apart (default: the OMS cells, "
                   "else the first type, else the first cell)")
    p.add_argument("--mode", type=int, help="contribution mode position to use instead of the associated one")
    p.add_argument("--activation-mode", type=int, help="activation mode position to use instead")
    p.add_argument("--fraction", type=float, default=0.02,
                   help="fraction of the layer's channels silenced per mode (at least one; default 0.02)")
    p.add_argument("--layer", help="layer the modes were fitted on (default: the one they record)")
    p.add_argument("--cells", help="cell indices to report, comma-separated (default all)")
    p.add_argument("--batch-size", type=int, default=256, help="windows per forward pass")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("-o", "--output", required=True, help="output netCDF file")
    p.add_argument("--plot", help="also save a bar chart (with --curves: the curves) to this PNG")
    p.add_argument("--curves", type=int, metavar="K", help="control curves instead: silence or keep alone the top "
                   "k = 1..K channels of the mode most tied to each cell type (modes files with loadings), against "
                   "random channel sets; table and figure of the target specificity")
    p.add_argument("--draws", type=int, default=20, help="random channel sets per k with --curves (default 20)")
    p.set_defaults(func=cmd_control)

    p = sub.add_parser("imagenet", help="CODEC analyses of an image classifier on ImageNet images")
    p.add_argument("--model", default="efficientnet_lite0",
                   help="efficientnet_lite0, efficientnet_lite2 (pretrained, shipped), resnet50 or vit_b_16")
    p.add_argument("--images", default="sample",
                   help="'sample' (20 shipped ImageNet images), an ImageFolder (class folders named by WordNet id "
                        "get their ImageNet-1k index) or a flat folder; with --fit-images: the held-out images")
    p.add_argument("--fit-images", help="run the control analysis: fit the modes on these images, measure control "
                   "on --images (held out)")
    p.add_argument("--top1-only", action="store_true", help="only report the top-1 accuracy on --images")
    p.add_argument("--n-layers", type=int, default=8, help="--fit-images: layers spread over the depth (default 8)")
    p.add_argument("--fractions", type=float, nargs="+", help="--fit-images: fractions of channels (default "
                   "1, 2, 4 .. 64, 99 %%)")
    p.add_argument("--n-target", type=int, default=50, help="--fit-images: target-class images per condition")
    p.add_argument("--n-off-target", type=int, default=45, help="--fit-images: other images per condition")
    p.add_argument("--random-draws", type=int, default=3, help="--fit-images: random selections per fraction")
    p.add_argument("--random-images", type=int, default=200, help="--fit-images: images of the random selections")
    p.add_argument("--time-budget", type=float, help="--fit-images: start no step after this many seconds")
    p.add_argument("--overwrite", action="store_true", help="--fit-images: replace a run of other inputs")
    p.add_argument("--labels", help="labels file for a flat image folder")
    p.add_argument("--weights", help="local state_dict file for resnet50 / vit_b_16")
    p.add_argument("--layers", nargs="+", help="layer names or aliases (default: every block)")
    p.add_argument("--n-augment", type=int, help="random crops/flips per image (default: enough "
                   "for 256 SAE samples)")
    p.add_argument("--n-steps", type=int, default=10, help="quadrature nodes along the path")
    p.add_argument("--path", choices=("layer", "input"), default="layer")
    p.add_argument("--sae-epochs", type=int, default=200)
    p.add_argument("--control-classes", type=int, default=10)
    p.add_argument("--no-class-token", action="store_true",
                   help="ViT heads: sum over patch tokens only")
    p.add_argument("--batch-size", type=int, default=64, help="network evaluations per batch")
    p.add_argument("--chunk-size", type=int, default=256,
                   help="views per resumable contributions chunk (the unit of distribution)")
    p.add_argument("--workers", type=int, help="contributions on a local Dask cluster of N worker processes")
    p.add_argument("--scheduler", help="contributions on the Dask cluster at this scheduler address")
    p.add_argument("--threads", type=int, help="torch threads per chunk (default: all here, 1 on Dask workers)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.add_argument("-o", "--output", required=True, help="output folder (resumable per layer)")
    p.set_defaults(func=_cmd_imagenet)

    p = sub.add_parser("demo", help="run the main job on the shipped default and write results")
    p.add_argument("-o", "--output", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--model", default="default", help="'default' or a checkpoint with its virtual retina")
    p.add_argument("--nwb", help="analyse an NWB recording instead (a model is trained on it first)")
    p.add_argument("--overwrite", action="store_true", help="write into a folder that holds other files")
    p.add_argument("--fast", action="store_true", help="tiny settings for a smoke test (numbers not meaningful)")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``retinacodec`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except RetinaCodecError as exc:
        print(f"retinacodec {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"retinacodec {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

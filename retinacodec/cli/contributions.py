"""``retinacodec contributions``: hidden-layer contributions (Integrated Gradients)."""

from __future__ import annotations

import argparse

from ._parsing import check_paths


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``retinacodec contributions`` to the command's subparsers."""
    p = sub.add_parser("contributions", help="hidden-layer contributions (Integrated Gradients)")
    p.add_argument("--model", default="default", help="'default' or a checkpoint path")
    p.add_argument("--stimulus", required=True, help="protocol name, TOML recipe or netCDF stimulus")
    p.add_argument("--layer", required=True, help="layer name or alias, e.g. bipolar, amacrine")
    p.add_argument("--target", required=True, help="cell:I, type:NAME, class:K or top; several separated by commas")
    p.add_argument(
        "--path",
        choices=("layer", "input"),
        default="layer",
        help="integrate in the layer's space (layer) or along the input (input)",
    )
    p.add_argument("--baseline", choices=("zero", "mean"), default="zero")
    p.add_argument("--n-steps", type=int, default=20, help="quadrature nodes along the path")
    p.add_argument(
        "--method",
        default="gausslegendre",
        help="gausslegendre, riemann_trapezoid, riemann_left, riemann_right, riemann_middle, activation_trapezoid",
    )
    p.add_argument(
        "--split",
        choices=("sign",),
        default=None,
        help="keep positive and negative parts apart before summing over space",
    )
    p.add_argument(
        "--activation",
        choices=("space", "cell"),
        default="space",
        help="activation summed over space (default), or per cell over its receptive-field window "
        "(cell targets; what contributions are compared with per cell)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="inputs x steps per forward pass")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--workers", type=int, help="run on a local Dask cluster of N worker processes")
    p.add_argument("--scheduler", help="run on the Dask cluster at this scheduler address")
    p.add_argument(
        "--chunk-size",
        type=int,
        help="windows per resumable chunk (default: chosen from the "
        "measured cost per window, about 2 s of work per chunk)",
    )
    p.add_argument(
        "--job-dir",
        help="folder for the chunk parts and manifest (default OUTPUT.parts, removed once OUTPUT is written)",
    )
    p.add_argument("--overwrite", action="store_true", help="discard a different job's parts in --job-dir")
    p.add_argument("-o", "--output", required=True, help="output netCDF file")
    p.add_argument("--plot", help="also save a figure to this PNG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Run ``retinacodec contributions`` with its parsed arguments."""
    from ..attribution.ig import contributions
    from ..attribution.options import AttributionOptions
    from ..io import write_netcdf
    from ..models.registry import load
    from ..stimuli import load_stimulus

    check_paths([args.stimulus, args.model], {"-o": args.output, "--plot": args.plot})
    stim = load_stimulus(args.stimulus)
    targets = args.target.split(",")
    target = targets if len(targets) > 1 else targets[0]
    options = {
        "baseline": args.baseline,
        "n_steps": args.n_steps,
        "method": args.method,
        "batch_size": args.batch_size,
        "device": args.device,
        "options": AttributionOptions(path=args.path, split=args.split, activation=args.activation),
    }
    if any(v is not None for v in (args.workers, args.scheduler, args.chunk_size, args.job_dir)):
        from ..parallel import Execution, run_contributions
        from ..parallel.runner import remove_finished_job

        job_dir = args.job_dir or f"{args.output}.parts"
        result = run_contributions(
            args.model,
            stim,
            args.layer,
            target,
            job_dir,
            chunk_size=args.chunk_size,
            execution=Execution(workers=args.workers, scheduler=args.scheduler, overwrite=args.overwrite),
            **options,
        )
        write_netcdf(result, args.output)
        if args.job_dir is None:  # a folder the user named is kept
            remove_finished_job(job_dir, args.output, result)
    else:
        result = contributions(load(args.model), stim, args.layer, target, **options)
        write_netcdf(result, args.output)
    error = abs(result["completeness_error"]).max().item()
    print(
        f"wrote {args.output}: contributions of {result.sizes['channel']} channels of "
        f"'{args.layer}' to {args.target} for {result.sizes['sample']} samples; "
        f"max |completeness error| {error:.2e}"
    )
    if args.plot:
        from ..plots import save_figure
        from ..plots.contributions import plot_contributions

        save_figure(plot_contributions(result), args.plot)
        print(f"wrote {args.plot}")

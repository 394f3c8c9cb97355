"""``retinacodec design``: the stimulus that tests each hypothesis, designed from the CNN."""

from __future__ import annotations

import argparse

from ..errors import RetinaCodecError
from ._parsing import check_paths


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``retinacodec design`` to the command's subparsers."""
    p = sub.add_parser("design", help="design the stimulus that tests each hypothesis of a hypotheses file")
    p.add_argument("hypotheses", help="hypotheses netCDF (a demo's hypotheses.nc)")
    p.add_argument("--model", default="default", help="'default' or a checkpoint path: the hypotheses' model")
    p.add_argument("--frames", type=int, default=300, help="frames of each designed stimulus (default 300 = 3 s)")
    p.add_argument("--steps", type=int, default=40, help="Adam steps per stimulus")
    p.add_argument("--seed", type=int, default=0, help="seed of the optimisation")
    p.add_argument(
        "--jitter-seed",
        type=int,
        help="also predict under natural jitter of the same length drawn with this seed and, when the "
        "model carries a virtual retina, block each pathway in it under both stimuli",
    )
    p.add_argument("-o", "--output", required=True, help="output netCDF file of the designed stimuli")
    p.add_argument("--plot", help="also save a figure of the stimuli and their effects to this PNG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Run ``retinacodec design`` with its parsed arguments."""
    import xarray as xr

    from ..hypotheses.design import design_tests
    from ..hypotheses.design_check import check_designs
    from ..hypotheses.optimise import DesignSettings
    from ..io import read_netcdf, write_netcdf
    from ..models.registry import load
    from ..stimuli import natural_jitter

    check_paths([args.hypotheses, args.model], {"-o": args.output, "--plot": args.plot})
    hypotheses = read_netcdf(args.hypotheses)
    if not isinstance(hypotheses, xr.Dataset):
        raise RetinaCodecError(f"{args.hypotheses} holds one array; expected a hypotheses Dataset (hypotheses.nc)")
    model = load(args.model)
    settings = DesignSettings(n_frames=args.frames, steps=args.steps, seed=args.seed)
    jitter = None if args.jitter_seed is None else natural_jitter(n_frames=args.frames, seed=args.jitter_seed)
    designs = design_tests(model, hypotheses, settings, jitter=jitter)
    retina = getattr(model, "virtual_retina", None)
    if jitter is not None and retina is not None:
        designs = check_designs(designs, hypotheses, retina, jitter)
    write_netcdf(designs, args.output)
    print(
        f"wrote {args.output}: {designs.sizes['hypothesis']} test stimuli of {args.frames} frames"
        + ("; checked on the virtual retina" if "observed_ratio" in designs else "")
    )
    if args.plot:
        from ..plots import save_figure
        from ..plots.designs import designed_stimuli_figure

        save_figure(designed_stimuli_figure(designs, hypotheses), args.plot)
        print(f"wrote {args.plot}")

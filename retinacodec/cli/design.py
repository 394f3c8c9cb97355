"""``retinacodec design``: the stimulus that tests each hypothesis, designed from the CNN; with
``--cell``, the stimuli a cell's modes prefer beside its most exciting input."""

from __future__ import annotations

import argparse

from ..errors import RetinaCodecError
from ._parsing import check_paths


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``retinacodec design`` to the command's subparsers."""
    p = sub.add_parser(
        "design",
        help="design the stimulus that tests each hypothesis of a hypotheses file, or (--cell) the stimuli "
        "a cell's modes prefer",
    )
    p.add_argument(
        "source",
        metavar="INPUT",
        help="hypotheses netCDF (a demo's hypotheses.nc); with --cell, a demo folder or a saved SAE (sae_LAYER.nc)",
    )
    p.add_argument(
        "--model",
        default="default",
        help="'default' or a checkpoint path: the hypotheses' (or modes') model; a recording's demo folder "
        "brings its own",
    )
    p.add_argument(
        "--cell",
        type=int,
        help="design, for this cell, the stimulus each mode prefers (maximises its loading) and the cell's most "
        "exciting input",
    )
    p.add_argument(
        "--mode",
        type=int,
        action="append",
        help="with --cell: a mode (position) to design for; repeat for more (default with a demo folder: the "
        "cell's modes in its irf.nc)",
    )
    p.add_argument(
        "--frames",
        type=int,
        help="frames of each designed stimulus (default 300 = 3 s; with --cell, the model's history)",
    )
    p.add_argument("--steps", type=int, default=40, help="Adam steps per stimulus")
    p.add_argument("--seed", type=int, default=0, help="seed of the optimisation")
    p.add_argument(
        "--jitter-seed",
        type=int,
        help="also predict under natural jitter of the same length drawn with this seed and, when the "
        "model carries a virtual retina, block each pathway in it under both stimuli",
    )
    p.add_argument("-o", "--output", required=True, help="output netCDF file of the designed stimuli")
    p.add_argument("--plot", help="also save a figure of the stimuli (and their effects) to this PNG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Run ``retinacodec design`` with its parsed arguments."""
    if args.cell is None and args.mode:
        raise RetinaCodecError("--mode picks modes at a cell; expected --cell with it")
    if args.cell is not None and args.jitter_seed is not None:
        raise RetinaCodecError("--jitter-seed applies to a hypotheses file; expected it without --cell")
    check_paths([args.source, args.model], {"-o": args.output, "--plot": args.plot})
    if args.cell is None:
        _hypotheses(args)
    else:
        _modes(args)


def _hypotheses(args: argparse.Namespace) -> None:
    """Each hypothesis's test stimulus."""
    import xarray as xr

    from ..hypotheses.design import design_tests
    from ..hypotheses.design_check import check_designs
    from ..hypotheses.optimise import DesignSettings
    from ..io import read_netcdf, write_netcdf
    from ..models.registry import load
    from ..stimuli import natural_jitter

    hypotheses = read_netcdf(args.source)
    if not isinstance(hypotheses, xr.Dataset):
        raise RetinaCodecError(f"{args.source} holds one array; expected a hypotheses Dataset (hypotheses.nc)")
    model = load(args.model)
    frames = 300 if args.frames is None else args.frames
    settings = DesignSettings(n_frames=frames, steps=args.steps, seed=args.seed)
    jitter = None if args.jitter_seed is None else natural_jitter(n_frames=frames, seed=args.jitter_seed)
    designs = design_tests(model, hypotheses, settings, jitter=jitter)
    retina = getattr(model, "virtual_retina", None)
    if jitter is not None and retina is not None:
        designs = check_designs(designs, hypotheses, retina, jitter)
    write_netcdf(designs, args.output)
    print(
        f"wrote {args.output}: {designs.sizes['hypothesis']} test stimuli of {frames} frames"
        + ("; checked on the virtual retina" if "observed_ratio" in designs else "")
    )
    if args.plot:
        from ..plots import save_figure
        from ..plots.designs import designed_stimuli_figure

        save_figure(designed_stimuli_figure(designs, hypotheses), args.plot)
        print(f"wrote {args.plot}")


def _modes(args: argparse.Namespace) -> None:
    """The stimuli the modes prefer at a cell, with their agreement with a demo folder's IRF."""
    import xarray as xr

    from ..hypotheses.optimise import DesignSettings
    from ..hypotheses.preferred import irf_agreement, preferred_stimuli
    from ..io import write_netcdf
    from ..models.registry import load
    from ..pipelines.retina.folder_modes import modes_at_cell

    found = modes_at_cell(args.source, args.cell, args.mode)
    model = load(found.model if found.model is not None and args.model == "default" else args.model)
    frames = int(getattr(model, "history", 1)) if args.frames is None else args.frames
    settings = DesignSettings(n_frames=frames, steps=args.steps, seed=args.seed)
    preferred = preferred_stimuli(model, found.modes, args.cell, found.positions, settings=settings)
    if found.irf is not None:
        preferred = xr.merge([preferred, irf_agreement(preferred, found.irf)], combine_attrs="no_conflicts")
    write_netcdf(preferred, args.output)
    print(
        f"wrote {args.output}: the most exciting input of cell {args.cell} and the preferred stimuli of "
        f"{len(found.positions)} mode{'s' if len(found.positions) > 1 else ''}, {frames} frames each"
    )
    if args.plot:
        from ..plots import save_figure
        from ..plots.preferred import preferred_stimuli_figure

        agreement = preferred if "irf_correlation" in preferred else None
        save_figure(preferred_stimuli_figure(preferred, agreement), args.plot)
        print(f"wrote {args.plot}")

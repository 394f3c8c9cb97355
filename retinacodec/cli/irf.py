"""``retinacodec irf``: instantaneous receptive fields of retina cells, optionally split by modes."""

from __future__ import annotations

import argparse

from ..errors import RetinaCodecError
from ._parsing import check_paths, parse_ints, parse_times

DEFAULT_IRF_TIMES = 8
"""Times ``retinacodec irf`` computes without ``--times``: the whole time axis can take several GB."""


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``retinacodec irf`` to the command's subparsers."""
    p = sub.add_parser("irf", help="instantaneous receptive fields of retina cells, optionally split by modes")
    p.add_argument("--model", default="default", help="'default' or a checkpoint path")
    p.add_argument("--stimulus", required=True, help="protocol name, TOML recipe or netCDF stimulus")
    p.add_argument("--cells", required=True, help="cell indices, comma-separated, e.g. 0,3")
    p.add_argument(
        "--times",
        help="times in s: comma-separated seconds and/or start:stop[:step] ranges "
        f"(stop included, step one frame by default); default {DEFAULT_IRF_TIMES} evenly spaced "
        "times, since the whole time axis can take several GB",
    )
    p.add_argument(
        "--method",
        choices=("gradient", "ig"),
        default="gradient",
        help="gradient at the stimulus, or averaged along the path from zero contrast (ig)",
    )
    p.add_argument("--n-steps", type=int, default=20, help="quadrature nodes for ig (and SAE loadings)")
    p.add_argument(
        "--modes",
        help="split each IRF by these modes: an SAE saved by 'retinacodec modes "
        "--save-sae' (per-sample loadings) or a 'retinacodec modes' output (every mode loading 1)",
    )
    p.add_argument("--layer", help="layer the modes were fitted on (default: the one they record)")
    p.add_argument(
        "--selected-modes", help="mode positions to keep, comma-separated (the rest go to the residual; default all)"
    )
    p.add_argument("--batch-size", type=int, default=32, help="windows x path nodes per forward pass")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("-o", "--output", required=True, help="output netCDF file")
    p.add_argument("--plot", help="also save a figure of the first cell to this PNG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Run ``retinacodec irf`` with its parsed arguments."""
    from ..io import write_netcdf
    from ..models.registry import load
    from ..modes.result import Modes
    from ..receptive_fields.instantaneous import irf
    from ..receptive_fields.sampling import sample_times
    from ..receptive_fields.selection import ModeSelection
    from ..stimuli import load_stimulus

    if args.modes is None and (args.layer is not None or args.selected_modes is not None):
        raise RetinaCodecError(
            "--layer or --selected-modes given without --modes; expected --modes MODES.nc "
            "(written by 'retinacodec modes') to decompose the IRF by"
        )
    check_paths([args.stimulus, args.model, args.modes], {"-o": args.output, "--plot": args.plot})
    model = load(args.model)
    stim = load_stimulus(args.stimulus)
    cells = parse_ints(args.cells, "--cells")
    selected = None if args.selected_modes is None else parse_ints(args.selected_modes, "--selected-modes")
    modes = None if args.modes is None else Modes.read(args.modes)
    if args.times is None:
        n_modes = 0 if modes is None else len(selected) if selected else modes.n_modes
        sample = sample_times(model, stim, DEFAULT_IRF_TIMES, len(cells), n_modes)
        times = sample.times
        print(
            f"IRFs at {len(times)} evenly spaced times of the {sample.n_windows} with a full history "
            f"(all would take {sample.all_gb:.2f} GB); pass --times for others"
        )
    else:
        times = parse_times(args.times, float(stim.attrs["frame_rate_hz"]))
    result = irf(
        model,
        stim,
        cells,
        times,
        method=args.method,
        n_steps=args.n_steps,
        modes=None if modes is None else ModeSelection(modes, selected, args.layer),
        batch_size=args.batch_size,
        device=args.device,
    )
    write_netcdf(result, args.output)
    whole = result if modes is None else result["irf"]
    shape = " x ".join(f"{dim} {size}" for dim, size in whole.sizes.items())
    line = (
        f"wrote {args.output}: {args.method} IRFs ({shape}) of cells {','.join(map(str, cells))} at "
        f"{whole.sizes['time']} times from {whole['time'].values.min():g} to {whole['time'].values.max():g} s"
    )
    if modes is not None:
        line += (
            f"; {result.sizes['mode']} modes of '{result.attrs['layer']}' ({result.attrs['modes']}) explain "
            f"{100 * result.attrs['explained_overall']:.1f}% of the IRFs' squared norm"
        )
    print(line)
    if args.plot:
        from ..plots import save_figure
        from ..plots.irf import plot_irf

        save_figure(plot_irf(result), args.plot)
        print(f"wrote {args.plot}")

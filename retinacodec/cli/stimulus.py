"""``retinacodec stimulus``: render a stimulus protocol (shipped name or TOML file) to netCDF."""

from __future__ import annotations

import argparse

from ._parsing import check_paths


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``retinacodec stimulus`` to the command's subparsers."""
    p = sub.add_parser("stimulus", help="render a stimulus protocol (shipped name or TOML file) to netCDF")
    p.add_argument("protocol", help="shipped protocol name (see stimuli/) or path to a TOML recipe")
    p.add_argument("-o", "--output", required=True, help="output netCDF file")
    p.add_argument("--plot", help="also save a figure (a few frames + mean luminance) to this PNG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Run ``retinacodec stimulus`` with its parsed arguments."""
    from ..io import write_netcdf
    from ..stimuli import render_protocol

    check_paths([args.protocol], {"-o": args.output, "--plot": args.plot})
    stim = render_protocol(args.protocol)
    write_netcdf(stim, args.output)
    print(
        f"wrote {args.output}: {stim.attrs['kind']} stimulus, {stim.sizes['time']} frames of "
        f"{stim.sizes['y']}x{stim.sizes['x']} px at {stim.attrs['frame_rate_hz']:g} Hz"
    )
    if args.plot:
        from ..plots import save_figure
        from ..plots.stimulus import plot_stimulus

        save_figure(plot_stimulus(stim), args.plot)
        print(f"wrote {args.plot}")

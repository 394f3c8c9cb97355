"""The ``retinacodec`` command line: each subcommand parses its arguments and calls the library.

A user's mistake (a :class:`RetinaCodecError`) is printed as one line on stderr with exit status 2;
never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def _cmd_demo(args: argparse.Namespace) -> None:
    from .io import write_netcdf
    from .plots import save_figure
    from .plots.stimulus import plot_stimulus
    from .stimuli import list_protocols, render_protocol

    out = Path(args.output)
    for name in list_protocols():
        stim = render_protocol(name)
        write_netcdf(stim, out / f"stimulus_{name}.nc")
        save_figure(plot_stimulus(stim), out / f"stimulus_{name}.png")
        print(f"{name}: {stim.sizes['time']} frames -> {out / f'stimulus_{name}.nc'} and .png")


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

    p = sub.add_parser("demo", help="run the main job on the shipped default and write results")
    p.add_argument("-o", "--output", default="demo_out", help="output folder (default: demo_out)")
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

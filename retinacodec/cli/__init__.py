"""The ``retinacodec`` command line: one module per subcommand, each parsing its arguments and
calling one library function.

A user's mistake (a :class:`RetinaCodecError`) is printed as one line on stderr with exit status 2;
never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import RetinaCodecError
from . import contributions, control, demo, imagenet, irf, modes, stimulus, train

SUBCOMMANDS = (stimulus, train, contributions, modes, irf, control, imagenet, demo)
"""The subcommand modules, in the order ``retinacodec --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``retinacodec`` command."""
    parser = argparse.ArgumentParser(
        prog="retinacodec",
        description="Contribution decomposition (CODEC) for retina models and image classifiers.",
    )
    parser.add_argument("--version", action="version", version=f"retinacodec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for command in SUBCOMMANDS:
        command.register(sub)
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

"""The ``retinacodec`` command line: one module per subcommand, each parsing its arguments and
calling one library function.

A user's mistake (a :class:`RetinaCodecError`) is printed as one line on stderr with exit status 2;
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from .. import __version__
from ..errors import RetinaCodecError
from . import contributions, control, demo, design, imagenet, irf, modes, stimulus, train

SUBCOMMANDS = (stimulus, train, contributions, modes, irf, control, design, imagenet, demo)
"""The subcommand modules, in the order ``retinacodec --help`` lists them."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit status 2), pointing at
    ``--help`` instead of printing the usage block; its subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``retinacodec`` command."""
    parser = OneLineParser(
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
    except OSError as exc:
        print(f"retinacodec {args.command}: error: {_os_message(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"retinacodec {args.command}: error: out of memory (try smaller sizes or chunks)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"retinacodec {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


def _os_message(exc: OSError) -> str:
    """One line for an operating-system error the library did not name itself: the reason and the
    file it concerns."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{reason}: {exc.filename}" if exc.filename else reason


if __name__ == "__main__":
    sys.exit(main())

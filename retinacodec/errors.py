"""The one exception type for bad input, and how a command line reports it."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec

_Arguments = ParamSpec("_Arguments")


class RetinaCodecError(ValueError):
    """Raised for any user mistake: wrong shapes, dims, units, NaNs, missing or corrupt files,
    unknown names. The message says what was wrong and what was expected; the CLI prints it as one
    line and exits with status 2."""


def one_line_errors(main: Callable[_Arguments, int]) -> Callable[_Arguments, int]:
    """Wrap a script's ``main(argv) -> status`` so that a user's mistake is one line, never a traceback.

    Parameters
    ----------
    main : callable
        The script's command line: takes ``argv`` (None for ``sys.argv[1:]``) and returns the exit
        status.

    Returns
    -------
    callable
        The same command line; a :class:`RetinaCodecError` raised inside it is printed to stderr as
        ``error: <message>`` and the status is 2. (The ``retinacodec`` CLI does the same, with the
        subcommand's name before ``error``.)
    """

    @functools.wraps(main)
    def reported(*args: _Arguments.args, **kwargs: _Arguments.kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except RetinaCodecError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return reported

"""MkDocs hook: the command-line page shows each subcommand's ``--help``, taken from the parser at build time.

A line ``<!-- help: NAME -->`` in a page becomes the help text of ``retinacodec NAME``, and
``<!-- help -->`` that of ``retinacodec`` itself, in a code block; the page never goes stale. The
parser is imported from the checkout the site is built from (the folder of ``mkdocs.yml``), as the
API reference reads it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

MARKER = re.compile(r"^<!-- help(?:: ([a-z_]+))? -->$", re.M)
"""A help placeholder; group 1 is the subcommand (none: the top-level command)."""
WIDTH = "100"
"""Columns the help text is wrapped to."""


def help_text(command: str | None) -> str:
    """``retinacodec [COMMAND] --help``, as the terminal shows it ``WIDTH`` columns wide.

    Raises
    ------
    KeyError
        For a command the parser does not know.
    """
    from retinacodec.cli import build_parser

    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parser = build_parser()
        if command is not None:
            subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            parser = subparsers.choices[command]
        return parser.format_help()
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


def on_config(config: Any, **kwargs: Any) -> None:
    """Import ``retinacodec`` from the checkout of ``mkdocs.yml``, before any installed copy."""
    sys.path.insert(0, str(Path(config.config_file_path).resolve().parent))


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace every help placeholder of a page with the help text in a code block."""
    return MARKER.sub(lambda m: f"```text\n{help_text(m.group(1)).rstrip()}\n```", markdown)

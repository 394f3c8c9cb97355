"""The options that choose what to read from an NWB recording, shared by ``train`` and ``demo``."""

from __future__ import annotations

import argparse

from ..errors import RetinaCodecError


def add_nwb_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--stimulus-series``, ``--epochs``, ``--units`` and ``--electrode-groups`` (with --nwb)."""
    parser.add_argument(
        "--stimulus-series",
        "--stimulus",
        dest="stimulus_series",
        metavar="NAME",
        help="with --nwb: the stimulus ImageSeries, IndexSeries or presentations table when the file holds several",
    )
    parser.add_argument(
        "--epochs",
        metavar="NAME[,NAME]",
        help="with --nwb: keep only these epochs, by name (epochs table tags, intervals tables) or START:STOP in s",
    )
    parser.add_argument(
        "--units",
        action="append",
        metavar="'COLUMN==VALUE'",
        help="with --nwb: keep only the units meeting this condition on a units-table column "
        "(==, !=, <, <=, >, >=), e.g. 'quality==good'; repeat to require several",
    )
    parser.add_argument(
        "--electrode-groups", metavar="NAME[,NAME]", help="with --nwb: keep only the units of these electrode groups"
    )


def nwb_selection(args: argparse.Namespace):
    """The :class:`~retinacodec.io.NWBSelection` of the parsed options, or None when none is given.

    Raises
    ------
    RetinaCodecError
        If an option is given without --nwb, or an epoch is neither a name nor START:STOP.
    """
    given = {
        "--stimulus-series": args.stimulus_series,
        "--epochs": args.epochs,
        "--units": args.units,
        "--electrode-groups": args.electrode_groups,
    }
    if not any(value is not None for value in given.values()):
        return None
    if args.nwb is None:
        used = [option for option, value in given.items() if value is not None]
        raise RetinaCodecError(f"{', '.join(used)} given without --nwb; expected them with --nwb RECORDING")
    from ..io import NWBSelection

    groups = None if args.electrode_groups is None else args.electrode_groups.split(",")
    epochs = None if args.epochs is None else [_epoch(item) for item in args.epochs.split(",")]
    return NWBSelection(args.stimulus_series, epochs, args.units, groups)


def _epoch(text: str) -> str | tuple[float, float]:
    """An epoch name, or START:STOP in s as (start, stop)."""
    if ":" not in text:
        return text.strip()
    try:
        start, stop = (float(part) for part in text.split(":"))
    except ValueError:
        raise RetinaCodecError(f"cannot read --epochs item {text!r}; expected a name or START:STOP in s") from None
    return start, stop

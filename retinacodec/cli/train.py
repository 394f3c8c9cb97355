"""``retinacodec train``: train a retina CNN from a TOML recipe, or a CNN and the LN baseline ."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import RetinaCodecError
from ._nwb import add_nwb_options, nwb_selection


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``retinacodec train`` to the command's subparsers."""
    p = sub.add_parser(
        "train",
        help="train a retina CNN from a TOML recipe, or a CNN and the LN baseline "
        "from an NWB recording's spikes (resumes if interrupted)",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--recipe", help="training recipe, e.g. models/default/recipe.toml")
    source.add_argument(
        "--nwb",
        help="NWB recording (stimulus ImageSeries + units): fits the CNN and the LN "
        "baseline, evaluates both on held-out data and writes fit.png",
    )
    add_nwb_options(p)
    p.add_argument("--history-s", type=float, default=0.4, help="with --nwb: stimulus history in s (0.4)")
    p.add_argument("--cell-types", metavar="FILE", help="with --nwb: CSV of unit_id,label lines (win over all)")
    p.add_argument("--cell-type-column", metavar="NAME", help="with --nwb: units column of labels (default cell_type)")
    p.add_argument("-o", "--output", required=True, help="model folder to write")
    p.add_argument("--restart", action="store_true", help="ignore a previous run's checkpoint")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Run ``retinacodec train`` with its parsed arguments."""
    from ..device import resolve_device

    resolve_device(args.device)  # refuse an unknown device before reading the recording
    selection = nwb_selection(args)
    if Path(args.output).is_file():
        raise RetinaCodecError(f"-o {args.output} is a file; expected a model folder to write")
    if args.nwb is None and (args.cell_types or args.cell_type_column):
        raise RetinaCodecError("--cell-types and --cell-type-column label a recording's units; expected --nwb")
    if args.nwb is not None and not 0 < args.history_s < math.inf:
        raise RetinaCodecError(f"--history-s {args.history_s}; expected a positive, finite number of seconds")
    if args.nwb is not None:
        from ..models.cell_types import TypeLabels
        from ..models.training import train_nwb

        result = train_nwb(
            args.nwb,
            args.output,
            selection=selection,
            history_s=args.history_s,
            resume=not args.restart,
            device=args.device,
            cell_types=TypeLabels.from_file(args.cell_types, args.cell_type_column),
        )
        from ..plots import save_figure
        from ..plots.model_fit import plot_recording_fit

        save_figure(plot_recording_fit(result.evaluation), result.folder / "fit.png", dpi=110)
    else:
        from ..models.training import train_from_recipe

        result = train_from_recipe(args.recipe, args.output, resume=not args.restart, device=args.device)
    print(result.summary())

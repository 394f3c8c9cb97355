"""``retinacodec demo``: run the main job on the shipped default and write results."""

from __future__ import annotations

import argparse

from ._nwb import add_nwb_options, nwb_selection


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``retinacodec demo`` to the command's subparsers."""
    p = sub.add_parser("demo", help="run the main job on the shipped default and write results")
    p.add_argument("-o", "--output", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--model", default="default", help="'default' or a checkpoint with its virtual retina")
    p.add_argument("--nwb", help="analyse an NWB recording instead (a model is trained on it first)")
    add_nwb_options(p)
    p.add_argument("--overwrite", action="store_true", help="write into a folder that holds other files")
    p.add_argument("--fast", action="store_true", help="tiny settings for a smoke test (numbers not meaningful)")
    p.add_argument(
        "--seed",
        type=int,
        help="seed of every stimulus (default 9100; stimuli use seed, seed + 1, ...): "
        "another seed is an independent replicate of the whole analysis",
    )
    p.add_argument("--device", default="cpu", help="torch device of every step: cpu (default), cuda or auto")
    p.add_argument("--workers", type=int, help="compute the contributions on a local Dask cluster of N workers")
    p.add_argument("--scheduler", help="compute the contributions on the Dask cluster at this scheduler address")
    p.add_argument("--cell-types", metavar="FILE", help="with --nwb: CSV of unit_id,label lines (win over all)")
    p.add_argument("--cell-type-column", metavar="NAME", help="with --nwb: units column of labels (default cell_type)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Run ``retinacodec demo`` with its parsed arguments."""
    import dataclasses

    from ..models.cell_types import TypeLabels
    from ..pipelines.retina.run import run_demo
    from ..pipelines.retina.settings import DemoSettings, Placement

    selection = nwb_selection(args)
    settings = DemoSettings.fast() if args.fast else DemoSettings()
    if args.seed is not None:
        settings = dataclasses.replace(settings, seed=args.seed)
    run_demo(  # it reports each step and the report's path as it goes
        args.output,
        model=args.model,
        nwb=args.nwb,
        nwb_selection=selection,
        overwrite=args.overwrite,
        settings=settings,
        placement=Placement(args.device, args.workers, args.scheduler),
        cell_types=None
        if args.cell_types is None and args.cell_type_column is None
        else TypeLabels.from_file(args.cell_types, args.cell_type_column),
    )

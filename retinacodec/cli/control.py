"""``retinacodec control``: silence a retina layer's top channels of a contribution and an activation mode."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import RetinaCodecError
from ._parsing import check_paths, parse_ints

if TYPE_CHECKING:
    from ..control.choice import ModeSource


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``retinacodec control`` to the command's subparsers."""
    p = sub.add_parser(
        "control",
        help="silence a retina layer's top channels of a contribution and an activation mode",
        description="Ablate (zero) or preserve (keep alone) the top channels of the contribution mode, and of "
        "the activation mode, most tied to a target, and measure the cells' rates. Retina models "
        "only: for image classifiers, 'retinacodec imagenet' runs the control experiment per layer.",
    )
    p.add_argument("--model", default="default", help="'default' or a checkpoint path")
    p.add_argument("--stimulus", required=True, help="protocol name, TOML recipe or netCDF stimulus")
    p.add_argument(
        "--modes",
        required=True,
        help="contribution modes: the output of 'retinacodec modes' (or its --save-sae file, with --mode)",
    )
    p.add_argument(
        "--activation-modes",
        help="activation modes to compare with: the output of "
        "'retinacodec modes --variable activation' (or its --save-sae file, with --activation-mode)",
    )
    p.add_argument(
        "--target",
        help="type:NAME or cell:I: the modes most tied to it are silenced (unless "
        "--mode / --activation-mode) and the table sets its cells apart (default: the OMS cells, "
        "else the first type, else the first cell)",
    )
    p.add_argument("--mode", type=int, help="contribution mode position to use instead of the associated one")
    p.add_argument("--activation-mode", type=int, help="activation mode position to use instead")
    p.add_argument(
        "--fraction",
        type=float,
        default=0.02,
        help="fraction of the layer's channels silenced per mode (at least one; default 0.02)",
    )
    p.add_argument("--layer", help="layer the modes were fitted on (default: the one they record)")
    p.add_argument("--cells", help="cell indices to report, comma-separated (default all)")
    p.add_argument("--batch-size", type=int, default=256, help="windows per forward pass")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("-o", "--output", required=True, help="output netCDF file")
    p.add_argument("--plot", help="also save a bar chart (with --curves: the curves) to this PNG")
    p.add_argument(
        "--curves",
        type=int,
        metavar="K",
        help="control curves instead: silence or keep alone the top "
        "k = 1..K channels of the mode most tied to each cell type (modes files with loadings), against "
        "random channel sets; table and figure of the target specificity",
    )
    p.add_argument("--draws", type=int, default=20, help="random channel sets per k with --curves (default 20)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Run ``retinacodec control`` with its parsed arguments."""
    inputs = [args.stimulus, args.model, args.modes, args.activation_modes]
    check_paths(inputs, {"-o": args.output, "--plot": args.plot})
    if args.curves is not None:
        _control_curves(args)
        return

    from ..control.choice import choose_channels
    from ..control.experiments import retina_control
    from ..control.tables import control_table
    from ..io import write_netcdf
    from ..models.registry import load
    from ..stimuli import load_stimulus

    if args.activation_mode is not None and args.activation_modes is None:
        raise RetinaCodecError("--activation-mode given without --activation-modes; expected both or neither")
    model = load(args.model)
    stim = load_stimulus(args.stimulus)
    cells = None if args.cells is None else parse_ints(args.cells, "--cells")
    target = None if args.target is None else _control_target(args.target)
    choice = choose_channels(model, stim, _mode_sources(args), args.layer, target, args.fraction)
    for variable, chosen in choice.choices.items():
        print(
            f"{variable} modes ({chosen.name}): mode {chosen.mode} ({chosen.rule}); its top {len(chosen.channels)} of "
            f"{chosen.n_channels} channels: {', '.join(map(str, chosen.channels))}"
        )
    result = retina_control(
        model, stim, choice.layer, choice.channels, cells=cells, batch_size=args.batch_size, device=args.device
    )
    result.attrs.update(choice.attrs())
    write_netcdf(result, args.output)
    print(
        f"control of layer '{choice.layer}' over {result.attrs['n_times']} windows of {result.attrs['stimulus']}, "
        "mean over cells:"
    )
    print(control_table(result, choice.target))
    print(f"wrote {args.output}")
    if args.plot:
        from ..plots import save_figure
        from ..plots.control import plot_control

        save_figure(plot_control(result), args.plot)
        print(f"wrote {args.plot}")


def _mode_sources(args: argparse.Namespace) -> list[ModeSource]:
    """The modes files named on the command line (contribution, then activation), read."""
    from ..control.choice import ModeSource
    from ..modes.result import Modes

    files = [("contribution", args.modes, args.mode)]
    if args.activation_modes is not None:
        files.append(("activation", args.activation_modes, args.activation_mode))
    return [ModeSource(Modes.read(path), variable, path, mode) for variable, path, mode in files]


def _control_target(text: str) -> tuple[str, object]:
    """(sample coord, label) of a ``--target`` spelling: ``type:NAME`` or ``cell:I``.

    Raises
    ------
    RetinaCodecError
        For any other spelling.
    """
    kind, _, value = text.partition(":")
    if kind == "type" and value:
        return "cell_type", value
    if kind == "cell" and value.isascii() and value.isdigit():
        return "cell", int(value)
    raise RetinaCodecError(f"cannot read --target {text!r}; expected 'type:NAME' or 'cell:I'")


def _control_curves(args: argparse.Namespace) -> None:
    """``retinacodec control --curves K``: control curves of every cell type's modes (see
    :func:`retinacodec.control.curves.retina_control_curves`)."""
    from ..control.choice import curve_rankings
    from ..control.curves.retina import CurveSettings, retina_control_curves
    from ..control.tables import curves_table
    from ..io import write_netcdf
    from ..models.registry import load
    from ..stimuli import load_stimulus

    if args.mode is not None or args.activation_mode is not None or args.target is not None:
        raise RetinaCodecError(
            "--curves targets every cell type's own mode; expected no --mode, --activation-mode or --target with it"
        )
    model = load(args.model)
    stim = load_stimulus(args.stimulus)
    layer, rankings = curve_rankings(model, _mode_sources(args), args.layer)
    settings = CurveSettings(max_channels=args.curves, n_random=args.draws, batch_size=args.batch_size)
    curves = retina_control_curves(model, stim, layer, rankings, settings)
    write_netcdf(curves, args.output)
    print(
        f"control curves of layer '{layer}' ({curves.attrs['stimulus']}): target specificity, on- minus off-target "
        "|relative rate change| (ablate) or off minus on (preserve)"
    )
    print(curves_table(curves))
    print(f"wrote {args.output}")
    if args.plot:
        from ..plots import save_figure
        from ..plots.control import plot_control_curves

        save_figure(plot_control_curves(curves), args.plot)
        print(f"wrote {args.plot}")

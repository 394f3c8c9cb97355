"""``retinacodec control``: silence a retina layer's top channels of a contribution and an activation mode."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import RetinaCodecError
from ._parsing import parse_ints

if TYPE_CHECKING:
    import xarray as xr

    from ..modes.sae import SAE


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
    import json

    import torch

    from ..modes.sae_io import read_modes

    if args.curves is not None:
        _control_curves(args)
        return

    from ..attribution.routed import check_layer_channels
    from ..control.experiments import retina_control
    from ..io import write_netcdf
    from ..models.adapter import adapt
    from ..models.registry import load, windows
    from ..modes.sae import SAE
    from ..modes.selection import channel_weights, modes_layer, top_channels
    from ..stimuli import load_stimulus

    if args.activation_mode is not None and args.activation_modes is None:
        raise RetinaCodecError("--activation-mode given without --activation-modes; expected both or neither")
    model = load(args.model)
    stim = load_stimulus(args.stimulus)
    cells = None if args.cells is None else parse_ints(args.cells, "--cells")
    inputs, _ = windows(model, stim)  # also checks that the stimulus fits the model
    adapted = adapt(model)
    files = {"contribution": (args.modes, args.mode)}
    if args.activation_modes is not None:
        files["activation"] = (args.activation_modes, args.activation_mode)
    layer, target = args.layer, None if args.target is None else _control_target(args.target)
    channels, notes = {}, {}
    for variable, (path, mode) in files.items():
        modes = read_modes(path)
        params = (
            {"variable": modes.variable} if isinstance(modes, SAE) else json.loads(modes.attrs.get("sae_params", "{}"))
        )
        fitted_on = params.get("variable", variable)
        if fitted_on != variable:
            raise RetinaCodecError(
                f"{path} holds modes of the {fitted_on}; expected {variable} modes "
                f"('retinacodec modes --variable {variable}')"
            )
        weights = channel_weights(modes if isinstance(modes, SAE) else modes["modes"])
        try:
            layer = modes_layer(weights, layer, adapted)
            with torch.no_grad():
                activation = adapted.capture(inputs[:1], layer, stop=True).activation
            check_layer_channels(adapted, layer, activation, weights.sizes["channel"])
        except RetinaCodecError as exc:
            raise RetinaCodecError(f"{path}: {exc}") from None
        mode, rule, target = _mode_for(modes, mode, target, path)
        channels[variable] = top_channels(weights, mode, args.fraction)
        notes[variable] = (mode, rule)
        print(
            f"{variable} modes ({path}): mode {mode} ({rule}); its top {len(channels[variable])} of "
            f"{weights.sizes['channel']} channels: {', '.join(map(str, channels[variable]))}"
        )
    result = retina_control(model, stim, layer, channels, cells=cells, batch_size=args.batch_size, device=args.device)
    result.attrs.update(
        fraction=args.fraction,
        selection_rule="; ".join(f"{variable}: mode {mode}, {rule}" for variable, (mode, rule) in notes.items()),
        **({} if target is None else {"target_kind": target[0], "target_label": str(target[1])}),
        **{f"channels_{variable}": chosen for variable, chosen in channels.items()},
    )
    write_netcdf(result, args.output)
    print(
        f"control of layer '{layer}' over {result.attrs['n_times']} windows of {result.attrs['stimulus']}, "
        "mean over cells:"
    )
    print(_control_table(result, target))
    print(f"wrote {args.output}")
    if args.plot:
        from ..plots import save_figure
        from ..plots.control import plot_control

        save_figure(plot_control(result), args.plot)
        print(f"wrote {args.plot}")


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
    if kind == "cell" and value.isdigit():
        return "cell", int(value)
    raise RetinaCodecError(f"cannot read --target {text!r}; expected 'type:NAME' or 'cell:I'")


def _target_name(target: tuple[str, object]) -> str:
    coord, label = target
    return f"type:{label}" if coord == "cell_type" else f"cell:{label}"


def _mode_for(
    modes: SAE | xr.Dataset, mode: int | None, target: tuple[str, object] | None, path: str
) -> tuple[int, str, tuple[str, object] | None]:
    """(mode, how it was chosen, target): ``mode`` if given, else the mode whose loadings correlate
    best with being the target (by default the OMS cells, see
    :func:`retinacodec.modes.selection.control_target`).

    Raises
    ------
    RetinaCodecError
        If no mode is given and the file holds no loadings, or the target is not among its samples.
    """
    import numpy as np

    from ..modes.selection import associated_mode, control_target

    if mode is not None:
        return mode, "chosen by hand", target
    if not hasattr(modes, "data_vars"):
        raise RetinaCodecError(
            f"{path} is a saved SAE, which holds no loadings to pick a mode by; expected the "
            "modes file of 'retinacodec modes -o', or the mode by --mode / --activation-mode"
        )
    loadings = modes["loadings"]
    if target is None:
        if "cell_type" not in loadings.coords:
            raise RetinaCodecError(f"the samples of {path} have no cell_type; expected --target cell:I")
        coord, _, label = control_target(loadings)
        target = coord, label
    coord, label = target
    if coord not in loadings.coords:
        raise RetinaCodecError(f"the samples of {path} have no {coord} coord; expected another --target")
    labels = np.asarray(loadings[coord].values)
    if label not in labels:
        raise RetinaCodecError(
            f"no sample of {path} is of {_target_name(target)}; expected one of {sorted(set(labels.tolist()))}"
        )
    try:
        mode = associated_mode(loadings, labels, label)
    except RetinaCodecError as exc:
        raise RetinaCodecError(f"{path}: {exc}; or choose the mode by --mode / --activation-mode") from None
    return mode, f"most tied to {_target_name(target)}", target


def _control_table(result: xr.Dataset, target: tuple[str, object] | None) -> str:
    """Mean rate change and correlation per (cell group, intervention), channel selections side by
    side; the groups are the target's cells and the others (all cells without a target)."""
    import numpy as np

    groups = [("all cells", np.ones(result.sizes["cell"], dtype=bool))]
    if target is not None:
        coord, label = target
        mask = np.asarray(result[coord].values).astype(str) == str(label)
        named = (f"{label} cells" if coord == "cell_type" else f"cell {label}", mask), ("other cells", ~mask)
        groups = [group for group in named if group[1].any()]
    groups = [(f"{name} ({int(mask.sum())})", mask) for name, mask in groups]
    selections = [str(name) for name in result["selection"].values]
    width = max(13, *(len(name) + 2 for name in selections))
    first = max(len(name) for name, _ in groups) + 2
    block = width * len(selections)
    lines = [
        f"{'':<{first + 14}}{'rate change (Hz)':>{block}}{'correlation':>{block}}",
        f"{'cells':<{first}}{'intervention':<14}" + "".join(f"{name:>{width}}" for name in selections) * 2,
    ]
    for name, mask in groups:
        chosen = result.isel(cell=np.flatnonzero(mask))
        change = chosen["rate_change"].mean("cell").transpose("intervention", "selection").values
        correlation = chosen["correlation"].mean("cell", skipna=True).transpose("intervention", "selection").values
        for i, intervention in enumerate(result["intervention"].values):
            lines.append(
                f"{name:<{first}}{intervention!s:<14}"
                + "".join(f"{value:>+{width}.2f}" for value in change[i])
                + "".join(f"{value:>{width}.3f}" for value in correlation[i])
            )
    return "\n".join(lines)


def _curves_table(curves: xr.Dataset) -> str:
    """Specificity per (target, intervention, k), selections side by side (± SE; random ± SD over draws)."""
    selections = [str(s) for s in curves["selection"].values]
    lines = [f"{'target':<10}{'intervention':<14}{'k':>3}" + "".join(f"{name:>22}" for name in selections)]
    for target in curves["target"].values:
        for intervention in curves["intervention"].values:
            for k in curves["k"].values:
                point = curves.sel(target=target, intervention=intervention, k=k)
                cells = []
                for name in selections:
                    value = point.sel(selection=name)
                    error = value["specificity_spread" if name == "random" else "specificity_se"]
                    cells.append(f"{float(value['specificity']):+.3f} ± {float(error):.3f}")
                lines.append(f"{target!s:<10}{intervention!s:<14}{int(k):>3}" + "".join(f"{c:>22}" for c in cells))
    return "\n".join(lines)


def _control_curves(args: argparse.Namespace) -> None:
    """``retinacodec control --curves K``: control curves of every cell type's modes (see
    :func:`retinacodec.control.curves.retina_control_curves`)."""
    import json

    from ..control.curves.retina import (
        CurveSettings,
        curve_summary,
        retina_control_curves,
        target_rankings,
    )
    from ..io import write_netcdf
    from ..models.adapter import adapt
    from ..models.registry import load, windows
    from ..modes.sae_io import read_modes
    from ..modes.selection import modes_layer
    from ..stimuli import load_stimulus

    if args.mode is not None or args.activation_mode is not None or args.target is not None:
        raise RetinaCodecError(
            "--curves targets every cell type's own mode; expected no --mode, --activation-mode or --target with it"
        )
    model = load(args.model)
    stim = load_stimulus(args.stimulus)
    windows(model, stim)  # checks that the stimulus fits the model
    layer, rankings = args.layer, {}
    files = {
        "contribution": args.modes,
        **({} if args.activation_modes is None else {"activation": args.activation_modes}),
    }
    for variable, path in files.items():
        modes = read_modes(path)
        if not hasattr(modes, "data_vars"):
            raise RetinaCodecError(
                f"{path} is a saved SAE, which holds no loadings; --curves expects the modes file "
                "of 'retinacodec modes -o'"
            )
        fitted_on = json.loads(modes.attrs.get("sae_params", "{}")).get("variable", variable)
        if fitted_on != variable:
            raise RetinaCodecError(f"{path} holds modes of the {fitted_on}; expected {variable} modes")
        try:
            layer = modes_layer(modes["modes"], layer, adapt(model))
            rankings[variable] = target_rankings(modes)
        except RetinaCodecError as exc:
            raise RetinaCodecError(f"{path}: {exc}") from None
    settings = CurveSettings(max_channels=args.curves, n_random=args.draws, batch_size=args.batch_size)
    curves = retina_control_curves(model, stim, layer, rankings, settings)
    write_netcdf(curves, args.output)
    print(
        f"control curves of layer '{layer}' ({curves.attrs['stimulus']}): target specificity, on- minus off-target "
        "|relative rate change| (ablate) or off minus on (preserve)"
    )
    print(_curves_table(curves))
    summary = curve_summary(curves)
    for intervention in summary["intervention"].values:
        means = summary["mean_specificity"].sel(intervention=intervention)
        print(
            f"mean over targets and k, {intervention}: "
            + ", ".join(f"{name} {float(means.sel(selection=name)):+.3f}" for name in summary["selection"].values)
        )
    print(f"wrote {args.output}")
    if args.plot:
        from ..plots import save_figure
        from ..plots.control import plot_control_curves

        save_figure(plot_control_curves(curves), args.plot)
        print(f"wrote {args.plot}")

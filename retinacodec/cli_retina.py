"""The ``retinacodec irf`` and ``retinacodec control`` commands: argument handling for the
instantaneous receptive fields and the network-control experiment of a retina model."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .errors import RetinaCodecError

if TYPE_CHECKING:
    import numpy as np
    import xarray as xr

    from .modes.sae import SAE

DEFAULT_IRF_TIMES = 8
"""Times ``retinacodec irf`` computes without ``--times``: the whole time axis can take several GB."""


def _parse_ints(text: str, option: str) -> list[int]:
    """The comma-separated integers of a command-line option.

    Raises
    ------
    RetinaCodecError
        If an item is not an integer.
    """
    try:
        return [int(item) for item in text.split(",")]
    except ValueError:
        raise RetinaCodecError(f"cannot read {option} {text!r}; expected comma-separated integers like 0,3") from None


def _parse_times(text: str, frame_rate_hz: float) -> np.ndarray:
    """Times (s) from comma-separated seconds and ``start:stop[:step]`` ranges.

    Parameters
    ----------
    text : str
        E.g. ``"0.5,1.2"`` or ``"1:2:0.25"``; a range includes ``stop`` and steps by one frame
        unless ``step`` is given.
    frame_rate_hz : float
        The stimulus's frame rate.

    Returns
    -------
    numpy.ndarray
        The times in s, in the order given.

    Raises
    ------
    RetinaCodecError
        For an item that is neither a number nor a range with ``start <= stop`` and ``step > 0``.
    """
    import numpy as np

    times = []
    for item in text.split(","):
        try:
            bounds = [float(value) for value in item.split(":")]
        except ValueError:
            bounds = []
        if len(bounds) == 2:
            bounds.append(1.0 / frame_rate_hz)
        if len(bounds) == 1:
            times.append(bounds)
        elif len(bounds) == 3 and np.isfinite(bounds).all() and bounds[0] <= bounds[1] and bounds[2] > 0:
            start, stop, step = bounds
            times.append(start + step * np.arange(int(np.floor((stop - start) / step + 1e-9)) + 1))
        else:
            raise RetinaCodecError(f"cannot read --times item {item!r}; expected seconds (0.5) or a finite range "
                                   "start:stop[:step] with start <= stop and step > 0, comma-separated")
    return np.concatenate(times)


def _read_modes(path: str) -> SAE | xr.Dataset:
    """A fitted SAE (``retinacodec modes --save-sae``) or a modes result (``retinacodec modes -o``).

    Raises
    ------
    RetinaCodecError
        If the file is missing, unreadable or neither of these.
    """
    from .io import read_netcdf
    from .modes.sae import SAE

    data = read_netcdf(path)
    if hasattr(data, "data_vars") and {"modes", "loadings"} <= set(data.data_vars):
        return data
    try:
        return SAE.load(path)
    except RetinaCodecError:
        raise RetinaCodecError(
            f"{path} holds no modes; expected a file written by 'retinacodec modes' (-o or --save-sae)"
        ) from None


def cmd_irf(args: argparse.Namespace) -> None:
    """``retinacodec irf``: IRFs of the chosen cells at the chosen times, optionally by mode."""
    import numpy as np

    from .modes.selection import channel_weights
    from .io import write_netcdf
    from .models.registry import load, windows
    from .modes.sae import SAE
    from .receptive_fields import irf
    from .stimuli import load_stimulus

    if args.modes is None and (args.layer is not None or args.selected_modes is not None):
        raise RetinaCodecError("--layer or --selected-modes given without --modes; expected --modes MODES.nc "
                               "(written by 'retinacodec modes') to decompose the IRF by")
    model = load(args.model)
    stim = load_stimulus(args.stimulus)
    cells = _parse_ints(args.cells, "--cells")
    selected = None if args.selected_modes is None else _parse_ints(args.selected_modes, "--selected-modes")
    modes = None
    if args.modes is not None:
        loaded = _read_modes(args.modes)
        modes = loaded if isinstance(loaded, SAE) else loaded["modes"]
    inputs, window_times = windows(model, stim)  # also checks that the stimulus fits the model
    if args.times is None:
        times = window_times[np.unique(np.linspace(0, len(window_times) - 1,
                                                   min(DEFAULT_IRF_TIMES, len(window_times))).round().astype(int))]
        n_modes = 0 if modes is None else len(selected) if selected else channel_weights(modes).sizes["mode"]
        parts = n_modes + 2 if n_modes else 1
        every = len(window_times) * len(cells) * parts * inputs[0].numel() * 4 / 1e9
        print(f"IRFs at {len(times)} evenly spaced times of the {len(window_times)} with a full history "
              f"(all would take {every:.2f} GB); pass --times for others")
    else:
        times = _parse_times(args.times, float(stim.attrs["frame_rate_hz"]))
    result = irf(model, stim, cells, times, method=args.method, n_steps=args.n_steps, layer=args.layer,
                 modes=modes, selected_modes=selected, batch_size=args.batch_size, device=args.device)
    write_netcdf(result, args.output)
    whole = result if modes is None else result["irf"]
    shape = " x ".join(f"{dim} {size}" for dim, size in whole.sizes.items())
    line = (f"wrote {args.output}: {args.method} IRFs ({shape}) of cells {','.join(map(str, cells))} at "
            f"{whole.sizes['time']} times from {whole['time'].values.min():g} to {whole['time'].values.max():g} s")
    if modes is not None:
        line += (f"; {result.sizes['mode']} modes of '{result.attrs['layer']}' ({result.attrs['modes']}) explain "
                 f"{100 * result.attrs['explained_overall']:.1f}% of the IRFs' squared norm")
    print(line)
    if args.plot:
        from .plots import save_figure
        from .plots.irf import plot_irf

        save_figure(plot_irf(result), args.plot)
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


def _mode_for(modes: SAE | xr.Dataset, mode: int | None, target: tuple[str, object] | None,
              path: str) -> tuple[int, str, tuple[str, object] | None]:
    """(mode, how it was chosen, target): ``mode`` if given, else the mode whose loadings correlate
    best with being the target (by default the OMS cells, see
    :func:`retinacodec.pipeline.steps.control_target`).

    Raises
    ------
    RetinaCodecError
        If no mode is given and the file holds no loadings, or the target is not among its samples.
    """
    import numpy as np

    from .control import associated_mode
    from .pipeline.steps import control_target

    if mode is not None:
        return mode, "chosen by hand", target
    if not hasattr(modes, "data_vars"):
        raise RetinaCodecError(f"{path} is a saved SAE, which holds no loadings to pick a mode by; expected the "
                               "modes file of 'retinacodec modes -o', or the mode by --mode / --activation-mode")
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
        raise RetinaCodecError(f"no sample of {path} is of {_target_name(target)}; expected one of "
                               f"{sorted(set(labels.tolist()))}")
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
    lines = [f"{'':<{first + 14}}{'rate change (Hz)':>{block}}{'correlation':>{block}}",
             f"{'cells':<{first}}{'intervention':<14}" + "".join(f"{name:>{width}}" for name in selections) * 2]
    for name, mask in groups:
        chosen = result.isel(cell=np.flatnonzero(mask))
        change = chosen["rate_change"].mean("cell").transpose("intervention", "selection").values
        correlation = chosen["correlation"].mean("cell", skipna=True).transpose("intervention", "selection").values
        for i, intervention in enumerate(result["intervention"].values):
            lines.append(f"{name:<{first}}{intervention!s:<14}"
                         + "".join(f"{value:>+{width}.2f}" for value in change[i])
                         + "".join(f"{value:>{width}.3f}" for value in correlation[i]))
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
    :func:`retinacodec.control_curves.retina_control_curves`)."""
    import json

    from .modes.selection import modes_layer
    from .control_curves.retina import curve_summary, retina_control_curves, target_rankings
    from .io import write_netcdf
    from .models.adapter import adapt
    from .models.registry import load, windows
    from .stimuli import load_stimulus

    if args.mode is not None or args.activation_mode is not None or args.target is not None:
        raise RetinaCodecError("--curves targets every cell type's own mode; expected no --mode, --activation-mode "
                               "or --target with it")
    model = load(args.model)
    stim = load_stimulus(args.stimulus)
    windows(model, stim)  # checks that the stimulus fits the model
    layer, rankings = args.layer, {}
    files = {"contribution": args.modes, **({} if args.activation_modes is None else
                                            {"activation": args.activation_modes})}
    for variable, path in files.items():
        modes = _read_modes(path)
        if not hasattr(modes, "data_vars"):
            raise RetinaCodecError(f"{path} is a saved SAE, which holds no loadings; --curves expects the modes file "
                                   "of 'retinacodec modes -o'")
        fitted_on = json.loads(modes.attrs.get("sae_params", "{}")).get("variable", variable)
        if fitted_on != variable:
            raise RetinaCodecError(f"{path} holds modes of the {fitted_on}; expected {variable} modes")
        try:
            layer = modes_layer(modes["modes"], layer, adapt(model))
            rankings[variable] = target_rankings(modes)
        except RetinaCodecError as exc:
            raise RetinaCodecError(f"{path}: {exc}") from None
    curves = retina_control_curves(model, stim, layer, rankings, max_channels=args.curves, n_random=args.draws,
                                   batch_size=args.batch_size)
    write_netcdf(curves, args.output)
    print(f"control curves of layer '{layer}' ({curves.attrs['stimulus']}): target specificity, on- minus off-target "
          "|relative rate change| (ablate) or off minus on (preserve)")
    print(_curves_table(curves))
    summary = curve_summary(curves)
    for intervention in summary["intervention"].values:
        means = summary["mean_specificity"].sel(intervention=intervention)
        print(f"mean over targets and k, {intervention}: " + ", ".join(
            f"{name} {float(means.sel(selection=name)):+.3f}" for name in summary["selection"].values))
    print(f"wrote {args.output}")
    if args.plot:
        from .plots import save_figure
        from .plots.control import plot_control_curves

        save_figure(plot_control_curves(curves), args.plot)
        print(f"wrote {args.plot}")


def cmd_control(args: argparse.Namespace) -> None:
    """``retinacodec control``: silence or keep alone a mode's top channels and compare the rates
    (with ``--curves``, the control curves of every cell type's modes)."""
    import json

    import torch

    if args.curves is not None:
        _control_curves(args)
        return

    from .attribution.routed import check_layer_channels
    from .modes.selection import channel_weights, modes_layer
    from .control import retina_control, top_channels
    from .io import write_netcdf
    from .models.adapter import adapt
    from .models.registry import load, windows
    from .modes.sae import SAE
    from .stimuli import load_stimulus

    if args.activation_mode is not None and args.activation_modes is None:
        raise RetinaCodecError("--activation-mode given without --activation-modes; expected both or neither")
    model = load(args.model)
    stim = load_stimulus(args.stimulus)
    cells = None if args.cells is None else _parse_ints(args.cells, "--cells")
    inputs, _ = windows(model, stim)  # also checks that the stimulus fits the model
    adapted = adapt(model)
    files = {"contribution": (args.modes, args.mode)}
    if args.activation_modes is not None:
        files["activation"] = (args.activation_modes, args.activation_mode)
    layer, target = args.layer, None if args.target is None else _control_target(args.target)
    channels, notes = {}, {}
    for variable, (path, mode) in files.items():
        modes = _read_modes(path)
        params = {"variable": modes.variable} if isinstance(modes, SAE) else json.loads(
            modes.attrs.get("sae_params", "{}"))
        fitted_on = params.get("variable", variable)
        if fitted_on != variable:
            raise RetinaCodecError(f"{path} holds modes of the {fitted_on}; expected {variable} modes "
                                   f"('retinacodec modes --variable {variable}')")
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
        print(f"{variable} modes ({path}): mode {mode} ({rule}); its top {len(channels[variable])} of "
              f"{weights.sizes['channel']} channels: {', '.join(map(str, channels[variable]))}")
    result = retina_control(model, stim, layer, channels, cells=cells, batch_size=args.batch_size,
                            device=args.device)
    result.attrs.update(
        fraction=args.fraction,
        selection_rule="; ".join(f"{variable}: mode {mode}, {rule}" for variable, (mode, rule) in notes.items()),
        **({} if target is None else {"target_kind": target[0], "target_label": str(target[1])}),
        **{f"channels_{variable}": chosen for variable, chosen in channels.items()},
    )
    write_netcdf(result, args.output)
    print(f"control of layer '{layer}' over {result.attrs['n_times']} windows of {result.attrs['stimulus']}, "
          "mean over cells:")
    print(_control_table(result, target))
    print(f"wrote {args.output}")
    if args.plot:
        from .plots import save_figure
        from .plots.control import plot_control

        save_figure(plot_control(result), args.plot)
        print(f"wrote {args.plot}")

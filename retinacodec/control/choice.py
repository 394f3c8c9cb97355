"""Which channels of a retina layer a control experiment silences: from each set of modes, one mode
(chosen by hand, or the one whose loadings are most tied to a target cell type or cell) and its
strongest channels (:func:`choose_channels`); for control curves, the channels of every cell type's
own mode (:func:`curve_rankings`). What ``retinacodec control`` runs before the experiment; the
messages name its options."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr
from torch import nn

from ..attribution.routed import check_layer_channels
from ..errors import RetinaCodecError
from ..models.adapter import adapt
from ..models.registry import windows
from ..modes.result import Modes
from ..modes.selection import associated_mode, control_target, modes_layer, top_channels
from .curves.retina import target_rankings

Target = tuple[str, object]
"""(sample coord, label) of a control target: ``("cell_type", "oms")`` or ``("cell", 3)``."""


@dataclass(frozen=True)
class ModeSource:
    """One set of modes of a control experiment."""

    modes: Modes
    variable: str
    """What the modes must decompose: ``"contribution"`` or ``"activation"``."""
    name: str
    """How messages name the modes (their file)."""
    mode: int | None = None
    """The mode chosen by hand; None picks the one most tied to the target."""


@dataclass(frozen=True)
class ChannelChoice:
    """The mode chosen from one set of modes, and its strongest channels."""

    name: str
    """How messages name the modes (their file)."""
    mode: int
    rule: str
    """How the mode was chosen: ``"chosen by hand"`` or ``"most tied to type:NAME"`` (``cell:I``)."""
    channels: np.ndarray
    """int64 channel positions, strongest first."""
    n_channels: int
    """Channels of the layer."""


@dataclass(frozen=True)
class ControlChoice:
    """What a control experiment silences: per set of modes (by variable), its choice."""

    layer: str
    target: Target | None
    """The target the modes were chosen for (None when every mode was chosen by hand)."""
    fraction: float
    choices: dict[str, ChannelChoice]

    @property
    def channels(self) -> dict[str, np.ndarray]:
        """Variable -> the channels to silence (as :func:`~.experiments.retina_control` takes them)."""
        return {variable: choice.channels for variable, choice in self.choices.items()}

    def attrs(self) -> dict:
        """Provenance attrs of the control result: fraction, how each mode was chosen, the target
        and the channels."""
        return {
            "fraction": self.fraction,
            "selection_rule": "; ".join(
                f"{variable}: mode {choice.mode}, {choice.rule}" for variable, choice in self.choices.items()
            ),
            **({} if self.target is None else {"target_kind": self.target[0], "target_label": str(self.target[1])}),
            **{f"channels_{variable}": choice.channels for variable, choice in self.choices.items()},
        }


def target_name(target: Target) -> str:
    """A target as ``retinacodec control --target`` spells it: ``type:NAME`` or ``cell:I``."""
    coord, label = target
    return f"type:{label}" if coord == "cell_type" else f"cell:{label}"


def choose_channels(
    model: nn.Module,
    stimulus: xr.DataArray,
    sources: Sequence[ModeSource],
    layer: str | None = None,
    target: Target | None = None,
    fraction: float = 0.02,
) -> ControlChoice:
    """The top channels of one mode of each set of modes, checked against the model's layer.

    Parameters
    ----------
    model : torch.nn.Module
        A retina model (see :func:`~retinacodec.models.registry.windows`).
    stimulus : xarray.DataArray
        (time, y, x) contrast the experiment will use; its first window checks the layer's channels.
    sources : sequence of ModeSource
        The sets of modes, in order; all of one layer.
    layer : str, optional
        The layer the modes were fitted on (default: the one they record).
    target : tuple, optional
        (sample coord, label): the modes not chosen by hand are those most tied to it (default:
        the OMS cells, else the first type; see :func:`~retinacodec.modes.selection.control_target`).
    fraction : float
        Fraction of the layer's channels silenced per mode, in (0, 1] (at least one channel).

    Returns
    -------
    ControlChoice

    Raises
    ------
    RetinaCodecError
        For modes of another variable or layer, a layer whose channels they do not match, a mode
        out of range, or a target the modes' samples do not have.
    """
    if not sources:
        raise RetinaCodecError("no modes given; expected at least one set of modes")
    inputs, _ = windows(model, stimulus)  # also checks that the stimulus fits the model
    adapted = adapt(model)
    choices = {}
    for source in sources:
        _check_variable(source)
        weights = source.modes.channel_weights()
        try:
            layer = modes_layer(weights, layer, adapted)
            with torch.no_grad():
                activation = adapted.capture(inputs[:1], layer, stop=True).activation
            check_layer_channels(adapted, layer, activation, weights.sizes["channel"])
        except RetinaCodecError as exc:
            raise RetinaCodecError(f"{source.name}: {exc}") from None
        mode, rule, target = _mode_for(source, target)
        channels = top_channels(weights, mode, fraction)
        choices[source.variable] = ChannelChoice(source.name, mode, rule, channels, weights.sizes["channel"])
    assert layer is not None  # set from the first source on
    return ControlChoice(layer, target, fraction, choices)


def curve_rankings(
    model: nn.Module, sources: Sequence[ModeSource], layer: str | None = None
) -> tuple[str, dict[str, dict[str, np.ndarray]]]:
    """The layer and, per set of modes (by variable), every cell type's channel ranking
    (:func:`~retinacodec.control.curves.retina.target_rankings`), as control curves take them.

    Raises
    ------
    RetinaCodecError
        For modes without loadings, of another variable or layer, or whose loadings tie no mode to
        the cell types.
    """
    if not sources:
        raise RetinaCodecError("no modes given; expected at least one set of modes")
    adapted = adapt(model)
    rankings: dict[str, dict[str, np.ndarray]] = {}
    for source in sources:
        if source.modes.loadings is None:
            raise RetinaCodecError(
                f"{source.name} {_without_loadings(source.modes)} no loadings; --curves expects the modes file "
                "of 'retinacodec modes -o'"
            )
        _check_variable(source)
        try:
            layer = modes_layer(source.modes.dictionary, layer, adapted)
            rankings[source.variable] = target_rankings(source.modes)
        except RetinaCodecError as exc:
            raise RetinaCodecError(f"{source.name}: {exc}") from None
    assert layer is not None  # set from the first source on
    return layer, rankings


def _check_variable(source: ModeSource) -> None:
    """Refuse modes of another variable than the source's (modes that do not record theirs pass)."""
    fitted_on = source.modes.variable
    if fitted_on is not None and fitted_on != source.variable:
        raise RetinaCodecError(
            f"{source.name} holds modes of the {fitted_on}; expected {source.variable} modes "
            f"('retinacodec modes --variable {source.variable}')"
        )


def _without_loadings(modes: Modes) -> str:
    return "is a saved SAE, which holds" if modes.has_encoder else "holds"


def _mode_for(source: ModeSource, target: Target | None) -> tuple[int, str, Target | None]:
    """(mode, how it was chosen, target): the source's mode if given, else the mode whose loadings
    correlate best with being the target (by default the OMS cells, see
    :func:`retinacodec.modes.selection.control_target`).

    Raises
    ------
    RetinaCodecError
        If no mode is given and the modes hold no loadings, or the target is not among their samples.
    """
    if source.mode is not None:
        return source.mode, "chosen by hand", target
    loadings = source.modes.loadings
    if loadings is None:
        raise RetinaCodecError(
            f"{source.name} {_without_loadings(source.modes)} no loadings to pick a mode by; expected the "
            "modes file of 'retinacodec modes -o', or the mode by --mode / --activation-mode"
        )
    if target is None:
        if "cell_type" not in loadings.coords:
            raise RetinaCodecError(f"the samples of {source.name} have no cell_type; expected --target cell:I")
        coord, _, label = control_target(loadings)
        target = coord, label
    coord, label = target
    if coord not in loadings.coords:
        raise RetinaCodecError(f"the samples of {source.name} have no {coord} coord; expected another --target")
    labels = np.asarray(loadings[coord].values)
    if label not in labels:
        raise RetinaCodecError(
            f"no sample of {source.name} is of {target_name(target)}; expected one of {sorted(set(labels.tolist()))}"
        )
    try:
        mode = associated_mode(loadings, labels, label)
    except RetinaCodecError as exc:
        raise RetinaCodecError(f"{source.name}: {exc}; or choose the mode by --mode / --activation-mode") from None
    return mode, f"most tied to {target_name(target)}", target

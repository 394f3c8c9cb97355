"""Control curves of a retina model: silence (or keep alone) the top k channels of a layer, k = 1..K,
of the mode most tied to each cell type, and measure the rate changes of that type's cells (on
target) and of the others (off target).

Channel selections: the ranking of a contribution mode, of an activation mode, and random channel
sets (many draws per k, shared by all targets). :func:`retina_control_curves` returns the curves,
:func:`curve_summary` whether contribution modes are the more target-specific, and
:func:`retinacodec.plots.control.plot_control_curves` draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr
from torch import nn

from ... import __version__
from ..._validation import check_int
from ...errors import RetinaCodecError
from ...modes.result import Modes
from ...modes.sae import SAE
from ...modes.selection import associated_mode, top_channels
from ..experiments import CURVE_INTERVENTIONS
from ..hooks import Channels
from ..recorded import record_layer, scaled_mean_rates

"""Silence the k channels, or silence every other channel."""
RANDOM = "random"
"""Name of the random-channel selection."""


def target_rankings(
    modes: Modes | xr.Dataset, dictionary: Modes | SAE | xr.DataArray | None = None, coord: str = "cell_type"
) -> dict[str, np.ndarray]:
    """For each label of ``coord``, the channels of the mode most tied to it, strongest first.

    Parameters
    ----------
    modes : Modes or xarray.Dataset
        Modes with loadings that have a ``coord`` sample coord, such as a result of
        :func:`retinacodec.modes.workflow.fit_modes` (``modes``, ``loadings``).
    dictionary : Modes, SAE or xarray.DataArray, optional
        The modes to rank channels by (the dictionary of ``modes`` by default).
    coord : str
        Sample coord of the labels.

    Returns
    -------
    dict
        label -> int64 every channel of the layer, by the mode's weight (:func:`top_channels`
        with fraction 1), the mode chosen by :func:`associated_mode`.

    Raises
    ------
    RetinaCodecError
        Without loadings labelled by ``coord``, or when no mode's loadings vary.
    """
    modes = Modes.coerce(modes)
    if modes.loadings is None or coord not in modes.loadings.coords:
        raise RetinaCodecError(f"the modes have no loadings with a {coord!r} coord; expected fit_modes() output")
    labels = np.asarray(modes.loadings[coord].values).astype(str)
    dictionary = modes if dictionary is None else dictionary
    return {
        label: top_channels(dictionary, associated_mode(modes.loadings, labels, label), 1.0)
        for label in dict.fromkeys(labels)
    }


def _random_sets(n_channels: int, ks: Sequence[int], n_random: int, seed: int) -> list[list[tuple[int, ...]]]:
    rng = np.random.default_rng(seed)
    return [[tuple(sorted(rng.choice(n_channels, k, replace=False).tolist())) for _ in range(n_random)] for k in ks]


def _silenced(channels: tuple[int, ...], intervention: str, n_channels: int) -> tuple[int, ...]:
    """The channels zeroed: the set (ablate) or all others (preserve)."""
    return channels if intervention == "ablate" else tuple(sorted(set(range(n_channels)) - set(channels)))


def _effects(change: np.ndarray, baseline: np.ndarray, on: np.ndarray, intervention: str) -> np.ndarray:
    """(on change, its SE, off change, its SE, on |relative|, off |relative|, specificity, its SE)
    of one condition, over cells; ``change`` (cell,) in Hz."""
    relative = np.abs(change) / np.where(baseline > 0, baseline, np.nan)
    values = []
    for group in (on, ~on):
        values += [change[group].mean(), change[group].std(ddof=1) / np.sqrt(group.sum()) if group.sum() > 1 else 0.0]
    on_rel, off_rel = np.nanmean(relative[on]), np.nanmean(relative[~on])
    spread = [np.nanvar(relative[g], ddof=1) / g.sum() if g.sum() > 1 else 0.0 for g in (on, ~on)]
    sign = 1.0 if intervention == "ablate" else -1.0
    return np.array([*values, on_rel, off_rel, sign * (on_rel - off_rel), np.sqrt(sum(spread))])


@dataclass(frozen=True)
class CurveSettings:
    """How many channels, random sets and windows a retina control curve takes; validated on construction.

    Raises
    ------
    RetinaCodecError
        For a value that is not an integer in range, naming the field.
    """

    max_channels: int = 8
    """Largest k, the number of a mode's top channels silenced or kept alone (capped at the layer's
    channel count)."""
    n_random: int = 20
    """Random channel sets per k (the ``random`` selection; 0 leaves it out)."""
    seed: int = 0
    """Seed of the random sets."""
    batch_size: int = 500
    """Windows per downstream pass."""

    def __post_init__(self) -> None:
        for name, minimum in (("max_channels", 1), ("n_random", 0), ("seed", 0), ("batch_size", 1)):
            object.__setattr__(self, name, check_int(name, getattr(self, name), minimum=minimum))


VARIABLES = (
    "on_target_change",
    "on_target_change_se",
    "off_target_change",
    "off_target_change_se",
    "on_target_relative",
    "off_target_relative",
    "specificity",
    "specificity_se",
)
"""Per (target, selection, intervention, k), in the order :func:`_effects` returns them."""


def retina_control_curves(
    model: nn.Module,
    stimulus: xr.DataArray,
    layer: str,
    rankings: Mapping[str, Mapping[str, Channels]],
    settings: CurveSettings | None = None,
    *,
    labels: Sequence | None = None,
    progress: bool = True,
    device: str | torch.device | None = None,
) -> xr.Dataset:
    """Ablate or preserve the top k channels of each target's mode, k = 1..``settings.max_channels``.

    Parameters
    ----------
    model : torch.nn.Module
        A retina CNN with ``cell_type`` (see :func:`retinacodec.models.load`).
    stimulus : xarray.DataArray
        (time, y, x) contrast at the model's frame rate and size.
    layer : str
        Layer whose channels are silenced.
    rankings : mapping
        Selection name (e.g. ``"contribution"``, ``"activation"``) -> target label -> channel
        ranking (:func:`target_rankings`); every selection names the same targets.
    settings : CurveSettings, optional
        Largest k, random sets per k, their seed and the batch size; the defaults when omitted.
    labels : sequence, optional
        (cell,) label of each cell, compared as text with the targets: the model's ``cell_type``
        by default; e.g. the cell indices to target single cells.
    progress : bool
        Show a progress bar over channel sets.
    device : str or torch.device, optional
        Torch device of the forward passes (``"cpu"``, ``"cuda"``, ``"auto"``); by default where
        the model is.

    Returns
    -------
    xarray.Dataset
        Over (target, selection, intervention, k): ``on_target_change`` and
        ``off_target_change`` (Hz), the mean change of the mean rate of the target type's cells and
        of all other cells, with ``*_se`` (standard error over cells); ``on_target_relative`` and
        ``off_target_relative``, the mean over cells of :math:`|\\Delta r_i| / r_i`;
        ``specificity``: on minus off relative change for ablation (silencing the target's
        channels should change its cells most), off minus on for preservation (keeping only them
        should spare its cells most), with ``specificity_se``; for ``random``, every value is the
        mean over draws, the SEs are the standard errors of that mean over draws and
        ``specificity_spread`` is the standard deviation over draws (NaN for mode selections).
        ``channels`` (target, selection, k): the mode's top k channels as text. Attrs: kind,
        layer, model, stimulus, n_random, seed, package version.

    Raises
    ------
    RetinaCodecError
        For a model without cell types, or rankings naming other or no cell types.
    """
    settings = CurveSettings() if settings is None else settings
    n_random = settings.n_random
    types = getattr(model, "cell_type", None) if labels is None else labels
    if not rankings or types is None:
        raise RetinaCodecError("expected rankings per selection and cell labels (a model with cell types)")
    cell_types = np.asarray(types).astype(str)
    targets = [str(t) for t in next(iter(rankings.values()))]
    if (
        any([str(t) for t in r] != targets for r in rankings.values())
        or not set(targets) <= set(cell_types)
        or set(targets) == set(cell_types) == {targets[0]}
    ):
        raise RetinaCodecError(
            f"every selection must rank channels for the same targets, among the cells' labels "
            f"{sorted(set(cell_types))} with other cells off target; got "
            f"{[list(r) for r in rankings.values()]}"
        )
    rankings = {s: {str(t): r for t, r in ranking.items()} for s, ranking in rankings.items()}
    recording = record_layer(model, stimulus, layer, settings.batch_size, progress=False, device=device)
    n_channels = recording.activation.shape[1]
    ks = list(range(1, min(settings.max_channels, n_channels) + 1))
    chosen = {
        (s, t, k): tuple(sorted(int(c) for c in ranking[t][:k]))
        for s, ranking in rankings.items()
        for t in targets
        for k in ks
    }
    draws = _random_sets(n_channels, ks, n_random, settings.seed) if n_random else []
    all_sets = [*chosen.values(), *(d for row in draws for d in row)]
    unique = list(dict.fromkeys(_silenced(c, i, n_channels) for c in all_sets for i in CURVE_INTERVENTIONS))
    rates = scaled_mean_rates(model, recording, layer, unique, 0.0, settings.batch_size, progress, device)
    means = dict(zip(unique, rates))
    baseline = recording.rates.values.astype(np.float64).mean(axis=0)
    selections = [*rankings, *([RANDOM] if n_random else [])]
    values = np.full((len(targets), len(selections), len(CURVE_INTERVENTIONS), len(ks), len(VARIABLES)), np.nan)
    spread = np.full(values.shape[:-1], np.nan)
    for t, target in enumerate(targets):
        on = cell_types == target
        for j, intervention in enumerate(CURVE_INTERVENTIONS):
            for q, k in enumerate(ks):
                for s, name in enumerate(rankings):
                    silenced = _silenced(chosen[name, target, k], intervention, n_channels)
                    values[t, s, j, q] = _effects(means[silenced] - baseline, baseline, on, intervention)
                if draws:
                    each = np.array(
                        [
                            _effects(
                                means[_silenced(d, intervention, n_channels)] - baseline, baseline, on, intervention
                            )
                            for d in draws[q]
                        ]
                    )
                    values[t, -1, j, q] = each.mean(axis=0)
                    values[t, -1, j, q, [1, 3, 7]] = each[:, [0, 2, 6]].std(axis=0, ddof=1) / np.sqrt(len(each))
                    spread[t, -1, j, q] = each[:, 6].std(axis=0, ddof=1)
    provenance = {
        "kind": "retina_control_curves",
        "layer": str(layer),
        "model": str(getattr(model, "name", type(model).__name__)),
        "stimulus": str(stimulus.attrs.get("kind", "unknown")),
        "n_random": n_random,
        "seed": settings.seed,
        "retinacodec_version": __version__,
    }
    return _curves_dataset(values, spread, chosen, targets, selections, ks, provenance)


def _curves_dataset(
    values: np.ndarray,
    spread: np.ndarray,
    chosen: dict,
    targets: list[str],
    selections: list[str],
    ks: list[int],
    attrs: dict,
) -> xr.Dataset:
    """The curves' Dataset from the (target, selection, intervention, k, variable) ``values``, the
    random draws' ``spread``, the mode selections' channels (``chosen``) and its ``attrs``."""
    dims = ("target", "selection", "intervention", "k")
    data = {
        name: (dims, values[..., i], {"units": "Hz"} if name.endswith(("change", "change_se")) else {})
        for i, name in enumerate(VARIABLES)
    }
    text = [
        [[", ".join(map(str, chosen[s, t, k])) if (s, t, k) in chosen else "" for k in ks] for s in selections]
        for t in targets
    ]
    return xr.Dataset(
        {**data, "specificity_spread": (dims, spread), "channels": (("target", "selection", "k"), text)},
        coords={"target": targets, "selection": selections, "intervention": list(CURVE_INTERVENTIONS), "k": ks},
        attrs=attrs,
    )


def curve_summary(curves: xr.Dataset, reference: str = "contribution") -> xr.Dataset:
    """Is the ``reference`` selection the more target-specific one?

    Parameters
    ----------
    curves : xarray.Dataset
        From :func:`retina_control_curves`.
    reference : str
        The selection compared against all others.

    Returns
    -------
    xarray.Dataset
        Over (selection, intervention): ``mean_specificity`` over targets and k, its
        ``mean_specificity_se`` (SEs combined as independent), and ``wins``, the fraction of
        (target, k) at which ``reference`` is more specific than the selection (NaN for itself);
        ``beats`` (bool): mean specificity of ``reference`` above the selection's.
    """
    if curves.attrs.get("kind") != "retina_control_curves":
        raise RetinaCodecError("expected the Dataset of retina_control_curves()")
    if reference not in curves["selection"].values:
        raise RetinaCodecError(f"no selection {reference!r}; expected one of {list(curves['selection'].values)}")
    specificity = curves["specificity"]
    count = specificity.sizes["target"] * specificity.sizes["k"]
    mean = specificity.mean(("target", "k"))
    se = np.sqrt((curves["specificity_se"] ** 2).sum(("target", "k"))) / count
    wins = (specificity.sel(selection=reference) > specificity).mean(("target", "k"))
    wins = wins.where(wins["selection"] != reference)
    return xr.Dataset(
        {
            "mean_specificity": mean,
            "mean_specificity_se": se,
            "wins": wins,
            "beats": mean.sel(selection=reference) > mean,
        },
        attrs={"reference": reference, "layer": curves.attrs.get("layer", "")},
    )

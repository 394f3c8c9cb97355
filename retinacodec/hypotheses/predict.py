"""What the CNN predicts: the change of every cell's mean rate when a channel set of a recorded layer
is silenced (or scaled), which sets change some cell type visibly, and the predictions of the sets
kept with their shuffled controls."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.special import erf
from torch import nn

from ..control.recorded import LayerRecording, PassCache, scaled_mean_rates
from .candidates import Candidate
from .effects import TYPE_DIM, by_type, categories, changed, effect_z, released_change, type_counts
from .settings import HypothesisSettings


@dataclass(frozen=True)
class LayerPasses:
    """A model's recorded layer, where channel sets are silenced or scaled."""

    model: nn.Module
    """The model the recording came from."""
    recording: LayerRecording
    """The layer's output over the stimulus (:func:`~retinacodec.control.recorded.record_layer`)."""
    layer: str
    """The recorded layer."""
    batch_size: int = 250
    """Windows per downstream pass."""
    progress: bool = False
    """Show progress bars."""
    cache: PassCache | None = None
    """Where passes already run are taken from (:class:`~retinacodec.control.recorded.PassCache`)."""

    def mean_rates(self, channel_sets: Sequence[Sequence[int]], gain: float) -> np.ndarray:
        """float64 (set, cell) mean rates in Hz with each set's channels scaled by ``gain``
        (:func:`~retinacodec.control.recorded.scaled_mean_rates`)."""
        return scaled_mean_rates(
            self.model,
            self.recording,
            self.layer,
            channel_sets,
            gain,
            self.batch_size,
            self.progress,
            cache=self.cache,
        )

    def baseline_rate(self) -> xr.DataArray:
        """(cell) mean rate of the unperturbed model over the recording, with the cells' coords."""
        rates = self.recording.rates
        cell_coords = {name: rates[name] for name in ("cell", "cell_type", "y", "x") if name in rates.coords}
        return xr.DataArray(rates.values.astype(np.float64).mean(axis=0), dims="cell", coords=cell_coords)


def set_changes(
    passes: LayerPasses, chosen: list[Candidate], gain: float, released: bool = False
) -> tuple[xr.DataArray, xr.DataArray]:
    """(set, cell) change of the mean rate in Hz when each set's channels are scaled by ``gain``
    (with ``released``, of a block of its inhibitory outputs only, :func:`released_change`), and
    the (cell) unperturbed rate."""
    baseline = passes.baseline_rate()
    change = passes.mean_rates([item.channels for item in chosen], gain) - baseline.values
    return (
        xr.DataArray(released_change(change) if released else change, dims=("set", "cell"), coords=baseline.coords),
        baseline,
    )


def with_effect(passes: LayerPasses, chosen: list[Candidate], settings: HypothesisSettings) -> list[Candidate]:
    """The sets whose intervention (``settings.gain``) changes some cell type's mean rate visibly
    (``settings.recording_s``, ``settings.z_min``), in their order; the one with the largest
    effect when none does."""
    change, baseline = set_changes(passes, chosen, settings.gain)
    visible = (categories(change, baseline, settings.recording_s, settings.z_min) != 0).any(TYPE_DIM).values
    if visible.any():
        return [item for item, keep in zip(chosen, visible) if keep]
    z = effect_z(by_type(change), by_type(baseline), settings.recording_s, type_counts(baseline)).max(TYPE_DIM)
    return [chosen[int(np.argmax(z.values))]]


def with_release(passes: LayerPasses, chosen: list[Candidate], settings: HypothesisSettings) -> list[Candidate]:
    """The sets whose inhibitory outputs' block (:func:`released_change`) raises some cell type's
    mean rate visibly, in their order; none when no set does."""
    if not chosen:
        return []
    change, baseline = set_changes(passes, chosen, 0.0, released=True)
    visible = (categories(change, baseline, settings.recording_s, settings.z_min) != 0).any(TYPE_DIM).values
    return [item for item, keep in zip(chosen, visible) if keep]


def _listed(values: Sequence[int]) -> str:
    return ", ".join(str(v) for v in values)


def _shuffled_sets(chosen: list[Candidate], n_channels: int, settings: HypothesisSettings) -> list[list[tuple]]:
    """(shuffle, hypothesis) every set mapped through a seeded permutation of the layer's channels."""
    rng = np.random.default_rng(settings.seed)
    permutations = [rng.permutation(n_channels) for _ in range(settings.n_shuffles)]
    return [[tuple(sorted(int(p[c]) for c in item.channels)) for item in chosen] for p in permutations]


def predictions(
    passes: LayerPasses, chosen: list[Candidate], released: list[bool], settings: HypothesisSettings
) -> xr.Dataset:
    """The CNN's predicted changes for every channel set and its shuffled controls.

    Parameters
    ----------
    passes : LayerPasses
        The recorded layer the sets belong to.
    chosen : list of Candidate
        The sets, one hypothesis each.
    released : list of bool
        Per set: a block of its inhibitory outputs only (:func:`released_change`) instead of its
        intervention (``settings.gain``) on all its outputs.
    settings : HypothesisSettings
        ``gain``, ``n_shuffles``, ``seed``, ``recording_s`` and ``z_min``.

    Returns
    -------
    xarray.Dataset
        The prediction variables of :func:`~retinacodec.hypotheses.generate.generate` over
        ``hypothesis`` (``"<layer>-<k>"``), without the pathway match.
    """
    layer, n_shuffles = passes.layer, settings.n_shuffles
    shuffled = _shuffled_sets(chosen, passes.recording.activation.shape[1], settings)
    unique = list(dict.fromkeys([item.channels for item in chosen] + [s for row in shuffled for s in row]))
    means = dict(zip(unique, passes.mean_rates(unique, settings.gain)))

    baseline = passes.baseline_rate()
    cell_coords = {name: baseline[name] for name in baseline.coords}
    ids = [f"{layer}-{k}" for k in range(len(chosen))]
    inhibitory = np.asarray(released, dtype=bool)

    def blocked(changes: np.ndarray) -> np.ndarray:  # (..., hypothesis, cell)
        return np.where(inhibitory[:, None], released_change(changes), changes)

    change = xr.DataArray(
        blocked(np.stack([means[item.channels] for item in chosen]) - baseline.values),
        dims=("hypothesis", "cell"),
        coords={"hypothesis": ids, **cell_coords},
    )
    shape = (n_shuffles, len(chosen))
    shuffled_rates = np.array([[means[s] for s in row] for row in shuffled], dtype=float).reshape(*shape, baseline.size)
    shuffled_text = np.array([[_listed(s) for s in row] for row in shuffled], dtype=object).reshape(shape).astype(str)
    shuffled_change = xr.DataArray(
        blocked(shuffled_rates - baseline.values),
        dims=("shuffle", "hypothesis", "cell"),
        coords={"shuffle": np.arange(n_shuffles), "hypothesis": ids, **cell_coords},
    )
    effect = by_type(change)
    recording_s, z_min = settings.recording_s, settings.z_min
    z = effect_z(effect, by_type(baseline), recording_s, type_counts(baseline)).max(TYPE_DIM)
    return xr.Dataset(
        {
            "layer": ("hypothesis", [layer] * len(chosen)),
            "reason": ("hypothesis", [item.reason for item in chosen]),
            "modes": ("hypothesis", [_listed(item.modes) for item in chosen]),
            "channels": ("hypothesis", [_listed(item.channels) for item in chosen]),
            "n_channels": ("hypothesis", [len(item.channels) for item in chosen]),
            "mode_usage": (
                "hypothesis",
                [item.usage for item in chosen],
                {"long_name": "summed fraction of samples where the set's modes are active"},
            ),
            "blocked_outputs": (
                "hypothesis",
                np.where(inhibitory, "inhibitory", "all").astype(str),
                {
                    "long_name": "the set's outputs blocked: all (channels silenced) or only those onto "
                    "the cells it inhibits (a receptor block)"
                },
            ),
            "baseline_rate": baseline.assign_attrs(units="Hz", long_name="mean rate of the unperturbed model"),
            "predicted_change": change.assign_attrs(
                units="Hz",
                long_name="mean rate with the channels zeroed (only "
                "onto the cells they inhibit, for "
                "blocked_outputs inhibitory) minus "
                "unperturbed",
            ),
            "affected": changed(change, baseline, recording_s, z_min),
            "predicted_effect": effect.assign_attrs(
                units="Hz", long_name="mean predicted change over the type's cells"
            ),
            "predicted_category": categories(change, baseline, recording_s, z_min),
            "effect_z": z.assign_attrs(long_name="largest type effect over its Poisson standard error"),
            "detectability": ("hypothesis", erf(z.values / math.sqrt(2))),
            "shuffled_channels": (("shuffle", "hypothesis"), shuffled_text),
            "shuffled_change": shuffled_change.assign_attrs(units="Hz"),
        }
    )

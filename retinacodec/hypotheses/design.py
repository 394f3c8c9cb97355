"""The stimulus that tests a hypothesis: the movie under which the CNN's predicted effect of the
hypothesis's intervention is easiest to see in a recording, against its effect on the other types.

Designed from the CNN alone (:func:`~retinacodec.hypotheses.optimise.optimise_stimulus`); never from the
virtual retina's responses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
import xarray as xr
from torch import nn

from .._progress import progress_bar
from ..control.recorded import output_module
from ..device import device_for, evaluating, frozen
from ..errors import RetinaCodecError
from ..models.adapter import adapt
from ..models.retina_cnn import RetinaCNN, movie_convolution
from .effects import TYPE_DIM
from .generate import KIND
from .optimise import DesignSettings, optimise_stimulus

DESIGN_KIND = "hypothesis_test_stimuli"
"""Value of the ``kind`` attr of a Dataset of designed test stimuli."""


@dataclass(frozen=True)
class Intervention:
    """One hypothesis's intervention in the CNN and the effect it predicts per cell type."""

    layer: str
    """The layer whose channels are scaled."""
    channels: tuple[int, ...]
    """The hypothesis's channels."""
    gain: float
    """Factor on the channels' output (0 silences)."""
    released: bool
    """Only the block of its inhibitory outputs counts (rises kept, falls set to zero)."""
    target: np.ndarray
    """int8 (type) predicted direction of each targeted type (+1, -1), 0 for the other types."""


def interventions(hypotheses: xr.Dataset) -> list[Intervention]:
    """Each hypothesis's :class:`Intervention`, its targets the types it predicts to change.

    A hypothesis that predicts no visible change targets the type with its largest predicted
    effect, in that effect's direction.
    """
    if not isinstance(hypotheses, xr.Dataset) or hypotheses.attrs.get("kind") != KIND:
        raise RetinaCodecError("expected the Dataset of retinacodec.hypotheses.generate() (attr kind = 'hypotheses')")
    found = []
    for name in hypotheses["hypothesis"].values:
        row = hypotheses.sel(hypothesis=name)
        target = row["predicted_category"].values.astype(np.int8)
        if not target.any():
            effect = row["predicted_effect"].values
            target = np.zeros_like(target)
            target[int(np.argmax(np.abs(effect)))] = np.sign(effect[int(np.argmax(np.abs(effect)))]) or 1
        found.append(
            Intervention(
                layer=str(row["layer"].values),
                channels=tuple(int(c) for c in str(row["channels"].values).split(", ")),
                gain=float(hypotheses.attrs.get("gain", 0.0)),
                released=str(row["blocked_outputs"].values) == "inhibitory",
                target=target,
            )
        )
    return found


@contextmanager
def scaled(model: nn.Module, layer: str, channels: Sequence[int], gain: float) -> Iterator[None]:
    """Scale the named channels of ``layer``'s output (channel axis 1) by ``gain`` while open.

    The hook sits on the layer's output module (:func:`~retinacodec.control.recorded.output_module`),
    so it acts in :meth:`~retinacodec.models.retina_cnn.RetinaCNN.forward_movie` too.
    """
    adapted = adapt(model)
    module = adapted.module.get_submodule(output_module(adapted, layer))
    index = torch.as_tensor(list(channels), dtype=torch.long)

    def hook(mod: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        if index.numel() and int(index.max()) >= output.shape[1]:
            raise RetinaCodecError(
                f"channel {int(index.max())} is out of range; layer {layer!r} has {output.shape[1]} channels "
                "(hypotheses of another model?)"
            )
        factor = torch.ones(output.shape[1], dtype=output.dtype, device=output.device)
        factor[index.to(output.device)] = gain
        return output * factor.reshape(1, -1, *([1] * (output.ndim - 2)))

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


class TypeEffect:
    """The CNN's change of every type's mean rate under an intervention, as a differentiable map of
    the stimulus, in Hz and in Poisson standard errors of a recording.

    Parameters
    ----------
    model : RetinaCNN
        The model (its parameters frozen by the caller).
    cell_type : sequence of str
        Type of every cell.
    recording_s : float
        Length (s) of the imagined recording of each condition.
    windows : int, optional
        Windows drawn at random (without replacement) for each evaluation, a stochastic estimate
        of the mean rates as in minibatch training; every window when omitted.
    seed : int
        Seed of the draws.
    """

    def __init__(
        self, model: RetinaCNN, cell_type: Sequence[str], recording_s: float, windows: int | None = None, seed: int = 0
    ) -> None:
        labels = np.asarray(cell_type, dtype=str)
        self.types = list(dict.fromkeys(labels))
        self.model = model
        self.recording_s = float(recording_s)
        self.windows = windows
        self._generator = torch.Generator().manual_seed(seed)
        member = np.stack([labels == t for t in self.types]).astype(np.float32)
        self._mean = torch.as_tensor(member / member.sum(1, keepdims=True))  # (type, cell)
        self._counts = torch.as_tensor(member.sum(1))

    def rates(self, movie: torch.Tensor, intervention: Intervention) -> tuple[torch.Tensor, torch.Tensor]:
        """(cell) mean rates (Hz) over the windows of a (time, y, x) contrast movie, unperturbed
        and under the intervention; the bipolar convolution (by FFT, as in
        :meth:`~retinacodec.models.retina_cnn.RetinaCNN.forward_movie`) is shared by both."""
        model = self.model
        normalised = (movie - model.stimulus_mean.float()) / model.stimulus_std.float()
        conv = cast(nn.Conv2d, model.bipolar[0])
        drive = movie_convolution(normalised[None], conv.weight, conv.bias)[0]  # (window, channel, y, x)
        if self.windows is not None and self.windows < drive.shape[0]:
            drive = drive[torch.randperm(drive.shape[0], generator=self._generator)[: self.windows]]

        def rates() -> torch.Tensor:
            return model.ganglion(model.amacrine(model.bipolar[1:](drive))).mean(0)

        baseline = rates()
        with scaled(model, intervention.layer, intervention.channels, intervention.gain):
            return baseline, rates()

    def __call__(self, movie: torch.Tensor, intervention: Intervention) -> tuple[torch.Tensor, ...]:
        """(cell) change in Hz, (type) change in Hz, (type) signed z, (cell) unperturbed rate."""
        baseline, perturbed = self.rates(movie, intervention)
        change = perturbed - baseline
        if intervention.released:
            change = change.clamp(min=0)
        effect, rate = self._mean @ change, self._mean @ baseline
        variance = (2 * rate + effect).clamp(min=1e-6) / (self.recording_s * self._counts)
        return change, effect, effect / variance.sqrt(), baseline


def detectability(z: torch.Tensor, target: np.ndarray) -> torch.Tensor:
    """The design objective: the targeted types' signed z minus the other types' size of z.

    Parameters
    ----------
    z : torch.Tensor
        (type) change of each type's mean rate in Poisson standard errors (signed).
    target : numpy.ndarray
        (type) predicted direction of each targeted type, 0 for the others.

    Returns
    -------
    torch.Tensor
        :math:`\\overline{s_k z_k}_{k \\in A} - \\overline{\\sqrt{z_k^2 + 1}}_{k \\notin A}`, with
        :math:`A` the targeted types and :math:`s_k` their directions (the second term is 0
        when every type is targeted).
    """
    signs = torch.as_tensor(target, dtype=z.dtype)
    aimed = signs != 0
    others = ~aimed
    gain = (signs[aimed] * z[aimed]).mean()
    cost = (z[others].pow(2) + 1).sqrt().mean() if others.any() else z.new_zeros(())
    return gain - cost


def _designed(
    effect: TypeEffect, intervention: Intervention, size: int, settings: DesignSettings
) -> tuple[xr.DataArray, np.ndarray]:
    """One hypothesis's test stimulus and its objective trace."""

    def objective(movie: torch.Tensor) -> torch.Tensor:
        return detectability(effect(movie, intervention)[2], intervention.target)

    mean = float(effect.model.stimulus_mean)
    rate = float(getattr(effect.model, "frame_rate_hz", 100.0))
    return optimise_stimulus(objective, size, settings, frame_rate_hz=rate, mean=mean, kind="hypothesis_test")


def predicted_under(effect: TypeEffect, movie: xr.DataArray, intervention: Intervention) -> dict[str, Any]:
    """The CNN's predictions under one stimulus: ``change`` (cell) and ``effect`` (type) in Hz,
    ``z`` (type) in standard errors, ``baseline`` (cell) in Hz and ``detectability``."""
    with torch.no_grad():
        change, type_change, z, baseline = effect(torch.as_tensor(movie.values), intervention)
        score = detectability(z, intervention.target)
    return {
        "change": change.numpy(),
        "effect": type_change.numpy(),
        "z": z.numpy(),
        "baseline": baseline.numpy(),
        "detectability": np.float64(score),
    }


WINDOWS_PER_STEP = 64
"""Windows drawn at each optimisation step to estimate the mean rates (:class:`TypeEffect`)."""


def design_tests(
    model: nn.Module,
    hypotheses: xr.Dataset,
    settings: DesignSettings | None = None,
    *,
    jitter: xr.DataArray | None = None,
    windows: int | None = WINDOWS_PER_STEP,
    progress: bool = True,
) -> xr.Dataset:
    """Design each hypothesis's test stimulus from the CNN and predict its effect under it.

    Parameters
    ----------
    model : RetinaCNN
        The model the hypotheses were generated from.
    hypotheses : xarray.Dataset
        From :func:`~retinacodec.hypotheses.generate.generate` (its ``recording_s`` is the
        recording each z refers to).
    settings : DesignSettings, optional
        Length, bounds, smoothing, jitter, steps and seed of the optimisation; the defaults when
        omitted.
    jitter : xarray.DataArray, optional
        A (time, y, x) natural stimulus of the same length, under which the same predictions are
        made for comparison.
    windows : int, optional
        Windows per optimisation step (:class:`TypeEffect`); None for all.
    progress : bool
        Show a progress bar over the hypotheses.

    Returns
    -------
    xarray.Dataset
        ``test_stimulus`` (hypothesis, time, y, x) contrast; ``design_target`` (hypothesis, type)
        the types aimed at and their predicted direction; the CNN's predictions under the designed
        stimulus, ``designed_change`` (hypothesis, cell) and ``designed_effect`` (hypothesis, type)
        in Hz, ``designed_z`` (hypothesis, type) in Poisson standard errors, ``designed_detectability``
        (hypothesis; :func:`detectability`); ``objective_trace`` (hypothesis, step); with
        ``jitter``, ``jitter_effect``, ``jitter_z`` and ``jitter_detectability``. Attrs: kind,
        recording_s, the settings.

    Notes
    -----
    The objective is :func:`detectability` of the z of :class:`TypeEffect`: the change of each type's
    mean rate when the hypothesis's channels are scaled by its gain, over the Poisson standard
    error of a recording of ``recording_s`` seconds per condition, for the types the hypothesis
    predicts to change, minus its size for the other types.
    """
    settings = DesignSettings() if settings is None else settings
    found = interventions(hypotheses)
    model = cast(RetinaCNN, model)  # any module with a retina CNN's layers and attributes serves
    if hypotheses.sizes["cell"] != int(model.n_cells):
        raise RetinaCodecError(
            f"the hypotheses are about {hypotheses.sizes['cell']} cells; the model has {model.n_cells} "
            "(expected the model the hypotheses were generated from)"
        )
    recording_s = float(hypotheses.attrs["recording_s"])
    cell_type = [str(t) for t in hypotheses["cell_type"].values]
    with frozen(model), evaluating(model, device_for(model, "cpu")):
        aimed = TypeEffect(model, cell_type, recording_s, windows, settings.seed)
        whole = TypeEffect(model, cell_type, recording_s)
        rows = [
            _designed(aimed, item, int(model.size), settings)
            for item in progress_bar(found, desc="test stimuli", unit="hypothesis", progress=progress)
        ]
        under = [predicted_under(whole, stimulus, item) for (stimulus, _), item in zip(rows, found)]
        natural = [predicted_under(whole, jitter, item) for item in found] if jitter is not None else None
    ds = _designs(hypotheses, whole.types, found, rows, under, natural, jitter)
    ds.attrs.update(windows_per_step=-1 if windows is None else int(windows), **settings.attrs())
    return ds


def _designs(hypotheses, types, found, rows, under, natural, jitter) -> xr.Dataset:
    """The Dataset of :func:`design_tests` from its parts."""
    names = hypotheses["hypothesis"].values
    cells = {name: hypotheses[name] for name in ("cell", "cell_type", "y", "x") if name in hypotheses.coords}
    stimuli = xr.concat([stimulus for stimulus, _ in rows], dim="hypothesis", combine_attrs="drop_conflicts")
    ds = xr.Dataset(
        {
            "test_stimulus": stimuli.assign_coords(hypothesis=names),
            "design_target": (("hypothesis", TYPE_DIM), np.stack([item.target for item in found])),
            "designed_change": (("hypothesis", "cell"), np.stack([u["change"] for u in under]), {"units": "Hz"}),
            "designed_effect": (("hypothesis", TYPE_DIM), np.stack([u["effect"] for u in under]), {"units": "Hz"}),
            "designed_z": (("hypothesis", TYPE_DIM), np.stack([u["z"] for u in under])),
            "designed_detectability": ("hypothesis", [u["detectability"] for u in under]),
            "objective_trace": (("hypothesis", "step"), np.stack([trace for _, trace in rows])),
        },
        coords={"hypothesis": names, TYPE_DIM: types, **cells},
    )
    if natural is not None:
        ds["jitter_effect"] = (("hypothesis", TYPE_DIM), np.stack([u["effect"] for u in natural]), {"units": "Hz"})
        ds["jitter_z"] = (("hypothesis", TYPE_DIM), np.stack([u["z"] for u in natural]))
        ds["jitter_detectability"] = ("hypothesis", [u["detectability"] for u in natural])
        ds.attrs["jitter_seed"] = int(jitter.attrs.get("seed", -1))
        ds.attrs["jitter_kind"] = str(jitter.attrs.get("kind", "unknown"))
    ds["design_target"].attrs["long_name"] = "predicted direction of each type aimed at (+1, -1); 0 not aimed at"
    ds["designed_z"].attrs["long_name"] = "type's mean change over its Poisson standard error (signed)"
    ds.attrs.update(
        kind=DESIGN_KIND,
        recording_s=float(hypotheses.attrs["recording_s"]),
        model=str(hypotheses.attrs.get("model", "unknown")),
    )
    return ds


DESIGN_VARIABLES = (
    "design_target",
    "designed_effect",
    "designed_z",
    "designed_detectability",
    "jitter_effect",
    "jitter_z",
    "jitter_detectability",
    "observed_designed_z",
    "observed_jitter_z",
    "observed_designed_target_z",
    "observed_jitter_target_z",
    "observed_ratio",
)
"""Per-hypothesis variables of designed test stimuli that :func:`with_designs` copies into the hypotheses."""


def with_designs(hypotheses: xr.Dataset, designs: xr.Dataset) -> xr.Dataset:
    """The hypotheses with their test stimuli's predicted (and, when checked, observed) effects.

    Parameters
    ----------
    hypotheses : xarray.Dataset
        From :func:`~retinacodec.hypotheses.generate.generate`.
    designs : xarray.Dataset
        From :func:`design_tests` for these hypotheses (optionally checked).

    Returns
    -------
    xarray.Dataset
        ``hypotheses`` with the :data:`DESIGN_VARIABLES` that ``designs`` holds (the movies stay in
        ``designs``) and the design settings (``design_*`` attrs).
    """
    if designs.attrs.get("kind") != DESIGN_KIND or list(designs["hypothesis"].values) != list(
        hypotheses["hypothesis"].values
    ):
        raise RetinaCodecError("expected the designs of design_tests() for these hypotheses, in their order")
    merged = hypotheses.assign({name: designs[name] for name in DESIGN_VARIABLES if name in designs})
    merged.attrs.update({key: value for key, value in designs.attrs.items() if key.startswith("design_")})
    return merged

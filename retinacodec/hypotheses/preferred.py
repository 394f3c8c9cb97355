"""The stimulus each mode prefers at a cell, beside the cell's own most exciting input.

A mode's loading at a cell is what the package computes everywhere (:meth:`SAE.transform
<retinacodec.modes.SAE.transform>` of the contributions of the cell's response,
:func:`~retinacodec.modes.selection.mode_loadings`): the SAE's code of the split-sign
Integrated-Gradients contributions of the modes' layer to the cell's rate. Here those
contributions are computed differentiably (torch autograd through the layer-path integral), so that
:func:`~retinacodec.hypotheses.optimise.optimise_stimulus` can ascend the loading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
import xarray as xr
from torch import nn

from .._progress import progress_bar
from ..attribution.inputs import prepare_inputs
from ..attribution.quadrature import quadrature
from ..device import device_for, evaluating, frozen, torch_threads
from ..errors import RetinaCodecError
from ..models.adapter import AdaptedModel, adapt
from ..models.retina_cnn import RetinaCNN
from ..modes.result import Modes
from ..modes.sae import SAE
from ..modes.selection import modes_layer, selected_mode_positions
from ..stimuli.base import make_stimulus
from .optimise import DesignSettings, optimise_stimulus

PREFERRED_KIND = "mode_preferred_stimuli"
"""Value of the ``kind`` attr of a Dataset of mode-preferred stimuli."""
QUADRATURE = "gausslegendre"
"""Quadrature rule of the contributions behind the loadings (that of the demo's contributions)."""
DEFAULT_N_STEPS = 10
"""Quadrature nodes when the modes do not record the ``n_steps`` of their contributions."""


def preferred_settings(history: int, seed: int = 0) -> DesignSettings:
    """The settings of the preferred stimuli: one window of the model's ``history`` frames (the
    cell's response at its last frame), the :class:`DesignSettings` defaults for the rest (box
    +-0.4, RMS at most 0.2, smoothed over 1 px and 2 frames, 1 px jitter, 40 Adam steps at 0.05),
    fixed before any comparison was looked at."""
    return DesignSettings(n_frames=history, seed=seed)


def movie_windows(model: RetinaCNN, movie: torch.Tensor) -> torch.Tensor:
    """The normalised (window, history, y, x) input windows of a (time, y, x) contrast tensor,
    differentiable; window ``i`` ends at frame ``i + history - 1``."""
    normalised = (movie - model.stimulus_mean.float()) / model.stimulus_std.float()
    return normalised.unfold(0, int(model.history), 1).permute(0, 3, 1, 2)


@dataclass(frozen=True)
class CellLoadings:
    """A cell's mode loadings as a differentiable map of the model's input windows.

    Build one with :meth:`of`; call :meth:`features` for the split-sign contributions of the
    layer to the cell's rate and :meth:`pre_activations` for the modes' values before the SAE's
    threshold (a loading is a non-decreasing function of it).
    """

    adapted: AdaptedModel
    layer: str
    sae: SAE
    cell: int
    alphas: torch.Tensor
    """(node,) quadrature nodes of the layer path."""
    weights: torch.Tensor
    """(node,) quadrature weights."""
    baseline: torch.Tensor
    """(1, channel, ...) the layer's output at the zero-contrast window."""
    split: bool
    """Whether the SAE was fitted on split-sign contributions."""

    @classmethod
    def of(cls, model: RetinaCNN, modes: Modes, layer: str, cell: int) -> CellLoadings:
        """The loadings of ``cell`` on ``modes`` (with an encoder) of ``layer``, on ``model``'s device."""
        attrs = modes.dictionary.attrs
        if str(attrs.get("path", "layer")) != "layer":
            raise RetinaCodecError(
                f"the modes decompose contributions along the {attrs['path']!r} path; expected modes of "
                "layer-path contributions (the default)"
            )
        adapted = adapt(model)
        alphas, weights = quadrature(QUADRATURE, int(attrs.get("n_steps", DEFAULT_N_STEPS)))
        device = device_for(model, "cpu")
        frames = np.zeros((model.history, model.size, model.size), np.float32)
        blank = make_stimulus(frames, model.frame_rate_hz, kind="blank")
        zero = prepare_inputs(model, blank, "mean", torch.float32, device).baseline
        with torch.no_grad():
            baseline = adapted.capture(zero, layer, stop=True).activation
        assert modes.sae is not None  # checked by the caller
        return cls(
            adapted,
            layer,
            modes.sae,
            cell,
            torch.as_tensor(alphas, dtype=torch.float32, device=device),
            torch.as_tensor(weights, dtype=torch.float32, device=device),
            baseline,
            "feature" in modes.dictionary.dims,
        )

    def features(self, windows: torch.Tensor) -> torch.Tensor:
        """(window, feature) contributions of the layer's channels to the cell's rate, as the SAE
        takes them: per channel the sums of negative (as magnitudes) and positive elementwise
        contributions over space (channel-major), or their signed sum without a sign split.

        Notes
        -----
        :math:`c = (a - a_0) \\odot \\sum_k w_k \\nabla F(a_0 + \\alpha_k (a - a_0))`, with the
        gradient taken with ``create_graph`` so that :math:`c` is differentiable in the stimulus.
        """
        downstream = self.adapted.downstream(self.layer)
        if downstream.needs_context:
            raise RetinaCodecError(
                f"layer {self.layer!r} is inside a module that must be rerun; expected a layer of a chain of modules"
            )
        activation = self.adapted.capture(windows, self.layer, stop=True).activation
        delta = activation - self.baseline
        shape = (len(self.alphas), *delta.shape)
        rows = (self.baseline + self.alphas.reshape(-1, *[1] * delta.ndim) * delta).reshape(-1, *delta.shape[1:])
        with torch.enable_grad():  # also under no_grad: the gradient is part of the contribution
            if not rows.requires_grad:  # a stimulus that is not optimised: contributions only
                rows.requires_grad_()
            output = downstream(rows, None)
            (gradient,) = torch.autograd.grad(output[:, self.cell].sum(), rows, create_graph=torch.is_grad_enabled())
        integral = (self.weights.reshape(-1, *[1] * delta.ndim) * gradient.reshape(shape)).sum(0)
        axis = self.adapted.channel_axis(self.layer, activation)
        values = (delta * integral).movedim(axis, -1).reshape(len(windows), -1, delta.shape[axis])
        if not self.split:
            return values.sum(1)
        return torch.stack([-values.clamp(max=0).sum(1), values.clamp(min=0).sum(1)], dim=-1).flatten(1)

    def pre_activations(self, windows: torch.Tensor) -> torch.Tensor:
        """(window, mode) the modes' values before the SAE's threshold (:meth:`SAE.pre_activations`)."""
        return self.sae.pre_activations(self.features(windows))


def _check_input(model: nn.Module, modes, cell: int) -> tuple[RetinaCNN, Modes]:
    """The model as a retina CNN and the modes as :class:`Modes` with an encoder of contributions."""
    if not all(hasattr(model, name) for name in ("history", "size", "n_cells", "stimulus_mean")):
        raise RetinaCodecError(
            f"{type(model).__name__} is not a retina model; expected a retina CNN (history, size, n_cells)"
        )
    model = cast(RetinaCNN, model)
    if isinstance(cell, bool) or not isinstance(cell, (int, np.integer)) or not 0 <= cell < int(model.n_cells):
        raise RetinaCodecError(f"cell {cell!r} is out of range; expected an integer in 0..{int(model.n_cells) - 1}")
    coerced = Modes.coerce(modes)
    if not coerced.has_encoder:
        raise RetinaCodecError(
            "the modes come without their SAE, which computes loadings; expected a fitted SAE or a file "
            "written by SAE.save (a demo's sae_<layer>.nc)"
        )
    if coerced.variable != "contribution":
        raise RetinaCodecError(
            f"the modes decompose {coerced.variable}s; expected contribution modes (a loading of a cell's response)"
        )
    return model, coerced


def _evaluate(loadings: CellLoadings, model: RetinaCNN, movie: xr.DataArray, atoms: np.ndarray) -> dict[str, Any]:
    """Rate (Hz), every mode's loading and share of the reconstruction under a movie (means over its windows)."""
    with torch.no_grad():  # the contributions' own gradient only, no graph beyond it
        windows = movie_windows(model, torch.as_tensor(movie.values))
        features = loadings.features(windows)
        rate = float(model(windows)[:, loadings.cell].mean())
    codes = np.asarray(loadings.sae.transform(features.cpu().numpy().astype(np.float64)), dtype=float).mean(0)
    total = float(codes @ atoms)
    return {"rate": rate, "loading": codes, "share": codes * atoms / total if total > 0 else np.zeros_like(codes)}


def _optimised(
    model: RetinaCNN, loadings: CellLoadings, mode: int | None, settings: DesignSettings, atoms: np.ndarray
) -> tuple[xr.DataArray, np.ndarray, dict[str, Any]]:
    """The stimulus that maximises mode ``mode``'s pre-activation (the cell's rate for None), its
    objective trace and what :func:`_evaluate` finds under it."""

    def objective(movie: torch.Tensor) -> torch.Tensor:
        windows = movie_windows(model, movie)
        if mode is None:
            return model(windows)[:, loadings.cell].mean()
        return loadings.pre_activations(windows)[:, mode].mean()

    stimulus, trace = optimise_stimulus(
        objective,
        int(model.size),
        settings,
        frame_rate_hz=float(model.frame_rate_hz),
        mean=float(model.stimulus_mean),
        kind="most_exciting_input" if mode is None else "mode_preferred",
    )
    return stimulus, trace, _evaluate(loadings, model, stimulus, atoms)


def preferred_stimuli(
    model: nn.Module,
    modes: Modes | SAE,
    cell: int,
    positions: Sequence[int] | np.ndarray,
    *,
    layer: str | None = None,
    settings: DesignSettings | None = None,
    progress: bool = True,
) -> xr.Dataset:
    """The stimulus that maximises each mode's loading at a cell, and the cell's most exciting input.

    Parameters
    ----------
    model : RetinaCNN
        The retina model the modes were fitted on.
    modes : Modes or SAE
        Contribution modes with their encoder (a fitted SAE, or :meth:`Modes.read` of a saved one).
    cell : int
        The cell.
    positions : sequence of int
        Positions along ``mode`` of the modes to optimise for.
    layer : str, optional
        The modes' layer; by default the one they record.
    settings : DesignSettings, optional
        Length, bounds, smoothing, jitter, steps and seed; by default :func:`preferred_settings`
        (one window of the model's history). A longer movie maximises the mean over its windows.
    progress : bool
        Show a progress bar over the stimuli.

    Returns
    -------
    xarray.Dataset
        ``preferred_stimulus`` (mode, time, y, x) and ``most_exciting_input`` (time, y, x) contrast;
        under each mode's preferred stimulus the mode's ``preferred_loading`` (mode; the SAE's code,
        dimensionless), its ``preferred_share`` of the reconstruction and the cell's
        ``preferred_rate`` (mode, Hz); under the most exciting input ``mei_rate`` (Hz) and each mode's
        ``mei_loading`` and ``mei_share`` (mode); ``objective_trace`` (mode, step) and
        ``mei_trace`` (step). Scalar coords cell and cell_type; attrs kind, model, layer, n_steps,
        quadrature, ``contrast_centre`` (the contrast the bounds are centred on) and the settings
        (``design_*``).

    Raises
    ------
    RetinaCodecError
        For a model that is not a retina model, a cell or mode out of range, modes without an
        encoder or of activations, or a movie shorter than the model's history.

    Notes
    -----
    A mode's loading is the SAE's code of the split-sign layer-path contributions of its layer to
    the cell's rate (zero contrast as baseline, the modes' recorded ``n_steps``, Gauss-Legendre
    nodes), as :func:`~retinacodec.modes.selection.mode_loadings` computes it. The code is 0 below
    the SAE's threshold and has no gradient there, so the ascent follows the mode's pre-activation,
    of which the code is a non-decreasing function (linear above the threshold for the default
    ``active_codes``). The share is :math:`z_m |d_m| / \\sum_k z_k |d_k|` with :math:`|d_k|` the
    sum of atom ``k``'s entries. The most exciting input maximises the cell's rate under the same
    bounds. Every optimisation starts from the same seed and runs on one torch thread.
    """
    model, coerced = _check_input(model, modes, cell)
    weights = coerced.channel_weights()
    chosen = selected_mode_positions(weights, positions)
    settings = preferred_settings(int(model.history)) if settings is None else settings
    if settings.n_frames < int(model.history):
        raise RetinaCodecError(
            f"the stimuli would have {settings.n_frames} frames (n_frames); expected at least the model's "
            f"history ({model.history} frames)"
        )
    atoms = np.abs(np.asarray(coerced.dictionary.values, dtype=float)).reshape(coerced.n_modes, -1).sum(1)
    # one thread: many small operations per step, each of which threads would wait for each other at
    # (on 2 loaded cores, 2 threads took 13x the CPU time of one)
    with torch_threads(1), frozen(model), evaluating(model, device_for(model, "cpu")):
        layer = modes_layer(weights, layer, adapt(model))
        loadings = CellLoadings.of(model, coerced, layer, int(cell))
        found = [
            _optimised(model, loadings, mode, settings, atoms)
            for mode in progress_bar([None, *chosen], desc="preferred stimuli", unit="stimulus", progress=progress)
        ]
    return _dataset(model, coerced, cell, chosen, found, weights["mode"].values[chosen], layer, settings)


def _dataset(model, modes: Modes, cell: int, chosen, found, labels, layer: str, settings: DesignSettings) -> xr.Dataset:
    """The Dataset of :func:`preferred_stimuli` from its parts (the MEI first in ``found``)."""
    mei, mei_trace, mei_values = found[0]
    rows = found[1:]
    stimuli = xr.concat([stimulus for stimulus, _, _ in rows], dim="mode", combine_attrs="drop_conflicts")
    ds = xr.Dataset(
        {
            "preferred_stimulus": stimuli.assign_coords(mode=labels),
            "most_exciting_input": mei,
            "preferred_loading": ("mode", [values["loading"][m] for m, (_, _, values) in zip(chosen, rows)]),
            "preferred_share": ("mode", [values["share"][m] for m, (_, _, values) in zip(chosen, rows)]),
            "preferred_rate": ("mode", [values["rate"] for _, _, values in rows], {"units": "Hz"}),
            "mei_rate": ((), mei_values["rate"], {"units": "Hz"}),
            "mei_loading": ("mode", mei_values["loading"][chosen]),
            "mei_share": ("mode", mei_values["share"][chosen]),
            "objective_trace": (("mode", "step"), np.stack([trace for _, trace, _ in rows])),
            "mei_trace": ("step", mei_trace),
        },
        coords={"mode": labels, "cell": int(cell), "cell_type": str(model.cell_type[cell])},
    )
    ds["preferred_loading"].attrs.update(units="1", long_name="mode's SAE loading under its preferred stimulus")
    ds["preferred_share"].attrs["long_name"] = "mode's share of the SAE reconstruction under its preferred stimulus"
    ds["objective_trace"].attrs["long_name"] = "mode's pre-activation at each Adam step (jittered movie)"
    ds["mei_trace"].attrs.update(units="Hz", long_name="cell's rate at each Adam step (jittered movie)")
    ds.attrs.update(
        kind=PREFERRED_KIND,
        model=str(getattr(model, "name", type(model).__name__)),
        layer=str(layer),
        n_steps=int(modes.dictionary.attrs.get("n_steps", DEFAULT_N_STEPS)),
        quadrature=QUADRATURE,
        contrast_centre=float(model.stimulus_mean),
        **settings.attrs(),
    )
    return ds


PEAK_RADIUS = 5
"""Half-width (px) of the square around the IRF's peak pixel over which kernels are compared."""


def stimulus_kernel(stimulus: xr.DataArray, n_lags: int, centre: float) -> np.ndarray:
    """The last ``n_lags`` frames of a (time, y, x) stimulus minus ``centre``, lag 0 (the last
    frame) first: (lag, y, x), comparable with an IRF."""
    return stimulus.values[::-1][:n_lags] - centre


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    norm = float(np.sqrt((a @ a) * (b @ b)))
    return float(a @ b) / norm if norm > 0 else float("nan")


def irf_agreement(preferred: xr.Dataset, irf: xr.Dataset, radius: int = PEAK_RADIUS) -> xr.Dataset:
    """How well each mode's preferred stimulus agrees with the mode's IRF at the same cell.

    Parameters
    ----------
    preferred : xarray.Dataset
        From :func:`preferred_stimuli`.
    irf : xarray.Dataset
        An IRF decomposed by the same modes (:func:`retinacodec.irf` with modes) holding the cell.
    radius : int
        Half-width (px) of the square around the peak pixel of the cell's IRF that is compared.

    Returns
    -------
    xarray.Dataset
        ``irf_correlation`` (mode): the Pearson correlation over (lag, y, x) in the square between
        the preferred stimulus's kernel (:func:`stimulus_kernel`, its last frames reversed, minus
        the bounds' centre) and the mode's IRF averaged over the IRF's times (NaN for a mode the IRF
        does not hold); ``mei_irf_correlation``: the same for the most exciting input and the
        cell's whole IRF. Attrs ``irf_peak_y``, ``irf_peak_x`` (px) and ``irf_radius``; merge it into
        ``preferred`` with ``xarray.merge(..., combine_attrs="no_conflicts")``.

    Raises
    ------
    RetinaCodecError
        If either input is not what is expected or the IRF does not hold the cell.
    """
    if preferred.attrs.get("kind") != PREFERRED_KIND or "mode_irf" not in irf:
        raise RetinaCodecError("expected preferred_stimuli()'s Dataset and an IRF decomposed by mode (irf.nc)")
    cell = int(preferred["cell"])
    if cell not in irf["cell"].values:
        raise RetinaCodecError(f"the IRF holds cells {list(irf['cell'].values)}; expected cell {cell} among them")
    whole = irf["irf"].sel(cell=cell).mean("time").values
    n_lags = whole.shape[0]
    peak_y, peak_x = np.unravel_index(np.square(whole).sum(0).argmax(), whole.shape[1:])
    box = np.s_[:, max(0, peak_y - radius) : peak_y + radius + 1, max(0, peak_x - radius) : peak_x + radius + 1]
    centre = float(preferred.attrs["contrast_centre"])
    by_mode = irf["mode_irf"].sel(cell=cell).mean("time")
    correlations = [
        _correlation(
            stimulus_kernel(preferred["preferred_stimulus"].sel(mode=m), n_lags, centre)[box],
            by_mode.sel(mode=m).values[box],
        )
        if m in by_mode["mode"].values
        else float("nan")
        for m in preferred["mode"].values
    ]
    mei = _correlation(stimulus_kernel(preferred["most_exciting_input"], n_lags, centre)[box], whole[box])
    return xr.Dataset(
        {"irf_correlation": ("mode", correlations), "mei_irf_correlation": ((), mei)},
        coords={"mode": preferred["mode"].values},
        attrs={"irf_peak_y": int(peak_y), "irf_peak_x": int(peak_x), "irf_radius": int(radius)},
    )

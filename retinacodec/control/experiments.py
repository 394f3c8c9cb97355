"""Network control: silence a layer's channels, or all but some, and measure what changes.

The channels are silenced with the hooks of :mod:`.hooks` (:func:`~.hooks.ablate`,
:func:`~.hooks.preserve`); they come from :func:`retinacodec.modes.selection.top_channels` (a
mode's strongest channels) of the mode :func:`retinacodec.modes.selection.associated_mode` finds
most tied to a class or cell. :func:`classifier_control` and :func:`retina_control` run the
experiments of CODEC's network-control section and return labeled
results (see :func:`retinacodec.plots.control.plot_control`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from .. import __version__
from .._progress import progress_bar
from .._validation import check_int
from ..attribution.inputs import prepare_inputs
from ..device import evaluating, resolve_device
from ..errors import RetinaCodecError
from ..metrics import column_correlation
from ..models.adapter import AdaptedModel, adapt
from ..models.registry import windows
from ..targets import resolve_cells
from .hooks import Channels, _channel_positions, ablate, preserve

INTERVENTIONS = ("none", "ablate", "preserve")
"""Conditions of the control experiments: unperturbed, named channels zeroed, all others zeroed."""

CURVE_INTERVENTIONS = ("ablate", "preserve")
"""The interventions of a control curve: silence the top channels, or keep them alone."""


def _outputs(model: AdaptedModel, inputs: torch.Tensor, batch_size: int, dtype: torch.dtype) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat(
            [model(inputs[start : start + batch_size].to(dtype)) for start in range(0, inputs.shape[0], batch_size)]
        )


def _perturbations(model: AdaptedModel, layer: str, channels: Mapping[str, Channels]):
    """(selection, intervention, context manager) for ablation and preservation of every selection."""
    if not channels:
        raise RetinaCodecError(
            "no channel selections given; expected e.g. {'contribution': [...], 'activation': [...]}"
        )
    model.resolve(layer)
    conditions = []
    for name, chosen in channels.items():
        _channel_positions(chosen)
        conditions.append((name, "ablate", ablate(model, layer, chosen)))
        conditions.append((name, "preserve", preserve(model, layer, chosen)))
    return conditions


def _outputs_under(
    model: AdaptedModel,
    layer: str,
    channels: Mapping[str, Channels],
    inputs: torch.Tensor,
    batch_size: int,
    dtype: torch.dtype,
    progress: bool,
) -> dict[tuple[str, str], torch.Tensor]:
    """Model outputs for every (selection, intervention); ``none`` is computed once and shared."""
    perturbations = _perturbations(model, layer, channels)
    bar = progress_bar(total=1 + len(perturbations), desc="control", unit="condition", progress=progress)
    with bar:
        unperturbed = _outputs(model, inputs, batch_size, dtype)
        bar.update()
        outputs = {(name, "none"): unperturbed for name in channels}
        for name, intervention, context in perturbations:
            with context:
                outputs[name, intervention] = _outputs(model, inputs, batch_size, dtype)
            bar.update()
    return outputs


def _selection_coords(channels: Mapping[str, Channels]) -> dict:
    return {"selection": list(channels), "intervention": list(INTERVENTIONS)}


def classifier_control(
    model: nn.Module | AdaptedModel,
    images,
    labels,
    layer: str,
    channels: Mapping[str, Channels],
    target_class: int,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> xr.Dataset:
    """Accuracy of an image classifier when channel selections of a layer are ablated or preserved.

    Parameters
    ----------
    model : torch.nn.Module or AdaptedModel
        Classifier with output (N, n_classes) logits; eval mode for the call.
    images : torch.Tensor, numpy.ndarray or xarray.DataArray
        (image, colour, y, x) model-ready inputs.
    labels : array-like
        (image,) true class of each image.
    layer : str
        Layer whose channels are silenced.
    channels : mapping of str to sequence of int or numpy.ndarray
        Named channel selections, e.g. ``{"contribution": top_channels(c_modes, m1),
        "activation": top_channels(a_modes, m2)}``.
    target_class : int
        The class the selections are associated with.
    batch_size : int
        Images per forward pass.
    device : str or torch.device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    progress : bool
        Show a progress bar over conditions.

    Returns
    -------
    xarray.Dataset
        ``target_accuracy`` (selection, intervention): fraction of the target-class images
        classified correctly; ``off_target_accuracy``: the same for all other images;
        ``n_channels`` (selection). ``intervention`` is ``none``, ``ablate``, ``preserve``.
        Attrs: kind, layer, target_class, image counts, model, package version.

    Raises
    ------
    RetinaCodecError
        For an unknown layer, bad channel indices, labels of another length, or no image of the
        target class (or none of another class).
    """
    adapted = adapt(model)
    batch_size = check_int("batch_size", batch_size)
    labels = np.asarray(labels).ravel()
    device = resolve_device(device)
    with evaluating(adapted.module, device) as dtype:
        values = prepare_inputs(adapted.module, images, "zero", dtype, device).values
        if labels.size != values.shape[0]:
            raise RetinaCodecError(f"{labels.size} labels for {values.shape[0]} images; expected one label per image")
        on_target = labels == target_class
        if on_target.all() or not on_target.any():
            raise RetinaCodecError(
                f"{int(on_target.sum())} of {labels.size} images are of class {target_class}; "
                "expected images of the target class and of other classes"
            )
        outputs = _outputs_under(adapted, layer, channels, values, batch_size, dtype, progress)
    accuracy = np.empty((len(channels), len(INTERVENTIONS), 2))
    for i, name in enumerate(channels):
        for j, intervention in enumerate(INTERVENTIONS):
            correct = outputs[name, intervention].argmax(dim=1).cpu().numpy() == labels
            accuracy[i, j] = correct[on_target].mean(), correct[~on_target].mean()
    return xr.Dataset(
        {
            "target_accuracy": (
                ("selection", "intervention"),
                accuracy[..., 0],
                {"long_name": f"accuracy on class {target_class}"},
            ),
            "off_target_accuracy": (
                ("selection", "intervention"),
                accuracy[..., 1],
                {"long_name": "accuracy on the other classes"},
            ),
            "n_channels": ("selection", [len(_channel_positions(c)) for c in channels.values()]),
        },
        coords=_selection_coords(channels),
        attrs={
            "kind": "classifier_control",
            "layer": str(layer),
            "target_class": int(target_class),
            "n_target_images": int(on_target.sum()),
            "n_off_target_images": int((~on_target).sum()),
            "model": type(adapted.module).__name__,
            "retinacodec_version": __version__,
        },
    )


CONSTANT_RELATIVE_STD = 1e-6
"""A response whose standard deviation over time is below this fraction of its mean magnitude
counts as constant (float32 rounding of an unchanging rate); its correlation is NaN."""


def _pearson_over_time(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation per column of two (time, cell) arrays; NaN where one is constant."""
    constant = np.zeros(a.shape[1], dtype=bool)
    for values in (a, b):
        constant |= values.std(axis=0) <= CONSTANT_RELATIVE_STD * np.abs(values).mean(axis=0)
    return np.where(constant, np.nan, column_correlation(a, b))


def retina_control(
    model: nn.Module,
    stimulus: xr.DataArray,
    layer: str,
    channels: Mapping[str, Channels],
    cells: int | Sequence[int] | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> xr.Dataset:
    """How a retina model's cells respond when channel selections of a layer are ablated or preserved.

    Parameters
    ----------
    model : torch.nn.Module
        A retina model (see :func:`retinacodec.receptive_fields.instantaneous.irf` for what it must provide).
    stimulus : xarray.DataArray
        (time, y, x) contrast at the model's frame rate and size.
    layer : str
        Layer whose channels are silenced (e.g. ``"bipolar"``, ``"amacrine"``).
    channels : mapping of str to sequence of int or numpy.ndarray
        Named channel selections (e.g. contribution-mode and activation-mode channels).
    cells : int or sequence of int, optional
        Cells to report (all by default).
    batch_size : int
        Windows per forward pass.
    device : str or torch.device
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    progress : bool
        Show a progress bar over conditions.

    Returns
    -------
    xarray.Dataset
        Over (selection, intervention, cell): ``mean_rate`` (Hz) over the stimulus,
        ``rate_change`` (Hz) = mean rate minus the unperturbed mean rate, and ``correlation``, the
        Pearson correlation over time with the unperturbed response (1 for ``none``; NaN when a
        response is constant, see :data:`CONSTANT_RELATIVE_STD`); ``n_channels`` (selection).
        Attrs: kind, layer, model, stimulus, package version.

    Raises
    ------
    RetinaCodecError
        For an unknown layer or cell, bad channel indices, or a stimulus that does not fit.

    Notes
    -----
    The model runs on each window with :meth:`forward`, so hooks on every layer apply (the
    FFT shortcut of :func:`retinacodec.models.predict` bypasses the first layer's hooks).
    """
    adapted = adapt(model)
    batch_size = check_int("batch_size", batch_size)
    device = resolve_device(device)
    with evaluating(adapted.module, device) as dtype:
        inputs, times = windows(adapted.module, stimulus)
        cell_list = resolve_cells(cells, adapted.module, _outputs(adapted, inputs[:1], 1, dtype))  # before the runs
        rates = _outputs_under(adapted, layer, channels, inputs, batch_size, dtype, progress)
        unperturbed = next(iter(rates.values()))
    reference = unperturbed[:, cell_list].cpu().numpy().astype(np.float64)
    shape = (len(channels), len(INTERVENTIONS), len(cell_list))
    mean_rate, correlation = np.empty(shape), np.empty(shape)
    for i, name in enumerate(channels):
        for j, intervention in enumerate(INTERVENTIONS):
            perturbed = rates[name, intervention][:, cell_list].cpu().numpy().astype(np.float64)
            mean_rate[i, j] = perturbed.mean(axis=0)
            correlation[i, j] = _pearson_over_time(perturbed, reference)
    types = getattr(adapted.module, "cell_type", None)
    coords = {**_selection_coords(channels), "cell": cell_list}
    if types is not None:
        coords["cell_type"] = ("cell", [str(types[c]) for c in cell_list])
    dims = ("selection", "intervention", "cell")
    return xr.Dataset(
        {
            "mean_rate": (dims, mean_rate, {"units": "Hz"}),
            "rate_change": (
                dims,
                mean_rate - reference.mean(axis=0),
                {"units": "Hz", "long_name": "mean rate minus the unperturbed mean rate"},
            ),
            "correlation": (dims, correlation, {"long_name": "Pearson correlation with the unperturbed response"}),
            "n_channels": ("selection", [len(_channel_positions(c)) for c in channels.values()]),
        },
        coords=coords,
        attrs={
            "kind": "retina_control",
            "layer": str(layer),
            "model": str(getattr(adapted.module, "name", type(adapted.module).__name__)),
            "stimulus": str(stimulus.attrs.get("kind", "unknown")),
            "n_times": int(len(times)),
            "retinacodec_version": __version__,
        },
    )

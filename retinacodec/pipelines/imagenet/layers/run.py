"""The ImageNet analyses of CODEC, layer by layer, for a classifier on a folder of images.

Per layer (:mod:`~retinacodec.pipelines.imagenet.layers.steps`): contributions of every channel
to the top logit (hidden-layer Integrated Gradients) and the activations, both split by sign and
summed over space or tokens; SAE modes of each; the contribution-vs-activation statistics
(sparsity, PCA dimensions, mode-class correlations); the network-control experiment (ablate or
preserve the top channels of the mode most correlated with a class, contribution modes and
activation modes side by side); and contribution maps of the top modes. Results go to
``output_dir/layers/<layer>/`` as netCDF files and figures, then a summary over layers, figures
across layers and ``report.md`` (:mod:`~retinacodec.pipelines.imagenet.layers.report`).

A run resumes (:class:`~retinacodec.io.resumable.Workspace`): the predictions and every finished
layer are read back; a layer's contributions are computed chunk by chunk
(:func:`retinacodec.parallel.run_chunked`), so an interrupted layer resumes after its last chunk.
Rerunning with other settings in the same folder is refused.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from .... import __version__
from ....device import resolve_device
from ....errors import RetinaCodecError
from ....io import write_netcdf
from ....io.resumable import Workspace
from ....models.adapter import adapt
from ....models.classifier import Classifier
from ....models.zoo import load_classifier
from ....parallel.cluster import dask_client
from ....parallel.contributions import GivenModel, load_job_model
from ....parallel.execution import Execution
from ....plots import save_figure
from ....plots.modes import plot_dimensions, plot_mode_labels, plot_sparsity
from ..common.images import Views, augmentations_needed, find_images
from ..common.layers import default_layers, layer_aliases
from ..common.predictions import (
    describe_classifier,
    labelled,
    predict,
    resolve_classifier,
    top1_accuracy,
    weights_key,
)
from . import steps as analysis_steps
from .figures import plot_layerwise_control
from .report import write_report
from .settings import ImagenetSettings

PROGRAM = "retinacodec imagenet"
"""The run folder's manifest label."""
SUMMARY_NAME = "summary.nc"


def run_imagenet(
    images: str | os.PathLike = "sample",
    output_dir: str | os.PathLike = "imagenet_out",
    *,
    settings: ImagenetSettings | None = None,
    labels: str | os.PathLike | None = None,
    weights: str | os.PathLike | Classifier | None = None,
    execution: Execution | None = None,
    device: str = "auto",
    log: Callable[[str], None] | None = None,
) -> xr.Dataset:
    """Run the CODEC ImageNet analyses of a classifier, layer by layer, into ``output_dir``.

    Parameters
    ----------
    images : str or path-like
        ``"sample"`` (20 ImageNet validation images), a folder in ImageFolder layout (class folders
        named by WordNet id get their ImageNet-1k index), or a flat folder with ``labels`` (see
        :func:`retinacodec.pipelines.imagenet.common.images.find_images`).
    output_dir : str or path-like
        Output folder (created; a rerun resumes in it).
    settings : ImagenetSettings, optional
        Model, layers and the sizes of every step (default :class:`ImagenetSettings`).
    labels : str or path-like, optional
        Labels file of a flat folder (lines ``FILE_NAME CLASS_INDEX``).
    weights : str, path-like or Classifier, optional
        Weights of ``settings.model``: a torchvision weight name (``IMAGENET1K_V1``,
        ``IMAGENET1K_V2``, ``DEFAULT``; ``DEFAULT`` for timm's pretrained weights) or a local
        state_dict file whose preprocessing can be known (see
        :func:`retinacodec.models.zoo.open_classifier`); without any, a torchvision or timm model
        keeps random weights (a warning, recorded in the results and the report). Or a
        :class:`~retinacodec.models.Classifier`, a network with its preprocessing (your own, or
        ``open_classifier(name, file, preprocessing)``), analysed in place of ``settings.model``
        (which takes its name); its layers are ``settings.layers`` or read from its structure
        (:func:`~retinacodec.pipelines.imagenet.common.layers.structural_aliases`).
    execution : Execution, optional
        How the run goes (default ``Execution(threads=None)``): the contributions on a local Dask
        cluster of ``workers`` processes or on the cluster of ``scheduler`` (one cluster for every
        layer of the run), ``threads`` torch threads per chunk (None: this process's torch
        threads when the chunks run here and 1 on Dask workers; results agree across any of these
        to float rounding, and bit for bit at equal threads), ``overwrite`` (write into a folder
        holding other files or a run with other settings, recomputing all) and ``progress``
        (progress bars); see :class:`~retinacodec.parallel.execution.Execution`.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    log : callable, optional
        Called with one line per event (default: print to stderr).

    Returns
    -------
    xarray.Dataset
        The summary over layers (also ``output_dir/summary.nc``): ``target_accuracy`` and
        ``off_target_accuracy`` (layer, selection, intervention) averaged over the control classes;
        per variable (contribution, activation) the SAE ``r2``, ``n_modes_above``,
        ``best_correlation``, ``max_correlation`` (layer, variable, mode), sparsity ``hoyer``
        and PCA ``n_dimensions``; ``runtime`` (layer, stage) in s. Attrs: model, weights
        provenance, preprocessing, ``top1_accuracy``, image counts, ``n_augment``, settings.

    Raises
    ------
    RetinaCodecError
        For an unknown model or layer (valid names listed), weights that do not fit or cannot be
        fetched, a weights file whose preprocessing cannot be known, a missing, empty or unreadable
        image folder, bad settings, or an output folder holding a run with other settings.
    """
    settings = settings or ImagenetSettings()
    execution = execution or Execution(threads=None)
    log = log or (lambda line: print(line, file=sys.stderr))
    if isinstance(weights, Classifier):
        model = weights
        factory: Callable[[], torch.nn.Module] = GivenModel.of(model.module)
    else:
        factory = functools.partial(
            load_classifier, settings.model, None if weights is None else os.fspath(weights), settings.seed
        )
        model = resolve_classifier(settings.model, weights, seed=settings.seed, module=load_job_model(factory))
    settings = dataclasses.replace(settings, model=model.name)
    module = model.module
    source = find_images(images, labels)
    n_augment = (
        augmentations_needed(len(source.paths), settings.min_samples)
        if settings.n_augment is None
        else settings.n_augment
    )
    views = Views(source, model.preprocessing, n_augment, settings.seed)
    adapted = adapt(module, layers=layer_aliases(settings.model, module))
    chosen = settings.layers or default_layers(settings.model, settings.class_token, module)
    aliases = {name: adapted.resolve(name) for name in chosen}
    _check_labels(module, views, settings.model)
    origin = model.record()
    params = {
        **settings.as_dict(),
        "weights_sha256": weights_key(model),
        "preprocessing": model.preprocessing.as_dict(),
        "images": source.fingerprint(),
        "n_augment": int(n_augment),
        "retinacodec_version": __version__,
    }
    workspace = Workspace(output_dir, params, overwrite=execution.overwrite, log=log, program=PROGRAM)
    log(describe_classifier(model))
    predictions = _predictions(workspace, module, views, settings.batch_size, device, execution.progress)
    log(
        f"top-1 accuracy of {settings.model} on {len(source.paths)} images ({source.description}): "
        f"{int(predictions['correct'].sum())}/{len(source.paths)} = {100 * top1_accuracy(predictions):.1f} %"
    )
    image_labels = np.asarray(source.labels)
    classes = analysis_steps.control_classes(image_labels, settings.control_classes, settings.seed)
    control_images = analysis_steps.control_set(image_labels, classes, settings.n_off_target, settings.seed)
    threads = execution.chunk_threads()
    with dask_client(execution.workers, execution.scheduler) as client:  # one cluster for every layer
        run = analysis_steps.LayerContext(
            settings,
            adapted,
            factory,
            views,
            params,
            predictions,
            classes,
            control_images,
            views.load(views.center(control_images)),
            Execution(scheduler=client, threads=threads, progress=execution.progress),
            device,
        )
        summaries = [_layer(workspace, run, alias, name) for alias, name in aliases.items()]
    summary = xr.concat(summaries, dim="layer", join="outer", combine_attrs="drop_conflicts")
    summary.attrs = _summary_attrs(run, {**origin, "weights_sha256": params["weights_sha256"]})
    _write_outputs(summary, workspace.folder)
    workspace.close()  # releases the folder's lock now, not at exit
    return summary


def _predictions(
    workspace: Workspace, module: torch.nn.Module, views: Views, batch_size: int, device: str, progress: bool
) -> xr.Dataset:
    """Top-1 predictions of the center views, computed once per run folder."""
    predictions = workspace.run(
        "predictions",
        lambda: {
            "predictions": labelled(predict(module, views, batch_size, resolve_device(device), progress), views.source)
        },
    )["predictions"]
    assert isinstance(predictions, xr.Dataset)  # written as one, read back as one
    return predictions


def _summary_attrs(run: analysis_steps.LayerContext, origin: dict) -> dict:
    """Attrs of the summary over layers: model, weights and preprocessing provenance, accuracy, image
    counts, settings."""
    settings, predictions, source = run.settings, run.predictions, run.views.source
    return {
        "kind": "imagenet_summary",
        **origin,
        "top1_accuracy": top1_accuracy(predictions),
        "n_images": len(source.paths),
        "n_correct": int(predictions["correct"].sum()),
        "images": source.description,
        "n_augment": int(run.params["n_augment"]),
        "n_samples": len(run.views),
        "control_classes": [int(c) for c in run.classes],
        "control_fraction": float(settings.control_fraction),
        "n_control_images": int(len(run.control_images)),
        "threshold": analysis_steps.LABEL_THRESHOLD,
        "variance": 0.95,
        "params": json.dumps(run.params),
        "retinacodec_version": __version__,
    }


def _check_labels(module: torch.nn.Module, views: Views, model: str) -> None:
    """Refuse labels beyond the classifier's classes."""
    with torch.no_grad():
        n_classes = int(module(views.load(views.center([0]))).shape[1])
    if max(views.source.labels) >= n_classes:
        raise RetinaCodecError(
            f"a label is {max(views.source.labels)} but {model} has {n_classes} classes; "
            f"expected class indices 0..{n_classes - 1}"
        )


def _layer(workspace: Workspace, run: analysis_steps.LayerContext, alias: str, module_name: str) -> xr.Dataset:
    """One layer's summary: computed into ``layers/<alias>/`` or read back from a finished run."""
    folder = workspace.path("layers") / alias
    outputs = workspace.run(
        f"layer_{alias}",
        lambda: {
            (f"layers/{alias}/summary" if name == "summary" else name): value
            for name, value in analysis_steps.layer(run, alias, module_name, folder).items()
        },
    )
    summary = outputs[f"layers/{alias}/summary"]
    assert isinstance(summary, xr.Dataset)  # written as one, read back as one
    return summary


def _write_outputs(summary: xr.Dataset, out: Path) -> None:
    """The summary file, the figures across layers and the report."""
    write_netcdf(summary, out / SUMMARY_NAME)
    figures = {
        "control across layers": plot_layerwise_control(summary),
        "sparsity": plot_sparsity(summary),
        "PCA dimensions": plot_dimensions(summary),
        "mode-class correlations": plot_mode_labels(summary),
    }
    names = {
        title: save_figure(fig, out / f"{title.replace(' ', '_').replace('-', '_')}.png").name
        for title, fig in figures.items()
    }
    write_report(summary, out / "report.md", names)

"""The ImageNet analyses of CODEC, layer by layer, for a zoo classifier on a folder of images.

Per layer: contributions of every channel to the top logit (hidden-layer Integrated Gradients) and
the activations, both split by sign and summed over space or tokens; SAE modes of each; the
contribution-vs-activation statistics (sparsity, PCA dimensions, mode-class correlations); the
network-control experiment (ablate or preserve the top channels of the mode most correlated with
a class, contribution modes and activation modes side by side); and contribution maps of the top
modes. Results go to ``out_dir/layers/<layer>/`` as netCDF files and figures, then a summary over
layers, figures across layers and ``report.md``.

A run resumes: contributions are computed chunk by chunk (:func:`retinacodec.parallel.run_chunked`)
and a layer whose ``summary.nc`` reads back is skipped. Rerunning with other settings in the same
folder is refused.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from ... import __version__
from ..._progress import progress_bar
from ...attribution.ig import PATHS
from ...contribution_maps import contribution_maps
from ...control import classifier_control
from ...device import resolve_device
from ...errors import RetinaCodecError
from ...io import read_netcdf, write_netcdf
from ...models.adapter import AdaptedModel, adapt
from ...models.zoo import load_classifier, model_spec, weights_origin
from ...modes.compare import pca_dimensions, sparsity
from ...modes.sae import SAE
from ...modes.selection import associated_mode, top_channels
from ...modes.workflow import fit_modes
from ...parallel import Chunking, run_chunked
from ...parallel.cluster import check_cluster_options, dask_client
from ...parallel.contributions import ContributionJob, load_job_model
from ...plots import save_figure
from ...plots.control import plot_control
from ...plots.modes import plot_dimensions, plot_mode_labels, plot_modes, plot_sparsity
from .figures import plot_contribution_maps, plot_layerwise_control
from .images import Views, augmentations_needed, denormalise, find_images
from .layers import default_layers, layer_aliases
from .predictions import predict, top1_accuracy
from .report import write_report

VARIABLES = ("contribution", "activation")
SUMMARY_NAME = "summary.nc"
LABEL_THRESHOLD = 0.2
"""Mode-class correlation above which a mode counts as class-specific (as in the paper)."""
PREDICTION_PARAMS = ("model", "weights_sha256", "seed", "images")
"""Run parameters the top-1 predictions depend on."""
CONTRIBUTION_PARAMS = (*PREDICTION_PARAMS, "n_augment", "n_steps", "path", "method")
"""Run parameters the contributions depend on (a layer's summary depends on all)."""


@dataclass
class _Run:
    """What every layer of a run shares."""

    model: str
    adapted: AdaptedModel
    factory: functools.partial
    views: Views
    params: dict
    out_dir: Path
    options: dict
    control_images: np.ndarray
    control_inputs: torch.Tensor
    predictions: xr.Dataset
    progress: bool
    log: Callable[[str], None]


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise RetinaCodecError(f"{name} is {value!r}; expected a positive integer")


def _predictions(run_dir: Path, module: nn.Module, views: Views, params: dict, batch_size: int,
                 device: torch.device, progress: bool) -> xr.Dataset:
    """Per-image labels and top-1 predictions, read from ``predictions.nc`` when a run wrote it."""
    path = run_dir / "predictions.nc"
    cached = _read_if_done(path, {k: params[k] for k in PREDICTION_PARAMS})
    if cached is not None:
        return cached
    predicted = predict(module, views, batch_size, device, progress)
    labels = np.asarray(views.source.labels)
    result = xr.Dataset(
        {"label": ("image", labels), "predicted": ("image", predicted),
         "correct": ("image", (predicted == labels).astype(np.int8)),
         "file": ("image", [p.name for p in views.source.paths])},
        coords={"image": np.arange(len(labels))},
        attrs={"kind": "imagenet_predictions", "params": json.dumps({k: params[k] for k in PREDICTION_PARAMS}),
               "retinacodec_version": __version__},
    )
    write_netcdf(result, path)
    return result


def _read_if_done(path: Path, params: dict) -> xr.Dataset | None:
    """A result written by an earlier run with the same parameters, or None when there is none
    (or it does not read back).

    Raises
    ------
    RetinaCodecError
        If the file belongs to a run with other parameters.
    """
    if not path.is_file():
        return None
    try:
        done = read_netcdf(path)
    except RetinaCodecError:
        return None
    if done.attrs.get("params") != json.dumps(params):
        raise RetinaCodecError(f"{path} holds results of a run with other settings; expected the same settings "
                               "to resume (or another output folder)")
    return done


def _control_classes(labels: np.ndarray, control_classes: int | Sequence[int], seed: int) -> np.ndarray:
    present = np.unique(labels)
    if len(present) < 2:
        raise RetinaCodecError(f"the images are all of class {present[0]}; the control experiment expects images "
                               "of at least two classes")
    if isinstance(control_classes, (int, np.integer)) and not isinstance(control_classes, bool):
        _check_positive("control_classes", control_classes)
        chosen = np.random.default_rng(seed).choice(present, min(int(control_classes), len(present)), replace=False)
        return np.sort(chosen)
    chosen = np.asarray(control_classes).ravel()
    missing = sorted(set(chosen.tolist()) - set(present.tolist()))
    if not chosen.size or missing:
        raise RetinaCodecError(f"control classes {missing or '[]'} have no images; expected classes present in the "
                               f"images (e.g. {', '.join(map(str, present[:8]))})")
    return np.unique(chosen)


def _control_set(labels: np.ndarray, classes: np.ndarray, n_off_target: int, seed: int) -> np.ndarray:
    """Images of the control experiment: every image of the control classes and a seeded pool of at
    most ``n_off_target`` others (shared by all classes)."""
    targets = np.flatnonzero(np.isin(labels, classes))
    others = np.setdiff1d(np.arange(len(labels)), targets)
    if len(others) > n_off_target:
        others = np.sort(np.random.default_rng([seed, 1]).choice(others, n_off_target, replace=False))
    return np.union1d(targets, others)


def _contributions(run: _Run, alias: str, module_name: str, folder: Path) -> xr.Dataset:
    views = run.views
    params = {**{k: run.params[k] for k in CONTRIBUTION_PARAMS}, "job": "imagenet-contributions",
              "layer": module_name}
    job = ContributionJob(run.factory, module_name, "top", run.options["contributions"])
    result = run_chunked(job, Chunking(len(views), run.options["chunk_size"]), folder / "contributions", params,
                         data=lambda chunk: views.load(range(chunk.start, chunk.stop)), progress=run.progress,
                         **run.options["parallel"])
    sample_coords = [name for name, coord in result.coords.items() if coord.dims == ("sample",)]
    result = result.drop_vars(sample_coords).assign_coords(views.sample_coords())
    return result.assign_attrs(layer=alias, layer_module=module_name, model=run.model)


def _modes(run: _Run, contributions: xr.Dataset, folder: Path) -> dict[str, tuple[SAE, xr.Dataset]]:
    fits = {}
    sae_params = {"epochs": run.params["sae_epochs"], "seed": run.params["seed"],
                  "batch_size": min(128, contributions.sizes["sample"]), "device": run.options["device"],
                  "progress": run.progress, **run.params["sae_params"]}
    for variable in VARIABLES:
        sae, result = fit_modes(contributions, labels="true_class", label_threshold=LABEL_THRESHOLD,
                                **{**sae_params, "variable": variable})
        write_netcdf(result, folder / f"modes_{variable}.nc")
        save_figure(plot_modes(sae, result["loadings"]), folder / f"modes_{variable}.png")
        fits[variable] = (sae, result)
    return fits


def _control(run: _Run, alias: str, module_name: str, fits: dict, classes: np.ndarray, folder: Path) -> xr.Dataset:
    labels = run.views.labels
    control_labels = np.asarray(run.views.source.labels)[run.control_images]
    per_class = []
    for target_class in progress_bar(classes, desc=f"control of {alias}", unit="class", progress=run.progress):
        modes = {v: associated_mode(fits[v][1]["loadings"], labels, target_class) for v in VARIABLES}
        channels = {v: top_channels(fits[v][0], modes[v], run.params["control_fraction"]) for v in VARIABLES}
        result = classifier_control(run.adapted, run.control_inputs, control_labels, module_name, channels,
                                    int(target_class), batch_size=run.options["batch_size"],
                                    device=run.options["device"], progress=False)
        per_class.append(result.assign(
            mode=("selection", [modes[v] for v in VARIABLES]),
            mode_correlation=("selection", [float(fits[v][1]["label_correlation"].isel(mode=modes[v])
                                                  .sel(label=target_class)) for v in VARIABLES]),
            n_target_images=result.attrs["n_target_images"],
            n_off_target_images=result.attrs["n_off_target_images"]))
    control = xr.concat(per_class, dim=pd.Index(classes, name="target_class"), combine_attrs="drop_conflicts")
    control = control.assign_attrs(layer=alias, layer_module=module_name, model=run.model,
                                   fraction=run.params["control_fraction"])
    write_netcdf(control, folder / "control.nc")
    mean = control[["target_accuracy", "off_target_accuracy"]].mean("target_class")
    mean["n_channels"] = control["n_channels"].isel(target_class=0, drop=True)
    mean.attrs = {**control.attrs, "kind": "classifier_control",
                  "target_class": f"{', '.join(map(str, classes))} (mean)",
                  "n_target_images": int(control["n_target_images"].sum()),
                  "n_off_target_images": int(round(float(control["n_off_target_images"].mean())))}
    save_figure(plot_control(mean), folder / "control.png")
    return mean


def _maps(run: _Run, alias: str, module_name: str, sae: SAE, loadings: xr.DataArray, folder: Path) -> None:
    n_images = min(run.params["n_map_images"], len(run.views.source.paths))
    positions = run.views.center(range(n_images))
    mean_loading = np.asarray(loadings)[positions].mean(0)
    selected = np.argsort(-mean_loading, kind="stable")[:run.params["n_map_modes"]]
    inputs = run.views.load(positions)
    maps = contribution_maps(run.adapted, inputs, module_name, sae, target="top", method="gradient",
                             n_steps=run.params["n_steps"], selected_modes=selected,
                             batch_size=run.options["batch_size"], device=run.options["device"],
                             progress=run.progress)
    maps = maps.assign_attrs(layer=alias, layer_module=module_name, model=run.model)
    write_netcdf(maps, folder / "maps.nc")
    predicted = run.predictions["predicted"].values
    titles = [f"class {run.views.source.labels[i]}, top-1 {predicted[i]}" for i in range(n_images)]
    save_figure(plot_contribution_maps(maps, denormalise(inputs, run.views.preprocessing), titles),
                folder / "maps.png")


def _statistics(contributions: xr.Dataset, fits: dict) -> xr.Dataset:
    """Contribution-vs-activation statistics of one layer, along (variable[, quantile, mode])."""
    stats = xr.merge([sparsity(contributions), pca_dimensions(contributions)]).isel(layer=0, drop=True)
    modes = xr.concat([
        xr.Dataset({
            "r2": fits[v][1]["r2"], "mean_l0": fits[v][1]["mean_l0"],
            "n_modes_above": fits[v][1]["n_modes_above"],
            "max_correlation": fits[v][1]["max_label_correlation"].where(fits[v][1]["dead_modes"] == 0),
            "n_dead_modes": fits[v][1]["dead_modes"].sum(),
        }) for v in VARIABLES], dim=pd.Index(list(VARIABLES), name="variable"))
    modes["best_correlation"] = modes["max_correlation"].max("mode")
    return xr.merge([stats, modes], combine_attrs="drop_conflicts")


def _layer(run: _Run, alias: str, module_name: str, classes: np.ndarray) -> xr.Dataset:
    folder = run.out_dir / "layers" / alias
    done = _read_if_done(folder / SUMMARY_NAME, run.params)
    if done is not None:
        run.log(f"layer {alias}: finished earlier, skipped ({folder / SUMMARY_NAME})")
        return done
    seconds = {}
    start = time.perf_counter()
    contributions = _contributions(run, alias, module_name, folder)
    seconds["contributions"], start = time.perf_counter() - start, time.perf_counter()
    fits = _modes(run, contributions, folder)
    seconds["modes"], start = time.perf_counter() - start, time.perf_counter()
    control = _control(run, alias, module_name, fits, classes, folder)
    seconds["control"], start = time.perf_counter() - start, time.perf_counter()
    sae, modes = fits["contribution"]
    _maps(run, alias, module_name, sae, modes["loadings"], folder)
    seconds["maps"] = time.perf_counter() - start
    summary = xr.merge([
        _statistics(contributions, fits),
        control.rename(n_channels="control_n_channels"),
        xr.Dataset({"completeness_error": abs(contributions["completeness_error"]).max(),
                    "runtime": ("stage", list(seconds.values()), {"units": "s"}),
                    "n_channels_layer": contributions.sizes["channel"]},
                   coords={"stage": list(seconds)}),
    ], combine_attrs="drop_conflicts").expand_dims(layer=[alias])
    summary = summary.assign_coords(layer_module=("layer", [module_name]))
    summary.attrs = {"params": json.dumps(run.params), "retinacodec_version": __version__}
    write_netcdf(summary, folder / SUMMARY_NAME)
    return summary


def run_imagenet(
    model: str = "efficientnet_lite0",
    images: str | os.PathLike = "sample",
    *,
    labels: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    layers: Sequence[str] | None = None,
    out_dir: str | os.PathLike = "imagenet_out",
    n_augment: int | None = None,
    min_samples: int = 256,
    n_steps: int = 10,
    path: str = "layer",
    method: str = "gausslegendre",
    sae_epochs: int = 200,
    sae_params: dict | None = None,
    control_fraction: float = 0.02,
    control_classes: int | Sequence[int] = 10,
    n_off_target: int = 500,
    n_map_images: int = 4,
    n_map_modes: int = 4,
    class_token: bool = True,
    batch_size: int = 64,
    chunk_size: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> xr.Dataset:
    """Run the CODEC ImageNet analyses of a zoo classifier, layer by layer, into ``out_dir``.

    Parameters
    ----------
    model : str
        ``"efficientnet_lite0"`` (pretrained, from its package), ``"resnet50"`` or ``"vit_b_16"``
        (see :func:`retinacodec.models.zoo.load_classifier`).
    images : str or path-like
        ``"sample"`` (20 ImageNet validation images), a folder in ImageFolder layout, or a flat
        folder with ``labels`` (see :func:`retinacodec.pipelines.imagenet.images.find_images`).
    labels : str or path-like, optional
        Labels file of a flat folder (lines ``FILE_NAME CLASS_INDEX``).
    weights : str or path-like, optional
        Local state_dict file; without one, ResNet-50 and ViT-B/16 keep random weights (a warning,
        recorded in the results and the report).
    layers : sequence of str, optional
        Layer aliases (``block7``, ``mlp3``, ``heads5`` ...) or dotted module names; by default
        :func:`retinacodec.pipelines.imagenet.layers.default_layers`.
    out_dir : str or path-like
        Output folder (created; a rerun resumes in it).
    n_augment : int, optional
        Random views (crops and flips) per image for the SAE samples; by default enough to reach
        ``min_samples`` samples (0 for large image sets).
    min_samples : int
        Samples aimed at when ``n_augment`` is None.
    n_steps : int
        Integrated-Gradients quadrature nodes.
    path : {"layer", "input"}
        Integration path of the contributions (see :func:`retinacodec.contributions`).
    method : str
        Quadrature rule.
    sae_epochs : int
        Most SAE epochs (early stopping may end sooner).
    sae_params : dict, optional
        Further :class:`~retinacodec.modes.sae.SAE` parameters (``n_modes``, ``lr``, ``l1`` ...).
    control_fraction : float
        Fraction of a layer's channels ablated or preserved (0.02 in the paper).
    control_classes : int or sequence of int
        Classes of the control experiment: this many drawn (seeded) from the classes present,
        or the given class indices.
    n_off_target : int
        Most images of other classes in the control experiment (a seeded pool shared by all
        classes); every image of the control classes is used.
    n_map_images, n_map_modes : int
        Images (the first ones) and modes (largest mean loading on them) of the contribution maps.
    class_token : bool
        ViT-B/16: include the class token in the per-head attention layers of the default list.
    batch_size : int
        Network evaluations per batch.
    chunk_size : int, optional
        Views per contributions chunk (the unit of resumption and of distribution); by default
        the size recorded in a layer's folder when resuming, else chosen from the cost per view
        measured on the first views (:func:`retinacodec.parallel.run_chunked`).
    workers : int, optional
        Compute the contributions on a local Dask cluster of this many worker processes (one
        cluster for every layer of the run).
    scheduler : str, optional
        Compute the contributions on the Dask cluster of this scheduler address instead.
    threads : int, optional
        Torch threads per chunk; by default this process's torch threads when the chunks run
        here and 1 on Dask workers (one thread per worker). Results agree across any of these
        settings to float rounding, and bit for bit at equal ``threads``.
    seed : int
        Seed of the random views, of the SAE, of the class and image draws, and of random weights.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    progress : bool
        Show progress bars.
    log : callable, optional
        Called with one line per event (default: print to stderr).

    Returns
    -------
    xarray.Dataset
        The summary over layers (also ``out_dir/summary.nc``): ``target_accuracy`` and
        ``off_target_accuracy`` (layer, selection, intervention) averaged over the control classes;
        per variable (contribution, activation) the SAE ``r2``, ``n_modes_above``,
        ``best_correlation``, ``max_correlation`` (layer, variable, mode), sparsity ``hoyer``
        and PCA ``n_dimensions``; ``runtime`` (layer, stage) in s. Attrs: model, weights
        provenance, ``top1_accuracy``, image counts, ``n_augment``, settings.

    Raises
    ------
    RetinaCodecError
        For an unknown model (valid names listed) or layer (valid names listed), a weights file
        that does not fit, a missing, empty or unreadable image folder, bad settings, or an
        output folder holding a run with other settings.
    """
    spec = model_spec(model)
    if path not in PATHS:
        raise RetinaCodecError(f"unknown path {path!r}; expected one of {', '.join(PATHS)}")
    for name, value in (("n_steps", n_steps), ("sae_epochs", sae_epochs), ("batch_size", batch_size),
                        ("n_map_images", n_map_images), ("n_map_modes", n_map_modes),
                        ("n_off_target", n_off_target), ("min_samples", min_samples)):
        _check_positive(name, value)
    for name, value in (("threads", threads), ("chunk_size", chunk_size)):
        if value is not None:
            _check_positive(name, value)
    check_cluster_options(workers, scheduler)
    if not 0 < control_fraction <= 1:
        raise RetinaCodecError(f"control_fraction is {control_fraction!r}; expected a fraction in (0, 1]")
    origin = weights_origin(model, weights, seed)
    source = find_images(images, labels)
    n_augment = augmentations_needed(len(source.paths), min_samples) if n_augment is None else n_augment
    views = Views(source, spec.preprocessing, n_augment, seed)
    factory = functools.partial(load_classifier, model, None if weights is None else os.fspath(weights), seed)
    module = load_job_model(factory)
    adapted = adapt(module, layers=layer_aliases(model))
    chosen = default_layers(model, class_token) if layers is None else list(layers)
    if not chosen:
        raise RetinaCodecError("the list of layers is empty; expected at least one layer")
    aliases = {name: adapted.resolve(name) for name in chosen}
    with torch.no_grad():
        n_classes = int(module(views.load(views.center([0]))).shape[1])
    if max(source.labels) >= n_classes:
        raise RetinaCodecError(f"a label is {max(source.labels)} but {model} has {n_classes} classes; expected "
                               f"class indices 0..{n_classes - 1}")
    out = Path(out_dir)
    params = {"model": model, "weights_sha256": origin["weights_sha256"], "images": source.fingerprint(),
              "n_augment": int(n_augment), "seed": int(seed), "n_steps": int(n_steps), "path": path,
              "method": method, "sae_epochs": int(sae_epochs), "sae_params": dict(sae_params or {}),
              "control_fraction": float(control_fraction),
              "control_classes": (int(control_classes) if np.ndim(control_classes) == 0
                                  else [int(c) for c in np.ravel(control_classes)]),
              "n_off_target": int(n_off_target), "n_map_images": int(n_map_images), "n_map_modes": int(n_map_modes)}
    resolved = resolve_device(device)
    predictions = _predictions(out, module, views, params, batch_size, resolved, progress)
    accuracy = top1_accuracy(predictions)
    log = log or (lambda line: print(line, file=sys.stderr))
    log(f"top-1 accuracy of {model} on {len(source.paths)} images ({source.description}): "
          f"{int(predictions['correct'].sum())}/{len(source.paths)} = {100 * accuracy:.1f} %")
    classes = _control_classes(np.asarray(source.labels), control_classes, seed)
    control_images = _control_set(np.asarray(source.labels), classes, n_off_target, seed)
    options = {"contributions": {"path": path, "n_steps": n_steps, "method": method, "split": "sign",
                                 "batch_size": batch_size, "device": device},
               "chunk_size": chunk_size, "batch_size": batch_size, "device": device,
               "parallel": {"threads": threads if threads is not None else (
                   torch.get_num_threads() if workers is None and scheduler is None else 1)}}
    with dask_client(workers, scheduler) as client:  # one cluster for every layer
        options["parallel"]["scheduler"] = client
        run = _Run(model, adapted, factory, views, params, out, options, control_images,
                   views.load(views.center(control_images)), predictions, progress, log)
        summaries = [_layer(run, alias, name, classes) for alias, name in aliases.items()]
    summary = xr.concat(summaries, dim="layer", join="outer", combine_attrs="drop_conflicts")
    summary.attrs = {
        "kind": "imagenet_summary", "model": model, **origin, "top1_accuracy": accuracy,
        "n_images": len(source.paths), "n_correct": int(predictions["correct"].sum()),
        "images": source.description, "n_augment": int(n_augment), "n_samples": len(views),
        "control_classes": [int(c) for c in classes], "control_fraction": float(control_fraction),
        "n_control_images": int(len(control_images)), "threshold": LABEL_THRESHOLD, "variance": 0.95,
        "params": json.dumps(params), "retinacodec_version": __version__,
    }
    _write_outputs(summary, out)
    return summary


def _write_outputs(summary: xr.Dataset, out: Path) -> None:
    """The summary file, the figures across layers and the report."""
    write_netcdf(summary, out / SUMMARY_NAME)
    figures = {"control across layers": plot_layerwise_control(summary), "sparsity": plot_sparsity(summary),
               "PCA dimensions": plot_dimensions(summary), "mode-class correlations": plot_mode_labels(summary)}
    names = {title: save_figure(fig, out / f"{title.replace(' ', '_').replace('-', '_')}.png").name
             for title, fig in figures.items()}
    write_report(summary, out / "report.md", names)

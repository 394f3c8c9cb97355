"""The computations of :func:`~retinacodec.pipelines.imagenet.layers.run.run_imagenet`, one layer at a
time: contributions (chunked, resumable, optionally on Dask workers), SAE modes, the 2 % control
experiment, contribution maps and the layer's statistics
(:mod:`~retinacodec.pipelines.imagenet.common.statistics`). Each writes its files into the layer's
folder and returns what the next needs; the run module chains them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ...._progress import progress_bar
from ...._validation import check_int
from ....attribution.options import AttributionOptions
from ....control.experiments import classifier_control
from ....errors import RetinaCodecError
from ....io import write_netcdf
from ....models.adapter import AdaptedModel
from ....modes.compare import VARIABLES
from ....modes.sae import SAE
from ....modes.selection import associated_mode, top_channels
from ....modes.workflow import fit_modes
from ....parallel import Chunking, Execution, run_chunked
from ....parallel.contributions import ContributionJob
from ....plots import save_figure
from ....plots.control import plot_control
from ....plots.modes import plot_modes
from ....receptive_fields.maps import contribution_maps
from ....receptive_fields.selection import ModeSelection
from ..common.images import Views, denormalise
from ..common.statistics import layer_statistics
from .figures import plot_contribution_maps
from .settings import ImagenetSettings

LABEL_THRESHOLD = 0.2
"""Mode-class correlation above which a mode counts as class-specific (as in the paper)."""
CONTRIBUTION_PARAMS = ("model", "weights_sha256", "seed", "images", "n_augment", "n_steps", "path", "method")
"""Run parameters the contributions depend on (the chunk runner's fingerprint)."""


@dataclass
class LayerContext:
    """What every layer of a run shares.

    Attributes
    ----------
    settings : ImagenetSettings
    adapted : AdaptedModel
        The classifier with named layers (CPU; each step moves it to ``device``).
    factory : callable
        Picklable model factory for the contribution chunks (Dask workers load their own copy).
    views : Views
        The images' views (center and augmented) the SAE samples come from.
    params : dict
        The run's fingerprint (its :data:`CONTRIBUTION_PARAMS` key the contribution chunks).
    predictions : xarray.Dataset
        Top-1 predictions of the center views (``predicted``, ``true_class``).
    classes : numpy.ndarray
        The control classes.
    control_images : numpy.ndarray
        Indices of the images of the control experiment; ``control_inputs`` their center views.
    execution : Execution
        Where the contribution chunks run and with how many threads
        (:func:`retinacodec.parallel.run_chunked`); its ``progress`` shows every progress bar.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    settings: ImagenetSettings
    adapted: AdaptedModel
    factory: Callable[[], torch.nn.Module]
    views: Views
    params: dict
    predictions: xr.Dataset
    classes: np.ndarray
    control_images: np.ndarray
    control_inputs: torch.Tensor
    execution: Execution
    device: str

    @property
    def progress(self) -> bool:
        """Show progress bars."""
        return self.execution.progress


def control_classes(labels: np.ndarray, chosen: int | Sequence[int], seed: int) -> np.ndarray:
    """The classes of the control experiment: ``chosen`` of the classes present drawn with
    ``seed``, or the given class indices (sorted)."""
    present = np.unique(labels)
    if len(present) < 2:
        raise RetinaCodecError(
            f"the images are all of class {present[0]}; the control experiment expects images of at least two classes"
        )
    if isinstance(chosen, (int, np.integer)) and not isinstance(chosen, bool):
        count = check_int("control_classes", chosen)
        return np.sort(np.random.default_rng(seed).choice(present, min(count, len(present)), replace=False))
    given = np.asarray(chosen).ravel()
    missing = sorted(set(given.tolist()) - set(present.tolist()))
    if not given.size or missing:
        raise RetinaCodecError(
            f"control classes {missing or '[]'} have no images; expected classes present in the "
            f"images (e.g. {', '.join(map(str, present[:8]))})"
        )
    return np.unique(given)


def control_set(labels: np.ndarray, classes: np.ndarray, n_off_target: int, seed: int) -> np.ndarray:
    """Images of the control experiment: every image of the control classes and a seeded pool of at
    most ``n_off_target`` others (shared by all classes)."""
    targets = np.flatnonzero(np.isin(labels, classes))
    others = np.setdiff1d(np.arange(len(labels)), targets)
    if len(others) > n_off_target:
        others = np.sort(np.random.default_rng([seed, 1]).choice(others, n_off_target, replace=False))
    return np.union1d(targets, others)


def contributions(run: LayerContext, alias: str, module_name: str, folder: Path) -> xr.Dataset:
    """Contributions to the top logit and activations of every view, split by sign (sample,
    channel, sign), in resumable chunks under ``folder/contributions``."""
    s = run.settings
    options = {
        "n_steps": s.n_steps,
        "method": s.method,
        "batch_size": s.batch_size,
        "device": run.device,
        "options": AttributionOptions(path=s.path, split="sign"),
    }
    params = {**{k: run.params[k] for k in CONTRIBUTION_PARAMS}, "job": "imagenet-contributions", "layer": module_name}
    job = ContributionJob(run.factory, module_name, "top", options)
    views = run.views
    result = run_chunked(
        job,
        Chunking(len(views), s.chunk_size),
        folder / "contributions",
        params,
        data=lambda chunk: views.load(range(chunk.start, chunk.stop)),
        execution=run.execution,
    )
    sample_coords = [name for name, coord in result.coords.items() if coord.dims == ("sample",)]
    result = result.drop_vars(sample_coords).assign_coords(views.sample_coords())
    return result.assign_attrs(layer=alias, layer_module=module_name, model=s.model)


def modes(run: LayerContext, data: xr.Dataset, folder: Path) -> dict[str, tuple[SAE, xr.Dataset]]:
    """SAE modes of the contributions and of the activations (``modes_<variable>.nc`` and ``.png``)."""
    s = run.settings
    sae_params = {
        "epochs": s.sae_epochs,
        "seed": s.seed,
        "batch_size": min(128, data.sizes["sample"]),
        "device": run.device,
        "progress": run.progress,
        **s.sae_params,
    }
    fits = {}
    for variable in VARIABLES:
        sae, result = fit_modes(
            data, labels="true_class", label_threshold=LABEL_THRESHOLD, **{**sae_params, "variable": variable}
        )
        write_netcdf(result, folder / f"modes_{variable}.nc")
        save_figure(plot_modes(sae, result["loadings"]), folder / f"modes_{variable}.png")
        fits[variable] = (sae, result)
    return fits


def control(run: LayerContext, alias: str, module_name: str, fits: dict, folder: Path) -> xr.Dataset:
    """Ablate or preserve the top ``control_fraction`` channels of the mode most correlated with
    each control class (``control.nc``, ``control.png``); returns the mean over classes."""
    labels = run.views.labels
    control_labels = np.asarray(run.views.source.labels)[run.control_images]
    fraction = run.settings.control_fraction
    per_class = []
    for target_class in progress_bar(run.classes, desc=f"control of {alias}", unit="class", progress=run.progress):
        chosen = {v: associated_mode(fits[v][1]["loadings"], labels, target_class) for v in VARIABLES}
        channels = {v: top_channels(fits[v][0], chosen[v], fraction) for v in VARIABLES}
        result = classifier_control(
            run.adapted,
            run.control_inputs,
            control_labels,
            module_name,
            channels,
            int(target_class),
            batch_size=run.settings.batch_size,
            device=run.device,
            progress=False,
        )
        per_class.append(
            result.assign(
                mode=("selection", [chosen[v] for v in VARIABLES]),
                mode_correlation=(
                    "selection",
                    [
                        float(fits[v][1]["label_correlation"].isel(mode=chosen[v]).sel(label=target_class))
                        for v in VARIABLES
                    ],
                ),
                n_target_images=result.attrs["n_target_images"],
                n_off_target_images=result.attrs["n_off_target_images"],
            )
        )
    table = xr.concat(per_class, dim=pd.Index(run.classes, name="target_class"), combine_attrs="drop_conflicts")
    table = table.assign_attrs(layer=alias, layer_module=module_name, model=run.settings.model, fraction=fraction)
    write_netcdf(table, folder / "control.nc")
    mean = table[["target_accuracy", "off_target_accuracy"]].mean("target_class")
    mean["n_channels"] = table["n_channels"].isel(target_class=0, drop=True)
    mean.attrs = {
        **table.attrs,
        "kind": "classifier_control",
        "target_class": f"{', '.join(map(str, run.classes))} (mean)",
        "n_target_images": int(table["n_target_images"].sum()),
        "n_off_target_images": int(round(float(table["n_off_target_images"].mean()))),
    }
    save_figure(plot_control(mean), folder / "control.png")
    return mean


def maps(run: LayerContext, alias: str, module_name: str, sae: SAE, loadings: xr.DataArray, folder: Path) -> None:
    """Contribution maps of the modes with the largest mean loading on the first images
    (``maps.nc``, ``maps.png``)."""
    s = run.settings
    n_images = min(s.n_map_images, len(run.views.source.paths))
    positions = run.views.center(range(n_images))
    selected = np.argsort(-np.asarray(loadings)[positions].mean(0), kind="stable")[: s.n_map_modes]
    inputs = run.views.load(positions)
    result = contribution_maps(
        run.adapted,
        inputs,
        ModeSelection(sae, selected, module_name),
        target="top",
        method="gradient",
        n_steps=s.n_steps,
        batch_size=s.batch_size,
        device=run.device,
        options=AttributionOptions(progress=run.progress),
    )
    write_netcdf(result.assign_attrs(layer=alias, layer_module=module_name, model=s.model), folder / "maps.nc")
    predicted = run.predictions["predicted"].values
    titles = [f"class {run.views.source.labels[i]}, top-1 {predicted[i]}" for i in range(n_images)]
    save_figure(
        plot_contribution_maps(result, denormalise(inputs, run.views.preprocessing), titles), folder / "maps.png"
    )


def layer(run: LayerContext, alias: str, module_name: str, folder: Path) -> dict[str, xr.Dataset | Path]:
    """Every computation of one layer into ``folder``: ``{"summary": Dataset, file name: Path}``
    (paths relative to the run folder, for the run's manifest).

    The summary holds the layer's
    :func:`~retinacodec.pipelines.imagenet.common.statistics.layer_statistics`, its control table (mean
    over the control classes), ``runtime`` (stage) in s and ``n_channels_layer``, along a
    ``layer`` dim of length 1.
    """
    folder.mkdir(parents=True, exist_ok=True)
    seconds = {}
    start = time.perf_counter()
    data = contributions(run, alias, module_name, folder)
    seconds["contributions"], start = time.perf_counter() - start, time.perf_counter()
    fits = modes(run, data, folder)
    seconds["modes"], start = time.perf_counter() - start, time.perf_counter()
    table = control(run, alias, module_name, fits, folder)
    seconds["control"], start = time.perf_counter() - start, time.perf_counter()
    sae, result = fits["contribution"]
    maps(run, alias, module_name, sae, result["loadings"], folder)
    seconds["maps"] = time.perf_counter() - start
    summary = xr.merge(
        [
            layer_statistics(data, {v: fits[v][1] for v in VARIABLES}),
            table.rename(n_channels="control_n_channels"),
            xr.Dataset(
                {
                    "runtime": ("stage", list(seconds.values()), {"units": "s"}),
                    "n_channels_layer": data.sizes["channel"],
                },
                coords={"stage": list(seconds)},
            ),
        ],
        combine_attrs="drop_conflicts",
    ).expand_dims(layer=[alias])
    summary = summary.assign_coords(layer_module=("layer", [module_name]))
    files = [f"modes_{v}.{ext}" for v in VARIABLES for ext in ("nc", "png")]
    files += ["control.nc", "control.png", "maps.nc", "maps.png"]
    root = folder.parent.parent
    return {"summary": summary, **{name: (folder / name).relative_to(root) for name in files}}

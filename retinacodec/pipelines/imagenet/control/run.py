"""``retinacodec imagenet --fit-images DIR``: CODEC's control analysis of a classifier, with
modes fitted on one image set and control measured on another (held-out) one, by one of two
protocols (``ControlSettings.protocol``): this package's (``retinacodec``, :mod:`.steps`,
:mod:`.report`) or the paper's reference code's (``codec``, :mod:`.codec`, :mod:`.codec_report`).

Steps (each written atomically and listed in ``manifest.json``; a rerun resumes after the last
finished one, and ``time_budget_s`` stops a run between steps so that long analyses go in
pieces): predictions (top-1 on the held-out images), contributions_NN (the fit images in chunks,
every layer in one input-path pass), modes_<layer> (SAE modes of contributions and activations,
their class correlations and the layer's statistics), control_<layer> (control curves on the
held-out images). The curves' summaries, figures, ``summary.json`` and ``report.md`` are derived
from the results at every run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from .... import __version__
from ....device import resolve_device
from ....errors import RetinaCodecError
from ....io.atomic import atomic_destination
from ....io.resumable import Workspace
from ....models.adapter import adapt
from ....models.classifier import Classifier
from ..common.images import Views, find_images
from ..common.layers import layer_aliases
from ..common.predictions import describe_classifier, resolve_classifier, weights_key
from . import codec, codec_report, report, steps
from .report import sanity_line
from .settings import ControlSettings

PROGRAM = "retinacodec imagenet control"
"""The run folder's manifest label."""
REPORT = "report.md"
SUMMARY = "summary.json"


class _Budget:
    """Wall-clock budget of one invocation: steps start only while time is left."""

    def __init__(self, seconds: float | None, log: Callable[[str], None]):
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.log = log
        self.stopped = False

    def run(self, workspace: Workspace, step: str, compute: Callable[[], dict]) -> dict | None:
        """The step's outputs (files named ``<step>.<output>.nc``), or None when the budget is spent."""
        done = step in workspace.steps
        if not done and self.deadline is not None and time.monotonic() > self.deadline:
            if not self.stopped:
                self.log(f"time budget spent: stopping before {step} (rerun to resume)")
            self.stopped = True
            return None
        outputs = workspace.run(step, lambda: {f"{step}.{name}": value for name, value in compute().items()})
        return {name.split(".", 1)[1]: value for name, value in outputs.items()}


def run_control(
    images: str | os.PathLike,
    fit_images: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    settings: ControlSettings | None = None,
    weights: str | os.PathLike | Classifier | None = None,
    time_budget_s: float | None = None,
    device: str | torch.device = "cpu",
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Run the control analysis (modes on ``fit_images``, control on ``images``) into ``output_dir``.

    Parameters
    ----------
    images : str or path-like
        Held-out images (ImageFolder layout, WordNet-id folders for ImageNet): top-1 accuracy and
        every control condition are measured on them only.
    fit_images : str or path-like
        Images whose contributions and activations train the SAE modes and set the mode-class
        correlations (must not overlap ``images``).
    output_dir : str or path-like
        The resumable run folder.
    settings : ControlSettings, optional
        The protocol (``settings.protocol``: ``"retinacodec"``, the default, or ``"codec"``, the
        paper's reference code's) and the sizes of every step (default :class:`ControlSettings`).
    weights : str, path-like or Classifier, optional
        Weights of ``settings.model``: a weight name (``IMAGENET1K_V1``, ``IMAGENET1K_V2``,
        ``DEFAULT``) or a local state_dict whose preprocessing can be known (see
        :func:`retinacodec.models.zoo.open_classifier`); the EfficientNets use their packaged
        weights by default. Or a :class:`~retinacodec.models.Classifier`, a network with its
        preprocessing, analysed in place of ``settings.model`` (which takes its name).
    time_budget_s : float, optional
        Start no new step after this many seconds (the run then stops; rerun to resume).
    device : str or torch.device
        Where every step runs: ``"cpu"`` (default), ``"cuda"`` or ``"auto"``; not part of the
        run's fingerprint (a run resumes on another device, its results equal to float rounding).
    overwrite : bool
        Replace a run of other inputs in ``output_dir``.
    progress : bool
        Show progress bars.
    log : callable, optional
        Called with one line per event (default: print to stderr).

    Returns
    -------
    pathlib.Path
        ``output_dir/report.md`` (written once every step has finished; before that, the path of
        ``manifest.json``).

    Raises
    ------
    RetinaCodecError
        For an unknown model or layer, weights that do not fit or whose preprocessing cannot be
        known, unreadable image folders, fit and held-out sets that share files, held-out images
        of a single class, or an output folder of another run.
    """
    settings = settings or ControlSettings()
    log = log or (lambda line: print(line, file=sys.stderr))
    model = resolve_classifier(settings.model, weights, seed=settings.seed)
    settings = dataclasses.replace(settings, model=model.name)
    held_out, fit = find_images(images), find_images(fit_images)
    overlap = {p.resolve() for p in held_out.paths} & {p.resolve() for p in fit.paths}
    if overlap:
        raise RetinaCodecError(
            f"{len(overlap)} images are both fit and held-out images (e.g. {sorted(overlap)[0]}); "
            "expected disjoint folders"
        )
    if len(set(held_out.labels)) < 2:
        raise RetinaCodecError("the held-out images are all of one class; expected images of at least two classes")
    prep = model.preprocessing
    views = {"held_out": Views(held_out, prep, 0, settings.seed), "fit": Views(fit, prep, 0, settings.seed)}
    origin = model.record()
    device = resolve_device(device)
    module = model.module.to(device)
    adapted = adapt(module, layers=layer_aliases(settings.model, module))
    layers = list(settings.layers or steps.spread_layers(settings.model, settings.n_layers, module))
    for layer in layers:
        adapted.resolve(layer)
    fingerprint = {
        "program": PROGRAM,
        "settings": settings.as_dict(),
        "layers": layers,
        "weights_sha256": weights_key(model),
        "preprocessing": prep.as_dict(),
        "held_out": held_out.fingerprint(),
        "fit": fit.fingerprint(),
        "retinacodec_version": __version__,
    }
    workspace = Workspace(output_dir, fingerprint, overwrite=overwrite, log=log, program=PROGRAM)
    budget = _Budget(time_budget_s, log)
    log(describe_classifier(model))
    log(f"protocol {settings.protocol}; held-out images: {held_out.description}; fit images: {fit.description}")
    result = budget.run(
        workspace, "predictions", lambda: steps.predictions(module, views["held_out"], settings, progress, device)
    )
    if result is not None:
        correct = result["predictions"]["correct"].values
        log(
            f"top-1 accuracy of {settings.model} on the {correct.size} held-out images: "
            f"{int(correct.sum())}/{correct.size} = {100 * correct.mean():.1f} %"
        )
    data = _fit_contributions(workspace, budget, adapted, views["fit"], layers, settings, progress, device)
    results = _per_layer(workspace, budget, adapted, views, layers, data, settings, progress, device)
    if budget.stopped or result is None or results is None:
        workspace.close()  # releases the folder's lock now, not at exit
        return workspace.path("manifest.json")
    fit_record = {"n_images": len(fit.paths), "description": fit.description}
    return _finish(workspace, result["predictions"], results, layers, settings, origin, fit_record, log)


def _fit_contributions(
    workspace: Workspace,
    budget: _Budget,
    adapted,
    views: Views,
    layers: list[str],
    settings: ControlSettings,
    progress: bool,
    device: torch.device,
) -> dict[str, xr.Dataset] | None:
    """Contributions of the fit images chunk by chunk, concatenated per layer (None until all are done)."""
    n_images = len(views.source.paths)
    parts = []
    for number, first in enumerate(range(0, n_images, settings.chunk_images)):
        chunk = range(first, min(n_images, first + settings.chunk_images))
        part = budget.run(
            workspace,
            f"contributions_{number:02d}",
            functools.partial(steps.fit_contributions, adapted, views, layers, chunk, settings, progress, device),
        )
        if part is None:
            return None
        parts.append(part)
    return {layer: xr.concat([p[f"contributions_{layer}"] for p in parts], dim="sample") for layer in layers}


def _per_layer(
    workspace: Workspace,
    budget: _Budget,
    adapted,
    views: dict[str, Views],
    layers: list[str],
    data: dict[str, xr.Dataset] | None,
    settings: ControlSettings,
    progress: bool,
    device: torch.device,
) -> dict | None:
    """Modes, statistics and control curves of every layer (None until all are done)."""
    if data is None:
        return None
    labels = np.asarray(views["held_out"].source.labels)
    fit_labels = np.asarray(views["fit"].source.labels)
    loaded: list = []
    results = {}
    fit_modes = codec.layer_modes if settings.protocol == "codec" else steps.layer_modes
    for layer in layers:
        modes = budget.run(
            workspace, f"modes_{layer}", functools.partial(fit_modes, data[layer], settings, progress, device)
        )
        if modes is None:
            return None

        def control(layer=layer, modes=modes) -> dict:
            if not loaded:  # the held-out images, loaded once, only when a control step runs
                loaded.append(views["held_out"].load(views["held_out"].center()).to(device))
            if settings.protocol == "codec":
                return codec.layer_control(adapted, layer, loaded[0], labels, modes, layers, settings, progress)
            return steps.layer_control(
                adapted, layer, loaded[0], labels, modes, fit_labels, settings, progress, data[layer]["activation"]
            )

        curves = budget.run(workspace, f"control_{layer}", control)
        if curves is None:
            return None
        if settings.protocol != "codec":
            budget.log(sanity_line(curves["curves"]))
        # summaries are derived from the curves at every run, so that a finished run reports by the current rules
        summary = (codec if settings.protocol == "codec" else steps).summarize(curves["curves"], settings)
        results[layer] = {**modes, "curves": curves["curves"], "curve_summary": summary}
    return results


def _finish(
    workspace: Workspace,
    predictions: xr.Dataset,
    results: dict,
    layers: list[str],
    settings: ControlSettings,
    origin: dict,
    fit: dict,
    log: Callable[[str], None],
) -> Path:
    """Figures, ``summary.json`` and ``report.md`` from the finished steps."""
    writer = codec_report if settings.protocol == "codec" else report
    figures = writer.draw_figures(results, layers, workspace.folder)
    record = writer.summary(predictions, results, layers, settings, origin, workspace.seconds(), fit)
    with atomic_destination(workspace.path(SUMMARY)) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    path = writer.write_report(record, figures, workspace.path(REPORT))
    log(f"report: {path}")
    workspace.close()  # releases the folder's lock now, not at exit
    return path

"""``retinacodec demo``: the whole CODEC pipeline on the shipped model (or on a recording), with
results, figures and a report in one resumable folder.

Steps (each written atomically and listed in ``manifest.json``; a rerun resumes after the last
finished one): [types, train (recordings only)], fit, contributions, modes, compare, irf, control,
preferred, hypotheses, phenomena. Figures, ``summary.json`` and ``report.md`` are redrawn from the results every run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import xarray as xr

from ... import __version__
from ...device import machine, torch_threads
from ...errors import RetinaCodecError
from ...io.atomic import atomic_destination
from ...io.checkpoints import load_checkpoint
from ...io.resumable import Workspace, file_digest
from ...models.adapter import adapt
from ...models.cell_types import TypeLabels
from ...models.registry import checkpoint_path, load
from ...models.retina_cnn import RetinaCNN
from ...stimuli import natural_jitter
from . import steps
from .figures import draw_figures
from .report import report
from .settings import DemoSettings, Placement
from .summary import summarize

if TYPE_CHECKING:
    from ...io.nwb import NWBSelection

REPORT = "report.md"
SUMMARY = "summary.json"
CONTRIBUTION_PARTS = "contributions_parts"
"""Folder of the chunked contribution jobs' parts (one subfolder per layer) when run on Dask."""


def _training_seeds(checkpoint: Path) -> set[int]:
    """Seeds of the stimuli a model was trained and evaluated on, from its recipe (if recorded)."""
    recipe = load_checkpoint(checkpoint).get("provenance", {}).get("recipe", {})
    entries = recipe.get("data", {}).get("stimuli", []) if isinstance(recipe, dict) else []
    seeds = {int(entry.get("parameters", {}).get("seed", -1)) for entry in entries if isinstance(entry, dict)}
    evaluation = recipe.get("evaluation", {}) if isinstance(recipe, dict) else {}
    return seeds | ({int(evaluation["seed"])} if "seed" in evaluation else set())


def _check_layers(model: torch.nn.Module, layers: tuple[str, ...]) -> None:
    """Refuse layers the model (or, before training, a model of its class) does not have."""
    adapted = adapt(model)
    for layer in layers:
        adapted.resolve(layer)


def _stimulus(n_frames: int, seed: int, progress: bool) -> xr.DataArray:
    return natural_jitter(n_frames=n_frames, seed=seed, progress=progress)


def run_demo(
    output_dir: str | os.PathLike,
    *,
    model: str | os.PathLike = "default",
    nwb: str | os.PathLike | None = None,
    nwb_selection: NWBSelection | None = None,
    overwrite: bool = False,
    progress: bool = True,
    settings: DemoSettings | None = None,
    log: Callable[[str], None] | None = None,
    placement: Placement | None = None,
    cell_types: TypeLabels | None = None,
) -> Path:
    """Run the CODEC pipeline end to end and write results, figures and ``report.md``.

    Parameters
    ----------
    output_dir : str or path-like
        Folder for the results (created). A folder holding other files, or a demo run of other
        inputs, is refused unless ``overwrite``; a folder of an interrupted run with the same
        inputs is resumed.
    model : str or path-like
        Model name or path (see :func:`retinacodec.models.load`); it must carry the virtual retina
        it was trained on (the shipped ``"default"`` does). Ignored with ``nwb``.
    nwb : str or path-like, optional
        An NWB recording (stimulus movie and units): a model is trained on its first part,
        briefly, and analysed on the held-out rest; hypotheses are predicted, not tested.
    nwb_selection : NWBSelection, optional
        With ``nwb``: the stimulus, epochs and units to read (:class:`retinacodec.io.NWBSelection`).
    overwrite : bool
        Write into a non-empty folder, recomputing every step.
    progress : bool
        Show progress bars and one line per step (stderr).
    settings : DemoSettings, optional
        Stimulus lengths, quadrature, epochs, controls (:class:`DemoSettings` defaults, which fit
        the shipped model's demo into a few minutes on 2 CPU cores).
    log : callable, optional
        Receives the per-step lines instead of stderr.
    placement : Placement, optional
        Torch device, and a Dask cluster for the contributions (default: CPU, one process); the
        results are the same, to float rounding on another device.
    cell_types : TypeLabels, optional
        With ``nwb``: a units column and user labels that take precedence over the cells' functional
        types (:func:`retinacodec.models.cell_types.type_units`; by default a ``cell_type`` column
        wins where the units table has one).

    Returns
    -------
    pathlib.Path
        Path of ``report.md``.

    Raises
    ------
    RetinaCodecError
        For an unknown or corrupt model, a model without a virtual retina (and no ``nwb``), a
        missing or corrupt NWB file or one without a stimulus or units, an unknown layer, demo
        seeds that the model was trained on, a folder that may not be written, an unknown device
        or CUDA without it, or cell-type labels without ``nwb``.
    """
    settings = settings or DemoSettings()
    placement = placement or Placement()
    if cell_types is not None and nwb is None:
        raise RetinaCodecError("cell-type labels apply to a recording; expected them with nwb (--nwb)")
    if not progress and log is None:
        log = lambda line: None  # noqa: E731
    started = time.perf_counter()
    with torch_threads(settings.threads):
        if nwb is None:
            return _run_virtual_retina(Path(output_dir), model, overwrite, progress, settings, log, started, placement)
        recording = (Path(nwb), nwb_selection)
        return _run_recording(
            Path(output_dir), recording, overwrite, progress, settings, log, started, placement, cell_types
        )


def _fingerprint(settings: DemoSettings, **inputs) -> dict:
    """What a run's results depend on: input digests (not paths, so a moved file still resumes),
    settings and package version."""
    return {**inputs, "settings": settings.to_dict(), "retinacodec_version": __version__}


def _run_virtual_retina(
    folder: Path,
    name,
    overwrite: bool,
    progress: bool,
    settings: DemoSettings,
    log,
    started: float,
    placement: Placement,
) -> Path:
    checkpoint = checkpoint_path(name)
    model = load(name, device=placement.device)  # steps without a device argument run where the model is
    retina = model.virtual_retina
    if retina is None:
        raise RetinaCodecError(
            f"model {str(name)!r} carries no virtual retina (virtual_retina.json beside "
            f"{checkpoint.name}); expected the shipped default or another model trained on the "
            "virtual retina, or --nwb RECORDING"
        )
    _check_layers(model, settings.layers)
    assert isinstance(model, RetinaCNN)  # an LN model has no layers: _check_layers refused it
    seeds = list(range(settings.seed, settings.seed + 4))
    used = sorted(set(seeds + steps.phenomena_seeds(settings)) & _training_seeds(checkpoint))
    if used:
        raise RetinaCodecError(
            f"the demo's stimulus seeds {used} were used to train or evaluate {checkpoint}; "
            "expected fresh seeds (pass another --seed)"
        )
    workspace = Workspace(folder, _fingerprint(settings, checkpoint_sha256=file_digest(checkpoint)), overwrite, log)
    analysis = _stimulus(settings.analysis_frames, seeds[1], progress)
    found = workspace.run("fit", lambda: steps.virtual_retina_fit(model, retina, settings, progress, placement.device))
    found |= _analyse(workspace, model, analysis, found, settings, progress, placement)
    found |= workspace.run(
        "hypotheses",
        lambda: steps.layer_hypotheses(
            model,
            _stimulus(settings.hypothesis_frames, seeds[2], progress),
            found,
            settings,
            progress,
            retina=retina,
            match_stimulus=_stimulus(settings.match_frames, seeds[3], progress),
        ),
    )
    found |= workspace.run(
        "phenomena",
        lambda: steps.explained_phenomena(
            model,
            found,
            settings,
            placement.device,
            retina=retina,
            match_stimulus=_stimulus(settings.match_frames, seeds[3], progress),
        ),
    )
    source = (
        f"Model `{model.name}` ({checkpoint}), trained on the virtual retina; every stimulus below is fresh "
        f"natural jitter (seeds {seeds[0]}–{seeds[-1]}) that the model never saw."
    )
    return _finish(workspace, found, settings, source, f"{model.name} against the virtual retina", started)


def _run_recording(
    folder: Path,
    recording: tuple[Path, NWBSelection | None],
    overwrite: bool,
    progress: bool,
    settings: DemoSettings,
    log,
    started: float,
    placement: Placement,
    labels: TypeLabels | None = None,
) -> Path:
    nwb, selection = recording
    stimulus, spikes = steps.load_recording(nwb, selection)
    _check_layers(RetinaCNN(1, history=2, size=8, bipolar_kernel=3, amacrine_kernel=3), settings.layers)
    chosen = {} if selection is None else {"nwb_selection": repr(selection)}
    labelled = {} if labels is None else {"cell_types": labels.to_dict()}
    workspace = Workspace(
        folder, _fingerprint(settings, nwb_sha256=file_digest(nwb), **chosen, **labelled), overwrite, log
    )
    types = workspace.run("types", lambda: steps.recording_types(stimulus, spikes, labels))["cell_types"]
    assert isinstance(types, xr.Dataset)  # type_units returns one, written and read back as a .nc
    spikes = spikes.assign_coords(cell_type=("cell", types["cell_type"].values.astype(str)))
    heldout, heldout_spikes = steps.split_recording(stimulus, spikes, settings.nwb_heldout_fraction)
    workspace.run(
        "train",
        lambda: steps.train_on_recording(workspace.folder, stimulus, spikes, settings, progress, placement.device),
    )
    model, baseline = (load(workspace.path("model") / kind, device=placement.device) for kind in ("cnn", "ln"))
    assert isinstance(model, RetinaCNN)  # trained as one by train_on_recording
    if heldout.sizes["time"] < model.history:
        raise RetinaCodecError(
            f"the held-out part of {nwb} has {heldout.sizes['time']} frames; expected at least "
            f"{model.history} (a longer recording or a larger heldout fraction)"
        )
    found = workspace.run(
        "fit", lambda: steps.recording_fit(model, heldout, heldout_spikes, baseline, placement.device)
    )
    analysis = heldout.isel(time=slice(0, settings.analysis_frames))
    found |= {"cell_types": types} | _analyse(workspace, model, analysis, found, settings, progress, placement)
    found |= workspace.run(
        "hypotheses",
        lambda: steps.layer_hypotheses(
            model, heldout.isel(time=slice(0, settings.hypothesis_frames)), found, settings, progress
        ),
    )
    found |= workspace.run("phenomena", lambda: steps.explained_phenomena(model, found, settings, placement.device))
    source = (
        f"Recording `{nwb}` ({spikes.sizes['cell']} units, {stimulus.sizes['time']} frames): a model was "
        f"fitted to the spikes of its first {100 * (1 - settings.nwb_heldout_fraction):.0f}% (at most "
        f"{settings.nwb_epochs} epochs, early stopping), beside an LN baseline, and is analysed on the held-out "
        "rest. There is no ground truth, so hypotheses are predictions only."
    )
    return _finish(workspace, found, settings, source, "model of the recording (held-out part)", started)


def _analyse(
    workspace: Workspace,
    model,
    analysis: xr.DataArray,
    found: dict,
    settings: DemoSettings,
    progress: bool,
    placement: Placement,
) -> dict:
    """The steps shared by both sources: contributions, modes, comparison, IRFs, control, the
    stimuli the IRF cells' modes prefer."""
    found = dict(found)
    device = placement.device
    found |= workspace.run(
        "contributions",
        lambda: steps.layer_contributions(
            model,
            analysis,
            settings,
            progress,
            device,
            placement.workers,
            placement.scheduler,
            workspace.path(CONTRIBUTION_PARTS),
        ),
    )
    found |= workspace.run("modes", lambda: steps.layer_modes(found, settings, progress, device))
    found |= workspace.run("compare", lambda: steps.comparison(found, settings))
    cells = steps.irf_cells(found["fit"], settings.irf_cells)
    found |= workspace.run("irf", lambda: steps.mode_irfs(model, analysis, found, cells, settings, progress, device))
    found |= workspace.run(
        "control", lambda: steps.control_experiments(model, analysis, found, settings, progress, device)
    )
    found |= workspace.run("preferred", lambda: steps.mode_preferred_stimuli(model, found, settings, progress))
    return found


def _finish(workspace: Workspace, found: dict, settings: DemoSettings, source: str, title: str, started: float) -> Path:
    """Figures, summary.json and report.md."""
    figures = draw_figures(found, workspace.folder, settings.layers, title)
    summary = summarize(found, settings.layers, machine())  # the machine that wrote the summary
    with atomic_destination(workspace.path(SUMMARY)) as tmp:
        tmp.write_text(summary.to_json())
    seconds = {**workspace.seconds(), "total (this run)": time.perf_counter() - started}
    text = report(found, summary, figures, source, seconds, settings.to_dict())
    with atomic_destination(workspace.path(REPORT)) as tmp:
        tmp.write_text(text)
    workspace.log(f"wrote {workspace.path(REPORT)}")
    workspace.close()  # releases the folder's lock now, not at exit
    return workspace.path(REPORT)

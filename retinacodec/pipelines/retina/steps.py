"""The computations of the demo's steps; each returns ``{output name: result}`` for a Workspace.

Every function here calls the library's own stages (training, contributions, modes, IRFs,
control, hypotheses); this module only chooses their inputs.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..._progress import progress_bar
from ...attribution.ig import contributions
from ...attribution.options import AttributionOptions
from ...control.curves import CurveSettings, retina_control_curves
from ...control.recorded import PassCache
from ...errors import RetinaCodecError
from ...hypotheses import combine, generate, pathway_coverage, test
from ...hypotheses.ceiling import pathway_ceiling
from ...hypotheses.design import design_tests, with_designs
from ...hypotheses.design_check import check_designs
from ...hypotheses.match import type_name
from ...hypotheses.optimise import DesignSettings
from ...hypotheses.phenomena import PhenomenaSettings, at_phenomena_rate, phenomena_by_mode
from ...hypotheses.phenomena_check import PhenomenonRules, check_phenomena, mode_pathways
from ...hypotheses.preferred import irf_agreement, preferred_settings, preferred_stimuli
from ...hypotheses.settings import HypothesisSettings
from ...models.cell_types import TypeLabels, type_units
from ...models.retina_cnn import RetinaCNN
from ...models.training import (
    evaluate_on_virtual_retina,
    recording_settings,
    train_recording,
)
from ...models.training.evaluate import SMOOTHING_FRAMES, evaluate_recording
from ...models.training.recording import HeldOut
from ...models.training.recording import split_recording as library_split
from ...modes.compare import pca_dimensions, sign_correlation, sparsity
from ...modes.result import Modes
from ...modes.selection import associated_mode, control_target, top_channels
from ...modes.workflow import fit_modes
from ...parallel import Execution, dask_client, run_contributions
from ...receptive_fields.instantaneous import irf
from ...receptive_fields.selection import ModeSelection
from ...receptive_fields.summaries import modes_by_share
from ...targets import Cell
from .settings import DemoSettings

if TYPE_CHECKING:
    from ...io.nwb import NWBSelection


def virtual_retina_fit(model: RetinaCNN, retina, settings: DemoSettings, progress: bool, device: str = "cpu") -> dict:
    """Predicted against true rates on fresh natural jitter (:func:`evaluate_on_virtual_retina`)."""
    return {
        "fit": evaluate_on_virtual_retina(
            model, retina, n_frames=settings.fit_frames, seed=settings.seed, progress=progress, device=device
        )
    }


def recording_fit(
    model: RetinaCNN, stimulus: xr.DataArray, spikes: xr.DataArray, baseline=None, device: str = "cpu"
) -> dict:
    """Predicted rates against the recorded rate (spike counts x frame rate, smoothed over
    :data:`SMOOTHING_FRAMES` frames) on the held-out part of a recording; with ``baseline`` (the
    LN model), its r per cell too (``ln_pearson_r``)."""
    models = {"cnn": model} | ({"ln": baseline} if baseline is not None else {})
    evaluation = evaluate_recording(models, (stimulus, spikes), device=device)
    predicted = evaluation["predicted"].sel(model="cnn", drop=True).assign_coords(cell_type=("cell", model.cell_type))
    data = {
        "predicted": predicted,
        "true": evaluation["recorded"],
        "pearson_r": evaluation["heldout_r"]
        .sel(model="cnn", drop=True)
        .assign_coords(cell_type=("cell", model.cell_type)),
    }
    if baseline is not None:
        data["ln_pearson_r"] = evaluation["heldout_r"].sel(model="ln", drop=True)
        data["ln_predicted"] = evaluation["predicted"].sel(model="ln", drop=True)
    return {
        "fit": xr.Dataset(
            data, attrs={"model": model.name, "stimulus": "held-out recording", "smoothing_frames": SMOOTHING_FRAMES}
        )
    }


def train_on_recording(
    folder: Path,
    stimulus: xr.DataArray,
    spikes: xr.DataArray,
    settings: DemoSettings,
    progress: bool,
    device: str = "cpu",
) -> dict:
    """Fit the CNN and the LN baseline to a recording (:func:`train_recording`, resumable in
    ``folder/model``); the last ``nwb_heldout_fraction`` is held out."""
    train_recording(
        stimulus,
        spikes,
        folder / "model",
        held_out=HeldOut(settings.nwb_heldout_fraction),
        settings=recording_settings(epochs=settings.nwb_epochs, seed=settings.seed),
        device=device,
        progress=progress,
    )
    return {"model": Path("model") / "cnn" / "model.pt", "baseline": Path("model") / "ln" / "model.pt"}


def snippets(stimulus: xr.DataArray, history: int, settings: DemoSettings) -> list[xr.DataArray]:
    """Non-overlapping stretches of ``stimulus``, evenly spread, holding ``analysis_windows``
    windows in all (fewer stretches when the stimulus is short).

    Raises
    ------
    RetinaCodecError
        If the stimulus cannot hold one window per stretch.
    """
    count = settings.analysis_snippets
    per = -(-settings.analysis_windows // count)
    count = min(count, stimulus.sizes["time"] // (history - 1 + per))
    if count < 1:
        raise RetinaCodecError(
            f"the analysed stimulus has {stimulus.sizes['time']} frames; expected at least "
            f"{history - 1 + per} (history {history} + {per - 1} frames)"
        )
    length = history - 1 + per
    starts = np.linspace(0, stimulus.sizes["time"] - length, count).round().astype(int)
    return [stimulus.isel(time=slice(start, start + length)) for start in starts]


def layer_contributions(
    model: RetinaCNN,
    stimulus: xr.DataArray,
    settings: DemoSettings,
    progress: bool,
    device: str = "cpu",
    workers: int | None = None,
    scheduler: str | None = None,
    job_dir: Path | None = None,
) -> dict:
    """Split-sign contributions of every channel of each layer to every cell's rate, at the
    windows of the stretches of :func:`snippets`; with ``workers`` or ``scheduler``, one chunked
    job per layer (:func:`retinacodec.parallel.run_contributions`, one stretch per chunk and one torch
    thread per worker, parts in ``job_dir/<layer>``) on one Dask cluster for all layers, with the
    same result."""
    cells = [Cell(i) for i in range(model.n_cells)]
    parts = snippets(stimulus, model.history, settings)
    options: dict[str, Any] = dict(
        n_steps=settings.ig_steps,
        batch_size=settings.batch_size,
        device=device,
        options=AttributionOptions(split="sign", activation="cell", progress=False),
    )
    if workers is None and scheduler is None:
        return {
            f"contributions_{layer}": xr.concat(
                [
                    contributions(model, part, layer, cells, **options)
                    for part in progress_bar(parts, desc=f"contributions of {layer}", unit="stretch", progress=progress)
                ],
                dim="sample",
            )
            for layer in settings.layers
        }
    if job_dir is None:
        raise RetinaCodecError("distributed contributions need a job folder for their parts; expected job_dir")
    with dask_client(workers, scheduler) as client:
        return {
            f"contributions_{layer}": run_contributions(
                model,
                parts,
                layer,
                cells,
                Path(job_dir) / layer,
                chunk_size=1,
                execution=Execution(scheduler=client, threads=1, overwrite=True, progress=progress),
                **options,
            )
            for layer in settings.layers
        }


def layer_modes(found: dict, settings: DemoSettings, progress: bool, device: str = "cpu") -> dict:
    """SAE modes of contributions and of activations for each layer (with cell-type statistics)."""
    outputs = {}
    for layer in settings.layers:
        for variable, suffix in (("contribution", ""), ("activation", "_activation")):
            sae, result = fit_modes(
                found[f"contributions_{layer}"],
                labels="cell_type",
                variable=variable,
                epochs=settings.sae_epochs,
                batch_size=settings.sae_batch_size,
                seed=settings.seed,
                device=device,
                progress=progress,
            )
            outputs[f"modes{suffix}_{layer}"] = result
            outputs[f"sae{suffix}_{layer}"] = sae
    return outputs


def comparison(found: dict, settings: DemoSettings) -> dict:
    """Contribution-vs-activation statistics across layers: sparsity, PCA dimensions, sign coupling."""
    layers = {layer: found[f"contributions_{layer}"] for layer in settings.layers}
    return {
        "sparsity": sparsity(layers),
        "dimensions": pca_dimensions(layers),
        "sign_correlation": sign_correlation(layers),
    }


def used_modes(modes: xr.Dataset, count: int) -> list[int]:
    """Positions of the ``count`` most used live modes."""
    usage = np.where(modes["dead_modes"].values.astype(bool), -1.0, modes["mode_usage"].values)
    return [int(m) for m in np.argsort(-usage, kind="stable")[:count] if usage[m] > 0]


def irf_cells(fit: xr.Dataset, count: int) -> list[int]:
    """The best-fit cell of each type, OMS first (then ON, OFF, ON-OFF, others), ``count`` of them."""
    r = fit["pearson_r"]
    types = list(dict.fromkeys(str(t) for t in r["cell_type"].values))
    order = sorted(types, key=lambda t: (["oms", "on", "off", "on_off"] + types).index(t))
    labels = np.asarray(r["cell_type"].values, dtype=str)
    best = [int(r["cell"].values[np.flatnonzero(labels == t)[np.nanargmax(r.values[labels == t])]]) for t in order]
    if len(best) < count:
        ranked = r["cell"].values[np.argsort(-np.nan_to_num(r.values, nan=-2.0))]
        best += [int(c) for c in ranked if int(c) not in best]
    return best[:count]


def mode_irfs(
    model: RetinaCNN,
    stimulus: xr.DataArray,
    found: dict,
    cells: list[int],
    settings: DemoSettings,
    progress: bool,
    device: str = "cpu",
) -> dict:
    """IRFs of a few cells at a few of the analysed times, split by every live contribution mode of
    one layer; kept: each cell's modes ranked by their share of its IRF until they carry
    ``irf_min_share`` (at most ``irf_modes``; :func:`modes_by_share`)."""
    layer = settings.irf_layer or settings.layers[-1]
    analysed = np.unique(found[f"contributions_{layer}"].indexes["sample"].get_level_values("time"))
    times = analysed[np.linspace(0, len(analysed) - 1, settings.irf_times).round().astype(int)]
    modes = found[f"modes_{layer}"]
    result = irf(
        model,
        stimulus,
        cells=cells,
        times=times,
        method="gradient",
        modes=ModeSelection(found[f"sae_{layer}"], used_modes(modes, modes.sizes["mode"]), layer),
        batch_size=settings.batch_size,
        device=device,
        options=AttributionOptions(progress=progress),
    )
    return {"irf": modes_by_share(result, settings.irf_min_share, settings.irf_modes)}


def mode_preferred_stimuli(model: RetinaCNN, found: dict, settings: DemoSettings, progress: bool) -> dict:
    """For each IRF cell, the stimuli its first ``preferred_modes`` IRF modes prefer and its most
    exciting input (:func:`~retinacodec.hypotheses.preferred.preferred_stimuli`, one window of the
    model's history, seeded by the demo's seed), with their correlation with the IRF by mode
    (:func:`~retinacodec.hypotheses.preferred.irf_agreement`); one output ``preferred_cell<N>`` per cell."""
    irf = found["irf"]
    layer = str(irf.attrs["layer"])
    modes = Modes.from_sae(found[f"sae_{layer}"])
    labels = list(modes.dictionary["mode"].values) if "mode" in modes.dictionary.coords else None
    outputs = {}
    for cell, kept in zip(irf["cell"].values, irf["cell_modes"].values):
        chosen = [int(m) for m in kept if m >= 0][: settings.preferred_modes]
        positions = chosen if labels is None else [labels.index(m) for m in chosen]
        preferred = preferred_stimuli(
            model,
            modes,
            int(cell),
            positions,
            layer=layer,
            settings=preferred_settings(int(model.history), settings.seed),
            progress=progress,
        )
        agreement = irf_agreement(preferred, irf)
        outputs[f"preferred_cell{int(cell)}"] = xr.merge([preferred, agreement], combine_attrs="no_conflicts")
    return outputs


CELL_TARGETS = 4
"""Cells targeted one by one in the control curves when all cells share a type (a recording)."""


def _control_mode(modes: xr.Dataset, target: str, labels: np.ndarray, label) -> tuple[int, str]:
    """(mode, how it was chosen): the mode most tied to the target, or the largest atom when no
    mode's loadings vary (a dead SAE)."""
    try:
        return associated_mode(modes["loadings"], labels, label), f"mode most tied to the {target}"
    except RetinaCodecError:
        return int(np.argmax(np.abs(np.asarray(modes["modes"].values)).sum(axis=1))), "largest atom (no mode varies)"


def _rankings(
    found: dict, layer: str, kind: str, labels: np.ndarray, targets: list
) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    """Per mode source, per target: the layer's channels ranked by the mode most tied to the target."""
    rankings: dict[str, dict[str, np.ndarray]] = {}
    rules: list[str] = []
    for variable, suffix in MODE_SOURCES:
        rankings[variable] = {}
        for label in targets:
            name = f"{type_name(str(label))} cells" if kind == "cell_type" else f"cell {label}"
            mode, rule = _control_mode(found[f"modes{suffix}_{layer}"], name, labels, label)
            rankings[variable][str(label)] = top_channels(found[f"sae{suffix}_{layer}"], mode, 1.0)
            rules.append(f"{variable}, {name}: mode {mode} ({rule.split(' (')[0]})")
    return rankings, rules


def control_experiments(
    model: RetinaCNN, stimulus: xr.DataArray, found: dict, settings: DemoSettings, progress: bool, device: str = "cpu"
) -> dict:
    """Control curves in each layer: ablate or preserve the top k = 1..``control_channels``
    channels of the contribution mode and of the activation mode most tied to each cell type (to
    each of the first cells when all share a type), against random channel sets
    (:func:`retina_control_curves`)."""
    outputs = {}
    for layer in settings.layers:
        kind, labels, _ = control_target(found[f"modes_{layer}"]["loadings"])
        targets = list(dict.fromkeys(labels.tolist()))[: None if kind == "cell_type" else CELL_TARGETS]
        rankings, rules = _rankings(found, layer, kind, labels, targets)
        cell_labels = None if kind == "cell_type" else [str(c) for c in range(model.n_cells)]
        curves = retina_control_curves(
            model,
            stimulus.isel(time=slice(0, settings.control_frames)),
            layer,
            rankings,
            CurveSettings(
                max_channels=settings.control_channels,
                n_random=settings.control_draws,
                seed=settings.seed,
                batch_size=settings.batch_size * 4,
            ),
            labels=cell_labels,
            device=device,
            progress=progress,
        )
        outputs[f"control_{layer}"] = curves.assign_attrs(target_kind=kind, selection_rule="; ".join(rules))
    return outputs


MODE_SOURCES = (("contribution", ""), ("activation", "_activation"))
"""(variable, suffix of the step outputs): hypotheses come from contribution modes, and, as the
paper's comparison, from activation modes."""


def hypothesis_settings(settings: DemoSettings) -> HypothesisSettings:
    """The hypotheses' settings of the demo: its number of hypotheses, shuffles, seed and
    inhibitory-output hypotheses, the library's defaults for the rest."""
    return HypothesisSettings(
        max_hypotheses=settings.max_hypotheses,
        n_shuffles=settings.n_shuffles,
        seed=settings.seed,
        inhibitory=settings.inhibitory_outputs,
    )


def tested_hypotheses(
    model: RetinaCNN,
    stimulus: xr.DataArray,
    modes: dict,
    settings: DemoSettings,
    progress: bool,
    retina=None,
    match_stimulus: xr.DataArray | None = None,
    cache: PassCache | None = None,
) -> xr.Dataset:
    """Hypotheses from the modes of each layer (``modes``: layer -> modes Dataset), combined and,
    with a virtual retina, tested on it under ``stimulus``; passes are shared through ``cache``
    (the call's own when omitted)."""
    with nullcontext(cache) if cache is not None else PassCache() as cache:
        hypotheses = combine(
            [
                generate(
                    model,
                    stimulus,
                    modes[layer],
                    layer,
                    virtual_retina=retina,
                    match_stimulus=match_stimulus,
                    settings=hypothesis_settings(settings),
                    progress=progress,
                    cache=cache,
                )
                for layer in settings.layers
            ]
        )
        return test(hypotheses, retina, stimulus, progress=progress, cache=cache) if retina is not None else hypotheses


def layer_hypotheses(
    model: RetinaCNN,
    stimulus: xr.DataArray,
    found: dict,
    settings: DemoSettings,
    progress: bool,
    retina=None,
    match_stimulus: xr.DataArray | None = None,
) -> dict:
    """Hypotheses from each layer's contribution modes, with their designed test stimuli
    (:func:`designed_test_stimuli`); with a virtual retina, tested on it, with the
    pathways confirmed hypotheses name, the control generated from the activation modes, and the
    ceiling of what any set of up to ``ceiling_channels`` channels could reach per pathway
    (:func:`~retinacodec.hypotheses.ceiling.pathway_ceiling`, a diagnostic from the outcomes), with
    what matching every such set by its activity on ``match_stimulus`` reaches."""
    outputs = {}
    with PassCache() as cache:  # the two kinds of modes and the ceiling silence many of the same channel sets
        for _, suffix in MODE_SOURCES if retina is not None else MODE_SOURCES[:1]:
            modes = {layer: found[f"modes{suffix}_{layer}"] for layer in settings.layers}
            hypotheses = tested_hypotheses(model, stimulus, modes, settings, progress, retina, match_stimulus, cache)
            if not suffix:  # the contribution modes' hypotheses get their test stimuli
                designs = designed_test_stimuli(model, hypotheses, stimulus, settings, progress, retina, cache)
                outputs["test_stimuli"] = designs
                hypotheses = with_designs(hypotheses, designs)
            if retina is not None:
                outputs[f"coverage{suffix}"] = pathway_coverage(hypotheses, retina.pathways)
            outputs[f"hypotheses{suffix}"] = hypotheses
        if retina is not None:
            outputs["ceiling"] = pathway_ceiling(
                model,
                stimulus,
                settings.layers,
                retina,
                settings.ceiling_channels,
                match_stimulus=stimulus if match_stimulus is None else match_stimulus,
                settings=hypothesis_settings(settings),
                progress=progress,
                cache=cache,
            )
    return outputs


def load_recording(path: str | Path, selection: NWBSelection | None = None) -> tuple[xr.DataArray, xr.DataArray]:
    """(stimulus, spike counts) of an NWB recording (:func:`retinacodec.io.read_nwb`, with the
    stimulus, epochs and units of ``selection``); unit columns ``y`` and ``x`` (read as
    ``cell_y``, ``cell_x``) become the cells' positions."""
    from ...io import NWBSelection

    recording = (selection or NWBSelection()).read(path)
    spikes = recording["spikes"]
    positions = {"cell_y": "y", "cell_x": "x"}
    if set(positions) <= set(spikes.coords):
        spikes = spikes.rename(positions)
    return recording["stimulus"], spikes


def recording_types(stimulus: xr.DataArray, spikes: xr.DataArray, labels: TypeLabels | None = None) -> dict:
    """Each unit's cell type with its evidence (:func:`~retinacodec.models.cell_types.type_units`):
    user labels, then the units table's column, then the functional type from the whole recording."""
    return {"cell_types": type_units(stimulus, spikes, labels)}


def split_recording(stimulus: xr.DataArray, spikes: xr.DataArray, heldout: float) -> tuple[xr.DataArray, xr.DataArray]:
    """(stimulus, spikes) of the held-out end of a recording, as :func:`train_recording` holds it out."""
    return library_split(stimulus, spikes, heldout_fraction=heldout, repeat_start=np.zeros(0, int)).heldout


def designed_test_stimuli(
    model: RetinaCNN,
    hypotheses: xr.Dataset,
    stimulus: xr.DataArray,
    settings: DemoSettings,
    progress: bool,
    retina=None,
    cache: PassCache | None = None,
) -> xr.Dataset:
    """Each hypothesis's designed test stimulus; compared, in the CNN and (with a virtual retina) in
    the retina, with the first ``design_frames`` of the hypotheses' own natural jitter."""
    frames = min(settings.design_frames, stimulus.sizes["time"])
    jitter = stimulus.isel(time=slice(0, frames))
    design = DesignSettings(n_frames=frames, steps=settings.design_steps, seed=settings.seed)
    designs = design_tests(model, hypotheses, design, jitter=jitter, progress=progress)
    if retina is None:
        return designs
    return check_designs(designs, hypotheses, retina, jitter, progress=progress, cache=cache)


def phenomena_seeds(settings: DemoSettings) -> list[int]:
    """Seeds of the phenomena: the CNN's object-motion stimulus, then the block test's ``phenomena_seeds``."""
    return list(range(settings.seed + 4, settings.seed + 5 + settings.phenomena_seeds))


def explained_phenomena(
    model: RetinaCNN,
    found: dict,
    settings: DemoSettings,
    device: str = "cpu",
    retina=None,
    match_stimulus: xr.DataArray | None = None,
) -> dict:
    """The phenomena (flash onsets, object motion) explained by the contribution modes of the IRF
    layer in the CNN (:func:`phenomena_by_mode`); with a virtual retina, each mode's matched pathway
    (on ``match_stimulus``) and each claim's block test (:func:`check_phenomena`). Nothing for a
    model at another frame rate than the phenomena's 100 Hz."""
    if not at_phenomena_rate(model):
        return {}
    layer = settings.irf_layer or settings.layers[-1]
    seeds = phenomena_seeds(settings)
    protocol = PhenomenaSettings(
        oms_frames=settings.phenomena_oms_frames,
        oms_seed=seeds[0],
        n_steps=settings.ig_steps,
        batch_size=settings.batch_size,
    )
    by_mode = phenomena_by_mode(model, found[f"sae_{layer}"], layer, protocol, device)
    if retina is None or match_stimulus is None:
        return {"phenomena": by_mode}
    pathways = mode_pathways(
        model, found[f"modes_{layer}"], layer, retina, match_stimulus, hypothesis_settings(settings)
    )
    rules = PhenomenonRules(seeds=tuple(seeds[1:]), oms_frames=settings.phenomena_oms_frames)
    return {
        "phenomena": by_mode.assign(pathway=pathways),
        "phenomena_checked": check_phenomena(by_mode, pathways, retina, rules),
    }

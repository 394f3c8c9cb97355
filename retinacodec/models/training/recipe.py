"""Training from a TOML recipe: the data it names (virtual retina or NWB), the model folder, the
held-out evaluation."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import xarray as xr

from ..._validation import check_input_file
from ...errors import RetinaCodecError
from ...io.atomic import atomic_destination
from ..registry import CHECKPOINT_NAME, VIRTUAL_RETINA_NAME
from ..retina_cnn import ARCHITECTURE_KEYS, RetinaCNN
from .evaluate import evaluate_on_virtual_retina, fit_table
from .loop import train_model
from .settings import TrainingSettings

RECIPE_SECTIONS = ("name", "description", "data", "architecture", "training", "evaluation")
DATA_KEYS = ("source", "virtual_retina", "targets", "spike_seed", "stimuli", "path", "stimulus")
EVALUATION_KEYS = ("n_frames", "seed")
TARGETS = ("rate", "spikes")


@dataclass
class RecipeResult:
    """What :func:`train_from_recipe` produced."""

    model_dir: Path
    """Folder with ``model.pt`` (loadable by :func:`retinacodec.models.load`), ``last.pt``,
    ``recipe.toml`` and, for virtual-retina data, ``virtual_retina.json`` and ``evaluation.nc``."""
    model: RetinaCNN
    """The trained model (best validation loss), in eval mode."""
    log: dict[str, Any]
    """The training log of :func:`train_model`."""
    evaluation: xr.Dataset | None
    """Held-out fit on fresh natural jitter (:func:`evaluate_on_virtual_retina`), or None."""
    data_seconds: float
    """Wall time spent making the training data in this call (s)."""

    def summary(self) -> str:
        """A few lines for the command line: where the model went, its training and its fit."""
        log = self.log
        lines = [
            f"wrote {self.model_dir / CHECKPOINT_NAME}: {len(log['train_loss'])} epochs "
            f"(best {log['best_epoch']}{', stopped early' if log['stopped_early'] else ''}), "
            f"training {sum(log['epoch_seconds']):.0f} s + data {self.data_seconds:.0f} s",
            f"validation: Poisson loss {log['validation_loss'][log['best_epoch'] - 1]:.4g}, "
            f"mean r {log['validation_r'][log['best_epoch'] - 1]:.3f}",
        ]
        if self.evaluation is not None:
            lines.append(fit_table(self.evaluation["pearson_r"]))
        return "\n".join(lines)


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    check_input_file(path, "recipe", "a TOML training recipe")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RetinaCodecError(f"{path} is not valid TOML ({exc}); expected a training recipe") from None


def _check_keys(mapping: Any, allowed: Sequence[str], where: str) -> dict:
    if not isinstance(mapping, dict):
        raise RetinaCodecError(f"{where} is {mapping!r}; expected a table")
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise RetinaCodecError(f"{where}: unknown keys {unknown}; expected some of {list(allowed)}")
    return mapping


def _render(entry: dict, index: int, progress: bool) -> xr.DataArray:
    """The stimulus of one ``[[data.stimuli]]`` entry (kind + parameters)."""
    from ...stimuli.recipes import render_kind

    entry = _check_keys(entry, ("kind", "parameters"), f"data.stimuli[{index}]")
    parameters = entry.get("parameters", {})
    if not isinstance(parameters, dict):
        raise RetinaCodecError(f"data.stimuli[{index}].parameters is {parameters!r}; expected a table")
    return render_kind(entry.get("kind"), parameters, progress=progress, source=f"data.stimuli[{index}]")


def _virtual_retina_data(data: dict, folder: Path, progress: bool):
    """(virtual retina, stimuli, target rates in Hz) for a ``source = "virtual_retina"`` recipe."""
    import json

    from ..virtual_retina import VirtualRetina

    parameters = folder / str(data.get("virtual_retina", "virtual_retina.json"))
    try:
        retina = VirtualRetina.from_dict(json.loads(parameters.read_text()))
    except (OSError, ValueError) as exc:
        raise RetinaCodecError(
            f"cannot read virtual-retina parameters {parameters} ({exc}); expected a JSON file "
            f"written from VirtualRetina.to_dict()"
        ) from None
    targets = data.get("targets", "rate")
    if targets not in TARGETS:
        raise RetinaCodecError(f"data.targets is {targets!r}; expected one of {list(TARGETS)}")
    entries = data.get("stimuli")
    if not isinstance(entries, list) or not entries:
        raise RetinaCodecError("data.stimuli is missing or empty; expected [[data.stimuli]] tables")
    stimuli, responses = [], []
    for index, entry in enumerate(entries):
        stim = _render(entry, index, progress)
        out = retina.respond(stim, seed=int(data.get("spike_seed", 0)) + index, progress=progress)
        rate = out["rate"] if targets == "rate" else out["spikes"] * stim.attrs["frame_rate_hz"]
        stimuli.append(stim)
        responses.append(rate)
    return retina, stimuli, responses


def _nwb_data(data: dict, folder: Path):
    """(stimulus, rates in Hz = spike counts x frame rate) from a ``source = "nwb"`` recipe."""
    from ...io import read_nwb

    if "path" not in data:
        raise RetinaCodecError("data.path is missing; expected the NWB file of the recording")
    recording = read_nwb(folder / str(data["path"]), stimulus=data.get("stimulus"))
    stim = recording["stimulus"]
    return stim, recording["spikes"] * float(stim.attrs["frame_rate_hz"])


def train_from_recipe(
    recipe_path: str | Path,
    output_dir: str | Path,
    resume: bool = True,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> RecipeResult:
    """Make the data a recipe names, train the model, write its folder and evaluate it.

    Parameters
    ----------
    recipe_path : str or path
        TOML recipe (see ``models/default/recipe.toml``): ``name``, ``description``, ``[data]``
        (``source = "virtual_retina"`` with ``virtual_retina`` = parameter JSON, ``targets`` =
        ``"rate"`` (true rates) or ``"spikes"`` (Poisson counts, as Hz), ``spike_seed`` and
        ``[[data.stimuli]]`` entries of ``kind`` + ``parameters``; or ``source = "nwb"`` with
        ``path`` and optional ``stimulus``), ``[architecture]``, ``[training]``
        (:class:`TrainingSettings`) and ``[evaluation]`` (``n_frames``, ``seed`` of fresh
        natural jitter). Relative paths are relative to the recipe's folder.
    output_dir : str or path
        Model folder to write (created if needed).
    resume : bool
        Continue an interrupted run from ``output_dir/last.pt``.
    device : str or torch.device
        ``"cpu"`` (default), ``"cuda"`` or ``"auto"``.
    progress : bool
        Show progress bars.

    Returns
    -------
    RecipeResult
        The model folder, model, training log, held-out evaluation and data time.

    Raises
    ------
    RetinaCodecError
        For a missing or malformed recipe or data file, or an evaluation seed used in training.
    """
    import json
    import shutil

    recipe_path = Path(recipe_path)
    recipe = _check_keys(_read_toml(recipe_path), RECIPE_SECTIONS, str(recipe_path))
    data = _check_keys(recipe.get("data", {}), DATA_KEYS, "[data]")
    settings = TrainingSettings.from_dict(
        _check_keys(recipe.get("training", {}), [f.name for f in dataclasses.fields(TrainingSettings)], "[training]")
    )
    architecture = _check_keys(recipe.get("architecture", {}), ARCHITECTURE_KEYS, "[architecture]")
    evaluation = _check_keys(recipe.get("evaluation", {}), EVALUATION_KEYS, "[evaluation]")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    source = data.get("source", "virtual_retina")
    started = time.perf_counter()
    retina = None
    if source == "virtual_retina":
        retina, stimuli, responses = _virtual_retina_data(data, recipe_path.parent, progress)
        seeds = [s.attrs.get("seed") for s in stimuli if s.attrs.get("kind") == "natural_jitter"]
        if evaluation.get("seed", 1000) in seeds:
            raise RetinaCodecError(
                f"evaluation seed {evaluation.get('seed', 1000)} is also a training seed; expected "
                f"fresh natural jitter for the held-out evaluation"
            )
    elif source == "nwb":
        stimuli, responses = _nwb_data(data, recipe_path.parent)
    else:
        raise RetinaCodecError(f"data.source is {source!r}; expected 'virtual_retina' or 'nwb'")
    data_seconds = time.perf_counter() - started
    name = str(recipe.get("name", recipe_path.parent.name))
    model, log = train_model(
        stimuli,
        responses,
        architecture=architecture,
        settings=settings,
        output_dir=output_dir,
        resume=resume,
        name=name,
        device=device,
        progress=progress,
        metadata={"recipe": recipe, "recipe_path": str(recipe_path)},
    )
    if recipe_path.resolve() != (output_dir / "recipe.toml").resolve():
        with atomic_destination(output_dir / "recipe.toml") as tmp:
            shutil.copyfile(recipe_path, tmp)
    scores = None
    if retina is not None:
        with atomic_destination(output_dir / VIRTUAL_RETINA_NAME) as tmp:
            tmp.write_text(json.dumps(retina.to_dict(), indent=1) + "\n")
        from ...io import write_netcdf

        scores = evaluate_on_virtual_retina(model, retina, progress=progress, **evaluation)
        write_netcdf(scores["pearson_r"], output_dir / "evaluation.nc")
    return RecipeResult(output_dir, model, log, scores, data_seconds)

"""The contributions job: :func:`retinacodec.attribution.ig.contributions` over chunks of inputs.

For a retina model the inputs are the stimulus's time windows (a chunk of windows ``i..j`` gets the
frames ``i .. j + history - 2``), or whole stretches of a stimulus; for a classifier they are images
(a chunk of image indices).
Workers load the model themselves, by checkpoint path or by calling a factory, once per process (before
their first chunk, through the job's worker plugin), and take their chunks from inputs sent once.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from torch import nn

from .._validation import check_input_file
from ..attribution.ig import contributions
from ..attribution.inputs import is_stimulus
from ..attribution.options import AttributionOptions
from ..errors import RetinaCodecError
from ..io.resumable import file_digest
from ..stimuli.base import validate_stimulus
from ..targets import as_targets
from .execution import Execution
from .manifest import Chunk, Chunking
from .runner import run_chunked

_OPTIONS = tuple(
    name for name in inspect.signature(contributions).parameters if name not in ("model", "x", "layer", "target")
)
"""Keyword arguments of ``contributions`` a job passes through (baseline, n_steps, options, ...)."""
_DEFAULTS = {name: p.default for name, p in inspect.signature(contributions).parameters.items()}
"""Default values of ``contributions``'s parameters."""
_LOADED: dict[str, nn.Module] = {}
"""This process's loaded model (one at a time), by the key of :func:`_model_key`."""


def _describe(obj: Any) -> str:
    """A stable text naming a callable: ``module.qualname``, with a partial's arguments."""
    if isinstance(obj, functools.partial):
        arguments = [repr(a) for a in obj.args] + [f"{k}={v!r}" for k, v in sorted(obj.keywords.items())]
        return f"{_describe(obj.func)}({', '.join(arguments)})"
    named = obj if hasattr(obj, "__qualname__") else type(obj)
    return f"{named.__module__}.{named.__qualname__}"


@dataclass(frozen=True)
class GivenModel:
    """A model object a job was given, as a factory: shipped to each worker once, with its job.

    Attributes
    ----------
    module : torch.nn.Module
    key : str
        Its class and the SHA-256 of its state (parameters and buffers), naming it in caches and
        in the job's parameters.
    """

    module: nn.Module
    key: str

    @classmethod
    def of(cls, module: nn.Module) -> GivenModel:
        """Wrap ``module``, keyed by its class and the digest of its state."""
        digest = hashlib.sha256()
        for name, value in sorted(module.state_dict().items()):
            digest.update(name.encode())
            digest.update(_fingerprint(value)["sha256"].encode())
        return cls(module, f"{_describe(module)}:{digest.hexdigest()}")

    def __call__(self) -> nn.Module:
        return self.module


def _model_key(spec: str | Callable[[], nn.Module]) -> str:
    if isinstance(spec, GivenModel):
        return spec.key
    if callable(spec):
        return _describe(spec)
    stat = Path(spec).stat()
    return f"{spec}:{stat.st_size}:{stat.st_mtime_ns}"


def load_job_model(spec: str | Callable[[], nn.Module]) -> nn.Module:
    """The model of a job, loaded once per process: a checkpoint path or a factory's result."""
    key = _model_key(spec)
    if key not in _LOADED:
        from ..models.registry import load

        _LOADED.clear()
        _LOADED[key] = spec() if callable(spec) else load(spec)
    return _LOADED[key]


@dataclass(frozen=True)
class ContributionJob:
    """``contributions`` of one chunk's inputs; picklable, so Dask workers can run it.

    Attributes
    ----------
    model : str or callable
        Checkpoint path, or a picklable factory returning the model (deterministic: e.g. it loads
        fixed weights).
    layer, target
        As for :func:`retinacodec.attribution.ig.contributions`.
    options : dict
        Further keyword arguments of ``contributions`` (baseline, n_steps, options, ...); its
        progress bar is always off.
    stretches : bool
        The inputs are whole stimulus stretches (a chunk's data is a list of them, each computed
        by one call), not the windows of one stimulus or a batch of images.
    """

    model: str | Callable[[], nn.Module]
    layer: str
    target: Any
    options: dict
    stretches: bool = False

    @property
    def inputs_per_batch(self) -> int:
        """Inputs per internal batch of ``contributions`` (``batch_size // n_steps``, at least 1;
        1 for stretches, each its own call): chunks of a multiple of it give results equal bit for
        bit to one call."""
        if self.stretches:
            return 1
        batch_size = self.options.get("batch_size", _DEFAULTS["batch_size"])
        return max(1, int(batch_size) // int(self.options.get("n_steps", _DEFAULTS["n_steps"])))

    def prepare(self) -> None:
        """Load the model into this process (a worker calls this once, before its first chunk)."""
        load_job_model(self.model)

    def _contributions(self, data: Any) -> xr.Dataset:
        quiet = dataclasses.replace(self.options.get("options") or AttributionOptions(), progress=False)
        options = {**self.options, "options": quiet}
        return contributions(load_job_model(self.model), data, self.layer, self.target, **options)

    def __call__(self, chunk: Chunk, data: Any) -> xr.Dataset:
        if self.stretches:  # each stretch's times are already those of its frames
            return xr.concat([self._contributions(stretch) for stretch in data], dim="sample")
        result = self._contributions(data)
        index = result.indexes["sample"]
        if "image" not in index.names:  # a stimulus chunk's times are already those of its frames
            return result
        level = index.names.index("image")
        shifted = index.set_levels(index.levels[level] + chunk.start, level=level)  # global image numbers
        return result.assign_coords(xr.Coordinates.from_pandas_multiindex(shifted, "sample"))


def _fingerprint(values: Any) -> dict[str, Any]:
    """Shape, dtype and SHA-256 of an array's bytes."""
    array = np.ascontiguousarray(values.detach().cpu().numpy() if hasattr(values, "detach") else values)
    return {
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "sha256": hashlib.sha256(array.tobytes()).hexdigest(),
    }


def _describe_options(given: dict[str, Any]) -> dict[str, Any]:
    """JSON-typed stand-ins for the keyword arguments of ``contributions``, sorted by name; the
    fields of an ``options`` AttributionOptions count as keyword arguments of their own, those at
    their defaults (and ``progress``) left out."""
    described = {name: value for name, value in given.items() if name != "options"}
    attribution = given.get("options")
    if isinstance(attribution, AttributionOptions):
        for field in dataclasses.fields(attribution):
            value = getattr(attribution, field.name)
            if field.name != "progress" and value != field.default:
                described[field.name] = value
    return {name: _describe_option(value) for name, value in sorted(described.items())}


def _describe_option(value: Any) -> Any:
    """A JSON-typed stand-in for an option value (arrays by fingerprint)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (np.ndarray, xr.DataArray)) or hasattr(value, "detach"):
        return _fingerprint(np.asarray(value) if isinstance(value, xr.DataArray) else value)
    if callable(value):
        return _describe(value)
    return str(value)


def _is_stretches(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(is_stimulus(s) for s in x)


def _describe_stimulus(x: xr.DataArray, history: int) -> dict[str, Any]:
    """A stimulus's fingerprint for the job's parameters; refuses one shorter than ``history``."""
    if x.sizes["time"] < history:
        raise RetinaCodecError(
            f"stimulus has {x.sizes['time']} frames; the model needs at least {history} (its history)"
        )
    return {
        "frames": _fingerprint(x.values),
        "time": _fingerprint(x["time"].values),
        "attrs": {k: str(v) for k, v in sorted(x.attrs.items())},
    }


def _history(spec: str | Callable[[], nn.Module]) -> int:
    """The ``history`` (frames per input window) of a job's model, which a stimulus needs."""
    history = getattr(load_job_model(spec), "history", None)
    if history is None:
        raise RetinaCodecError(
            "a stimulus (time, y, x) needs a retina model with a 'history' of frames; "
            "expected a retina model, or a batch of inputs (N, ...)"
        )
    return int(history)


def _job_inputs(
    x: Any, spec: str | Callable[[], nn.Module], options: dict
) -> tuple[int, dict[str, Any], Callable[[Chunk], Any]]:
    """(number of inputs, their description for the job's parameters, ``data(chunk)``) of ``x``;
    sets ``options["baseline"]`` to the mean image for ``baseline="mean"`` on a batch."""
    if _is_stretches(x):
        history, stretches = _history(spec), list(x)
        described = [_describe_stimulus(stretch, history) for stretch in stretches]
        return (
            len(stretches),
            {"kind": "stretches", "stretches": described},
            lambda chunk: stretches[chunk.start : chunk.stop],
        )
    if is_stimulus(x):
        history = _history(spec)
        x = validate_stimulus(x)  # a luminance stimulus becomes contrast about its whole mean, not each chunk's
        return (
            x.sizes["time"] - history + 1,
            {"kind": "stimulus", **_describe_stimulus(x, history)},
            lambda chunk: x.isel(time=slice(chunk.start, chunk.stop + history - 1)),
        )
    values = x.values if isinstance(x, xr.DataArray) else x
    if getattr(values, "ndim", 0) < 2 or len(values) == 0:
        raise RetinaCodecError(
            f"inputs have shape {getattr(values, 'shape', None)}; expected a stimulus "
            f"(time, y, x) DataArray, a list of them, or a batch (N, ...) with N >= 1"
        )
    if isinstance(options.get("baseline"), str) and options["baseline"] == "mean":
        options["baseline"] = np.asarray(values, dtype=np.float64).mean(axis=0)
    return (
        len(values),
        {"kind": "batch", "values": _fingerprint(values)},
        lambda chunk: values[chunk.start : chunk.stop],
    )


def run_contributions(
    model: str | os.PathLike | nn.Module | Callable[[], nn.Module],
    x: Any,
    layer: str,
    target: Any,
    out_dir: str | os.PathLike,
    chunk_size: int | None = None,
    execution: Execution | None = None,
    **contribution_kwargs: Any,
) -> xr.Dataset:
    """Hidden-layer contributions as a chunked, resumable, optionally distributed job.

    Equals :func:`retinacodec.attribution.ig.contributions` on all of ``x`` (to float rounding;
    bit for bit when ``chunk_size`` is a multiple of its inputs per batch,
    ``batch_size // n_steps``), whatever the number of workers and however often the job was
    interrupted and resumed.

    Parameters
    ----------
    model : str, path-like, torch.nn.Module or callable
        A retina model name or checkpoint (see :func:`retinacodec.models.registry.load`), a model
        object (sent to each worker once; a rerun resumes when its state is the same), or a
        picklable, deterministic factory ``() -> nn.Module`` (e.g. a classifier loading fixed
        weights). Each worker loads it itself, once.
    x : xarray.DataArray, list of xarray.DataArray, or array
        A stimulus (time, y, x) in contrast for a retina model (inputs: one window of ``history``
        frames per time point); a list of stimulus stretches (inputs: the stretches, each computed
        by one call, the result their concatenation along ``sample``, as the retina demo
        analyses stretches spread over a stimulus); or inputs (N, ...) such as images (N, C, H, W).
    layer, target
        As for ``contributions``; ``target`` names (``"cell:0"``, ``"top"``, ...) or Target
        objects (picklable).
    out_dir : str or path-like
        Job folder for the parts and the manifest.
    chunk_size : int, optional
        Inputs (windows or images) per chunk. By default the size recorded in ``out_dir`` when
        resuming, else chosen from the cost per input measured on the first inputs: about 2 s of
        work per chunk, at least 4 chunks per worker thread, a multiple of the inputs per internal
        batch (so the result is the same bit for bit whatever size is chosen).
    execution : Execution, optional
        Where the chunks run, torch threads per chunk, overwrite and progress, as for
        :func:`retinacodec.parallel.run_chunked`.
    **contribution_kwargs
        ``baseline``, ``n_steps``, ``method``, ``batch_size``, ``device`` and ``options`` of
        ``contributions`` (the progress bar of each call is off). ``baseline="mean"`` for images
        is the mean over all of ``x`` (as in one call), not over each chunk.

    Returns
    -------
    xarray.Dataset
        As ``contributions`` returns: ``contribution``, ``activation`` (sample, channel[, sign]), ...

    Raises
    ------
    RetinaCodecError
        For an unknown keyword or options that are not AttributionOptions, a stimulus shorter than
        the model's history, a folder holding a different job, or any error ``contributions``
        raises for a chunk.
    """
    unknown = sorted(set(contribution_kwargs) - set(_OPTIONS))
    if unknown:
        raise RetinaCodecError(
            f"unknown contributions option(s) {', '.join(unknown)}; expected some of {', '.join(_OPTIONS)}"
        )
    attribution = contribution_kwargs.get("options")
    if attribution is not None and not isinstance(attribution, AttributionOptions):
        raise RetinaCodecError(f"options is a {type(attribution).__name__}; expected AttributionOptions(...) or None")
    spec: str | Callable[[], nn.Module]
    if isinstance(model, nn.Module):
        given = GivenModel.of(model)
        spec, model_id = given, {"module": given.key}
    elif callable(model):
        spec, model_id = model, {"factory": _describe(model)}
    else:
        from ..models.registry import checkpoint_path

        path = checkpoint_path(model).resolve()
        check_input_file(path, "checkpoint", "an existing .pt file")
        spec, model_id = str(path), {"name": os.fspath(model), "sha256": file_digest(path)}
    options = dict(contribution_kwargs)
    n_inputs, inputs, data = _job_inputs(x, spec, options)
    params = {
        "job": "contributions",
        "model": model_id,
        "inputs": inputs,
        "layer": str(layer),
        "target": [str(t) for t in as_targets(target)],
        "options": _describe_options(contribution_kwargs),
    }
    job = ContributionJob(spec, layer, target, options, stretches=inputs["kind"] == "stretches")
    return run_chunked(
        job,
        Chunking(int(n_inputs), chunk_size),
        out_dir,
        params,
        data=data,
        execution=execution,
    )

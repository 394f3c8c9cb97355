"""Protocol recipes: TOML files naming a generator and its parameters.

A recipe looks like::

    kind = "grating"
    description = "Drifting grating, 10 px period, 2 Hz"
    [parameters]
    n_frames = 400
    spatial_period_px = 10.0

The shipped recipes live in the ``stimuli/`` folder at the top of the repository (next to the
``retinacodec`` package, which is installed editable).
"""

from __future__ import annotations

import inspect
import os
import tomllib
from collections.abc import Callable
from pathlib import Path

import xarray as xr

from .._validation import check_input_file
from ..errors import RetinaCodecError
from ..io.netcdf import read_netcdf
from ..shipped import PROTOCOL_DIR
from .base import validate_stimulus
from .chirp import chirp
from .flash import flash
from .grating import grating
from .moving_bar import moving_bar
from .natural import natural_jitter
from .object_motion import object_motion
from .white_noise import switching_white_noise, white_noise

GENERATORS: dict[str, Callable[..., xr.DataArray]] = {
    "white_noise": white_noise,
    "switching_white_noise": switching_white_noise,
    "natural_jitter": natural_jitter,
    "flash": flash,
    "moving_bar": moving_bar,
    "grating": grating,
    "chirp": chirp,
    "object_motion": object_motion,
}
"""Recipe ``kind`` -> generator function."""

RECIPE_KEYS = ("kind", "description", "parameters")
RUN_OPTIONS = ("progress",)
"""Generator arguments that change how it runs, not what it renders; not recipe parameters."""


def _shipped_dir() -> Path:
    if not PROTOCOL_DIR.is_dir():
        raise RetinaCodecError(
            f"shipped protocol folder not found at {PROTOCOL_DIR}; expected the recipes the package "
            "ships (reinstall retinacodec), or pass the path of a TOML recipe"
        )
    return PROTOCOL_DIR


def list_protocols() -> list[str]:
    """Names of the shipped protocol recipes.

    Returns
    -------
    list of str
        Sorted file stems of ``stimuli/*.toml`` (e.g. ``"chirp"``), each accepted by
        :func:`render_protocol`.
    """
    return sorted(path.stem for path in _shipped_dir().glob("*.toml"))


def _recipe_path(path_or_name: str | os.PathLike) -> Path:
    """A path for a path-like argument (has a folder or a ``.toml`` suffix), else a shipped name."""
    text = os.fspath(path_or_name)
    looks_like_path = (
        isinstance(path_or_name, os.PathLike) or text.endswith(".toml") or any(sep in text for sep in {"/", os.sep})
    )
    if looks_like_path:
        path = Path(text)
        check_input_file(path, "recipe file", "an existing TOML file")
        return path
    names = list_protocols()
    if text not in names:
        raise RetinaCodecError(f"unknown protocol {text!r}; expected a TOML file path or one of: {', '.join(names)}")
    return _shipped_dir() / f"{text}.toml"


def recipe_parameters(kind: str) -> list[str]:
    """Parameter names a recipe of this kind may set (the generator's keyword arguments).

    Parameters
    ----------
    kind : str
        A key of :data:`GENERATORS`.

    Returns
    -------
    list of str
        Names from the generator's signature, in order, without run options like ``progress``.
    """
    signature = inspect.signature(GENERATORS[kind])
    return [name for name in signature.parameters if name not in RUN_OPTIONS]


def _check_parameters(kind: str, parameters: dict, source: str) -> None:
    allowed = recipe_parameters(kind)
    unknown = [name for name in parameters if name not in allowed]
    if unknown:
        raise RetinaCodecError(
            f"{source}: unknown parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))} for kind {kind!r}; expected some of: "
            f"{', '.join(allowed)}"
        )


def _read_recipe(path_or_name: str | os.PathLike) -> tuple[str, dict, str]:
    """(kind, parameters, description) of a recipe, all checked except parameter values."""
    path = _recipe_path(path_or_name)
    try:
        with path.open("rb") as handle:
            recipe = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise RetinaCodecError(f"{path} is not valid TOML ({exc}); expected a TOML recipe") from None
    except UnicodeDecodeError as exc:
        raise RetinaCodecError(f"{path} is not UTF-8 text (byte {exc.start}); expected a TOML recipe") from None
    except OSError as exc:
        raise RetinaCodecError(f"cannot read recipe {path} ({exc.strerror})") from None

    extra = [key for key in recipe if key not in RECIPE_KEYS]
    if extra:
        raise RetinaCodecError(
            f"{path}: unknown key{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))}; "
            f"expected only: {', '.join(RECIPE_KEYS)} (generator settings go under [parameters])"
        )
    kind = recipe.get("kind")
    if kind not in GENERATORS:
        raise RetinaCodecError(f"{path}: kind is {kind!r}; expected one of: {', '.join(GENERATORS)}")
    parameters = recipe.get("parameters", {})
    if not isinstance(parameters, dict):
        raise RetinaCodecError(f"{path}: parameters is {parameters!r}; expected a [parameters] table")
    _check_parameters(kind, parameters, str(path))
    description = recipe.get("description", "")
    if not isinstance(description, str):
        raise RetinaCodecError(f"{path}: description is {description!r}; expected a string")
    return kind, parameters, description


def load_recipe(path_or_name: str | os.PathLike) -> tuple[str, dict]:
    """Read and check a protocol recipe.

    Parameters
    ----------
    path_or_name : str or path-like
        A shipped protocol name (see :func:`list_protocols`) or the path of a TOML file (a
        string with a folder separator or a ``.toml`` suffix).

    Returns
    -------
    kind : str
        The generator's name, a key of :data:`GENERATORS`.
    parameters : dict
        Keyword arguments for the generator (names checked; values are checked by it).

    Raises
    ------
    RetinaCodecError
        For an unknown name, a missing file, TOML that does not parse, a missing or unknown
        ``kind``, an unknown top-level key or an unknown parameter.
    """
    kind, parameters, _ = _read_recipe(path_or_name)
    return kind, parameters


def render_kind(kind: str | None, parameters: dict, *, progress: bool = True, source: str = "stimulus") -> xr.DataArray:
    """Render one generator call: a ``kind`` and its parameters, both checked.

    Parameters
    ----------
    kind : str
        A key of :data:`GENERATORS`.
    parameters : dict
        The generator's keyword arguments (names are checked here, values by the generator).
    progress : bool
        Show a progress bar where the generator has one.
    source : str
        Where the parameters came from, to start error messages (e.g. a recipe table).

    Returns
    -------
    xarray.DataArray
        The stimulus, dims (time, y, x).

    Raises
    ------
    RetinaCodecError
        For an unknown kind, an unknown parameter or a value the generator refuses.
    """
    if kind is None or kind not in GENERATORS:
        raise RetinaCodecError(f"{source}: kind is {kind!r}; expected one of: {', '.join(GENERATORS)}")
    _check_parameters(kind, parameters, source)
    generator = GENERATORS[kind]
    parameters = dict(parameters)
    if "progress" in inspect.signature(generator).parameters:
        parameters["progress"] = progress
    try:
        return generator(**parameters)
    except RetinaCodecError as exc:
        raise RetinaCodecError(f"{source}: {exc}") from None


def render_protocol(path_or_name: str | os.PathLike, *, progress: bool = True, **overrides) -> xr.DataArray:
    """Render a protocol recipe to a stimulus.

    Parameters
    ----------
    path_or_name : str or path-like
        A shipped protocol name (see :func:`list_protocols`) or the path of a TOML recipe.
    progress : bool
        Show a progress bar where the generator has one.
    **overrides
        Generator parameters replacing the recipe's (e.g. ``n_frames=100``).

    Returns
    -------
    xarray.DataArray
        The stimulus, dims (time, y, x), with attrs ``protocol`` (the name or path given) and
        ``protocol_description`` (the recipe's description, possibly empty) added to the
        generator's.

    Raises
    ------
    RetinaCodecError
        For any problem :func:`load_recipe` reports, an unknown override, or a parameter value
        the generator refuses (the message names the protocol).
    """
    kind, parameters, description = _read_recipe(path_or_name)
    source = os.fspath(path_or_name)
    stim = render_kind(kind, {**parameters, **overrides}, progress=progress, source=f"protocol {source!r}")
    stim.attrs["protocol"] = source
    stim.attrs["protocol_description"] = description
    return stim


def load_stimulus(spec: str | os.PathLike, *, progress: bool = True) -> xr.DataArray:
    """Get a stimulus from a shipped protocol name, a TOML recipe or a netCDF file.

    Parameters
    ----------
    spec : str or path-like
        A name from :func:`list_protocols`, a ``.toml`` recipe, or a ``.nc`` file holding a
        stimulus DataArray (time, y, x) such as ``retinacodec stimulus`` writes.
    progress : bool
        Show progress bars while rendering.

    Returns
    -------
    xarray.DataArray
        The validated stimulus (time, y, x).
    """
    if str(spec).endswith(".nc"):
        stim = read_netcdf(spec)
        if isinstance(stim, xr.Dataset):
            if "stimulus" not in stim:
                raise RetinaCodecError(
                    f"{spec} holds variables {sorted(map(str, stim.data_vars))}; expected a stimulus "
                    "DataArray (time, y, x) or a Dataset with a 'stimulus' variable"
                )
            stim = stim["stimulus"]
        return validate_stimulus(stim)
    return render_protocol(spec, progress=progress)

"""Stimuli: one generator per family, and protocol recipes (TOML) that name a generator.

Every generator returns the labeled stimulus of :func:`make_stimulus`: float32 contrast in
[-1, 1], dims (time, y, x), time in seconds, attrs with the frame rate, units and every parameter.
"""

from .base import make_stimulus, validate_stimulus
from .chirp import chirp
from .flash import flash
from .grating import grating
from .moving_bar import moving_bar
from .natural import EyeMovements, natural_jitter
from .object_motion import object_motion
from .recipes import (
    GENERATORS,
    list_protocols,
    load_recipe,
    load_stimulus,
    render_protocol,
)
from .white_noise import switching_white_noise, white_noise

__all__ = [
    "GENERATORS",
    "EyeMovements",
    "chirp",
    "flash",
    "grating",
    "list_protocols",
    "load_recipe",
    "load_stimulus",
    "make_stimulus",
    "moving_bar",
    "natural_jitter",
    "object_motion",
    "render_protocol",
    "switching_white_noise",
    "validate_stimulus",
    "white_noise",
]

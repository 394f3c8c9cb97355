"""Parameters of the virtual retina: one dataclass per stage, serialisable to a plain mapping.

Every number has a biological meaning and a unit, given in the field's docstring. Values follow
``VIRTUAL_RETINA.md`` (Wohrer & Kornprobst 2009, Ölveczky et al. 2003, Baccus et al. 2008,
Liang & Freed 2010); gains, thresholds and biases are our choices, tuned so that ganglion cells
fire a few to tens of spikes per second under white noise and natural jitter.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import RetinaCodecError

GANGLION_TYPES = ("on", "off", "on_off", "oms")
"""Ganglion cell types: ON sustained, OFF sustained, ON-OFF transient, object-motion-sensitive."""
PATHWAYS = (
    "bipolar_on_sustained",
    "bipolar_off_sustained",
    "bipolar_on_transient",
    "bipolar_off_transient",
    "amacrine_narrow",
    "amacrine_wide",
)
"""Interneuron types between the outer plexiform layer and the ganglion cells."""


@dataclass
class OuterRetinaParams:
    """Photoreceptors and the outer plexiform layer (horizontal-cell surround)."""

    photoreceptor_sigma_px: float = 0.5
    """Photoreceptor optical and coupling blur, Gaussian standard deviation (px, 1 px = 55 µm)."""
    photoreceptor_tau_ms: float = 20.0
    """Time constant of each stage of the photoreceptor low-pass cascade (ms)."""
    photoreceptor_stages: int = 3
    """Number of first-order stages of the photoreceptor gamma cascade."""
    center_sigma_px: float = 0.75
    """Bipolar dendritic (receptive-field centre) spread, Gaussian standard deviation (px)."""
    center_undershoot_weight: float = 0.5
    """Fraction of the centre signal removed by slow adaptation (dimensionless, 0..1)."""
    center_undershoot_tau_ms: float = 200.0
    """Time constant of that slow centre adaptation (ms)."""
    surround_sigma_px: float = 2.5
    """Horizontal-cell surround spread, Gaussian standard deviation (px)."""
    surround_tau_ms: float = 10.0
    """Horizontal-cell low-pass time constant (ms)."""
    surround_weight: float = 0.8
    """Strength of the surround subtracted from the centre (dimensionless)."""


@dataclass
class BipolarParams:
    """Bipolar cells: sustained (near-linear) and transient (biphasic, steep release) types."""

    sustained_gain: float = 8.0
    """Release of a sustained bipolar per unit outer-plexiform signal (release units per contrast)."""
    sustained_baseline: float = 0.1
    """Tonic release of a sustained bipolar at mean luminance (release units); below zero drive the
    release is cut at 0 (threshold-linear)."""
    sustained_undershoot_weight: float = 0.3
    """Fraction of the sustained bipolar signal removed by its slow adaptation (dimensionless)."""
    sustained_undershoot_tau_ms: float = 200.0
    """Time constant of that adaptation (ms)."""
    transient_stages: int = 2
    """Stages of each low-pass cascade in the transient bipolar's biphasic kernel."""
    transient_fast_tau_ms: float = 20.0
    """Time constant of the positive lobe's cascade (ms); sets the ~50 ms rise and decay."""
    transient_slow_tau_ms: float = 60.0
    """Time constant of the negative lobe's cascade (ms); the kernel lasts ~300 ms."""
    transient_slow_weight: float = 0.9
    """Area of the negative lobe relative to the positive one (dimensionless; 1 = pure band-pass)."""
    transient_slope: float = 30.0
    """Slope of the sigmoid synaptic release of transient bipolars (per unit filtered signal)."""
    transient_threshold: float = 0.08
    """Half-activation point of that sigmoid (filtered-signal units); release at rest is
    ``1 / (1 + exp(slope * threshold))``."""


@dataclass
class AmacrineParams:
    """Narrow-field (glycinergic, crossover) and wide-field (polyaxonal, GABAergic) amacrines."""

    narrow_sigma_px: float = 1.0
    """Dendritic spread of the narrow-field amacrine, Gaussian standard deviation (px)."""
    narrow_tau_ms: float = 30.0
    """Low-pass time constant of the narrow-field amacrine (ms)."""
    narrow_threshold: float = 0.1
    """Threshold of the narrow-field amacrine's rectified output (pooled release units)."""
    wide_inner_sigma_px: float = 2.0
    """Inner edge of the wide-field amacrine's annulus: standard deviation of the Gaussian whose
    scaled copy is cut out of the outer one (px)."""
    wide_outer_sigma_px: float = 8.0
    """Outer extent of the annulus, Gaussian standard deviation (px; 8 px = 0.44 mm)."""
    wide_tau_ms: float = 10.0
    """Low-pass time constant of the wide-field amacrine (ms); faster than the narrow-field one
    (spiking polyaxonal cells), so that its inhibition coincides with the OMS cell's excitation."""
    wide_threshold: float = 0.2
    """Threshold of the wide-field amacrine's threshold-linear output (pooled release units)."""


@dataclass
class GanglionParams:
    """One ganglion cell type: Gaussian pooling of its inputs and a softplus firing rate."""

    sigma_px: float
    """Dendritic field, Gaussian standard deviation (px)."""
    bias: float
    """Generator signal at zero synaptic input (dimensionless); sets the spontaneous rate."""
    rate_scale_hz: float
    """Firing rate per unit softplus of the generator signal (Hz)."""


@dataclass
class Connection:
    """One named synapse class of the circuit: ``source -> target`` with a sign and a weight."""

    source: str
    """Presynaptic interneuron type (one of :data:`PATHWAYS`)."""
    target: str
    """Postsynaptic type: ``ganglion_<type>``, an interneuron type, or a transient bipolar type
    (meaning its synaptic terminals)."""
    sign: int
    """+1 excitatory (glutamate), -1 inhibitory (glycine, GABA)."""
    weight: float
    """Strength (>= 0), in units of the target's signal per unit source activity."""

    @property
    def name(self) -> str:
        """The connection's name, ``"source->target"``."""
        return f"{self.source}->{self.target}"


def default_ganglia() -> dict[str, GanglionParams]:
    """Default ganglion parameters per type (spec: sigma 2 px, 1.5 px for the OMS cell)."""
    return {
        "on": GanglionParams(sigma_px=2.0, bias=-1.5, rate_scale_hz=20.0),
        "off": GanglionParams(sigma_px=2.0, bias=-1.5, rate_scale_hz=20.0),
        "on_off": GanglionParams(sigma_px=2.0, bias=-3.5, rate_scale_hz=20.0),
        "oms": GanglionParams(sigma_px=1.5, bias=-5.5, rate_scale_hz=20.0),
    }


def default_connections() -> list[Connection]:
    """The default wiring (signs from the spec's circuit; weights are our choices)."""
    return [
        Connection("bipolar_on_sustained", "ganglion_on", +1, 4.0),
        Connection("bipolar_off_sustained", "ganglion_off", +1, 4.0),
        Connection("bipolar_on_sustained", "amacrine_narrow", +1, 1.0),
        Connection("amacrine_narrow", "ganglion_off", -1, 4.0),
        Connection("bipolar_on_transient", "ganglion_on_off", +1, 10.0),
        Connection("bipolar_off_transient", "ganglion_on_off", +1, 10.0),
        Connection("bipolar_off_transient", "ganglion_oms", +1, 27.0),
        Connection("bipolar_on_transient", "amacrine_wide", +1, 1.0),
        Connection("bipolar_off_transient", "amacrine_wide", +1, 1.0),
        Connection("amacrine_wide", "ganglion_oms", -1, 15.0),
        Connection("amacrine_wide", "bipolar_on_transient", -1, 0.1),
        Connection("amacrine_wide", "bipolar_off_transient", -1, 0.1),
    ]


def jittered_layout(
    cells_per_type: int = 5,
    spread_px: int = 4,
    jitter_px: int = 2,
    center_px: int = 25,
    seed: int = 2026,
) -> dict[str, list[list[int]]]:
    """Integer cell positions per ganglion type on a jittered grid around the field centre.

    Parameters
    ----------
    cells_per_type : int
        Cells of each type (at most 5: four corners of a square and its centre).
    spread_px : int
        Half-side of the square (px).
    jitter_px : int
        Each position moves by an integer drawn uniformly from ``[-jitter_px, jitter_px]`` in y and x.
    center_px : int
        Pixel at the middle of the square, in y and x.
    seed : int
        Seed of :func:`numpy.random.default_rng` for the jitter.

    Returns
    -------
    dict of str to list of [y, x]
        Positions in pixels, per type of :data:`GANGLION_TYPES`.

    Notes
    -----
    The defaults keep every cell within pixels 19..31, the central ~12 px of a 50 px field, where a
    CNN with valid 15 + 11 px convolutions (output pixels 12..37) sees the whole receptive field.
    """
    base = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1], [0, 0]])[:cells_per_type] * spread_px
    rng = np.random.default_rng(seed)
    return {
        cell_type: (center_px + base + rng.integers(-jitter_px, jitter_px + 1, size=base.shape)).tolist()
        for cell_type in GANGLION_TYPES
    }


@dataclass
class VirtualRetinaParams:
    """All parameters of the virtual retina; ``to_dict``/``from_dict`` give a TOML-friendly mapping."""

    outer: OuterRetinaParams = field(default_factory=OuterRetinaParams)
    bipolar: BipolarParams = field(default_factory=BipolarParams)
    amacrine: AmacrineParams = field(default_factory=AmacrineParams)
    ganglion: dict[str, GanglionParams] = field(default_factory=default_ganglia)
    """Parameters per ganglion type (keys :data:`GANGLION_TYPES`)."""
    connections: list[Connection] = field(default_factory=default_connections)
    """The circuit's named connections (the ground-truth graph)."""
    cells: dict[str, list[list[int]]] = field(default_factory=jittered_layout)
    """Integer [y, x] pixel positions of the simulated ganglion cells, per type (default: 5 per
    type on a jittered grid in pixels 19..31, see :func:`jittered_layout`)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain nested mapping of numbers, strings and lists (TOML-friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, mapping: dict[str, Any]) -> VirtualRetinaParams:
        """Rebuild parameters from :meth:`to_dict`'s mapping; missing entries keep defaults.

        Raises
        ------
        RetinaCodecError
            If a key is unknown or a section has the wrong shape.
        """
        mapping = _known_keys(mapping, cls, "virtual retina parameters")
        kwargs: dict[str, Any] = {}
        for name, section_cls in (
            ("outer", OuterRetinaParams),
            ("bipolar", BipolarParams),
            ("amacrine", AmacrineParams),
        ):
            if name in mapping:
                kwargs[name] = _build(section_cls, mapping[name], name)
        if "ganglion" in mapping:
            ganglion = _mapping(mapping["ganglion"], "ganglion")
            _check_names("ganglion type", ganglion, GANGLION_TYPES)
            kwargs["ganglion"] = {
                key: _build(GanglionParams, value, f"ganglion.{key}") for key, value in ganglion.items()
            }
        if "connections" in mapping:
            kwargs["connections"] = [_build(Connection, item, "connection") for item in mapping["connections"]]
        if "cells" in mapping:
            cells = _mapping(mapping["cells"], "cells")
            _check_names("ganglion type", cells, GANGLION_TYPES)
            kwargs["cells"] = {key: [[int(v) for v in yx] for yx in value] for key, value in cells.items()}
        return cls(**kwargs)


def _build(cls: type, value: Any, where: str):
    """Instantiate dataclass ``cls`` from a mapping, with errors naming ``where``."""
    value = _known_keys(value, cls, where)
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in value and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise RetinaCodecError(f"{where} lacks {', '.join(missing)}; expected every field of {cls.__name__}")
    return cls(**value)


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise RetinaCodecError(f"{where} is a {type(value).__name__}; expected a mapping")
    return value


def _known_keys(value: Any, cls: type, where: str) -> dict:
    value = _mapping(value, where)
    _check_names(f"key in {where}", value, [f.name for f in dataclasses.fields(cls)])
    return value


def _check_names(what: str, names, valid) -> None:
    unknown = sorted(set(names) - set(valid))
    if unknown:
        raise RetinaCodecError(f"unknown {what}: {', '.join(unknown)}; expected one of: {', '.join(valid)}")

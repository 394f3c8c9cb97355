"""The virtual retina: a simulated (not learned) circuit whose wiring is the ground truth.

Photoreceptors -> outer plexiform centre-surround -> four bipolar types (ON/OFF x sustained/
transient) -> a narrow-field glycinergic amacrine (ON-driven crossover onto OFF cells) and a
wide-field GABAergic amacrine (annulus of transient bipolars onto the OMS cell and the transient
terminals) -> four ganglion types (ON, OFF, ON-OFF transient, object-motion-sensitive) with
softplus rates and Poisson spikes, on the 50 x 50 px grid at 100 Hz (1 px = 55 µm, 1 frame = 10 ms).
See ``VIRTUAL_RETINA.md`` for the sources of each stage; the maths is in
:func:`~retinacodec.models.virtual_retina.circuit.interneuron_maps`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping

import numpy as np
import xarray as xr

from ..._progress import progress_bar
from ...errors import RetinaCodecError
from ...stimuli.base import validate_stimulus
from .circuit import CircuitFilters, ganglion_drive, interneuron_maps
from .filters import ScipyOps, TorchOps
from .params import GANGLION_TYPES, PATHWAYS, Connection, VirtualRetinaParams

FRAME_RATE_HZ = 100.0
"""The only frame rate the circuit's kinetics are defined at."""
CHUNK_FRAMES = 4096
"""Frames simulated per chunk (each chunk also re-simulates the circuit's memory before it)."""
DRUGS = {
    "L-AP4": ("bipolar_on_sustained", "bipolar_on_transient"),
    "APB": ("bipolar_on_sustained", "bipolar_on_transient"),
    "strychnine": ("amacrine_narrow",),
    "picrotoxin": ("amacrine_wide",),
    "gabazine": ("amacrine_wide->ganglion_oms",),
    "TPMPA": ("amacrine_wide->bipolar_on_transient", "amacrine_wide->bipolar_off_transient"),
}
"""In-silico pharmacology: drug name -> the pathways (all their outputs) or connections it blocks.

L-AP4 / APB (mGluR6 agonists) silence ON bipolars; strychnine blocks glycine receptors (the
narrow-field amacrine); picrotoxin blocks GABA-A and GABA-C receptors (every output of the
wide-field amacrine); gabazine blocks GABA-A only (the wide-field amacrine onto the OMS cell);
TPMPA blocks GABA-C only (the wide-field amacrine onto the transient bipolar terminals).
"""


BACKENDS = ("torch", "scipy")
"""Ways to run the circuit: fast torch (default) or the plain scipy reference."""


def _backend_ops(backend: str) -> TorchOps | ScipyOps:
    if backend == "torch":
        return TorchOps()
    if backend == "scipy":
        return ScipyOps()
    raise RetinaCodecError(f"backend is {backend!r}; expected one of: {', '.join(BACKENDS)}")


def _time_coord(stim: xr.DataArray) -> tuple:
    """The stimulus's time coordinate, without the other coords that may run along time."""
    return ("time", stim["time"].values, stim["time"].attrs)


class VirtualRetina:
    """A mechanistic retina with known wiring, to test hypotheses about trained models against.

    Parameters
    ----------
    params : VirtualRetinaParams, optional
        Circuit parameters; the defaults of :class:`VirtualRetinaParams` when omitted.

    Attributes
    ----------
    params : VirtualRetinaParams
        The parameters (do not modify; build a new retina instead).
    frame_rate_hz : float
        100 Hz; stimuli must have this frame rate.

    Notes
    -----
    The default cells are 5 per type at integer pixels within 19..31 of the 50 x 50 field (see
    :func:`~retinacodec.models.virtual_retina.params.jittered_layout`), where a CNN with a 40-frame history
    and valid 15 + 11 px convolutions (output pixels 12..37) sees their whole receptive fields.
    The circuit is convolutional, so any stimulus size that holds the cells works.

    Examples
    --------
    >>> from retinacodec.stimuli.white_noise import white_noise
    >>> retina = VirtualRetina()
    >>> out = retina.respond(white_noise(n_frames=500, seed=1), block="strychnine", seed=0)
    >>> out["rate"].dims
    ('time', 'cell')
    """

    frame_rate_hz = FRAME_RATE_HZ

    def __init__(self, params: VirtualRetinaParams | None = None):
        self.params = VirtualRetinaParams() if params is None else params
        self._check_params()
        self._filters = CircuitFilters.from_params(self.params)
        types, positions = [], []
        for cell_type in GANGLION_TYPES:
            for yx in self.params.cells.get(cell_type, []):
                types.append(cell_type)
                positions.append(yx)
        self._cell_types = types
        self._cell_yx = np.asarray(positions, dtype=int).reshape(-1, 2)

    # ------------------------------------------------------------------ parameters and graph
    def to_dict(self) -> dict:
        """The parameters as a plain nested mapping (TOML-friendly), for model cards."""
        return self.params.to_dict()

    @classmethod
    def from_dict(cls, mapping: Mapping) -> VirtualRetina:
        """Build a retina from :meth:`to_dict`'s mapping (missing entries keep their defaults)."""
        return cls(VirtualRetinaParams.from_dict(dict(mapping)))

    @property
    def pathways(self) -> tuple[str, ...]:
        """Names of the interneuron types (the pathways a block or a CNN mode can match)."""
        return PATHWAYS

    @property
    def cells(self) -> xr.Dataset:
        """The simulated ganglion cells: ``cell_type``, ``y``, ``x`` (px) along dim ``cell``."""
        return xr.Dataset(
            {
                "cell_type": ("cell", np.asarray(self._cell_types, dtype=str)),
                "y": ("cell", self._cell_yx[:, 0]),
                "x": ("cell", self._cell_yx[:, 1]),
            },
            coords={"cell": np.arange(len(self._cell_types))},
        )

    @property
    def connections(self) -> xr.Dataset:
        """The ground-truth graph: ``source``, ``target``, ``sign``, ``weight`` along ``connection``.

        ``target`` is ``ganglion_<type>``, an amacrine type, or a transient bipolar type (meaning
        its synaptic terminals). The ``connection`` coordinate holds names ``"source->target"``.
        """
        conns = self.params.connections
        return xr.Dataset(
            {
                "source": ("connection", [c.source for c in conns]),
                "target": ("connection", [c.target for c in conns]),
                "sign": ("connection", np.array([c.sign for c in conns], dtype=int)),
                "weight": ("connection", np.array([c.weight for c in conns], dtype=float)),
            },
            coords={"connection": [c.name for c in conns]},
        )

    def block_names(self) -> list[str]:
        """Every name :meth:`respond` accepts in ``block`` and ``scale``."""
        return [*PATHWAYS, *(c.name for c in self.params.connections), *DRUGS]

    def resolve(self, names: str | Iterable[str]) -> list[str]:
        """Connection names that a block of ``names`` (pathways, connections, drugs) sets to zero.

        Raises
        ------
        RetinaCodecError
            If a name is unknown; the message lists the valid ones.
        """
        names = [names] if isinstance(names, str) else list(names)
        resolved: list[str] = []
        for name in names:
            if name in DRUGS:
                resolved += self.resolve(DRUGS[name])
            elif name in PATHWAYS:
                resolved += [c.name for c in self.params.connections if c.source == name]
            elif name in {c.name for c in self.params.connections}:
                resolved.append(name)
            else:
                raise RetinaCodecError(
                    f"unknown pathway, connection or drug {name!r}; expected one of: {', '.join(self.block_names())}"
                )
        return list(dict.fromkeys(resolved))

    def cells_fed_by(self, names: str | Iterable[str]) -> xr.DataArray:
        """Which cells a block of ``names`` reaches, following the ground-truth graph.

        Parameters
        ----------
        names : str or iterable of str
            Pathways, connections or drugs, as for ``block`` in :meth:`respond`.

        Returns
        -------
        xarray.DataArray
            bool, dim (cell), True where the cell receives one of the blocked connections
            directly or through amacrines or bipolar terminals.

        Notes
        -----
        A connection onto a bipolar terminal affects that bipolar's outputs to ganglion cells only
        (the wide-field amacrine is driven by the release before its own feedback).
        """
        reached: set[str] = set()
        visited: set[str] = set()
        blocked = self.resolve(names)
        frontier = [c.target for c in self.params.connections if c.name in blocked]
        while frontier:
            node = frontier.pop()
            if node in visited:
                continue
            visited.add(node)
            if node.startswith("ganglion_"):
                reached.add(node.removeprefix("ganglion_"))
                continue
            terminal_only = node.startswith("bipolar_")
            frontier += [
                c.target
                for c in self.params.connections
                if c.source == node and (not terminal_only or c.target.startswith("ganglion_"))
            ]
        fed = np.isin(np.asarray(self._cell_types), sorted(reached))
        return xr.DataArray(fed, dims="cell", coords=self._cell_coords(), name="fed")

    def _wiring(self, block, scale) -> tuple[list[Connection], list[str], dict[str, float]]:
        blocked = self.resolve(block) if block is not None else []
        if scale is not None and not isinstance(scale, Mapping):
            raise RetinaCodecError(
                f"scale is a {type(scale).__name__}; expected a mapping of pathway, connection or drug names to factors"
            )
        factors: dict[str, float] = {}
        for name, factor in (scale or {}).items():
            if (
                isinstance(factor, bool)
                or not isinstance(factor, (int, float))
                or not np.isfinite(factor)
                or factor < 0
            ):
                raise RetinaCodecError(f"scale factor for {name!r} is {factor!r}; expected a finite number >= 0")
            for conn in self.resolve(name):
                factors[conn] = factors.get(conn, 1.0) * float(factor)
        wiring = [
            dataclasses.replace(c, weight=0.0 if c.name in blocked else c.weight * factors.get(c.name, 1.0))
            for c in self.params.connections
        ]
        return wiring, blocked, factors

    # ------------------------------------------------------------------ simulation
    def respond(
        self,
        stimulus: xr.DataArray,
        block: str | Iterable[str] | None = None,
        scale: Mapping[str, float] | None = None,
        seed: int = 0,
        pathway_drive: bool = False,
        progress: bool = False,
        backend: str = "torch",
    ) -> xr.Dataset:
        """Simulate the ganglion cells' responses to a stimulus.

        Parameters
        ----------
        stimulus : xarray.DataArray
            Contrast, dims (time, y, x), at 100 Hz; any size that holds every cell's position.
        block : str or iterable of str, optional
            Pathways (all their outputs), connections ``"source->target"`` or drugs (keys of
            :data:`DRUGS`) whose weights are set to zero.
        scale : mapping of str to float, optional
            Name (as for ``block``) -> factor multiplying those connections' weights.
        seed : int
            Seed of the Poisson spike generator.
        pathway_drive : bool
            Also return ``drive``, each pathway's signed contribution to each generator signal.
        progress : bool
            Show a progress bar over time chunks.
        backend : {"torch", "scipy"}
            ``"torch"``: fast (FFT along time, matrix products in space, float32). ``"scipy"``: the
            plain reference (``lfilter`` along time, ``gaussian_filter`` frame by frame, float64,
            whole stimulus at once), slow; for validation and benchmarks.

        Returns
        -------
        xarray.Dataset
            ``rate`` (time, cell) in Hz; ``spikes`` (time, cell) Poisson counts per frame;
            ``generator`` (time, cell), dimensionless; with ``pathway_drive``, ``drive``
            (time, cell, pathway), dimensionless, summing with the type's bias to ``generator``.
            Coords: ``time`` from the stimulus, ``cell``, ``cell_type``, ``y``, ``x``, ``pathway``.

        Notes
        -----
        :math:`g_i = \\beta_k + \\sum_p d_{ip}`, rate :math:`\\lambda_i = c_k \\log(1 + e^{g_i})`, and
        spike counts :math:`n_i(t) \\sim \\mathrm{Poisson}(\\lambda_i(t)\\,\\Delta t)` with
        :math:`\\Delta t` = 10 ms. Before the first frame the screen is at mean luminance.
        """
        stim = self._check_stimulus(stimulus)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise RetinaCodecError(f"seed is {seed!r}; expected a non-negative integer")
        ops = _backend_ops(backend)
        wiring, blocked, factors = self._wiring(block, scale)
        drive = self._simulate(stim.values, wiring, progress=progress, ops=ops)[0]
        types = np.asarray(self._cell_types)
        bias = np.array([self.params.ganglion[t].bias for t in types])
        gain = np.array([self.params.ganglion[t].rate_scale_hz for t in types])
        generator = bias + drive.sum(axis=2)
        rate = gain * np.logaddexp(0.0, generator)
        spikes = np.random.default_rng(seed).poisson(rate / FRAME_RATE_HZ)
        coords = {"time": _time_coord(stim), **self._cell_coords()}
        data: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, str]]] = {
            "rate": (("time", "cell"), rate, {"units": "Hz", "long_name": "firing rate"}),
            "spikes": (("time", "cell"), spikes, {"units": "count per frame"}),
            "generator": (("time", "cell"), generator, {"units": "1"}),
        }
        if pathway_drive:
            data["drive"] = (("time", "cell", "pathway"), drive, {"units": "1"})
            coords["pathway"] = list(PATHWAYS)
        from ... import __version__

        return xr.Dataset(
            data,
            coords=coords,
            attrs={
                "model": "VirtualRetina",
                "retinacodec_version": __version__,
                "block": ", ".join([block] if isinstance(block, str) else list(block or [])) or "none",
                "blocked_connections": ", ".join(blocked) or "none",
                "scale": json.dumps(factors),
                "seed": int(seed),
                "backend": backend,
                "frame_rate_hz": FRAME_RATE_HZ,
                "params": json.dumps(self.to_dict()),
            },
        )

    def interneuron_activity(
        self,
        stimulus: xr.DataArray,
        positions: np.ndarray | Iterable[Iterable[int]] | None = None,
        block: str | Iterable[str] | None = None,
        scale: Mapping[str, float] | None = None,
        progress: bool = False,
    ) -> xr.DataArray:
        """Each interneuron type's activity, as maps or at chosen pixels.

        Parameters
        ----------
        stimulus : xarray.DataArray
            Contrast, dims (time, y, x), at 100 Hz.
        positions : array-like of int, shape (position, 2), optional
            [y, x] pixels to read; the whole field when omitted (float32: 4 bytes x time x 6 x y x x).
        block, scale : optional
            As in :meth:`respond`.
        progress : bool
            Show a progress bar over time chunks.

        Returns
        -------
        xarray.DataArray
            Release or output in release units, dims (time, pathway, y, x), or (time, pathway,
            position) with coords ``y``, ``x`` along ``position``.
        """
        stim = self._check_stimulus(stimulus, check_cells=False)
        if positions is not None:
            positions = self._check_positions(positions, stim.sizes["y"], stim.sizes["x"])
        wiring = self._wiring(block, scale)[0]
        maps = self._simulate(
            stim.values, wiring, read_maps=positions if positions is not None else True, progress=progress
        )[1]
        from ... import __version__

        attrs = {"units": "release units", "model": "VirtualRetina", "retinacodec_version": __version__}
        if positions is None:
            return xr.DataArray(
                maps,
                dims=("time", "pathway", "y", "x"),
                attrs=attrs,
                name="activity",
                coords={
                    "time": _time_coord(stim),
                    "pathway": list(PATHWAYS),
                    "y": stim["y"].values,
                    "x": stim["x"].values,
                },
            )
        return xr.DataArray(
            maps,
            dims=("time", "pathway", "position"),
            attrs=attrs,
            name="activity",
            coords={
                "time": _time_coord(stim),
                "pathway": list(PATHWAYS),
                "y": ("position", positions[:, 0]),
                "x": ("position", positions[:, 1]),
            },
        )

    def _simulate(
        self,
        frames: np.ndarray,
        wiring: list[Connection],
        read_maps=None,
        progress: bool = False,
        ops: TorchOps | ScipyOps | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Run the circuit in time chunks.

        Each chunk re-simulates the circuit's memory (the frames before it that its truncated
        filters reach), so chunks join without seams. Returns the drive (time, cell, pathway) and,
        when ``read_maps`` is True or an (n, 2) array of positions, the maps (time, pathway, y, x)
        or (time, pathway, position).
        """
        ops = TorchOps() if ops is None else ops
        n_time = frames.shape[0]
        warmup = self._filters.memory_frames()
        chunk = CHUNK_FRAMES if isinstance(ops, TorchOps) else max(n_time, 1)
        drive = np.zeros((n_time, len(self._cell_types), len(PATHWAYS)))
        maps_out = None
        for start in progress_bar(range(0, n_time, chunk), progress=progress, desc="virtual retina", unit="chunk"):
            stop = min(start + chunk, n_time)
            first = max(start - warmup, 0)
            maps = interneuron_maps(ops.asarray(frames[first:stop]), self.params, self._filters, wiring, ops)
            if len(self._cell_types):
                drive[start:stop] = ganglion_drive(maps, self.params, wiring, self._cell_types, self._cell_yx, ops)[
                    start - first :
                ]
            if read_maps is not None:
                read = ops.frames if read_maps is True else lambda m: ops.read(m, read_maps)
                stacked = np.stack([read(maps[p])[start - first :] for p in PATHWAYS], axis=1)
                if maps_out is None:
                    maps_out = np.empty((n_time, *stacked.shape[1:]), dtype=stacked.dtype)
                maps_out[start:stop] = stacked
        return drive, maps_out

    # ------------------------------------------------------------------ validation
    def _cell_coords(self) -> dict:
        return {
            "cell": np.arange(len(self._cell_types)),
            "cell_type": ("cell", np.asarray(self._cell_types, dtype=str)),
            "y": ("cell", self._cell_yx[:, 0]),
            "x": ("cell", self._cell_yx[:, 1]),
        }

    def _check_stimulus(self, stimulus: xr.DataArray, check_cells: bool = True) -> xr.DataArray:
        stim = validate_stimulus(stimulus)
        rate = float(stim.attrs["frame_rate_hz"])
        if not np.isclose(rate, FRAME_RATE_HZ):
            raise RetinaCodecError(
                f"stimulus frame_rate_hz is {rate:g}; the virtual retina runs at {FRAME_RATE_HZ:g} Hz "
                "(1 frame = 10 ms): resample the stimulus"
            )
        if check_cells and len(self._cell_yx):
            self._check_positions(self._cell_yx, stim.sizes["y"], stim.sizes["x"], what="cell positions")
        return stim

    @staticmethod
    def _check_positions(positions, n_y: int, n_x: int, what: str = "positions") -> np.ndarray:
        array = np.asarray(positions)
        if array.ndim != 2 or array.shape[1] != 2 or not np.issubdtype(array.dtype, np.integer):
            raise RetinaCodecError(
                f"{what} have shape {array.shape} and dtype {array.dtype}; "
                "expected integer [y, x] pixels of shape (n, 2)"
            )
        outside = (array[:, 0] < 0) | (array[:, 0] >= n_y) | (array[:, 1] < 0) | (array[:, 1] >= n_x)
        if outside.any():
            raise RetinaCodecError(
                f"{what} {array[outside].tolist()} lie outside the {n_y} x {n_x} px "
                "stimulus; expected a stimulus that covers them"
            )
        return array

    def _check_params(self) -> None:
        names = [c.name for c in self.params.connections]
        for c in self.params.connections:
            if c.source not in PATHWAYS:
                raise RetinaCodecError(
                    f"connection {c.name!r} has source {c.source!r}; expected one of: {', '.join(PATHWAYS)}"
                )
            valid_targets = [*PATHWAYS, *(f"ganglion_{t}" for t in GANGLION_TYPES)]
            if c.target not in valid_targets:
                raise RetinaCodecError(
                    f"connection {c.name!r} has target {c.target!r}; expected one of: {', '.join(valid_targets)}"
                )
            if c.sign not in (-1, 1) or not (np.isfinite(c.weight) and c.weight >= 0):
                raise RetinaCodecError(
                    f"connection {c.name!r} has sign {c.sign!r} and weight "
                    f"{c.weight!r}; expected sign +1 or -1 and a weight >= 0"
                )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise RetinaCodecError(f"connections {duplicates} appear twice; expected each once")
        missing = sorted(set(self.params.cells) - set(self.params.ganglion))
        if missing:
            raise RetinaCodecError(
                f"cells of types {missing} have no ganglion parameters; expected parameters for every type in cells"
            )

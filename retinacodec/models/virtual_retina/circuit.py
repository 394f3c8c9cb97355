"""The virtual retina's circuit: stimulus -> interneuron maps -> ganglion generator signals.

Written once against a small set of array operations (``blur``, ``temporal``, ``relu``,
``sigmoid``) so that the same circuit runs on :class:`~retinacodec.models.virtual_retina.filters.TorchOps`
(fast) and on :class:`~retinacodec.models.virtual_retina.filters.ScipyOps` (plain reference).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .filters import TemporalFilter, lowpass, undershoot
from .params import PATHWAYS, Connection, VirtualRetinaParams

FRAME_MS = 10.0
"""Duration of one frame (ms); the circuit runs at 100 Hz."""


def _biphasic(
    x: np.ndarray, fast_tau_frames: float, slow_tau_frames: float, stages: int, slow_weight: float
) -> np.ndarray:
    """Positive fast gamma cascade minus a weighted slower one (a band-pass kernel)."""
    return lowpass(x, fast_tau_frames, stages) - slow_weight * lowpass(x, slow_tau_frames, stages)


@dataclass(frozen=True)
class CircuitFilters:
    """The circuit's temporal filters, built once from the parameters.

    The linear front end is folded into four cascades (centre or surround path, then sustained
    or transient bipolar kinetics) so that each path costs one pass over the stimulus.
    """

    center_sustained: TemporalFilter
    """Photoreceptor cascade, centre undershoot, sustained bipolar undershoot."""
    center_transient: TemporalFilter
    """Photoreceptor cascade, centre undershoot, transient bipolar biphasic kernel."""
    surround_sustained: TemporalFilter
    """As ``center_sustained`` with the horizontal-cell low-pass in the chain."""
    surround_transient: TemporalFilter
    """As ``center_transient`` with the horizontal-cell low-pass in the chain."""
    narrow: TemporalFilter
    """Narrow-field amacrine low-pass."""
    wide: TemporalFilter
    """Wide-field amacrine low-pass."""

    @classmethod
    def from_params(cls, params: VirtualRetinaParams) -> CircuitFilters:
        """Build the filters; time constants in ms become frames of :data:`FRAME_MS`."""
        o, b, a = params.outer, params.bipolar, params.amacrine

        def filt(name, function, **kwargs):
            """A TemporalFilter; keyword arguments ending in ``_ms`` are converted to frames."""
            kwargs = {k.replace("_ms", "_frames"): v / FRAME_MS if k.endswith("_ms") else v for k, v in kwargs.items()}
            return TemporalFilter(name, functools.partial(function, **kwargs))

        center = filt("photoreceptor", lowpass, tau_ms=o.photoreceptor_tau_ms, stages=o.photoreceptor_stages).then(
            filt("center undershoot", undershoot, weight=o.center_undershoot_weight, tau_ms=o.center_undershoot_tau_ms)
        )
        surround = center.then(filt("horizontal", lowpass, tau_ms=o.surround_tau_ms))
        sustained = filt(
            "sustained", undershoot, weight=b.sustained_undershoot_weight, tau_ms=b.sustained_undershoot_tau_ms
        )
        transient = filt(
            "transient",
            _biphasic,
            fast_tau_ms=b.transient_fast_tau_ms,
            slow_tau_ms=b.transient_slow_tau_ms,
            stages=b.transient_stages,
            slow_weight=b.transient_slow_weight,
        )
        return cls(
            center_sustained=center.then(sustained),
            center_transient=center.then(transient),
            surround_sustained=surround.then(sustained),
            surround_transient=surround.then(transient),
            narrow=filt("narrow amacrine", lowpass, tau_ms=a.narrow_tau_ms),
            wide=filt("wide amacrine", lowpass, tau_ms=a.wide_tau_ms),
        )

    def memory_frames(self) -> int:
        """Frames of history the deepest path remembers (sum of its impulse-response lengths)."""
        front = max(
            len(f.impulse_response())
            for f in (self.center_sustained, self.center_transient, self.surround_sustained, self.surround_transient)
        )
        return front + max(len(self.narrow.impulse_response()), len(self.wide.impulse_response()))


def _weight(connections: list[Connection], source: str, target: str) -> float:
    """Signed weight of ``source -> target`` (0 when the circuit has no such connection)."""
    return sum(c.sign * c.weight for c in connections if c.source == source and c.target == target)


def interneuron_maps(
    frames, params: VirtualRetinaParams, filters: CircuitFilters, connections: list[Connection], ops
) -> dict:
    """Activity maps of every interneuron type.

    Parameters
    ----------
    frames : array
        Stimulus contrast in the array type and layout of ``ops`` (``ops.asarray(frames)``).
    params : VirtualRetinaParams
        Stage parameters.
    filters : CircuitFilters
        Temporal filters built from ``params``.
    connections : list of Connection
        The wiring with blocks and scalings applied.
    ops : TorchOps or ScipyOps
        Array operations.

    Returns
    -------
    dict of str to array
        One map per name of :data:`PATHWAYS` (layout of ``ops``): bipolar release onto ganglion
        cells (after the terminals' GABA-C inhibition for transient types) and amacrine output,
        in release units.

    Notes
    -----
    With :math:`G_\\sigma` a Gaussian blur, :math:`E_\\tau` a first-order low-pass and
    :math:`[\\cdot]_+` rectification:

    - centre :math:`C = U * P * G_{\\sigma_c} G_{\\sigma_p} s` (photoreceptor cascade :math:`P`,
      undershoot :math:`U`), outer plexiform :math:`o = C - w_s E_{\\tau_s} G_{\\sigma_s} C`;
    - sustained bipolars :math:`b^\\pm = [\\pm g\\,(V * o) + b_0]_+` (undershoot :math:`V`);
    - transient release :math:`r^\\pm = \\sigma(k(\\pm K * o - \\theta))` (biphasic :math:`K`);
    - narrow amacrine :math:`n = [E * G_{\\sigma_n}(w\\,b^+) - \\theta_n]_+`;
    - wide amacrine :math:`a = [E * A(w_+ r^+ + w_- r^-) - \\theta_w]_+` with the annulus
      :math:`A = G_{\\sigma_o} - (\\sigma_i/\\sigma_o)^2 G_{\\sigma_i}` (zero at its centre);
    - transient terminals :math:`t^\\pm = [r^\\pm - w_{gc}\\,a]_+` (GABA-C).

    The wide-field amacrine is driven by the transient release before its own GABA-C feedback: a
    feed-forward approximation of that loop, so a connection onto a bipolar terminal changes only
    that bipolar's output to ganglion cells.
    """
    o, b, a = params.outer, params.bipolar, params.amacrine
    center = ops.blur(frames, (o.photoreceptor_sigma_px, o.center_sigma_px))
    center_sustained, center_transient = ops.temporal(center, [filters.center_sustained, filters.center_transient])
    surround_sustained, surround_transient = ops.temporal(
        ops.blur(center, o.surround_sigma_px), [filters.surround_sustained, filters.surround_transient]
    )
    # In-place arithmetic (same in numpy and torch) keeps the number of passes over the maps low.
    sustained = center_sustained
    sustained -= o.surround_weight * surround_sustained
    sustained *= b.sustained_gain
    on_sustained = ops.relu(sustained + b.sustained_baseline)
    off_sustained = ops.relu(b.sustained_baseline - sustained)
    transient = center_transient
    transient -= o.surround_weight * surround_transient
    transient *= b.transient_slope
    on_release = ops.sigmoid(transient - b.transient_slope * b.transient_threshold)
    off_release = ops.sigmoid(-b.transient_slope * b.transient_threshold - transient)

    narrow_input = _weight(connections, "bipolar_on_sustained", "amacrine_narrow") * on_sustained
    narrow = ops.temporal(ops.blur(narrow_input, a.narrow_sigma_px), [filters.narrow])[0]
    narrow = ops.relu(narrow - a.narrow_threshold)
    wide_input = _weight(connections, "bipolar_on_transient", "amacrine_wide") * on_release
    wide_input += _weight(connections, "bipolar_off_transient", "amacrine_wide") * off_release
    annulus = ops.blur(wide_input, a.wide_outer_sigma_px)
    annulus -= (a.wide_inner_sigma_px / a.wide_outer_sigma_px) ** 2 * ops.blur(wide_input, a.wide_inner_sigma_px)
    wide = ops.relu(ops.temporal(annulus, [filters.wide])[0] - a.wide_threshold)
    on_terminal = ops.relu(on_release + _weight(connections, "amacrine_wide", "bipolar_on_transient") * wide)
    off_terminal = ops.relu(off_release + _weight(connections, "amacrine_wide", "bipolar_off_transient") * wide)
    return {
        "bipolar_on_sustained": on_sustained,
        "bipolar_off_sustained": off_sustained,
        "bipolar_on_transient": on_terminal,
        "bipolar_off_transient": off_terminal,
        "amacrine_narrow": narrow,
        "amacrine_wide": wide,
    }


def ganglion_drive(
    maps: dict,
    params: VirtualRetinaParams,
    connections: list[Connection],
    cell_types: list[str],
    cell_yx: np.ndarray,
    ops,
) -> np.ndarray:
    """Each pathway's signed contribution to each ganglion cell's generator signal.

    Parameters
    ----------
    maps : dict of str to array
        Output of :func:`interneuron_maps`.
    params : VirtualRetinaParams
        Ganglion parameters (pooling sigma per type).
    connections : list of Connection
        The wiring with blocks and scalings applied.
    cell_types : list of str
        Type of each cell.
    cell_yx : numpy.ndarray
        Integer pixel positions, shape (cell, 2).
    ops : TorchOps or ScipyOps
        Array operations.

    Returns
    -------
    numpy.ndarray
        float64, shape (time, cell, pathway) in the order of :data:`PATHWAYS`, dimensionless.

    Notes
    -----
    :math:`d_{ip}(t) = s_{pk} w_{pk}\\,(G_{\\sigma_k} * m_p)(t, y_i, x_i)` for cell :math:`i` of type
    :math:`k`; the generator signal is :math:`g_i = \\beta_k + \\sum_p d_{ip}`.
    """
    types = np.asarray(cell_types)
    n_time = ops.read(maps[PATHWAYS[0]], cell_yx[:1]).shape[0]
    drive = np.zeros((n_time, len(types), len(PATHWAYS)))
    for c in connections:
        cell_type = c.target.removeprefix("ganglion_")
        cells = np.flatnonzero(types == cell_type)
        if not c.target.startswith("ganglion_") or not len(cells):
            continue
        pooled = ops.pool(maps[c.source], params.ganglion[cell_type].sigma_px, cell_yx[cells])
        drive[:, cells, PATHWAYS.index(c.source)] += c.sign * c.weight * pooled
    return drive

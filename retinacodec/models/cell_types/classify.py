"""Functional cell types of a recording's units, from their own responses to its stimulus.

Each unit gets one label, decided by fixed rules applied in this order (thresholds are the
constants below, fixed before any accuracy was measured):

1. ``unclassified``, "too few spikes", below :data:`MIN_SPIKES` spikes.
2. On a spatial stimulus, ``unclassified``, "no receptive field found", when neither its
   spike-triggered-average energy nor its rectified-energy map peaks clearly
   (:func:`retinacodec.models.ln.receptive_field_centres`). The unit's signal is then the stimulus
   around that peak (Gaussian weights, 1 px); on a full-field stimulus it is the stimulus itself.
3. ``on_off`` when the unit responds to both polarities (a two-filter, rectified-energy test):
   along the first eigenvector of its spike-triggered second moment (the direction that carries
   both the linear and the symmetric, energy-like part of its response), its rate beyond 1 SD in
   the non-preferred direction exceeds its mean rate by at least :data:`MIN_ON_OFF_INDEX` of the
   excess in the preferred direction, and that excess is at least :data:`MIN_OPPOSITE_Z` Poisson
   standard deviations.
4. ``unclassified``, "no clear polarity", when the dominant lobe of the spike-triggered average
   (STA) is smaller than :data:`MIN_POLARITY_Z` times the STA's root mean square over acausal lags
   (stimulus frames after the spike, which carry no signal for a white stimulus).
5. Polarity from the sign of the dominant lobe (ON positive, OFF negative); ``_transient`` added
   when the biphasic index (second lobe / first lobe) is at least :data:`MIN_BIPHASIC_INDEX`:
   ``on``, ``off``, ``on_transient``, ``off_transient``.

On a flash protocol (:func:`~retinacodec.models.cell_types.flash.is_flash_protocol`) rules 3-5 read
the step responses instead (:func:`~retinacodec.models.cell_types.flash.flash_evidence`): ON-OFF when
the weaker of the light and dark responses is at least :data:`MIN_ON_OFF_INDEX` of the larger and
:data:`MIN_OPPOSITE_Z` Poisson SDs; no clear polarity when the larger is below :data:`MIN_POLARITY_Z`
SDs; transient when its transience index (1 - late / early excess) is at least
:data:`MIN_TRANSIENCE_INDEX`.

Each label carries its evidence (the index values) in the Dataset :func:`functional_types`
returns. The rules expect a white-noise-like stimulus (binary or Gaussian checks or full-field
flicker), as a typing protocol is; a correlated stimulus (natural movies) inflates the acausal
null and leaves more units unclassified.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from numpy.lib.stride_tricks import sliding_window_view

from ...errors import RetinaCodecError
from ..ln import receptive_field_centres
from .flash import flash_evidence, is_flash_protocol
from .indices import biphasic_index, dominant_lobe, polarity_z, tail_responses

MIN_SPIKES = 300
"""Fewest spikes a unit needs to be typed (an STA of fewer is mostly noise)."""
MIN_POLARITY_Z = 5.0
"""Smallest dominant STA lobe, in units of the STA's RMS at acausal lags, that gives a polarity."""
MIN_BIPHASIC_INDEX = 0.5
"""Biphasic index (second lobe / first) from which a unit is called transient."""
MIN_TRANSIENCE_INDEX = 0.5
"""Share of a flash response gone in the window after the first (:mod:`.flash`) from which a unit
is called transient."""
MIN_ON_OFF_INDEX = 0.3
"""Smallest response to the non-preferred polarity, as a share of that to the preferred one
(both as the rate's excess over the mean), that makes a unit ON-OFF."""
MIN_OPPOSITE_Z = 4.0
"""Smallest excess of spikes (Poisson SDs) in the non-preferred tail that makes a unit ON-OFF."""
FILTER_S = 0.5
"""Length of the filters (s) estimated per unit."""
RULES = {
    "min_spikes": MIN_SPIKES,
    "min_polarity_z": MIN_POLARITY_Z,
    "min_biphasic_index": MIN_BIPHASIC_INDEX,
    "min_transience_index": MIN_TRANSIENCE_INDEX,
    "min_on_off_index": MIN_ON_OFF_INDEX,
    "min_opposite_z": MIN_OPPOSITE_Z,
    "filter_s": FILTER_S,
}
"""The thresholds, as recorded in the result's attrs."""
EVIDENCE = (
    "n_spikes",
    "peak_z",
    "polarity",
    "peak_lag_s",
    "biphasic_index",
    "transience_index",
    "on_off_index",
    "opposite_z",
)
"""Per-unit index values kept beside each label."""


def filter_frames(frame_rate_hz: float) -> int:
    """Lags (frames) of the filters estimated per unit: :data:`FILTER_S` at the frame rate, at least 2."""
    return max(2, int(round(FILTER_S * frame_rate_hz)))


def is_full_field(stimulus: xr.DataArray) -> bool:
    """Whether every frame of a (time, y, x) stimulus is uniform (1 x 1 frames, or all pixels equal)."""
    values = stimulus.transpose("time", "y", "x").values
    if values.shape[1] * values.shape[2] == 1:
        return True
    flat = values.reshape(values.shape[0], -1)
    return bool(np.all(flat == flat[:, :1]))


def _check(stimulus: xr.DataArray, spikes: xr.DataArray) -> None:
    if not isinstance(stimulus, xr.DataArray) or set(stimulus.dims) != {"time", "y", "x"}:
        raise RetinaCodecError(
            f"stimulus has dims {getattr(stimulus, 'dims', type(stimulus).__name__)}; expected a DataArray (time, y, x)"
        )
    if not isinstance(spikes, xr.DataArray) or set(spikes.dims) != {"time", "cell"}:
        raise RetinaCodecError(
            f"spikes have dims {getattr(spikes, 'dims', type(spikes).__name__)}; expected a DataArray (time, cell)"
        )
    if spikes.sizes["time"] != stimulus.sizes["time"]:
        raise RetinaCodecError(
            f"spikes have {spikes.sizes['time']} frames and the stimulus {stimulus.sizes['time']}; "
            "expected spike counts in the stimulus's frame bins"
        )
    rate = stimulus.attrs.get("frame_rate_hz")
    if not isinstance(rate, (int, float, np.number)) or not rate > 0:
        raise RetinaCodecError(f"stimulus attr frame_rate_hz is {rate!r}; expected a positive number")


def _unit_signals(movie: np.ndarray, counts: np.ndarray, lags: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time, cell) stimulus at each unit's receptive field, (cell, 2) its centre [y, x] (NaN on a
    full-field stimulus) and (cell,) whether it was found."""
    n_cells = counts.shape[1]
    if movie.shape[1] * movie.shape[2] == 1:
        signal = np.repeat(movie.reshape(-1, 1), n_cells, axis=1)
        return signal, np.full((n_cells, 2), np.nan), np.ones(n_cells, bool)
    centres, found = receptive_field_centres([movie], [counts[lags - 1 :].astype(np.float32)], lags)
    yy, xx = np.mgrid[: movie.shape[1], : movie.shape[2]]
    kernels = []  # Gaussian weights (1 px) around each centre, unit norm: white noise keeps its variance
    for y, x in centres:
        weights = np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 2.0)
        kernels.append((weights / np.sqrt((weights**2).sum())).reshape(-1).astype(np.float32))
    pixels = torch.as_tensor(movie.reshape(movie.shape[0], -1))
    return (pixels @ torch.as_tensor(np.stack(kernels, 1))).numpy(), centres, found


def _sta(signal: np.ndarray, counts: np.ndarray, lags: int) -> np.ndarray:
    """(2 lags,) spike-triggered average at lags -lags..lags-1 frames (negative: frames after the spike)."""
    total = counts.sum()
    values = []
    for lag in range(-lags, lags):
        if lag >= 0:
            values.append(counts[lag:] @ signal[: signal.size - lag])
        else:
            values.append(counts[: lag or None] @ signal[-lag:])
    return np.asarray(values) / total


def _evidence(signal: np.ndarray, counts: np.ndarray, lags: int, rate_hz: float) -> dict:
    """Index values of one unit from its signal (time,) and counts (time,)."""
    sta = _sta(signal, counts, lags)
    causal, null = sta[lags:], sta[:lags]
    polarity, peak_z = polarity_z(causal, null)
    history = np.ascontiguousarray(sliding_window_view(signal, lags)[:, ::-1])  # column j: j frames back
    aligned = counts[lags - 1 :].astype(np.float64)
    windows, weights = torch.as_tensor(history), torch.as_tensor(aligned)  # torch: the caller's thread count
    moment = ((windows.T * weights) @ windows / weights.sum() - windows.T @ windows / windows.shape[0]).numpy()
    direction = np.linalg.eigh(moment)[1][:, -1]
    tails = tail_responses(history @ direction, aligned)
    return {
        "sta": causal,
        "n_spikes": int(counts.sum()),
        "peak_z": peak_z,
        "polarity": polarity,
        "peak_lag_s": dominant_lobe(causal)[0] / rate_hz,
        "biphasic_index": biphasic_index(causal),
        "transience_index": float("nan"),
        "on_off_index": tails.on_off_index,
        "opposite_z": tails.opposite_z,
    }


def decide(evidence: dict, found: bool = True) -> tuple[str, str]:
    """(label, reason) of one unit from its index values, by the rules of the module docstring."""
    if evidence["n_spikes"] < MIN_SPIKES:
        return "unclassified", f"too few spikes ({evidence['n_spikes']} < {MIN_SPIKES})"
    if not found:
        return "unclassified", "no receptive field found (STA and rectified-energy maps below threshold)"
    if evidence["on_off_index"] >= MIN_ON_OFF_INDEX and evidence["opposite_z"] >= MIN_OPPOSITE_Z:
        return "on_off", (
            f"responds to both polarities (on-off index {evidence['on_off_index']:.2f} >= {MIN_ON_OFF_INDEX}, "
            f"z {evidence['opposite_z']:.1f} >= {MIN_OPPOSITE_Z:g})"
        )
    if not evidence["peak_z"] >= MIN_POLARITY_Z:
        return "unclassified", f"no clear polarity (STA peak z {evidence['peak_z']:.1f} < {MIN_POLARITY_Z:g})"
    label = "on" if evidence["polarity"] > 0 else "off"
    flash = bool(np.isfinite(evidence.get("transience_index", np.nan)))
    index, threshold = ("transience index", MIN_TRANSIENCE_INDEX) if flash else ("biphasic index", MIN_BIPHASIC_INDEX)
    value = evidence["transience_index" if flash else "biphasic_index"]
    transient = value >= threshold
    reason = (
        f"{label.upper()} {'step response' if flash else 'STA lobe'} (z {evidence['peak_z']:.1f}), "
        f"{'transient' if transient else 'sustained'} ({index} {value:.2f} {'>=' if transient else '<'} {threshold})"
    )
    return f"{label}_transient" if transient else label, reason


def functional_types(stimulus: xr.DataArray, spikes: xr.DataArray) -> xr.Dataset:
    """Type each unit of a recording from its spike-triggered average and its responses to both
    stimulus polarities, by the fixed rules of this module's docstring.

    Parameters
    ----------
    stimulus : xarray.DataArray
        (time, y, x) contrast, attr ``frame_rate_hz``; white-noise-like (checks or full-field flicker).
    spikes : xarray.DataArray
        (time, cell) spike counts in the stimulus's frame bins.

    Returns
    -------
    xarray.Dataset
        Along ``cell``: ``cell_type`` (on, off, on_transient, off_transient, on_off or
        unclassified), ``reason`` (the rule that decided, with its numbers), the evidence
        ``n_spikes``, ``peak_z`` (dominant STA lobe / acausal RMS), ``polarity`` (+1, -1),
        ``peak_lag_s`` (s), ``biphasic_index``, ``transience_index`` (flashes only, else NaN),
        ``on_off_index``, ``opposite_z``, ``rf_found``, ``rf_y`` and ``rf_x`` (px, NaN on a
        full-field stimulus); ``sta`` (cell, lag), lag in s, in stimulus SDs (NaN for flashes).
        Attrs: ``stimulus`` ("flash", "full-field" or "spatial"), ``method`` and the thresholds.

    Raises
    ------
    RetinaCodecError
        If the stimulus is not (time, y, x) with a frame rate, or the spikes are not (time, cell)
        counts over the same frames, or the recording is shorter than two filter lengths.
    """
    _check(stimulus, spikes)
    rate = float(stimulus.attrs["frame_rate_hz"])
    lags = filter_frames(rate)
    if stimulus.sizes["time"] < 2 * lags:
        raise RetinaCodecError(
            f"the recording has {stimulus.sizes['time']} frames; expected at least {2 * lags} (two filter lengths)"
        )
    full = is_full_field(stimulus)
    movie = stimulus.transpose("time", "y", "x").values.astype(np.float32)
    movie = movie[:, :1, :1] if full else movie
    movie = (movie - movie.mean()) / max(float(movie.std()), 1e-12)
    counts = np.asarray(spikes.transpose("time", "cell").values, dtype=np.float64)
    flash = full and is_flash_protocol(movie[:, 0, 0])
    signals, centres, found = _unit_signals(movie, counts, lags)
    rows = [
        {**flash_evidence(movie[:, 0, 0], counts[:, c], rate), "sta": np.full(lags, np.nan)}
        if flash
        else _evidence(signals[:, c].astype(np.float64), counts[:, c], lags, rate)
        for c in range(counts.shape[1])
    ]
    decided = [decide(row, bool(ok)) for row, ok in zip(rows, found)]
    data = {name: ("cell", np.asarray([row[name] for row in rows])) for name in EVIDENCE}
    return xr.Dataset(
        {
            "cell_type": ("cell", np.asarray([label for label, _ in decided], dtype=str)),
            "reason": ("cell", np.asarray([reason for _, reason in decided], dtype=str)),
            **data,
            "rf_found": ("cell", found),
            "rf_y": ("cell", centres[:, 0]),
            "rf_x": ("cell", centres[:, 1]),
            "sta": (("cell", "lag"), np.stack([row["sta"] for row in rows]), {"units": "stimulus SD"}),
        },
        coords={"cell": spikes["cell"].values, "lag": ("lag", np.arange(lags) / rate, {"units": "s"})},
        attrs={
            "stimulus": "flash" if flash else "full-field" if full else "spatial",
            "method": "flash step responses" if flash else "STA + spike-triggered second moment",
            **RULES,
        },
    )

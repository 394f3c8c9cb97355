"""Phenomena by mode checked on the virtual retina: block the pathway the leading mode is matched to
and measure the phenomenon, against blocking pathways no mode names.

The rules (:class:`PhenomenonRules`) are fixed before any block's outcome is seen; the claim comes
from the CNN (:func:`~retinacodec.hypotheses.phenomena.phenomena_by_mode`) and the match of modes to
pathways from activity (:func:`mode_pathways`), never from a block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import stats
from torch import nn

from .._validation import check_number
from ..control.recorded import PassCache, record_layer
from ..errors import RetinaCodecError
from ..models.virtual_retina.phenomena import FLASH_EPOCHS, flash_stimulus, oms_index, onset_frames
from ..models.virtual_retina.retina import FRAME_RATE_HZ
from ..modes.result import Modes
from ..modes.sae import SAE
from .candidates import mode_channel_sets, mode_table
from .match import PathwayMatch
from .phenomena import KIND
from .settings import HypothesisSettings

CHECK_KIND = "phenomena_checked"
"""Value of the ``kind`` attr of a checked phenomena Dataset."""
MEASURES = {"light_onset": "onset response (Hz)", "dark_onset": "onset response (Hz)", "object_motion": "OMS index"}
"""What is measured of each phenomenon in the virtual retina."""


@dataclass(frozen=True)
class PhenomenonRules:
    """The rules of the block test, fixed before any outcome is seen.

    Raises
    ------
    RetinaCodecError
        For no seeds, or a threshold, level or count out of range.
    """

    seeds: tuple[int, ...] = (39390, 39391, 39392, 39393, 39394)
    """Seeds of the measurements (the object-motion jitter; the Poisson spikes of the flash
    responses), fresh: never used to train, evaluate or analyse the model."""
    min_onset_hz: float = 5.0
    """The retina shows a flash phenomenon in a type when its mean onset response (rate, no
    spikes) is at least this large in size (Hz)."""
    min_oms_index: float = 0.1
    """The retina shows object-motion sensitivity in a type when its mean OMS index is at least this."""
    min_reduction: float = 0.25
    """A claim is confirmed only if the block removes at least this fraction of the phenomenon (mean
    over seeds) ..."""
    level: float = 0.95
    """... and the difference between the block's reduction and each control block's has a
    Student-t interval over seeds at this level that lies above 0."""
    trials: int = 10
    """Flash repeats whose Poisson spike counts make one measurement of the onset responses."""
    oms_frames: int = 400
    """Frames of each object-motion stimulus (the first 50 are discarded, as in ``oms_index``)."""

    def __post_init__(self) -> None:
        if not self.seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds):
            raise RetinaCodecError(f"seeds are {self.seeds!r}; expected one or more non-negative integers")
        check_number("min_onset_hz", self.min_onset_hz, minimum=0.0)
        check_number("min_oms_index", self.min_oms_index, minimum=0.0)
        check_number("min_reduction", self.min_reduction, minimum=0.0)
        check_number("level", self.level, strictly_above=0.0, strictly_below=1.0)
        for name in ("trials", "oms_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RetinaCodecError(f"{name} is {value!r}; expected a positive integer")
        if self.oms_frames <= 50:
            raise RetinaCodecError(f"oms_frames is {self.oms_frames}; expected more than the 50 discarded")


def mode_pathways(
    model: nn.Module,
    modes: Modes | SAE | xr.Dataset,
    layer: str,
    retina,
    match_stimulus: xr.DataArray,
    settings: HypothesisSettings | None = None,
    cache: PassCache | None = None,
) -> xr.DataArray:
    """The pathway each live mode's channel set is matched to, by the hypotheses' matching.

    Parameters
    ----------
    model : RetinaCNN
        The model.
    modes : Modes, SAE or xarray.Dataset
        Modes of ``layer``.
    layer : str
        Their layer.
    retina : VirtualRetina
        The ground truth whose pathways the sets are matched to.
    match_stimulus : xarray.DataArray
        Held-out stimulus on which activities are compared.
    settings : HypothesisSettings, optional
        ``channel_fraction`` (a mode's channels) and ``match`` (the rule), ``batch_size``.
    cache : PassCache, optional
        Passes shared with other calls.

    Returns
    -------
    xarray.DataArray
        str (mode): the matched pathway, "" for a dead or empty mode.
    """
    settings = HypothesisSettings() if settings is None else settings
    table = mode_table(modes)
    sets = mode_channel_sets(table, settings.channel_fraction)
    recording = record_layer(model, match_stimulus, layer, settings.batch_size, cache=cache)
    best = PathwayMatch.of(recording, retina, cache=cache).best(list(sets.values()), settings.match)
    names = [""] * table.weights.sizes["mode"]
    for position, pathway in zip(sets, best):
        names[position] = pathway
    return xr.DataArray(
        np.asarray(names, dtype=str),
        dims="mode",
        coords={"mode": table.weights["mode"].values},
        name="pathway",
        attrs={"match": settings.match, "channel_fraction": settings.channel_fraction},
    )


def control_pathways(pathways: xr.DataArray, all_pathways: Sequence[str]) -> list[str]:
    """The control blocks: every pathway no live mode is matched to; when each is named, the one
    named by the fewest modes (first in circuit order among those tied).

    Parameters
    ----------
    pathways : xarray.DataArray
        str (mode) matched pathways (:func:`mode_pathways`; "" for dead modes).
    all_pathways : sequence of str
        The circuit's pathways, in order.
    """
    named = [str(p) for p in pathways.values if str(p)]
    unnamed = [p for p in all_pathways if p not in named]
    if unnamed:
        return unnamed
    counts = [named.count(p) for p in all_pathways]
    return [list(all_pathways)[int(np.argmin(counts))]]


def retina_phenomena(
    retina, rules: PhenomenonRules, block: str | None = None, seeds: Sequence[int] | None = None, oms: bool = True
) -> xr.DataArray:
    """Each phenomenon's type-mean value in the virtual retina, under a block, per seed.

    Parameters
    ----------
    retina : VirtualRetina
        The retina.
    rules : PhenomenonRules
        Trials and object-motion frames.
    block : str, optional
        A pathway (or anything ``VirtualRetina.respond`` blocks).
    seeds : sequence of int, optional
        Seeds of the measurements: the onset responses are read from Poisson spike counts of
        ``rules.trials`` flash repeats (the retina's spike model) drawn with the seed, the OMS
        index from rates under the jitter of the seed. None: one noise-free measurement, onset
        responses from the rates and the OMS index at the first of ``rules.seeds`` (seed -1).
    oms : bool
        Measure object-motion sensitivity too (NaN when not).

    Returns
    -------
    xarray.DataArray
        (phenomenon, cell_type, seed): onset responses in Hz, the OMS index (dimensionless).
    """
    rate = retina.respond(flash_stimulus(), block=block)["rate"]
    epochs = np.concatenate([[name] * n for name, n in FLASH_EPOCHS])
    per_seed = []
    for seed in [None] if seeds is None else list(seeds):
        measured = rate
        if seed is not None:
            counts = np.random.default_rng(seed).poisson(rate.values / FRAME_RATE_HZ, size=(rules.trials, *rate.shape))
            measured = rate.copy(data=counts.mean(axis=0) * FRAME_RATE_HZ)
        values = {}
        for name in ("light", "dark"):
            response, baseline = onset_frames(epochs, name)
            values[f"{name}_onset"] = (
                measured.isel(time=response).mean("time") - measured.isel(time=baseline).mean("time")
            ).reset_coords(drop=True)
        values["object_motion"] = (
            oms_index(retina, block=block, n_frames=rules.oms_frames, seed=rules.seeds[0] if seed is None else seed)
            .reset_coords(drop=True)
            .astype(float)
            if oms
            else xr.full_like(values["dark_onset"], np.nan)
        )
        per_seed.append(xr.concat(list(values.values()), dim=xr.Variable("phenomenon", list(values))))
    table = xr.concat(per_seed, dim=xr.Variable("seed", [-1] if seeds is None else list(seeds)))
    order = list(dict.fromkeys(str(t) for t in retina.cells["cell_type"].values))
    typed = table.assign_coords(cell_type=("cell", retina.cells["cell_type"].values.astype(str)))
    return typed.groupby("cell_type").mean("cell").sel(cell_type=order).transpose("phenomenon", "cell_type", "seed")


def _interval(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over the last axis and its Student-t interval at ``level`` (NaN for one value)."""
    n = values.shape[-1]
    mean = values.mean(axis=-1)
    if n < 2:
        return mean, np.full_like(mean, np.nan), np.full_like(mean, np.nan)
    half = stats.t.ppf((1 + level) / 2, n - 1) * values.std(axis=-1, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def _claims(by_mode: xr.Dataset, pathways: xr.DataArray, shown: xr.DataArray, rules: PhenomenonRules) -> list:
    """(phenomenon, cell type, leading mode, its pathway) of every phenomenon the retina shows in a type."""
    found = []
    for phenomenon in by_mode["phenomenon"].values:
        for cell_type in by_mode["cell_type"].values:
            if cell_type not in shown["cell_type"].values:
                continue
            value = float(shown.sel(phenomenon=phenomenon, cell_type=cell_type))
            threshold = rules.min_oms_index if phenomenon == "object_motion" else rules.min_onset_hz
            if (value if phenomenon == "object_motion" else abs(value)) < threshold:
                continue
            mode = int(by_mode["leading_mode"].sel(phenomenon=phenomenon, cell_type=cell_type))
            block = str(pathways.sel(mode=mode).values) if mode >= 0 else ""
            found.append((str(phenomenon), str(cell_type), mode, block))
    return found


def _measured(retina, rules: PhenomenonRules, claims: list, controls: list[str]) -> dict[str, xr.DataArray]:
    """Phenomena over the seeds unblocked ("") and under every block a claim or control needs;
    object motion only unblocked and under the blocks of its claims and the controls."""
    blocks = list(dict.fromkeys(["", *(c[3] for c in claims if c[3]), *controls]))
    moving = [c[3] for c in claims if c[0] == "object_motion" and c[3]]
    oms = set(["", *moving, *controls] if moving else [])
    return {block: retina_phenomena(retina, rules, block or None, rules.seeds, oms=block in oms) for block in blocks}


def check_phenomena(
    by_mode: xr.Dataset, pathways: xr.DataArray, retina, rules: PhenomenonRules | None = None
) -> xr.Dataset:
    """Test each phenomenon-by-mode claim on the virtual retina by blocking the leading mode's pathway.

    Parameters
    ----------
    by_mode : xarray.Dataset
        The CNN's phenomena by mode (:func:`~retinacodec.hypotheses.phenomena.phenomena_by_mode`).
    pathways : xarray.DataArray
        str (mode) the pathway each mode is matched to (:func:`mode_pathways`).
    retina : VirtualRetina
        The ground truth.
    rules : PhenomenonRules, optional
        The fixed rules; the defaults when omitted.

    Returns
    -------
    xarray.Dataset
        Over ``claim`` (coords ``phenomenon``, ``cell_type``, ``measure``), one per phenomenon the
        retina shows in a type: ``leading_mode``, ``leading_share``, ``block`` (its pathway),
        ``pathway_share`` (the summed share of every mode matched to that pathway), ``shown`` (the
        noise-free phenomenon); over ``seed``: ``unblocked``, ``blocked`` and ``reduction`` (the
        fraction of the phenomenon the block removes, :math:`(P_0 - P_b) / P_0`); over ``control``
        (the control pathways) too: ``control_value``, ``control_reduction``; ``reduction_mean``,
        ``reduction_low``, ``reduction_high`` and ``difference_mean``, ``difference_low``,
        ``difference_high`` (claim, control; the block's reduction minus the control's), with
        Student-t intervals over seeds; ``verdict`` ("confirmed", "refuted", or "no mode carries
        it"). Attrs: kind and the rules.

    Raises
    ------
    RetinaCodecError
        For a Dataset that is not a phenomena-by-mode result, or when the retina shows none of them.

    Notes
    -----
    A claim is confirmed when the mean reduction is at least ``rules.min_reduction`` and, for every
    control pathway, the interval of the difference of reductions lies above 0.
    """
    rules = PhenomenonRules() if rules is None else rules
    if not isinstance(by_mode, xr.Dataset) or by_mode.attrs.get("kind") != KIND:
        raise RetinaCodecError("expected the Dataset of phenomena_by_mode() (attr kind = 'phenomena_by_mode')")
    controls = control_pathways(pathways, retina.pathways)
    shown = retina_phenomena(retina, rules, oms="object_motion" in by_mode["phenomenon"].values).isel(seed=0)
    claims = _claims(by_mode, pathways, shown, rules)
    if not claims:
        raise RetinaCodecError("the virtual retina shows none of the phenomena; expected at least one to test")
    measured = _measured(retina, rules, claims, controls)
    nan = np.full(len(rules.seeds), np.nan)

    def value(block: str, phenomenon: str, cell_type: str) -> np.ndarray:
        return measured[block].sel(phenomenon=phenomenon, cell_type=cell_type).values if block in measured else nan

    unblocked = np.stack([value("", p, t) for p, t, _, _ in claims])
    blocked = np.stack([value(b, p, t) if b else nan for p, t, _, b in claims])
    controlled = np.stack([[value(c, p, t) for c in controls] for p, t, _, _ in claims])  # (claim, control, seed)
    ds = _claims_dataset(by_mode, pathways, claims, shown, controls, rules)
    ds = ds.assign(
        unblocked=(("claim", "seed"), unblocked),
        blocked=(("claim", "seed"), blocked),
        reduction=(("claim", "seed"), (unblocked - blocked) / unblocked),
        control_value=(("claim", "control", "seed"), controlled),
        control_reduction=(("claim", "control", "seed"), (unblocked[:, None] - controlled) / unblocked[:, None]),
    )
    return _verdicts(ds, rules)


def _claims_dataset(
    by_mode: xr.Dataset, pathways: xr.DataArray, claims: list, shown: xr.DataArray, controls: list[str], rules
) -> xr.Dataset:
    """The claims' labels: leading mode, its share and pathway, the pathway's share, the noise-free value."""
    leading, pathway = [], []
    for p, t, m, b in claims:
        share = by_mode["share"].sel(phenomenon=p, cell_type=t)
        leading.append(float(share.sel(mode=m)) if m >= 0 else np.nan)
        pathway.append(float(share.where(pathways.values == b).sum()) if b else np.nan)
    settings = {f"rule_{k}": str(list(v)) if isinstance(v, tuple) else v for k, v in vars(rules).items()}
    return xr.Dataset(
        {
            "leading_mode": ("claim", np.array([m for _, _, m, _ in claims], dtype=int)),
            "leading_share": ("claim", leading),
            "block": ("claim", np.array([b for *_, b in claims], dtype=str)),
            "pathway_share": ("claim", pathway),
            "shown": ("claim", [float(shown.sel(phenomenon=p, cell_type=t)) for p, t, _, _ in claims]),
        },
        coords={
            "claim": np.arange(len(claims)),
            "phenomenon": ("claim", [p for p, *_ in claims]),
            "cell_type": ("claim", [t for _, t, *_ in claims]),
            "measure": ("claim", [MEASURES[p] for p, *_ in claims]),
            "control": controls,
            "seed": list(rules.seeds),
        },
        attrs={"kind": CHECK_KIND, **settings},
    )


def _verdicts(ds: xr.Dataset, rules: PhenomenonRules) -> xr.Dataset:
    """Means and intervals over seeds, and each claim's verdict by the rules."""
    mean, low, high = _interval(ds["reduction"].values, rules.level)
    difference = ds["reduction"].values[:, None] - ds["control_reduction"].values
    d_mean, d_low, d_high = _interval(difference, rules.level)
    confirmed = (mean >= rules.min_reduction) & (d_low > 0).all(axis=1)
    verdict = np.where(ds["block"].values == "", "no mode carries it", np.where(confirmed, "confirmed", "refuted"))
    return ds.assign(
        reduction_mean=("claim", mean),
        reduction_low=("claim", low),
        reduction_high=("claim", high),
        control_reduction_mean=(("claim", "control"), ds["control_reduction"].values.mean(axis=-1)),
        difference_mean=(("claim", "control"), d_mean),
        difference_low=(("claim", "control"), d_low),
        difference_high=(("claim", "control"), d_high),
        verdict=("claim", verdict.astype(str)),
    )

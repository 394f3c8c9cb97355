"""Testing hypotheses on the virtual retina: do each experiment in silico and score the agreement."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from .._progress import progress_bar
from ..control.recorded import PassCache, remembered, stimulus_key
from ..errors import RetinaCodecError
from ..stimuli.base import validate_stimulus
from .effects import by_type, categories, changed
from .generate import KIND


def _check_hypotheses(hypotheses: xr.Dataset, needs: tuple[str, ...]) -> None:
    if not isinstance(hypotheses, xr.Dataset) or hypotheses.attrs.get("kind") != KIND:
        raise RetinaCodecError("expected the Dataset of retinacodec.hypotheses.generate() (attr kind = 'hypotheses')")
    missing = [name for name in needs if name not in hypotheses]
    if missing:
        raise RetinaCodecError(f"the hypotheses lack {', '.join(missing)}; expected them (run test() first)")


def retina_mean_rate(
    virtual_retina,
    stimulus: xr.DataArray,
    pathway: str | None,
    gain: float = 0.0,
    first: int = 0,
    cache: PassCache | None = None,
) -> np.ndarray:
    """Mean true rate of every cell from frame ``first`` on, with ``pathway`` blocked (``gain`` 0)
    or scaled by ``gain``; unperturbed for ``pathway=None``. Computed once per ``cache``
    (:class:`~retinacodec.control.recorded.PassCache`)."""

    def compute() -> np.ndarray:
        intervention = {} if pathway is None else {"block": pathway} if gain == 0 else {"scale": {pathway: gain}}
        return virtual_retina.respond(stimulus, **intervention)["rate"].values[first:].mean(axis=0)

    def key() -> tuple:
        return "retina", id(virtual_retina), stimulus_key(stimulus), pathway, float(gain), int(first)

    return remembered(cache, key, compute, virtual_retina)


def test(
    hypotheses: xr.Dataset,
    virtual_retina,
    stimulus: xr.DataArray,
    *,
    progress: bool = True,
    cache: PassCache | None = None,
) -> xr.Dataset:
    """Block each hypothesis's pathway in the virtual retina and score the predictions.

    Parameters
    ----------
    hypotheses : xarray.Dataset
        From :func:`~retinacodec.hypotheses.generate.generate` with a virtual retina (every
        hypothesis names a pathway).
    virtual_retina : VirtualRetina
        The ground truth; its cells must be the model's, in order.
    stimulus : xarray.DataArray
        The stimulus the predictions were made for (the experiment is run under it).
    progress : bool
        Show a progress bar over the blocks.
    cache : PassCache, optional
        Where blocks already run in the virtual retina are taken from, or kept.

    Returns
    -------
    xarray.Dataset
        The hypotheses with ``observed_baseline_rate`` (cell) and ``observed_change`` (hypothesis,
        cell) in Hz: mean true rate with the pathway blocked (all its outputs set to zero, see
        :meth:`VirtualRetina.respond`), or scaled by the hypotheses' ``gain``, minus the
        unperturbed rate, over the frames the model predicts (from frame ``model_history - 1``
        on); and the scores of :func:`score`.

    Raises
    ------
    RetinaCodecError
        If a hypothesis names no pathway or the retina's cells are not the hypotheses' cells.
    """
    _check_hypotheses(hypotheses, ("block", "predicted_change"))
    pathways = [str(p) for p in hypotheses["block"].values]
    if not all(pathways):
        raise RetinaCodecError(
            "some hypotheses name no pathway (generated without a virtual retina); "
            "expected hypotheses matched to the retina's pathways"
        )
    types = [str(t) for t in virtual_retina.cells["cell_type"].values]
    if types != [str(t) for t in hypotheses["cell_type"].values]:
        raise RetinaCodecError(
            f"the virtual retina's cells ({types}) are not the hypotheses' cells; expected the "
            "retina the model was trained on"
        )
    stimulus = validate_stimulus(stimulus)
    first = int(hypotheses.attrs.get("model_history", 1)) - 1

    gain = float(hypotheses.attrs.get("gain", 0.0))
    blocks = list(dict.fromkeys(pathways))
    means = {
        block: retina_mean_rate(virtual_retina, stimulus, block, gain, first, cache)
        for block in progress_bar(blocks, desc="virtual retina experiments", unit="pathway", progress=progress)
    }
    baseline = retina_mean_rate(virtual_retina, stimulus, None, first=first, cache=cache)
    tested = hypotheses.copy()
    tested["observed_baseline_rate"] = (("cell",), baseline, {"units": "Hz", "long_name": "mean true rate, unblocked"})
    tested["observed_change"] = (
        ("hypothesis", "cell"),
        np.stack([means[p] - baseline for p in pathways]),
        {"units": "Hz", "long_name": "mean true rate with the pathway blocked (or scaled) minus unperturbed"},
    )
    tested.attrs["test_stimulus"] = str(stimulus.attrs.get("kind", "unknown"))
    tested.attrs["test_stimulus_seed"] = int(stimulus.attrs.get("seed", -1))
    tested.attrs["test"] = (
        "virtual retina, matched pathway blocked (every output connection set to zero)"
        if gain == 0
        else f"virtual retina, every output connection of the matched pathway scaled by {gain:g}"
    )
    return score(tested)


test.__dict__["__test__"] = False  # not a pytest test function (an attribute functions do not declare)


TYPE_ERRORS = ("right", "side effect", "missed", "wrong sign")
"""How a hypothesis's call for one cell type compares with the observation (see :func:`type_calls`)."""


def type_calls(predicted: xr.DataArray, observed: xr.DataArray) -> xr.DataArray:
    """Sort each cell type's call by how prediction and observation compare.

    Parameters
    ----------
    predicted, observed : xarray.DataArray
        Categories (..., type) in {-1, 0, +1} from :func:`~retinacodec.hypotheses.effects.categories`.

    Returns
    -------
    xarray.DataArray
        bool (..., error, type) over :data:`TYPE_ERRORS`: the type is predicted and seen to change
        the same way (*right*), predicted to change but not seen to (*side effect*: the CNN's
        intervention reaches a type the block leaves alone), seen but not predicted (*missed*), or
        seen to change the other way (*wrong sign*); a type neither predicted nor seen to change is
        none of them.
    """
    calls = [
        ((predicted == observed) & (predicted != 0)),
        ((predicted != 0) & (observed == 0)),
        ((predicted == 0) & (observed != 0)),
        ((predicted != 0) & (observed != 0) & (predicted != observed)),
    ]
    stacked = xr.concat(calls, dim="error").assign_coords(error=list(TYPE_ERRORS))
    return stacked.transpose(..., "error", "type")


def type_errors(predicted: xr.DataArray, observed: xr.DataArray) -> xr.DataArray:
    """Count each hypothesis's cell types by how prediction and observation compare.

    Parameters
    ----------
    predicted, observed : xarray.DataArray
        As for :func:`type_calls`.

    Returns
    -------
    xarray.DataArray
        int (..., error) over :data:`TYPE_ERRORS`: :func:`type_calls` summed over cell types.
    """
    return type_calls(predicted, observed).sum("type")


def type_agreement(predicted: xr.DataArray, observed: xr.DataArray) -> xr.DataArray:
    """Agreement of predicted and observed effects per cell type, in [0, 1].

    Parameters
    ----------
    predicted, observed : xarray.DataArray
        As for :func:`type_errors`.

    Returns
    -------
    xarray.DataArray
        (...) :math:`|\\{k: P_k = O_k \\ne 0\\}| / |\\{k: P_k \\ne 0 \\lor O_k \\ne 0\\}|`: the
        cell types affected with the right sign over the types predicted or seen to change
        (1 when neither predicts nor shows a change); the *right* share of :func:`type_errors`.
    """
    errors = type_errors(predicted, observed)
    total = errors.sum("error")
    return xr.where(total > 0, errors.sel(error="right", drop=True) / total.where(total > 0), 1.0)


CELL_MEASURES = ("sign_agreement", "spearman_rho", "auroc")
"""Per-cell comparisons of predicted and observed changes, per hypothesis (see :func:`score`)."""


def recovery_score(agreement: xr.DataArray, confidence: xr.DataArray) -> xr.DataArray:
    """Confidence-weighted mean agreement over hypotheses.

    Parameters
    ----------
    agreement : xarray.DataArray
        (..., hypothesis) per-hypothesis agreement (:func:`type_agreement`, or a per-cell measure
        of :data:`CELL_MEASURES`); NaN entries are left out.
    confidence : xarray.DataArray
        (hypothesis,) weights >= 0.

    Returns
    -------
    xarray.DataArray
        (...) :math:`R = \\sum_h c_h s_h / \\sum_h c_h` over the hypotheses with a value, NaN
        when their confidences sum to 0.
    """
    weights = confidence.where(agreement.notnull(), 0.0)
    total = weights.sum("hypothesis")
    return (agreement.fillna(0.0) * weights).sum("hypothesis") / total.where(total > 0)


def _per_cell(predicted: np.ndarray, observed: np.ndarray, observed_changed: np.ndarray) -> tuple[float, float, float]:
    """(sign agreement over changed cells, Spearman rho, AUROC of |predicted| for changed) of one hypothesis."""
    sign = (
        float(np.mean(np.sign(predicted[observed_changed]) == np.sign(observed[observed_changed])))
        if observed_changed.any()
        else np.nan
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: NaN, as documented
        rho = float(spearmanr(predicted, observed).statistic)
    auroc = (
        float(roc_auc_score(observed_changed, np.abs(predicted)))
        if 0 < observed_changed.sum() < observed_changed.size
        else np.nan
    )
    return sign, rho, auroc


def score(tested: xr.Dataset) -> xr.Dataset:
    """Score predicted against observed changes, for the hypotheses and their shuffled controls.

    Parameters
    ----------
    tested : xarray.Dataset
        Hypotheses with ``observed_change`` and ``observed_baseline_rate`` (see :func:`test`).

    Returns
    -------
    xarray.Dataset
        ``tested`` with ``observed_effect`` (hypothesis, type), the mean observed change over
        each type's cells in Hz, ``observed_category`` (hypothesis, type) in {-1, 0, +1},
        ``observed_changed`` (hypothesis, cell), ``type_errors`` (hypothesis, error; :func:`type_errors`);
        per hypothesis ``type_agreement`` (:func:`type_agreement`), ``outcome``
        (confirmed / confirmed (no change), when neither the prediction nor the retina shows a change
        / partly confirmed / refuted), ``sign_agreement`` (fraction of the cells that
        changed whose predicted change has the observed sign), ``spearman_rho`` (predicted vs
        observed change over all cells), ``auroc`` (|predicted change| as a score for "the cell
        changed"); the same for the shuffled controls, ``shuffled_agreement`` and
        ``shuffled_<measure>`` (shuffle, hypothesis); ``recovery_score``,
        ``recovery_score_shuffled`` (mean over shuffles, NaN without shuffles) and
        ``recovery_score_each_shuffle`` (shuffle); and ``weighted_score`` (measure, selection):
        every measure's confidence-weighted mean for the modes' channels and the shuffled ones.

    Notes
    -----
    A cell (or a cell type's mean) has changed when a recording of ``recording_s`` seconds would
    see the change at ``z_min`` Poisson standard errors (attrs; see
    :func:`~retinacodec.hypotheses.effects.effect_z`), from its unperturbed rate (the model's for
    predictions, the retina's for observations).
    The recovery score is :func:`recovery_score` of the type agreements weighted by the
    hypotheses' ``confidence``; the shuffled score uses the same weights with the predictions of
    the shuffled channel sets, so it measures what the mode-to-channel assignment is worth.
    """
    _check_hypotheses(
        tested,
        (
            "predicted_change",
            "observed_change",
            "observed_baseline_rate",
            "confidence",
            "baseline_rate",
            "shuffled_change",
        ),
    )
    thresholds = (float(tested.attrs["recording_s"]), float(tested.attrs["z_min"]))
    observed = categories(tested["observed_change"], tested["observed_baseline_rate"], *thresholds)
    predicted = categories(tested["predicted_change"], tested["baseline_rate"], *thresholds)
    shuffled = categories(tested["shuffled_change"], tested["baseline_rate"], *thresholds)
    agreement = type_agreement(predicted, observed)
    shuffled_agreement = type_agreement(shuffled, observed)
    observed_changed = changed(tested["observed_change"], tested["observed_baseline_rate"], *thresholds)
    rows = zip(tested["observed_change"].values, observed_changed.values)
    per_cell = np.array([_per_cell(p, o, c) for p, (o, c) in zip(tested["predicted_change"].values, rows)])
    per_cell_shuffled = np.array(
        [
            [
                _per_cell(p, o, c)
                for p, (o, c) in zip(row, zip(tested["observed_change"].values, observed_changed.values))
            ]
            for row in tested["shuffled_change"].values
        ]
    )
    result = tested.copy()
    result["observed_effect"] = by_type(tested["observed_change"]).assign_attrs(units="Hz")
    result["observed_category"] = observed
    result["observed_changed"] = observed_changed
    result["type_agreement"] = agreement.assign_attrs(
        long_name="cell types affected with the right sign / types predicted or seen to change"
    )
    result["type_errors"] = type_errors(predicted, observed).assign_attrs(
        long_name="cell types per comparison of predicted and observed change"
    )
    quiet = ((predicted == 0) & (observed == 0)).all("type").values
    result["outcome"] = (
        "hypothesis",
        np.select(
            [quiet, agreement.values >= 1, agreement.values > 0],
            ["confirmed (no change)", "confirmed", "partly confirmed"],
            "refuted",
        ),
    )
    result["shuffled_agreement"] = shuffled_agreement
    shape = (tested.sizes["shuffle"], tested.sizes["hypothesis"], len(CELL_MEASURES))
    for column, name in enumerate(CELL_MEASURES):
        result[name] = ("hypothesis", per_cell.reshape(-1, len(CELL_MEASURES))[:, column])
        result[f"shuffled_{name}"] = (("shuffle", "hypothesis"), per_cell_shuffled.reshape(shape)[..., column])
    confidence = tested["confidence"]
    result["recovery_score"] = recovery_score(agreement, confidence)
    each = recovery_score(shuffled_agreement, confidence)
    result["recovery_score_each_shuffle"] = each
    result["recovery_score_shuffled"] = each.mean("shuffle") if each.sizes.get("shuffle") else np.nan
    measures = ("type_agreement", *CELL_MEASURES)
    weighted = [
        [
            float(recovery_score(result[name], confidence)),
            float(
                recovery_score(
                    result[f"shuffled_{'agreement' if name == 'type_agreement' else name}"], confidence
                ).mean("shuffle", skipna=True)
            )
            if shape[0]
            else np.nan,
        ]
        for name in measures
    ]
    result["weighted_score"] = (
        ("measure", "selection"),
        np.array(weighted),
        {"long_name": "confidence-weighted mean over hypotheses (shuffled: mean over shuffles)"},
    )
    return result.assign_coords(measure=list(measures), selection=["modes", "shuffled"])

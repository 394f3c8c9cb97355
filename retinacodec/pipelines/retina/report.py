"""The demo's headline numbers (``summary.json``) and its report (``report.md``)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...attribution.completeness import completeness_summary
from ...control.curves.retina import curve_summary
from ...hypotheses import to_markdown
from ...hypotheses.ceiling import named_ceiling
from ...hypotheses.effects import by_type
from ...hypotheses.match import PATHWAY_NAMES, type_name
from ...hypotheses.score import recovery_score, type_calls
from ...models.training import fit_table
from ...receptive_fields.summaries import irf_variability

OUTCOMES = ("confirmed", "confirmed (no change)", "partly confirmed", "refuted")
"""Outcomes of a tested hypothesis (see :func:`retinacodec.hypotheses.score`)."""


def _plain(value):
    """NaN -> None (valid JSON), recursively through dicts; other values unchanged."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return None if isinstance(value, float) and not np.isfinite(value) else value


def machine_line(machine: dict) -> str:
    """One line naming a run's machine (:func:`retinacodec.device.machine`): CPU, vector unit, threads, torch."""
    return (
        f"{machine['cpu']} ({machine['cpu_capability']}), {machine['threads']} of {machine['cpus']} CPUs, "
        f"torch {machine['torch']}, numpy {machine['numpy']}, Python {machine['python']}"
    )


def summary(found: dict, layers: tuple[str, ...]) -> dict:
    """Headline numbers of a demo run as plain types.

    Returns
    -------
    dict
        ``model_r`` (mean Pearson r over cells) and ``model_r_by_type``; per layer
        ``completeness_error_max_hz``, ``completeness_error_median_relative``, ``sae_r2`` and
        ``sae_r2_activation``; ``irf_explained`` and ``irf_shown_share`` (cumulative share of the
        IRFs the shown modes carry); with a virtual retina ``recovery_score``,
        ``recovery_score_shuffled``, ``recovery_by_kind`` (:func:`recovery_by_kind`), ``outcomes``
        (count per outcome), ``agreement`` (every measure's confidence-weighted mean, modes against
        shuffled), ``pathways_covered`` and ``coverage`` (per pathway: hypotheses naming it,
        confirmed ones); ``n_hypotheses``;
        ``recovery_ceiling`` and ``ceiling`` (per pathway) of the best channel sets of up to
        ``ceiling_channels`` channels, and
        ``recovery_ceiling_named``, the score of the same hypotheses with the best set of their
        layer for their pathway (:func:`~retinacodec.hypotheses.ceiling.named_ceiling`);
        ``recovery_match_all_sets`` and ``match_all_sets`` (per pathway), the agreement of the set
        of either layer that follows each pathway most closely, chosen from every small set by
        activity alone; ``pathways_confirmable`` (pathways whose ceiling is 1),
        ``pathways_confirmable_assigned`` and ``assigned_ceiling`` (per pathway), the same over the
        sets the match assigns each pathway (:func:`~retinacodec.hypotheses.ceiling.pathway_ceiling`);
        ``hypotheses_shared_with_activation`` (:func:`shared_hypotheses`); the same with suffix
        ``_activation`` for the hypotheses from activation modes. NaN (e.g. a
        recovery score without any confidence) is given as None.
    """
    r = found["fit"]["pearson_r"]
    numbers = {
        "model_r": float(r.mean()),
        "model_r_by_type": {
            t: float(r.values[np.asarray(r["cell_type"].values) == t].mean())
            for t in dict.fromkeys(str(t) for t in r["cell_type"].values)
        },
    }
    for layer in layers:
        completeness = completeness_summary(found[f"contributions_{layer}"])
        largest, relative = completeness["max_error"], completeness["median_relative_error"]
        numbers[f"completeness_error_max_hz_{layer}"] = largest
        numbers[f"completeness_error_median_relative_{layer}"] = relative
        numbers[f"sae_r2_{layer}"] = float(found[f"modes_{layer}"]["r2"])
        numbers[f"sae_r2_activation_{layer}"] = float(found[f"modes_activation_{layer}"]["r2"])
    numbers["irf_explained"] = float(found["irf"].attrs["explained_overall"])
    numbers["irf_shown_share"] = float(found["irf"].attrs["shown_share_overall"])
    for layer in layers:
        summary_ = curve_summary(found[f"control_{layer}"])
        others = [str(s) for s in summary_["selection"].values if s != "contribution"]
        numbers[f"control_specificity_{layer}"] = {
            str(i): {
                str(s): float(summary_["mean_specificity"].sel(intervention=i, selection=s))
                for s in summary_["selection"].values
            }
            for i in summary_["intervention"].values
        }
        numbers[f"control_specificity_se_{layer}"] = {
            str(i): {
                str(s): float(summary_["mean_specificity_se"].sel(intervention=i, selection=s))
                for s in summary_["selection"].values
            }
            for i in summary_["intervention"].values
        }
        numbers[f"control_losses_{layer}"] = _losses(found[f"control_{layer}"])
        numbers[f"control_beats_{layer}"] = {
            str(i): {s: bool(summary_["beats"].sel(intervention=i, selection=s)) for s in others}
            for i in summary_["intervention"].values
        }
    numbers |= _hypothesis_numbers(found)
    return _plain(numbers)


def _hypothesis_numbers(found: dict) -> dict:
    """Counts, recovery scores, agreement and pathway coverage of the contribution-mode hypotheses
    and of the activation-mode control."""
    numbers = {}
    for suffix in ("", "_activation"):
        hypotheses = found.get(f"hypotheses{suffix}")
        if hypotheses is None:
            continue
        numbers[f"n_hypotheses{suffix}"] = int(hypotheses.sizes["hypothesis"])
        if "recovery_score" not in hypotheses:
            continue
        numbers[f"recovery_score{suffix}"] = float(hypotheses["recovery_score"])
        numbers[f"recovery_score_shuffled{suffix}"] = float(hypotheses["recovery_score_shuffled"])
        numbers[f"recovery_by_kind{suffix}"] = recovery_by_kind(hypotheses)
        outcomes = [str(o) for o in hypotheses["outcome"].values]
        numbers[f"outcomes{suffix}"] = {o: outcomes.count(o) for o in OUTCOMES}
        weighted = hypotheses["weighted_score"]
        numbers[f"agreement{suffix}"] = {
            str(m): {str(s): float(weighted.sel(measure=m, selection=s)) for s in weighted["selection"].values}
            for m in weighted["measure"].values
        }
        if "ceiling" in found:
            ceiling = found["ceiling"]
            if "layer_ceiling" in ceiling:  # absent from the results of a run before it was recorded
                numbers[f"recovery_ceiling_named{suffix}"] = named_ceiling(hypotheses, ceiling)
            if suffix == "":
                numbers["recovery_ceiling"] = float(ceiling.attrs["mean_ceiling"])
                numbers["ceiling_channels"] = int(ceiling.attrs["max_size"])
                numbers["ceiling"] = {
                    str(p): float(ceiling["ceiling"].sel(pathway=p)) for p in ceiling["pathway"].values
                }
                if "match_agreement" in ceiling:
                    numbers["recovery_match_all_sets"] = float(ceiling.attrs["mean_match_agreement"])
                    numbers["match_all_sets"] = {
                        str(p): float(ceiling["match_agreement"].sel(pathway=p)) for p in ceiling["pathway"].values
                    }
                numbers.update(_confirmable(ceiling))
        if suffix == "":
            numbers["type_errors"], numbers["side_effects"] = _error_counts(hypotheses)
        if suffix == "_activation":
            numbers["hypotheses_shared_with_activation"] = shared_hypotheses(found)
        coverage = found[f"coverage{suffix}"]
        numbers[f"pathways_covered{suffix}"] = int(coverage.attrs["n_covered"])
        numbers[f"coverage{suffix}"] = {
            str(p): {
                "hypotheses": int(coverage["n_hypotheses"].sel(pathway=p)),
                "confirmed": int(coverage["n_confirmed"].sel(pathway=p)),
            }
            for p in coverage["pathway"].values
        }
    return numbers


KINDS = {"all": "whole set", "inhibitory": "inhibitory outputs"}
"""Kinds of hypotheses by their ``blocked_outputs``: a set silenced, or only its outputs onto the
cells it inhibits (:func:`~retinacodec.hypotheses.generate.generate`)."""


def hypothesis_kinds(hypotheses: xr.Dataset) -> list[str]:
    """The kind (a value of :data:`KINDS`) of every hypothesis; whole sets for hypotheses made
    before ``blocked_outputs`` was recorded."""
    if "blocked_outputs" not in hypotheses:
        return [KINDS["all"]] * hypotheses.sizes["hypothesis"]
    return [KINDS[str(o)] for o in hypotheses["blocked_outputs"].values]


def recovery_by_kind(tested: xr.Dataset) -> dict:
    """Per kind of hypothesis (:func:`hypothesis_kinds`) that occurs: ``n`` hypotheses, their
    recovery score (confidence-weighted mean type agreement, None without confidence) and
    ``confirmed`` (how many)."""
    kinds = np.array(hypothesis_kinds(tested))
    result = {}
    for kind in KINDS.values():
        rows = tested.isel(hypothesis=np.flatnonzero(kinds == kind))
        if rows.sizes["hypothesis"]:
            score = recovery_score(rows["type_agreement"], rows["confidence"])
            result[kind] = {
                "n": int(rows.sizes["hypothesis"]),
                "recovery": float(score),
                "confirmed": int(sum(str(o).startswith("confirmed") for o in rows["outcome"].values)),
            }
    return result


def kinds_text(numbers: dict, suffix: str = "") -> str:
    """ "whole set 0.75 (6, 3 confirmed); ..." from ``recovery_by_kind`` of a summary; "n/a" without it."""
    kinds = numbers.get(f"recovery_by_kind{suffix}")
    if not kinds:
        return "n/a"
    return "; ".join(
        f"{kind} {_f(value['recovery'], '.2f')} ({value['n']}, {value['confirmed']} confirmed)"
        for kind, value in kinds.items()
    )


def _error_counts(hypotheses: xr.Dataset) -> tuple[dict, dict]:
    """Cell-type calls of tested hypotheses by kind (:func:`~retinacodec.hypotheses.score.type_calls`,
    summed), and the side effects per named pathway: pathway -> cell type -> hypotheses."""
    calls = type_calls(hypotheses["predicted_category"], hypotheses["observed_category"])
    totals = calls.sum(("hypothesis", "type"))
    side = calls.sel(error="side effect")
    effects: dict[str, dict[str, int]] = {}
    for block, row in zip(hypotheses["block"].values, side.values):
        for cell_type, hit in zip(side["type"].values, row):
            if hit:
                per_type = effects.setdefault(str(block), {})
                per_type[str(cell_type)] = per_type.get(str(cell_type), 0) + 1
    return {str(e): int(totals.sel(error=e)) for e in totals["error"].values}, effects


def _f(value, spec: str) -> str:
    """A number of the summary formatted with ``spec``; "n/a" for None."""
    return "n/a" if value is None else format(value, spec)


def _counted(n: int, one: str, many: str) -> str:
    """``n`` with the singular or plural wording: ``_counted(1, "miss", "misses")`` is "1 miss"."""
    return f"{n} {one if n == 1 else many}"


def _image(path: str, caption: str) -> str:
    return f"![{caption}]({path})\n\n*{caption}*\n"


def _modes_table(found: dict, layers) -> str:
    rows = [
        "| layer | variable | R² | mean active modes | dead modes | modes tied to a cell type (r > "
        f"{found[f'modes_{layers[0]}'].attrs.get('label_threshold', 0.2):g}) | best cell-type r |",
        "|---|---|---|---|---|---|---|",
    ]
    for layer in layers:
        for variable, suffix in (("contribution", ""), ("activation", "_activation")):
            modes = found[f"modes{suffix}_{layer}"]
            rows.append(
                f"| {layer} | {variable} | {float(modes['r2']):.3f} | {float(modes['mean_l0']):.2f} | "
                f"{int(modes['dead_modes'].sum())} of {modes.sizes['mode']} | {int(modes['n_modes_above'])} | "
                f"{float(modes['max_label_correlation'].max()):.2f} |"
            )
    return "\n".join(rows)


def _comparison_table(found: dict, layers) -> str:
    hoyer, dims, coupling = found["sparsity"], found["dimensions"], found["sign_correlation"]
    rows = [
        "| layer | Hoyer sparsity, contribution | Hoyer sparsity, activation | PCA dims for 95 %, "
        "contribution | PCA dims, activation | corr(pos, abs(neg)) of contributions |",
        "|---|---|---|---|---|---|",
    ]
    for layer in layers:
        rows.append(
            f"| {layer} | {float(hoyer['hoyer_mean'].sel(layer=layer, variable='contribution')):.3f} | "
            f"{float(hoyer['hoyer_mean'].sel(layer=layer, variable='activation')):.3f} | "
            f"{int(dims['n_dimensions'].sel(layer=layer, variable='contribution'))} | "
            f"{int(dims['n_dimensions'].sel(layer=layer, variable='activation'))} | "
            f"{float(coupling['mean'].sel(layer=layer)):.2f} |"
        )
    return "\n".join(rows)


def _irf_text(result: xr.Dataset) -> str:
    variability = irf_variability(result)
    lines = [
        f"Each cell's IRF is split into the parts that flow through every live contribution mode; the modes "
        f"shown are each cell's own, ranked by their share of its IRF (projection "
        f"⟨part, IRF⟩ / |IRF|², pooled over the times shown), until they carry "
        f"{100 * float(result.attrs['min_share']):.0f}%. Together they carry "
        f"{100 * float(result.attrs['shown_share_overall']):.0f}% of the IRFs; all modes kept explain "
        f"{100 * float(result.attrs['explained_overall']):.0f}% of the squared norm "
        "(1 − |residual|² / |IRF|²)."
    ]
    for cell in result["cell"].values:
        cell_type = type_name(str(result["cell_type"].sel(cell=cell).values))
        ranked = [
            (int(m), float(c))
            for m, c in zip(
                result["cell_modes"].sel(cell=cell).values, result["cumulative_share"].sel(cell=cell).values
            )
            if m >= 0
        ]
        listed = ", ".join(
            f"mode {m} ({100 * float(result['cell_share'].sel(cell=cell, mode=m)):.0f}%, cumulative {100 * c:.0f}%)"
            for m, c in ranked
        )
        lines.append(
            f"- cell {cell} ({cell_type}): {listed}; IRF variability over time "
            f"{float(variability.sel(cell=cell)):.2f} (0 = same shape at every time)"
        )
    return "\n".join(lines)


def _control_table(found: dict, layers) -> str:
    """Mean target specificity over targets and k per (layer, intervention, selection), with how
    often the contribution mode beats each other selection."""
    rows = [
        "| layer | intervention | contribution modes | activation modes | random channels | contribution "
        "beats activation (share of targets x k) | beats random |",
        "|---|---|---|---|---|---|---|",
    ]
    for layer in layers:
        summary_ = curve_summary(found[f"control_{layer}"])
        for intervention in summary_["intervention"].values:
            point = summary_.sel(intervention=intervention)

            def cell(selection: str, point: xr.Dataset = point) -> str:
                if selection not in point["selection"].values:
                    return "n/a"
                value = point.sel(selection=selection)
                return f"{float(value['mean_specificity']):+.3f} ± {float(value['mean_specificity_se']):.3f}"

            wins = [
                f"{100 * float(point['wins'].sel(selection=s)):.0f}%" if s in point["selection"].values else "n/a"
                for s in ("activation", "random")
            ]
            rows.append(
                f"| {layer} | {intervention} | {cell('contribution')} | {cell('activation')} | "
                f"{cell('random')} | {wins[0]} | {wins[1]} |"
            )
    return "\n".join(rows)


def _control_verdict(numbers: dict, layers) -> str:
    """One plain sentence per layer and intervention: does the contribution mode win on average,
    and for which target types does it not?"""
    lines = []
    for layer in layers:
        for intervention, beats in numbers[f"control_beats_{layer}"].items():
            lost = [name for name, won in beats.items() if not won]
            losses = numbers[f"control_losses_{layer}"][intervention]
            where = "; ".join(f"{type_name(t)} cells (below {' and '.join(names)})" for t, names in losses.items())
            lines.append(
                f"- {layer}, {intervention}: on average over types and k, contribution modes are "
                + (
                    "more target-specific than " + " and ".join(beats)
                    if not lost
                    else f"**not** more target-specific than {' and '.join(lost)}"
                )
                + (f"; per type they are **not** for {where}" if where else "; so for every type")
            )
    return "\n".join(lines)


def _losses(curves: xr.Dataset) -> dict:
    """intervention -> target -> selections whose mean specificity over k beats the contribution mode's."""
    mean = curves["specificity"].mean("k")
    others = [str(s) for s in curves["selection"].values if s != "contribution"]
    result = {}
    for intervention in curves["intervention"].values:
        per = mean.sel(intervention=intervention)
        better = {
            str(t): [
                s
                for s in others
                if float(per.sel(target=t, selection=s)) > float(per.sel(target=t, selection="contribution"))
            ]
            for t in curves["target"].values
        }
        result[str(intervention)] = {t: names for t, names in better.items() if names}
    return result


def _confirmable(ceiling: xr.Dataset) -> dict:
    """The summary's bounds on the pathways a confirmed hypothesis could name: ``pathways_confirmable``
    (ceiling 1) and, with the match, ``pathways_confirmable_assigned`` and ``assigned_ceiling`` (per
    pathway, NaN where the match assigns it no set); empty for a run before they were recorded."""
    numbers = {}
    if "n_confirmable" in ceiling.attrs:
        numbers["pathways_confirmable"] = int(ceiling.attrs["n_confirmable"])
    if "assigned_ceiling" in ceiling:
        numbers["pathways_confirmable_assigned"] = int(ceiling.attrs["n_confirmable_assigned"])
        numbers["assigned_ceiling"] = {
            str(p): float(ceiling["assigned_ceiling"].sel(pathway=p)) for p in ceiling["pathway"].values
        }
    return numbers


def _coverage_table(found: dict) -> str:
    """Per pathway of the reference circuit: hypotheses naming it and confirmed ones, from
    contribution modes and from activation modes."""
    sources = [
        (suffix, label)
        for suffix, label in (("", "contribution modes"), ("_activation", "activation modes"))
        if f"coverage{suffix}" in found
    ]
    rows = [
        "| pathway | " + " | ".join(f"{label}: named / confirmed" for _, label in sources) + " |",
        "|---|" + "---|" * len(sources),
    ]
    ceiling = found.get("ceiling")
    matched = ceiling is not None and "match_agreement" in ceiling
    if ceiling is not None:
        rows[0] += f" ceiling: best set of ≤ {ceiling.attrs['max_size']} channels |"
        rows[1] += "---|"
    if matched:
        rows[0] += " closest-following set of all (by activity) |"
        rows[1] += "---|"
    assigned = ceiling is not None and "assigned_ceiling" in ceiling
    if assigned:
        rows[0] += " best set the match assigns it |"
        rows[1] += "---|"
    first = found[f"coverage{sources[0][0]}"]
    for pathway in first["pathway"].values:
        cells = [
            f"{int(found[f'coverage{s}']['n_hypotheses'].sel(pathway=pathway))} / "
            f"{int(found[f'coverage{s}']['n_confirmed'].sel(pathway=pathway))}"
            for s, _ in sources
        ]
        if ceiling is not None:
            best = ceiling.sel(pathway=pathway)
            cells.append(
                f"{float(best['ceiling']):.2f} ({best['ceiling_layer'].values} channels "
                f"{best['ceiling_channels'].values})"
            )
        if matched:
            cells.append(
                f"{float(best['match_agreement']):.2f} ({best['match_layer'].values} channels "
                f"{best['match_channels'].values}, r = {float(best['match_value']):.2f})"
            )
        if assigned:
            cells.append(
                "none assigned"
                if not str(best["assigned_channels"].values)
                else f"{float(best['assigned_ceiling']):.2f} ({best['assigned_layer'].values} channels "
                f"{best['assigned_channels'].values})"
            )
        rows.append(f"| {first['name'].sel(pathway=pathway).values} | " + " | ".join(cells) + " |")
    if ceiling is not None:
        rows += [
            "",
            f"Ceiling: the best type agreement any set of up to {ceiling.attrs['max_size']} channels of a "
            "layer reaches with the pathway's block. It uses the blocks' outcomes, so it never chooses a match; "
            "it says what a perfect matching could at best recover from this CNN (mean over pathways "
            f"{ceiling.attrs['mean_ceiling']:.2f}). Where it is low, the CNN mixes that pathway with others"
            + _below_one(ceiling)
            + ".",
        ]
    if matched:
        rows += ["", _match_all_sets(ceiling)]
    if assigned:
        rows += ["", _confirmable_text(ceiling)]
    return "\n".join(rows)


def _confirmable_text(ceiling: xr.Dataset) -> str:
    """How many pathways a confirmed hypothesis of few channels could name at best, and why."""
    size, total = ceiling.attrs["max_size"], ceiling.sizes["pathway"]
    values = ceiling["assigned_ceiling"].values
    missing = [
        str(ceiling["name"].sel(pathway=p).values) for p, v in zip(ceiling["pathway"].values, values) if not v >= 1
    ]
    return (
        f"Best set the match assigns it: a hypothesis names the pathway its set follows most closely, so it can "
        f"be confirmed for a pathway only with a set the match assigns that pathway. With sets of up to {size} "
        f"channels, a confirmed hypothesis could name at most {ceiling.attrs['n_confirmable']} of the {total} "
        f"pathways (those whose ceiling is 1), and at most {ceiling.attrs['n_confirmable_assigned']} counting "
        "only the sets the match assigns them, whichever channels the modes nominate"
        + (f"; none can for {', '.join(missing)}" if missing else "")
        + "."
    )


def _match_all_sets(ceiling: xr.Dataset) -> str:
    """What matching every small channel set by activity reaches, against the ceiling."""
    mean, bar = ceiling.attrs["mean_match_agreement"], ceiling.attrs["mean_ceiling"]
    text = (
        f"Closest-following set of all: for each pathway, the set of up to {ceiling.attrs['max_size']} channels "
        f"of either layer that follows it most closely by the hypotheses' rule ({ceiling.attrs['match_rule']}), "
        "chosen from every set by activity on the match stimulus, without modes and without outcomes. Its type "
        f"agreement, averaged over pathways, is {mean:.2f}, against the ceiling's {bar:.2f}"
    )
    if mean < bar:
        text += (
            ": the channels whose silencing reproduces a block are not always those that follow the blocked "
            "pathway's activity, so picking sets by activity loses the difference whichever channels the "
            "modes nominate"
        )
    return text + "."


def _below_one(ceiling) -> str:
    """ ": below 1 for X (0.50), Y (0.50), whose blocks ..." listing the pathways whose ceiling is below 1."""
    low = [
        f"{ceiling['name'].sel(pathway=p).values} ({float(ceiling['ceiling'].sel(pathway=p)):.2f})"
        for p in ceiling["pathway"].values
        if float(ceiling["ceiling"].sel(pathway=p)) < 1
    ]
    return (
        (
            f": below 1 for {', '.join(low)}, whose blocks no set of up to {ceiling.attrs['max_size']} channels "
            "reproduces"
        )
        if low
        else ""
    )


def _silenced_sets(hypotheses: xr.Dataset) -> set[tuple[str, str, str]]:
    """(layer, channels, kind) of every hypothesis (:func:`hypothesis_kinds`)."""
    return set(
        zip(map(str, hypotheses["layer"].values), map(str, hypotheses["channels"].values), hypothesis_kinds(hypotheses))
    )


def shared_hypotheses(found: dict) -> int:
    """How many contribution-mode hypotheses silence the same channels of the same layer, in the same
    way (:func:`hypothesis_kinds`), as an activation-mode hypothesis (0 without the activation control)."""
    if "hypotheses_activation" not in found:
        return 0
    return len(_silenced_sets(found["hypotheses"]) & _silenced_sets(found["hypotheses_activation"]))


def _shortfall(found: dict, numbers: dict) -> list[str]:
    """Where the recovery score is lost: to the matching (the named ceiling) or to the CNN, and how
    many hypotheses the two kinds of modes share."""
    named = numbers.get("recovery_ceiling_named")
    if named is None:
        return []
    score = numbers["recovery_score"]
    text = (
        f"Where the score is lost: had each hypothesis silenced the best set of up to "
        f"{found['ceiling'].attrs['max_size']} channels of its layer for the pathway it names (chosen from the "
        f"outcomes, so a bound, not a method), the same hypotheses would score {named:.2f} instead of "
        f"{score:.2f}. The matching loses {max(named - score, 0):.2f} of that; the remaining {1 - named:.2f} "
        "is lost because no small channel set of the CNN reproduces those blocks."
    )
    errors = numbers.get("type_errors")
    if errors and sum(errors.values()) > errors["right"]:
        side, missed, wrong = errors["side effect"], errors["missed"], errors["wrong sign"]
        text += (
            f" Of the cell-type calls that cost agreement, {_counted(side, 'is a side effect', 'are side effects')}"
            f" (the CNN predicts a change the block does not cause), {_counted(missed, 'miss', 'misses')} and "
            f"{_counted(wrong, 'wrong sign', 'wrong signs')}."
        )
        listed = [
            f"{PATHWAY_NAMES.get(pathway, pathway)} ({numbers['coverage'][pathway]['hypotheses']}): "
            + ", ".join(f"{type_name(t)} {n}" for t, n in sorted(types.items(), key=lambda item: -item[1]))
            for pathway, types in numbers["side_effects"].items()
        ]
        if listed:
            text += (
                " Side effects per named pathway (its hypotheses; the cell types, in how many of them): "
                + "; ".join(listed)
                + "."
            )
    if "recovery_ceiling_named_activation" in numbers:
        text += (
            f" For the activation-mode hypotheses: {numbers['recovery_score_activation']:.2f} against "
            f"{numbers['recovery_ceiling_named_activation']:.2f}."
        )
    shared = numbers.get("hypotheses_shared_with_activation")
    if shared:
        text += (
            f" {shared} of the {numbers['n_hypotheses']} hypotheses silence the same channels as an "
            "activation-mode hypothesis: once the channel sets are split by pathway and merged, the two kinds "
            "of modes often nominate the same experiments, and the recovery scores differ only by the rest."
        )
    return ["", text]


def _inhibitory_sentence(hypotheses: xr.Dataset) -> str:
    """The sentence on the inhibitory-output hypotheses, when the run made some; "" otherwise."""
    if "blocked_outputs" not in hypotheses or not (hypotheses["blocked_outputs"] == "inhibitory").any():
        return ""
    return (
        "A CNN channel can excite some cells and inhibit others; beside the whole-set hypotheses, every set is "
        "also matched among the inhibitory pathways alone, and a set whose inhibition is visible stands for that "
        "pathway's inhibitory synapses, blocked as a receptor antagonist does: the cells the set's silencing "
        "raises take the silenced network's rate, the rest keep theirs (their reasons below begin \"its outputs "
        'onto the cells it inhibits"). '
    )


def _hypotheses_section(found: dict, numbers: dict, figures: dict[str, str]) -> list[str]:
    """The report's hypotheses section: method, agreement table, pathway coverage, the list, figure."""
    hypotheses = found["hypotheses"]
    tested = "recovery_score" in numbers
    lines = ["## Hypotheses", ""]
    if not tested:
        return lines + [
            "Predicted effects of silencing each channel set (no ground truth to test them against).",
            "",
            to_markdown(hypotheses),
            _image(figures["hypotheses"], "Predicted effects per type."),
        ]
    lines += [
        "Each hypothesis takes the channel set of a layer's contribution mode (the mode most tied to each cell "
        "type, then the most used ones), keeps the channels that follow one pathway (a mode can join several) "
        "and, of those, the subset that follows it most closely (dropping a channel while that raises the match), "
        "leaves out a subset whose silencing changes no cell type visibly in the CNN (its channels follow a "
        "pathway's activity without contributing to the cells' responses), "
        "and names the virtual-retina block whose silenced activities they uniquely follow: the pathway and the "
        "interneurons it excites (blocking ON bipolars also silences the narrow-field amacrine they drive), the "
        "other pathways held fixed (multiple partial correlation, at the cells' positions on held-out natural "
        "jitter; of the sets naming the same pathway, the one that follows it most closely stands for it). It "
        "predicts each cell's change of mean rate from silencing the channels in the CNN, and is tested by "
        "blocking that pathway in the virtual retina. The match never sees a block's outcome. "
        f"{_inhibitory_sentence(hypotheses)}A cell type counts as changed "
        f"when a {hypotheses.attrs['recording_s']:g} s recording would see the change at "
        f"{hypotheses.attrs['z_min']:g} standard errors; a hypothesis's type agreement is the share of types "
        "predicted or seen to change whose direction it got right; the recovery score is the "
        "confidence-weighted mean type agreement. Two controls: the same weights with the channels "
        "shuffled, and hypotheses generated in the same way from the activation modes (per-cell "
        "activations). One run's hypotheses depend on its stimuli and on the SAE's fit, which another SAE "
        "seed or another CPU's rounding (the machine is named at the end) can change; "
        "`analyses/retina_replicates.py` gives the spread over stimulus seeds.",
        "",
    ]
    control = numbers.get("agreement_activation", {})
    lines += [
        "| measure (confidence-weighted mean over hypotheses) | contribution modes' channels | shuffled "
        "channels | activation modes' channels |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {measure.replace('_', ' ')} | {_f(values['modes'], '.2f')} | {_f(values['shuffled'], '.2f')} | "
        f"{_f(control.get(measure, {}).get('modes'), '.2f')} |"
        for measure, values in numbers["agreement"].items()
    ]
    lines += [
        "",
        f"Recovery score by kind of hypothesis (hypotheses, confirmed): {kinds_text(numbers)}; from "
        f"activation modes: {kinds_text(numbers, '_activation')}.",
    ]
    lines += [
        "",
        "Pathways of the virtual retina: hypotheses naming each, and confirmed ones.",
        "",
        _coverage_table(found),
        *_shortfall(found, numbers),
        "",
        "Per hypothesis:",
        "",
        to_markdown(hypotheses),
        _image(
            figures["hypotheses"],
            "Hypotheses: predicted against observed change per cell, and agreement against the shuffled control.",
        ),
    ]
    return lines


def report(
    found: dict, numbers: dict, figures: dict[str, str], source: str, seconds: dict[str, float], settings: dict
) -> str:
    """The text of ``report.md``: numbers, figures and the hypotheses in plain words.

    Parameters
    ----------
    found : dict
        Every step's outputs by name.
    numbers : dict
        :func:`summary` of the run.
    figures : dict
        Figure key -> file name (relative to the report).
    source : str
        One line saying what was analysed (model, or recording and its trained model).
    seconds : dict
        Wall time per step (s).
    settings : dict
        The demo settings.
    """
    hypotheses = found["hypotheses"]
    layers = tuple(settings["layers"])
    tested = "recovery_score" in numbers
    lines = [
        "# CODEC demo report",
        "",
        source,
        "",
        "## Headline numbers",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| model correlation (mean Pearson r over cells, held-out) | {_f(numbers['model_r'], '.3f')} |",
    ]
    for layer in layers:
        lines.append(
            f"| completeness error, {layer} (max abs; median relative) | "
            f"{_f(numbers[f'completeness_error_max_hz_{layer}'], '.2e')} Hz; "
            f"{_f(numbers[f'completeness_error_median_relative_{layer}'], '.1e')} |"
        )
        lines.append(
            f"| SAE R², {layer} contributions (activations) | {_f(numbers[f'sae_r2_{layer}'], '.3f')} "
            f"({_f(numbers[f'sae_r2_activation_{layer}'], '.3f')}) |"
        )
    if tested:
        lines += [
            f"| recovery score (virtual retina) | {_f(numbers['recovery_score'], '.2f')} |",
            "| recovery score, shuffled mode-to-channel control (mean of "
            f"{hypotheses.sizes.get('shuffle', 0)}) | "
            f"{_f(numbers['recovery_score_shuffled'], '.2f')} |",
            f"| hypotheses {' / '.join(OUTCOMES)} | {' / '.join(str(numbers['outcomes'][o]) for o in OUTCOMES)} |",
            f"| pathways named by a confirmed hypothesis | {numbers['pathways_covered']} of "
            f"{len(numbers['coverage'])} |",
            "| ceiling of the recovery score (best set of few channels per pathway; uses the outcomes) | "
            f"{_f(numbers.get('recovery_ceiling'), '.2f')} |",
            "| the same hypotheses with the best set of their layer for their pathway (uses the outcomes) | "
            f"{_f(numbers.get('recovery_ceiling_named'), '.2f')} |",
            "| closest-following set of all, per pathway, chosen by activity (no modes, no outcomes) | "
            f"{_f(numbers.get('recovery_match_all_sets'), '.2f')} |",
        ]
        if "recovery_score_activation" in numbers:
            lines += [
                f"| recovery score, hypotheses from activation modes (control) | "
                f"{_f(numbers['recovery_score_activation'], '.2f')} (shuffled "
                f"{_f(numbers['recovery_score_shuffled_activation'], '.2f')}; "
                f"{_counted(numbers['pathways_covered_activation'], 'pathway', 'pathways')} covered) |"
            ]
    baseline = (
        [
            f"LN baseline on the same held-out data: mean r {float(found['fit']['ln_pearson_r'].mean()):.3f} "
            f"(CNN {float(found['fit']['pearson_r'].mean()):.3f}).",
            "",
        ]
        if "ln_pearson_r" in found["fit"]
        else []
    )
    lines += [
        "",
        "## Model fit",
        "",
        fit_table(found["fit"]["pearson_r"]),
        "",
        *baseline,
        _image(
            figures["model_fit"],
            "Predicted (colour) and true (black) rates of the best-fit cell of each type; r per cell by type.",
        ),
        "## Contributions",
        "",
        f"Integrated Gradients ({settings['ig_steps']} Gauss-Legendre nodes, zero-activation baseline) of every "
        f"channel of each layer to every cell's rate at {settings['analysis_windows']} time points spread over "
        f"{settings['analysis_snippets']} stretches of the analysed stimulus. "
        "Completeness: the contributions of a sample sum to its rate minus the baseline rate, up to the "
        "errors in the table above.",
        "",
        _image(
            figures["contributions"],
            f"Contributions and activations of the {layers[-1]} channels for "
            "one cell at the analysed time points (short stretches across the stimulus; lines join "
            "neighbouring stretches), and completeness.",
        ),
        "## Modes",
        "",
        _modes_table(found, layers),
        "",
    ]
    lines += [
        _image(figures[f"modes_{layer}"], f"Contribution modes of the {layer} layer and their loadings.")
        for layer in layers
    ]
    lines += [
        _image(
            figures["stability"],
            "Stability of each live mode: its cosine with its Hungarian-matched "
            f"partner in the fits with seeds {found[f'modes_{layers[0]}'].attrs['stability_seeds']}, "
            "averaged over them (1: every seed finds the mode).",
        )
    ]
    lines += [
        "## Contributions versus activations",
        "",
        _comparison_table(found, layers),
        "",
        _image(figures["sparsity"], "Sparsity of contributions and activations across channels, per layer."),
        _image(figures["dimensions"], "PCA dimensions for 95 % of the variance, per layer."),
        "## Instantaneous receptive fields by mode",
        "",
        _irf_text(found["irf"]),
        "",
    ]
    lines += [
        _image(path, f"IRF of cell {key.removeprefix('irf_cell')} split by mode (rank-1 frames at the peak lag).")
        for key, path in figures.items()
        if key.startswith("irf_cell")
    ]
    lines += [
        "## Control curves: contribution modes against activation modes and random channels",
        "",
        f"For each cell type, the top k = 1..{settings['control_channels']} channels of the contribution mode "
        "and of the activation mode (per-cell activations) most tied to that type are silenced (ablate) or "
        f"kept alone (preserve), against {settings['control_draws']} random channel sets per k, over the first "
        f"{settings['control_frames']} frames of the analysed stimulus. Specificity: the on-target (that "
        "type's cells) minus the off-target (all other cells) mean relative rate change |Δr| / r for "
        "ablation, off minus on for preservation; mean over types and k, ± standard error (over cells for "
        "modes, over draws for random sets).",
        "",
        _control_table(found, layers),
        "",
        _control_verdict(numbers, layers),
        "",
        "How the modes were chosen:",
        "",
    ]
    lines += [f"- {layer}: {found[f'control_{layer}'].attrs['selection_rule']}" for layer in layers] + [""]
    lines += [
        _image(
            figures[f"control_{layer}"],
            f"Control curves in the {layer} layer: specificity against the "
            "number of channels, per target type; error bars are standard errors over cells, the grey "
            "band one standard deviation over random draws.",
        )
        for layer in layers
    ]
    lines += _hypotheses_section(found, numbers, figures)
    by = by_type(hypotheses["baseline_rate"])
    lines += [
        "Mean model rates (Hz) under that stimulus: "
        + ", ".join(f"{type_name(str(t))} {float(v):.1f}" for t, v in zip(by["type"].values, by.values)),
        "",
    ]
    return "\n".join(lines + _run_section(seconds, settings, numbers.get("machine")))


def _run_section(seconds: dict, settings: dict, machine: dict | None) -> list[str]:
    """The report's last section: seconds per step, the settings, and the machine the run ran on."""
    lines = ["## Run", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {step} | {value:.0f} |" for step, value in seconds.items()]
    lines += ["", "Settings: " + ", ".join(f"{k} = {v}" for k, v in settings.items()), ""]
    return lines + ([f"Machine: {machine_line(machine)}.", ""] if machine else [])

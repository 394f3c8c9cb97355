"""The demo's report (``report.md``): Markdown written from its :class:`~.summary.DemoSummary` and
the steps' results."""

from __future__ import annotations

from collections.abc import Mapping

import xarray as xr

from ...control.curves.retina import curve_summary
from ...hypotheses import to_markdown
from ...hypotheses.effects import by_type
from ...hypotheses.match import PATHWAY_NAMES, type_name
from ...models.training import fit_table
from ...receptive_fields.summaries import irf_variability
from .design_report import CAPTION as DESIGNS_CAPTION
from .design_report import designs_section
from .phenomena_report import caption as phenomena_caption
from .phenomena_report import phenomena_section
from .preferred_report import CAPTION as PREFERRED_CAPTION
from .preferred_report import preferred_section
from .report_types import cell_types_section
from .summary import (
    KINDS,
    OUTCOMES,
    CeilingSummary,
    DemoSummary,
    KindRecovery,
    TestedHypotheses,
    VirtualRetinaSummary,
)


def machine_line(machine: Mapping) -> str:
    """One line naming a run's machine (:func:`retinacodec.device.machine`): CPU, vector unit, threads, torch."""
    return (
        f"{machine['cpu']} ({machine['cpu_capability']}), {machine['threads']} of {machine['cpus']} CPUs, "
        f"torch {machine['torch']}, numpy {machine['numpy']}, Python {machine['python']}"
    )


def by_kind_text(kinds: Mapping[str, KindRecovery]) -> str:
    """ "whole set 0.75 (6, 3 confirmed); ..." from ``recovery_by_kind`` of tested hypotheses; "n/a" when empty."""
    if not kinds:
        return "n/a"
    return "; ".join(
        f"{kind} {_f(value.recovery, '.2f')} ({value.n}, {value.confirmed} confirmed)" for kind, value in kinds.items()
    )


def kinds_text(numbers: dict, suffix: str = "") -> str:
    """:func:`by_kind_text` from a tested run's ``summary.json`` contents, as the results generators
    reads them: of the contribution-mode hypotheses, with ``suffix`` ``"_activation"`` of the
    activation-mode ones."""
    return by_kind_text(TestedHypotheses.from_dict(numbers, suffix).recovery_by_kind)


def _f(value: float | None, spec: str) -> str:
    """A number of the summary formatted with ``spec``; "n/a" for None."""
    return "n/a" if value is None else format(value, spec)


def _percent(value: float | None) -> str:
    """A share as a whole percentage ("55%"); "n/a" for None."""
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _counted(n: int, one: str, many: str) -> str:
    """``n`` with the singular or plural wording: ``_counted(1, "miss", "misses")`` is "1 miss"."""
    return f"{n} {one if n == 1 else many}"


def _image(path: str, caption: str) -> str:
    return f"![{caption}]({path})\n\n*{caption}*\n"


def report(
    found: dict, summary: DemoSummary, figures: dict[str, str], source: str, seconds: dict[str, float], settings: dict
) -> str:
    """The text of ``report.md``: numbers, figures and the hypotheses in plain words.

    Parameters
    ----------
    found : dict
        Every step's outputs by name.
    summary : DemoSummary
        The run's headline numbers (:func:`~.summary.summarize`).
    figures : dict
        Figure key -> file name (relative to the report).
    source : str
        One line saying what was analysed (model, or recording and its trained model).
    seconds : dict
        Wall time per step (s).
    settings : dict
        The demo settings.
    """
    layers = tuple(settings["layers"])
    lines = ["# CODEC demo report", "", source, "", *_headline(found, summary, layers)]
    lines += cell_types_section(found["cell_types"]) if "cell_types" in found else []
    lines += _fit_section(found, summary, figures)
    lines += _contributions_section(figures, settings, layers)
    lines += _modes_section(found, figures, layers)
    lines += _comparison_section(found, figures, layers)
    lines += _irf_section(found["irf"], summary, figures)
    lines += preferred_section(found, recording="cell_types" in found)
    lines += [
        _image(figures[key], PREFERRED_CAPTION.format(cell=key.removeprefix("preferred_cell")))
        for key in figures
        if key.startswith("preferred_cell")
    ]
    lines += _control_section(found, summary, figures, settings, layers)
    lines += _hypotheses_section(found, summary, figures)
    lines += _rates_line(found["hypotheses"])
    if "test_stimuli" in found:
        lines += [*designs_section(found["test_stimuli"]), _image(figures["test_stimuli"], DESIGNS_CAPTION)]
    if "phenomena" in found:
        checked = found.get("phenomena_checked")
        figure = _image(figures["phenomena"], phenomena_caption(checked is not None))
        lines += [*phenomena_section(found["phenomena"], checked), figure]
    return "\n".join(lines + _run_section(seconds, settings, summary.machine))


def _headline(found: dict, summary: DemoSummary, layers: tuple[str, ...]) -> list[str]:
    """The headline table: model fit, completeness and SAE fits, and the hypotheses' scores."""
    lines = [
        "## Headline numbers",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| model correlation (mean Pearson r over cells, held-out) | {_f(summary.model_r, '.3f')} |",
    ]
    for layer in layers:
        numbers = summary.layers[layer]
        lines.append(
            f"| completeness error, {layer} (max abs; median relative) | "
            f"{_f(numbers.completeness_error_max_hz, '.2e')} Hz; "
            f"{_f(numbers.completeness_error_median_relative, '.1e')} |"
        )
        lines.append(
            f"| SAE R², {layer} contributions (activations) | {_f(numbers.sae_r2, '.3f')} "
            f"({_f(numbers.sae_r2_activation, '.3f')}) |"
        )
    if summary.virtual_retina is not None:
        lines += _tested_headline(summary.virtual_retina, found["hypotheses"].sizes.get("shuffle", 0))
    return lines + [""]


def _tested_headline(tested: VirtualRetinaSummary, shuffles: int) -> list[str]:
    """The headline rows of hypotheses tested on the virtual retina (``shuffles``: shuffled controls)."""
    modes, activation, ceiling = tested.contribution, tested.activation, tested.ceiling
    return [
        f"| recovery score (virtual retina) | {_f(modes.recovery_score, '.2f')} |",
        f"| recovery score, shuffled mode-to-channel control (mean of {shuffles}) | "
        f"{_f(modes.recovery_score_shuffled, '.2f')} |",
        f"| hypotheses {' / '.join(OUTCOMES)} | {' / '.join(str(modes.outcomes[o]) for o in OUTCOMES)} |",
        f"| pathways named by a confirmed hypothesis | {modes.pathways_covered} of {len(modes.coverage)} |",
        "| ceiling of the recovery score (best set of few channels per pathway; uses the outcomes) | "
        f"{_f(ceiling.recovery_ceiling, '.2f')} |",
        "| the same hypotheses with the best set of their layer for their pathway (uses the outcomes) | "
        f"{_f(modes.recovery_ceiling_named, '.2f')} |",
        "| closest-following set of all, per pathway, chosen by activity (no modes, no outcomes) | "
        f"{_f(ceiling.recovery_match_all_sets, '.2f')} |",
        f"| recovery score, hypotheses from activation modes (control) | "
        f"{_f(activation.recovery_score, '.2f')} (shuffled "
        f"{_f(activation.recovery_score_shuffled, '.2f')}; "
        f"{_counted(activation.pathways_covered, 'pathway', 'pathways')} covered) |",
    ]


def _fit_section(found: dict, summary: DemoSummary, figures: dict[str, str]) -> list[str]:
    """The model's fit per cell type, against the LN baseline where there is one (a recording)."""
    fit = found["fit"]
    baseline = (
        [
            f"LN baseline on the same held-out data: mean r {float(fit['ln_pearson_r'].mean()):.3f} "
            f"(CNN {_f(summary.model_r, '.3f')}).",
            "",
        ]
        if "ln_pearson_r" in fit
        else []
    )
    return [
        "## Model fit",
        "",
        fit_table(fit["pearson_r"]),
        "",
        *baseline,
        _image(
            figures["model_fit"],
            "Predicted (colour) and true (black) rates of the best-fit cell of each type; r per cell by type.",
        ),
    ]


def _contributions_section(figures: dict[str, str], settings: dict, layers: tuple[str, ...]) -> list[str]:
    """How the contributions were computed, and their figure."""
    return [
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
    ]


def _modes_section(found: dict, figures: dict[str, str], layers: tuple[str, ...]) -> list[str]:
    """The SAE fits of every layer and variable, the modes' figures and their stability."""
    lines = ["## Modes", "", _modes_table(found, layers), ""]
    lines += [
        _image(figures[f"modes_{layer}"], f"Contribution modes of the {layer} layer and their loadings.")
        for layer in layers
    ]
    return lines + [
        _image(
            figures["stability"],
            "Stability of each live mode: its cosine with its Hungarian-matched "
            f"partner in the fits with seeds {found[f'modes_{layers[0]}'].attrs['stability_seeds']}, "
            "averaged over them (1: every seed finds the mode).",
        )
    ]


def _modes_table(found: dict, layers: tuple[str, ...]) -> str:
    rows = [
        "| layer | variable | R² | mean active modes | dead modes | modes tied to a cell type (r > "
        f"{found[f'modes_{layers[0]}'].attrs['label_threshold']:g}) | best cell-type r |",
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


def _comparison_section(found: dict, figures: dict[str, str], layers: tuple[str, ...]) -> list[str]:
    """Sparsity, dimensions and sign coupling of contributions against activations."""
    return [
        "## Contributions versus activations",
        "",
        _comparison_table(found, layers),
        "",
        _image(figures["sparsity"], "Sparsity of contributions and activations across channels, per layer."),
        _image(figures["dimensions"], "PCA dimensions for 95 % of the variance, per layer."),
    ]


def _comparison_table(found: dict, layers: tuple[str, ...]) -> str:
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


def _irf_section(result: xr.Dataset, summary: DemoSummary, figures: dict[str, str]) -> list[str]:
    """The IRFs split by mode: how, each cell's modes, and the figures."""
    lines = ["## Instantaneous receptive fields by mode", "", _irf_text(result, summary), ""]
    if "irf_courses" in figures:  # a full-field stimulus: time courses, no maps
        return lines + [
            _image(
                figures["irf_courses"],
                "IRF time courses of each cell (one column per cell type), whole and split by mode, one line per "
                "analysed time.",
            )
        ]
    return lines + [
        _image(path, f"IRF of cell {key.removeprefix('irf_cell')} split by mode (rank-1 frames at the peak lag).")
        for key, path in figures.items()
        if key.startswith("irf_cell")
    ]


def _irf_text(result: xr.Dataset, summary: DemoSummary) -> str:
    variability = irf_variability(result)
    lines = [
        f"Each cell's IRF is split into the parts that flow through every live contribution mode; the modes "
        f"shown are each cell's own, ranked by their share of its IRF (projection "
        f"⟨part, IRF⟩ / |IRF|², pooled over the times shown), until they carry "
        f"{100 * float(result.attrs['min_share']):.0f}%. Together they carry "
        f"{_percent(summary.irf_shown_share)} of the IRFs; all modes kept explain "
        f"{_percent(summary.irf_explained)} of the squared norm "
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


def _control_section(
    found: dict, summary: DemoSummary, figures: dict[str, str], settings: dict, layers: tuple[str, ...]
) -> list[str]:
    """The control curves: method, table, verdict, how the modes were chosen, figures."""
    lines = [
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
        _control_verdict(summary, layers),
        "",
        "How the modes were chosen:",
        "",
    ]
    lines += [f"- {layer}: {found[f'control_{layer}'].attrs['selection_rule']}" for layer in layers] + [""]
    return lines + [
        _image(
            figures[f"control_{layer}"],
            f"Control curves in the {layer} layer: specificity against the "
            "number of channels, per target type; error bars are standard errors over cells, the grey "
            "band one standard deviation over random draws.",
        )
        for layer in layers
    ]


def _control_table(found: dict, layers: tuple[str, ...]) -> str:
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


def _control_verdict(summary: DemoSummary, layers: tuple[str, ...]) -> str:
    """One plain sentence per layer and intervention: does the contribution mode win on average,
    and for which target types does it not?"""
    lines = []
    for layer in layers:
        numbers = summary.layers[layer]
        for intervention, beats in numbers.control_beats.items():
            lost = [name for name, won in beats.items() if not won]
            losses = numbers.control_losses[intervention]
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


def _hypotheses_section(found: dict, summary: DemoSummary, figures: dict[str, str]) -> list[str]:
    """The report's hypotheses section: method, agreement table, pathway coverage, the list, figure."""
    hypotheses, tested = found["hypotheses"], summary.virtual_retina
    lines = ["## Hypotheses", ""]
    if tested is None:
        return lines + [
            "Predicted effects of silencing each channel set (no ground truth to test them against).",
            "",
            to_markdown(hypotheses),
            _image(figures["hypotheses"], "Predicted effects per type."),
        ]
    lines += [_method_text(hypotheses, tested), ""]
    lines += [
        "| measure (confidence-weighted mean over hypotheses) | contribution modes' channels | shuffled "
        "channels | activation modes' channels |",
        "|---|---|---|---|",
    ]
    control = tested.activation.agreement
    lines += [
        f"| {measure.replace('_', ' ')} | {_f(values['modes'], '.2f')} | {_f(values['shuffled'], '.2f')} | "
        f"{_f(control[measure]['modes'], '.2f')} |"
        for measure, values in tested.contribution.agreement.items()
    ]
    lines += [
        "",
        "Recovery score by kind of hypothesis (hypotheses, confirmed): "
        f"{by_kind_text(tested.contribution.recovery_by_kind)}; from "
        f"activation modes: {by_kind_text(tested.activation.recovery_by_kind)}.",
    ]
    return lines + [
        "",
        "Pathways of the virtual retina: hypotheses naming each, and confirmed ones.",
        "",
        _coverage_table(found),
        *_ceiling_notes(tested.ceiling, found["ceiling"].attrs["match_rule"]),
        *_shortfall(tested, summary.n_hypotheses),
        "",
        "Per hypothesis:",
        "",
        to_markdown(hypotheses),
        _image(
            figures["hypotheses"],
            "Hypotheses: predicted against observed change per cell, and agreement against the shuffled control.",
        ),
    ]


def _method_text(hypotheses: xr.Dataset, tested: VirtualRetinaSummary) -> str:
    """How the hypotheses were made and tested, and what their scores mean."""
    return (
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
        f"{_inhibitory_sentence(tested)}A cell type counts as changed "
        f"when a {hypotheses.attrs['recording_s']:g} s recording would see the change at "
        f"{hypotheses.attrs['z_min']:g} standard errors; a hypothesis's type agreement is the share of types "
        "predicted or seen to change whose direction it got right; the recovery score is the "
        "confidence-weighted mean type agreement. Two controls: the same weights with the channels "
        "shuffled, and hypotheses generated in the same way from the activation modes (per-cell "
        "activations). One run's hypotheses depend on its stimuli and on the SAE's fit, which another SAE "
        "seed or another CPU's rounding (the machine is named at the end) can change; "
        "`analyses/retina_replicates.py` gives the spread over stimulus seeds."
    )


def _inhibitory_sentence(tested: VirtualRetinaSummary) -> str:
    """The sentence on the inhibitory-output hypotheses, when the run made some; "" otherwise."""
    if KINDS["inhibitory"] not in tested.contribution.recovery_by_kind:
        return ""
    return (
        "A CNN channel can excite some cells and inhibit others; beside the whole-set hypotheses, every set is "
        "also matched among the inhibitory pathways alone, and a set whose inhibition is visible stands for that "
        "pathway's inhibitory synapses, blocked as a receptor antagonist does: the cells the set's silencing "
        "raises take the silenced network's rate, the rest keep theirs (their reasons below begin \"its outputs "
        'onto the cells it inhibits"). '
    )


def _coverage_table(found: dict) -> str:
    """Per pathway of the reference circuit: hypotheses naming it and confirmed ones, from
    contribution modes and from activation modes, with the best channel sets for it."""
    ceiling = found["ceiling"]
    rows = [
        "| pathway | contribution modes: named / confirmed | activation modes: named / confirmed | "
        f"ceiling: best set of ≤ {ceiling.attrs['max_size']} channels | closest-following set of all (by "
        "activity) | best set the match assigns it |",
        "|---|---|---|---|---|---|",
    ]
    for pathway in found["coverage"]["pathway"].values:
        best = ceiling.sel(pathway=pathway)
        cells = [
            f"{int(found[f'coverage{s}']['n_hypotheses'].sel(pathway=pathway))} / "
            f"{int(found[f'coverage{s}']['n_confirmed'].sel(pathway=pathway))}"
            for s in ("", "_activation")
        ]
        cells += [
            f"{float(best['ceiling']):.2f} ({best['ceiling_layer'].values} channels {best['ceiling_channels'].values})",
            f"{float(best['match_agreement']):.2f} ({best['match_layer'].values} channels "
            f"{best['match_channels'].values}, r = {float(best['match_value']):.2f})",
            "none assigned"
            if not str(best["assigned_channels"].values)
            else f"{float(best['assigned_ceiling']):.2f} ({best['assigned_layer'].values} channels "
            f"{best['assigned_channels'].values})",
        ]
        rows.append(f"| {found['coverage']['name'].sel(pathway=pathway).values} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _ceiling_notes(ceiling: CeilingSummary, match_rule: str) -> list[str]:
    """The paragraphs under the coverage table: what the ceiling, the match over all sets and the
    sets the match assigns each pathway say."""
    return [
        "",
        f"Ceiling: the best type agreement any set of up to {ceiling.ceiling_channels} channels of a "
        "layer reaches with the pathway's block. It uses the blocks' outcomes, so it never chooses a match; "
        "it says what a perfect matching could at best recover from this CNN (mean over pathways "
        f"{_f(ceiling.recovery_ceiling, '.2f')}). Where it is low, the CNN mixes that pathway with others"
        + _below_one(ceiling)
        + ".",
        "",
        _match_all_sets(ceiling, match_rule),
        "",
        _confirmable_text(ceiling),
    ]


def _below_one(ceiling: CeilingSummary) -> str:
    """ ": below 1 for X (0.50), Y (0.50), whose blocks ..." listing the pathways whose ceiling is below 1."""
    low = [
        f"{PATHWAY_NAMES.get(pathway, pathway)} ({value:.2f})"
        for pathway, value in ceiling.ceiling.items()
        if value is not None and value < 1
    ]
    if not low:
        return ""
    return (
        f": below 1 for {', '.join(low)}, whose blocks no set of up to {ceiling.ceiling_channels} channels reproduces"
    )


def _match_all_sets(ceiling: CeilingSummary, match_rule: str) -> str:
    """What matching every small channel set by activity reaches, against the ceiling."""
    mean, bar = ceiling.recovery_match_all_sets, ceiling.recovery_ceiling
    text = (
        f"Closest-following set of all: for each pathway, the set of up to {ceiling.ceiling_channels} channels "
        f"of either layer that follows it most closely by the hypotheses' rule ({match_rule}), "
        "chosen from every set by activity on the match stimulus, without modes and without outcomes. Its type "
        f"agreement, averaged over pathways, is {_f(mean, '.2f')}, against the ceiling's {_f(bar, '.2f')}"
    )
    if mean is not None and bar is not None and mean < bar:
        text += (
            ": the channels whose silencing reproduces a block are not always those that follow the blocked "
            "pathway's activity, so picking sets by activity loses the difference whichever channels the "
            "modes nominate"
        )
    return text + "."


def _confirmable_text(ceiling: CeilingSummary) -> str:
    """How many pathways a confirmed hypothesis of few channels could name at best, and why."""
    missing = [
        PATHWAY_NAMES.get(pathway, pathway)
        for pathway, value in ceiling.assigned_ceiling.items()
        if value is None or not value >= 1
    ]
    return (
        f"Best set the match assigns it: a hypothesis names the pathway its set follows most closely, so it can "
        f"be confirmed for a pathway only with a set the match assigns that pathway. With sets of up to "
        f"{ceiling.ceiling_channels} channels, a confirmed hypothesis could name at most "
        f"{ceiling.pathways_confirmable} of the {len(ceiling.ceiling)} pathways (those whose ceiling is 1), and at "
        f"most {ceiling.pathways_confirmable_assigned} counting only the sets the match assigns them, whichever "
        "channels the modes nominate" + (f"; none can for {', '.join(missing)}" if missing else "") + "."
    )


def _shortfall(tested: VirtualRetinaSummary, n_hypotheses: int) -> list[str]:
    """Where the recovery score is lost: to the matching (the named ceiling) or to the CNN, and how
    many hypotheses the two kinds of modes share."""
    named, score = tested.contribution.recovery_ceiling_named, tested.contribution.recovery_score
    if named is None or score is None:
        return []
    text = (
        f"Where the score is lost: had each hypothesis silenced the best set of up to "
        f"{tested.ceiling.ceiling_channels} channels of its layer for the pathway it names (chosen from the "
        f"outcomes, so a bound, not a method), the same hypotheses would score {named:.2f} instead of "
        f"{score:.2f}. The matching loses {max(named - score, 0):.2f} of that; the remaining {1 - named:.2f} "
        "is lost because no small channel set of the CNN reproduces those blocks."
    )
    text += _side_effects_text(tested)
    text += (
        f" For the activation-mode hypotheses: {_f(tested.activation.recovery_score, '.2f')} against "
        f"{_f(tested.activation.recovery_ceiling_named, '.2f')}."
    )
    shared = tested.hypotheses_shared_with_activation
    if shared:
        text += (
            f" {shared} of the {n_hypotheses} hypotheses silence the same channels as an "
            "activation-mode hypothesis: once the channel sets are split by pathway and merged, the two kinds "
            "of modes often nominate the same experiments, and the recovery scores differ only by the rest."
        )
    return ["", text]


def _side_effects_text(tested: VirtualRetinaSummary) -> str:
    """The cell-type calls that cost agreement, and the side effects per named pathway; "" when
    every call is right."""
    errors = tested.type_errors
    if sum(errors.values()) <= errors["right"]:
        return ""
    side, missed, wrong = errors["side effect"], errors["missed"], errors["wrong sign"]
    text = (
        f" Of the cell-type calls that cost agreement, {_counted(side, 'is a side effect', 'are side effects')}"
        f" (the CNN predicts a change the block does not cause), {_counted(missed, 'miss', 'misses')} and "
        f"{_counted(wrong, 'wrong sign', 'wrong signs')}."
    )
    listed = [
        f"{PATHWAY_NAMES.get(pathway, pathway)} ({tested.contribution.coverage[pathway].hypotheses}): "
        + ", ".join(f"{type_name(t)} {n}" for t, n in sorted(types.items(), key=lambda item: -item[1]))
        for pathway, types in tested.side_effects.items()
    ]
    if listed:
        text += (
            " Side effects per named pathway (its hypotheses; the cell types, in how many of them): "
            + "; ".join(listed)
            + "."
        )
    return text


def _rates_line(hypotheses: xr.Dataset) -> list[str]:
    """The model's mean rate per cell type under the hypotheses' stimulus."""
    by = by_type(hypotheses["baseline_rate"])
    return [
        "Mean model rates (Hz) under that stimulus: "
        + ", ".join(f"{type_name(str(t))} {float(v):.1f}" for t, v in zip(by["type"].values, by.values)),
        "",
    ]


def _run_section(seconds: dict, settings: dict, machine: Mapping) -> list[str]:
    """The report's last section: seconds per step, the settings, and the machine the run ran on."""
    lines = ["## Run", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {step} | {value:.0f} |" for step, value in seconds.items()]
    lines += ["", "Settings: " + ", ".join(f"{k} = {v}" for k, v in settings.items()), ""]
    return lines + [f"Machine: {machine_line(machine)}.", ""]

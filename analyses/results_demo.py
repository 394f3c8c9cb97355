"""Regenerate the demo's results page from a demo run, so that its numbers and figures cannot go stale.

    python analyses/results_demo.py demo_out/summary.json [--page docs/results/demo.md] [--figures docs/figures]

Rewrites the part of the page between ``<!-- demo:begin -->`` and ``<!-- demo:end -->`` from the run's
``summary.json``, and the part between ``<!-- demo-sections:begin -->`` and ``<!-- demo-sections:end -->``
from its records of the later sections (test stimuli, stimuli the modes prefer, phenomena by mode);
copies the run's ``hypotheses.png`` to ``docs/figures/demo_hypotheses.png`` and those sections'
figures to ``docs/figures/demo_*.png``. Nothing else is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from retinacodec.errors import RetinaCodecError, one_line_errors
from retinacodec.hypotheses.match import PATHWAY_NAMES, type_name
from retinacodec.hypotheses.phenomena import PHENOMENON_NAMES
from retinacodec.hypotheses.report import spoken_list
from retinacodec.io.atomic import atomic_destination
from retinacodec.io.markdown import replace_section, section_markers
from retinacodec.pipelines.retina.report import kinds_text, machine_line

SECTION = "demo"
"""Name of the generated section."""
BEGIN, END = section_markers(SECTION)
"""Markers of the generated section."""
FIGURE = "demo_hypotheses.png"
"""Name of the hypotheses figure in the figures folder."""
SECTIONS = "demo-sections"
"""Name of the generated section of the later sections' records."""
PREFIX = "demo_"
"""Prefix of a run's figure's name in the figures folder."""


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _number(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _control_lines(numbers: dict, layers: list[str]) -> list[str]:
    """One bullet per layer and intervention: mean target specificity of each selection, the verdict,
    and the cell types where the contribution mode is not the most specific."""
    lines = []
    for layer in layers:
        for intervention, beats in numbers[f"control_beats_{layer}"].items():
            values = numbers[f"control_specificity_{layer}"][intervention]
            lost = [name for name, won in beats.items() if not won]
            verdict = (
                "contribution modes are the most target-specific on average"
                if not lost
                else f"contribution modes are **not** more target-specific than {' and '.join(lost)}"
            )
            losses = numbers.get(f"control_losses_{layer}", {}).get(intervention, {})
            exceptions = f"; not for the {spoken_list(type_name(t) for t in losses)} cells" if losses else ""
            errors = numbers.get(f"control_specificity_se_{layer}", {}).get(intervention, {})
            listed = ", ".join(
                f"{name} {round(value, 3) + 0.0:+.3f}" + (f" ± {errors[name]:.3f}" if name in errors else "")
                for name, value in values.items()
            )
            lines.append(f"- {layer}, {intervention}: {verdict} ({listed}){exceptions}.")
    return lines


def demo_section(numbers: dict) -> str:
    """The results page's demo paragraph and tables, from a run's ``summary.json`` contents.

    Raises
    ------
    RetinaCodecError
        If the summary lacks the numbers of a tested virtual-retina run.
    """
    needed = ("model_r", "recovery_score", "coverage", "irf_shown_share")
    missing = [key for key in needed if key not in numbers]
    if missing:
        raise RetinaCodecError(
            f"the summary lacks {', '.join(missing)}; expected summary.json of a demo run on a "
            "model with its virtual retina"
        )
    layers = [key.removeprefix("sae_r2_") for key in numbers if key.startswith("sae_r2_") and "activation" not in key]
    by_type = ", ".join(f"{type_name(t)} {r:.2f}" for t, r in numbers["model_r_by_type"].items())
    outcomes = ", ".join(f"{count} {name}" for name, count in numbers["outcomes"].items())
    covered = [PATHWAY_NAMES.get(p, p) for p, c in numbers["coverage"].items() if c["confirmed"]]
    missed = [PATHWAY_NAMES.get(p, p) for p, c in numbers["coverage"].items() if not c["confirmed"]]
    sae = "; ".join(
        f"{layer} {numbers[f'sae_r2_{layer}']:.2f} ({numbers[f'sae_r2_activation_{layer}']:.2f} for activations)"
        for layer in layers
    )
    rows = [
        "| quantity | value |",
        "|---|---|",
        f"| model r on fresh natural jitter | {numbers['model_r']:.3f} ({by_type}) |",
        "| completeness error (median relative; largest) | "
        + "; ".join(
            f"{layer} {numbers[f'completeness_error_median_relative_{layer}']:.1e}; "
            f"{numbers[f'completeness_error_max_hz_{layer}']:.2g} Hz"
            for layer in layers
        )
        + " |",
        f"| SAE R², contributions | {sae} |",
        f"| IRF share carried by the modes shown | {_percent(numbers['irf_shown_share'])} |",
        f"| hypotheses | {numbers['n_hypotheses']}: {outcomes} |",
        f"| recovery score | {_number(numbers['recovery_score'])} (shuffled channels "
        f"{_number(numbers['recovery_score_shuffled'])}; hypotheses from activation modes "
        f"{_number(numbers.get('recovery_score_activation'))}) |",
        f"| recovery score by kind of hypothesis (hypotheses, confirmed) | {kinds_text(numbers)} |",
        "| per cell (confidence-weighted; shuffled) | "
        + ", ".join(
            f"{measure.replace('_', ' ')} {_number(values['modes'])} ({_number(values['shuffled'])})"
            for measure, values in numbers.get("agreement", {}).items()
        )
        + " |",
        f"| pathways named by a confirmed hypothesis | {len(covered)} of {len(numbers['coverage'])} "
        f"({', '.join(covered) or 'none'}) |",
        f"| pathways a confirmed hypothesis of {_ceiling_size(numbers)} could name at best (uses the outcomes): "
        "any set; only sets the match assigns the pathway | "
        f"{numbers.get('pathways_confirmable', 'n/a')}; {numbers.get('pathways_confirmable_assigned', 'n/a')} |",
        f"| ceiling: mean over pathways of the best agreement of any set of few channels (uses the outcomes) | "
        f"{_number(numbers.get('recovery_ceiling'))} |",
        "| the same hypotheses with the best set of their layer for their pathway (uses the outcomes) | "
        f"{_number(numbers.get('recovery_ceiling_named'))} (activation modes "
        f"{_number(numbers.get('recovery_ceiling_named_activation'))}) |",
        "| the closest-following set of all for each pathway, chosen by activity (no modes, no outcomes) | "
        f"{_number(numbers.get('recovery_match_all_sets'))} |",
        "| hypotheses that silence the same channels as an activation-mode hypothesis | "
        f"{numbers.get('hypotheses_shared_with_activation', 'n/a')} of {numbers['n_hypotheses']} |",
    ]
    errors = numbers.get("type_errors")
    if errors:
        rows.append(
            f"| cell-type calls: right; side effects (predicted, not seen); missed; wrong sign | "
            f"{errors['right']}; {errors['side effect']}; {errors['missed']}; {errors['wrong sign']} |"
        )
    if "machine" in numbers:
        rows.append(f"| machine of the run | {machine_line(numbers['machine'])} |")
    text = (
        "On the shipped model the demo finds (written from a `retinacodec demo` run by\n"
        "`python analyses/results_demo.py demo_out/summary.json`):\n\n" + "\n".join(rows) + "\n\n"
        "Control curves (the top k = 1..8 channels of the mode most tied to each cell type silenced, or kept "
        "alone; specificity = on- minus off-target relative rate change, mean over types and k, ± standard "
        "error; random sets are target-blind, so theirs is 0 on average):\n\n"
        + "\n".join(_control_lines(numbers, layers))
        + "\n\n"
        f"Pathways no confirmed hypothesis names: {', '.join(missed) or 'none'}."
        + _ceiling_line(numbers)
        + "\n\nTwo runs on one machine give identical numbers. Another CPU (another vector unit, another torch) "
        "rounds differently; the sparse autoencoders then end in other modes, and the hypotheses, the recovery "
        "score and the pathways move by about as much as they do between stimulus seeds. Read one run's numbers "
        "with [the replicates](replicates.md), and the machine row above."
    )
    return text


def _ceiling_line(numbers: dict) -> str:
    """ " Pathways no small channel set reproduces (ceiling below 1): ..." from the summary's ceiling."""
    below = {p: c for p, c in numbers.get("ceiling", {}).items() if c < 1}
    if not below:
        return ""
    listed = ", ".join(f"{PATHWAY_NAMES.get(p, p)} ({c:.2f})" for p, c in below.items())
    return (
        f" Pathways whose block no set of {_ceiling_size(numbers)} of either layer reproduces (ceiling below 1: "
        f"the CNN mixes them with others): {listed}."
    )


def _ceiling_size(numbers: dict) -> str:
    """ "up to N channels", the sets the summary's ceiling tried ("few channels" for a run before it
    was recorded)."""
    size = numbers.get("ceiling_channels")
    return "few channels" if size is None else f"up to {size} channel{'s' if size > 1 else ''}"


def _signed(value: float | None, spec: str = "+.2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _image(link: str, name: str, title: str, caption: str) -> list[str]:
    """A figure of the run, copied as ``demo_<name>``, with its title (the alt text) and caption."""
    return [f"![{title}]({link}/{PREFIX}{name})", "", f"*`{name}` from the same run: {caption}*", ""]


def _test_stimuli_lines(record: dict, link: str) -> list[str]:
    """The designed test stimuli: per hypothesis the aimed-at types' z in the CNN and the retina."""
    lines = [
        "## Test stimuli",
        "",
        f"For each hypothesis a {record['seconds']:g} s stimulus designed from the CNN alone (seed {record['seed']}, "
        f"{record['steps']} Adam steps), against the first frames of the hypotheses' natural jitter (seed "
        f"{record['jitter_seed']}). z: the aimed-at types' change in Poisson standard errors of a "
        f"{record['recording_s']:g} s recording per condition, signed by the predicted direction.",
        "",
        "| hypothesis | aimed at | CNN z, designed | CNN z, jitter | retina z, designed | retina z, jitter | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, test in record["hypotheses"].items():
        aimed = ", ".join(f"{type_name(t)} {'up' if s > 0 else 'down'}" for t, s in test["aimed_at"].items())
        values = [_signed(test[k], "+.1f") for k in ("cnn_z_designed", "cnn_z_jitter", "retina_z_designed")]
        values += [_signed(test["retina_z_jitter"], "+.1f"), _signed(test["ratio"], ".2f")]
        lines.append(f"| {name} | {aimed} | " + " | ".join(values) + " |")
    if record["checked"]:
        lines += ["", f"Median ratio (retina z designed / jitter): {_signed(record['median_ratio'], '.2f')}."]
    caption = "frames, and each type's change in standard errors, designed (solid) and jitter (hatched)."
    return lines + [""] + _image(link, "test_stimuli.png", "Designed test stimuli of the hypotheses", caption)


def _preferred_lines(record: dict, link: str) -> list[str]:
    """The stimuli the modes prefer: per IRF cell and mode the loading, share, rate and IRF correlation."""
    lines = [
        "## Stimuli the modes prefer",
        "",
        f"For each IRF cell and its leading modes of the {record['layer']} layer, the {record['seconds']:g} s "
        f"stimulus that maximises the mode's loading (seed {record['seed']}, {record['steps']} Adam steps), "
        "beside the cell's most exciting input. Share: the mode's share of the SAE's reconstruction under the "
        "stimulus; r: its correlation with the mode's IRF (the cell's IRF for the most exciting input).",
        "",
        "| cell | stimulus | loading | share | rate (Hz) | r with IRF |",
        "|---|---|---|---|---|---|",
    ]
    figures = []
    for number, cell in record["cells"].items():
        name = f"{number} ({type_name(cell['cell_type'])})"
        lines.append(
            f"| {name} | most exciting input | | | {_signed(cell['mei_rate_hz'], '.1f')} | "
            f"{_signed(cell['mei_irf_correlation'])} |"
        )
        for mode, row in cell["modes"].items():
            values = [_signed(row["loading"], ".2f"), _signed(row["share"], ".2f"), _signed(row["rate_hz"], ".1f")]
            lines.append(f"| {name} | mode {mode} | " + " | ".join(values) + f" | {_signed(row['irf_correlation'])} |")
        caption = f"cell {number}'s most exciting input and the stimuli its modes prefer (peak frame, time course)."
        figures += _image(link, f"preferred_cell{number}.png", f"Stimuli the modes of cell {number} prefer", caption)
    return lines + [""] + figures


def _claim_row(claim: dict) -> str:
    """One claim of the phenomena's block test as a table row."""
    removed = claim["removed"]
    interval = f" [{removed['low']:+.2f}, {removed['high']:+.2f}]" if removed["low"] is not None else ""
    controls = "; ".join(f"{PATHWAY_NAMES.get(c, c)} {_signed(v)}" for c, v in claim["control_removed"].items())
    unit = " Hz" if "Hz" in claim["measure"] else ""
    block = PATHWAY_NAMES.get(claim["block"], claim["block"]) if claim["block"] else "none"
    return (
        f"| {PHENOMENON_NAMES.get(claim['phenomenon'], claim['phenomenon'])}, {type_name(claim['cell_type'])} | "
        f"{_signed(claim['shown'])}{unit} | {claim['leading_mode']} ({block}) | {_signed(removed['mean'])}{interval} "
        f"| {controls} | {claim['verdict']} |"
    )


def _phenomena_lines(record: dict, link: str) -> list[str]:
    """The phenomena by mode: each claim's block test and the verdict counts."""
    lines = [
        "## Phenomena by mode",
        "",
        f"Flash onsets and object motion (CNN object-motion seed {record['oms_seed']}) split between the "
        f"{record['layer']} layer's contribution modes (completeness error at most "
        f"{_signed(record['completeness_error_max_hz'], '.1e')} Hz).",
    ]
    if record.get("claims") is None:
        return lines + ["No virtual retina tested which pathway carries each phenomenon.", ""]
    verdicts = record["verdicts"]
    lines[-1] += (
        " Each phenomenon the virtual retina shows in a type is a claim that the leading mode's pathway carries "
        "it, tested by blocking that pathway against blocking each pathway no mode names (fresh seeds "
        f"{', '.join(map(str, record['seeds']))}; {record['trials']} flash repeats; {100 * record['level']:g}% "
        f"intervals over seeds). Confirmed when the block removes at least {record['min_reduction']:g} of the "
        "phenomenon and more than every control block."
    )
    lines += [
        "",
        "| phenomenon, cell type | retina | leading mode (its pathway, blocked) | removed by the block "
        "| removed by the control blocks | verdict |",
        "|---|---|---|---|---|---|",
        *map(_claim_row, record["claims"]),
        "",
        f"{verdicts['confirmed']} of {len(record['claims'])} claims confirmed, {verdicts['refuted']} refuted, "
        f"{verdicts['no mode carries it']} without a mode.",
        "",
    ]
    caption = (
        "each mode's share of the CNN's response contrast per cell type (top); the fraction of each "
        "phenomenon a block of the leading mode's pathway removes against the control blocks (bottom)."
    )
    return lines + _image(link, "phenomena.png", "Phenomena by mode", caption)


def sections_text(numbers: dict, link: str = "../figures") -> str:
    """The results page's later sections (test stimuli, stimuli the modes prefer, phenomena by mode)
    from a run's ``summary.json`` contents, their figures linked in the folder ``link`` (relative to
    the page)."""
    lines = []
    if "test_stimuli" in numbers:
        lines += _test_stimuli_lines(numbers["test_stimuli"], link)
    if "preferred_stimuli" in numbers:
        lines += _preferred_lines(numbers["preferred_stimuli"], link)
    if "phenomena" in numbers:
        lines += _phenomena_lines(numbers["phenomena"], link)
    if not lines:
        return "The run's summary holds none of the later sections (a run from before they were recorded)."
    return "\n".join(lines)


def run_figures(numbers: dict) -> list[str]:
    """Names of the run's figures the page shows: the hypotheses' and those of the later sections it records."""
    names = ["hypotheses.png"] + (["test_stimuli.png"] if "test_stimuli" in numbers else [])
    names += [f"preferred_cell{cell}.png" for cell in numbers.get("preferred_stimuli", {}).get("cells", {})]
    return names + (["phenomena.png"] if "phenomena" in numbers else [])


def update_page(summary: str | Path, page: str | Path, figures: str | Path) -> list[Path]:
    """Rewrite a page's demo sections, and their figures, from a demo run.

    Parameters
    ----------
    summary : str or path-like
        ``summary.json`` of a demo run (its folder holds the figures, :func:`run_figures`).
    page : str or path-like
        The page holding the markers of :data:`SECTION` and :data:`SECTIONS`.
    figures : str or path-like
        Folder the figures are copied to, each with the prefix :data:`PREFIX`.

    Returns
    -------
    list of pathlib.Path
        The figures' paths, the hypotheses' (:data:`FIGURE`) first.

    Raises
    ------
    RetinaCodecError
        For a missing or unreadable summary or figure, or a page without the markers.
    """
    summary, page = Path(summary), Path(page)
    try:
        numbers = json.loads(summary.read_text())
    except (OSError, ValueError) as exc:
        raise RetinaCodecError(f"cannot read {summary}: {exc}; expected a demo run's summary.json") from None
    sources = [summary.parent / name for name in run_figures(numbers)]
    for figure in sources:
        if not figure.is_file():
            raise RetinaCodecError(f"no {figure}; expected the demo run's folder with its figures")
    text = page.read_text() if page.is_file() else ""
    for name in (SECTION, SECTIONS):
        if not all(marker in text for marker in section_markers(name)):
            raise RetinaCodecError(f"{page} lacks the markers {' ... '.join(section_markers(name))}; add them")
    link = Path(os.path.relpath(figures, page.parent)).as_posix()
    replace_section(page, SECTION, demo_section(numbers))
    replace_section(page, SECTIONS, sections_text(numbers, link))
    targets = []
    for figure in sources:
        targets.append(Path(figures) / f"{PREFIX}{figure.name}")
        with atomic_destination(targets[-1]) as tmp:
            shutil.copyfile(figure, tmp)
    return targets


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", help="summary.json of a demo run")
    parser.add_argument("--page", default="docs/results/demo.md", help="page to update (default: %(default)s)")
    parser.add_argument("--figures", default="docs/figures", help="folder of the figures (default: %(default)s)")
    args = parser.parse_args(argv)
    figures = update_page(args.summary, args.page, args.figures)
    print(f"wrote {args.page} and {', '.join(map(str, figures))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

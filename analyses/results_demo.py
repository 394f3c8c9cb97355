"""Regenerate the demo's results page from a demo run, so that its numbers and figure cannot go stale.

    python analyses/results_demo.py demo_out/summary.json [--page docs/results/demo.md] [--figures docs/figures]

Rewrites the part of the page between ``<!-- demo:begin -->`` and ``<!-- demo:end -->`` from the run's
``summary.json`` and copies the run's ``hypotheses.png`` to ``docs/figures/demo_hypotheses.png``.
Nothing else is touched.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from retinacodec.errors import RetinaCodecError, one_line_errors
from retinacodec.hypotheses.match import PATHWAY_NAMES, type_name
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


def update_page(summary: str | Path, page: str | Path, figures: str | Path) -> Path:
    """Rewrite a page's demo section, and the hypotheses figure, from a demo run.

    Parameters
    ----------
    summary : str or path-like
        ``summary.json`` of a demo run (its folder holds ``hypotheses.png``).
    page : str or path-like
        The page holding the markers :data:`BEGIN` and :data:`END`.
    figures : str or path-like
        Folder the figure is copied to, as :data:`FIGURE`.

    Returns
    -------
    pathlib.Path
        The figure's path.

    Raises
    ------
    RetinaCodecError
        For a missing or unreadable summary or figure, or a page without the markers.
    """
    summary = Path(summary)
    try:
        numbers = json.loads(summary.read_text())
    except (OSError, ValueError) as exc:
        raise RetinaCodecError(f"cannot read {summary}: {exc}; expected a demo run's summary.json") from None
    figure = summary.parent / "hypotheses.png"
    if not figure.is_file():
        raise RetinaCodecError(f"no {figure}; expected the demo run's folder with its figures")
    replace_section(page, SECTION, demo_section(numbers))
    target = Path(figures) / FIGURE
    with atomic_destination(target) as tmp:
        shutil.copyfile(figure, tmp)
    return target


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", help="summary.json of a demo run")
    parser.add_argument("--page", default="docs/results/demo.md", help="page to update (default: %(default)s)")
    parser.add_argument("--figures", default="docs/figures", help="folder of the figure (default: %(default)s)")
    args = parser.parse_args(argv)
    figure = update_page(args.summary, args.page, args.figures)
    print(f"wrote {args.page} and {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

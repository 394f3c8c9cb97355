"""Regenerate the ImageNet-control results page from the replication's summary.json files.

    python analyses/results_imagenet_control.py results/replication [--page docs/results/imagenet-control.md]
        [--figures docs/figures] [--readme README.md]

Replaces the text between ``<!-- imagenet-control:begin -->`` and ``<!-- imagenet-control:end -->``
(:func:`retinacodec.io.markdown.replace_section`) with, per model, the runs of
``analyses/imagenet_control.py`` that finished (``<results>/<model>_<protocol>/summary.json``): the
sanity of each intervention point, the verdict per layer on the paper's claim by the rules of
:mod:`retinacodec.pipelines.imagenet.control.verdicts`, each protocol's own tables and the
deviations from the reference; copies the figures to the figures folder; and rewrites the
``imagenet-replication`` section of the README with one line per run. Every number comes from the
summary files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

from retinacodec.errors import RetinaCodecError, one_line_errors
from retinacodec.io.markdown import replace_section
from retinacodec.pipelines.imagenet.control import codec_report, report
from retinacodec.pipelines.imagenet.control.settings import PROTOCOLS
from retinacodec.pipelines.imagenet.control.verdicts import CLAIMED_SIGN, verdicts

SECTION = "imagenet-control"
README_SECTION = "imagenet-replication"
FIGURES = {
    "codec": ("codec_curves_ablate.png", "codec_curves_preserve.png", "codec_layer_scores.png"),
    "retinacodec": ("control_curves_ablate.png", "control_curves_preserve.png", "control_layerwise.png"),
}


def verdict_table(record: dict) -> str:
    """Markdown: per layer, whether it is sound and the verdicts, with the interval they read."""
    found = verdicts(record)
    lines = [
        "| layer | sound | ablate: C vs A | C vs random | preserve: C vs A | C vs random |",
        "|---|---|---|---|---|---|",
    ]
    for layer in record["layers"]:
        cells = [found[layer][i][k] for i in CLAIMED_SIGN for k in ("vs_activation", "vs_random")]
        lines.append(f"| {layer} | {'yes' if found[layer]['sound'] else '**no**'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict_counts(record: dict) -> str:
    """One sentence: over the sound layers, how many verdicts of each kind per intervention."""
    found = verdicts(record)
    sound = [layer for layer in record["layers"] if found[layer]["sound"]]
    parts = []
    for intervention in CLAIMED_SIGN:
        counts = Counter(found[layer][intervention]["vs_activation"] for layer in sound)
        parts.append(f"{intervention}: " + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())))
    return (
        f"Sound layers: {len(sound)} of {len(record['layers'])}. Contribution against activation modes over the "
        f"sound layers, {'; '.join(parts) or 'none'}."
    )


def protocol_section(record: dict) -> str:
    """The markdown of one protocol's run: sizes, verdicts, its own tables and the deviations."""
    protocol = record["protocol"]
    writer = codec_report if protocol == "codec" else report
    own = (
        writer.tables(record)
        if protocol == "codec"
        else report.sanity_table(record) + "\n\n" + report.score_table(record)
    )
    claim = (
        "C − A: the difference of the reference's score (AUC_target − AUC_off) / AUC_off between the contribution "
        "and the activation mode's channels, 95 % interval over the trials"
        if protocol == "codec"
        else "C − A: the difference of the specificity AUC (the target's accuracy drop minus the off-target's for "
        "ablate, its negative for preserve: positive means class-specific) between the contribution and the "
        "activation mode's channels, 95 % interval over the images"
    )
    return "\n\n".join(
        [
            f"### Protocol `{protocol}`",
            writer.sizes(record),
            f"Verdicts ({claim}; C vs random: the contribution mode's score against the random channels' at the same "
            "layer; *reproduces*: the interval lies on the side the paper claims, *reversed*: on the other, *not "
            "resolved*: it holds 0). " + verdict_counts(record),
            verdict_table(record),
            own,
            "Deviations from the reference:\n\n" + "\n".join(f"- {line}" for line in record["deviations"]),
        ]
    )


def finished_runs(results: Path) -> dict[str, dict[str, tuple[Path, dict]]]:
    """``{model: {protocol: (run folder, its summary record)}}`` of the finished runs under ``results``."""
    runs: dict[str, dict[str, tuple[Path, dict]]] = {}
    for summary in sorted(results.glob("*/summary.json")):
        record = json.loads(summary.read_text())
        runs.setdefault(record["model"], {})[record["protocol"]] = (summary.parent, record)
    if not runs:
        raise RetinaCodecError(f"no finished run in {results}; expected <model>_<protocol>/summary.json files")
    return runs


def readme_lines(runs: dict[str, dict[str, tuple[Path, dict]]], page: str) -> str:
    """One bullet per run: its sizes in brief, the sound layers and the verdict counts."""
    lines = []
    for model, found in runs.items():
        for protocol in (p for p in PROTOCOLS[::-1] if p in found):
            record = found[protocol][1]
            lines.append(
                f"- {model}, protocol `{protocol}`, {record['n_classes']} classes, {record['fit_images']['n_images']} "
                f"fit and {record['top1']['n_images']} held-out images, {len(record['layers'])} layers "
                f"({record['total_seconds'] / 60:.0f} min of steps): {verdict_counts(record)}"
            )
    return "\n".join(lines) + (
        "\n\nFrom the records of `analyses/imagenet_control.py` on `../shared/imagenette`; layers, sizes and verdict "
        f"rules were fixed before the runs. Tables, intervals, figures and deviations: [ImageNet control]({page})."
    )


def section(runs: dict[str, dict[str, tuple[Path, dict]]], figures: Path, page: Path) -> str:
    """The section's markdown; copies each finished run's figures into ``figures``, linked from ``page``."""
    parts = [
        "Generated by `analyses/results_imagenet_control.py` from the `summary.json` of each run of "
        "`analyses/imagenet_control.py` on `../shared/imagenette` (modes fitted on the `fit` images, every "
        "control figure on the held-out `val` images)."
    ]
    for model, found in runs.items():
        parts.append(f"## {model}")
        for protocol in (p for p in PROTOCOLS[::-1] if p in found):
            folder, record = found[protocol]
            parts.append(protocol_section(record))
            for name in FIGURES[protocol]:
                target = figures / f"imagenet_{model}_{name}"
                shutil.copyfile(folder / name, target)
                link = Path(os.path.relpath(target, page.parent)).as_posix()
                parts.append(f"![{model} {name[:-4].replace('_', ' ')}]({link})")
    return "\n\n".join(parts)


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="output folder of analyses/imagenet_control.py")
    parser.add_argument("--page", type=Path, default=Path("docs/results/imagenet-control.md"))
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"))
    parser.add_argument("--readme", type=Path, help="also rewrite this README's imagenet-replication section")
    args = parser.parse_args(argv)
    runs = finished_runs(args.results)
    args.figures.mkdir(parents=True, exist_ok=True)
    replace_section(args.page, SECTION, section(runs, args.figures, args.page))
    print(f"updated {args.page}")
    if args.readme is not None:
        link = Path(os.path.relpath(args.page, args.readme.parent)).as_posix()
        replace_section(args.readme, README_SECTION, readme_lines(runs, link))
        print(f"updated {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How often the functional cell types of a recording are right: the virtual retina's cells typed
from simulated rig recordings, against their known types.

For each seed, the virtual retina's 20 cells (5 ON, 5 OFF, 5 ON-OFF, 5 OMS) are recorded for 20
minutes under each of two stimuli, as the rig simulator (:mod:`retinacodec.bench.rig`) records
them: full-field Gaussian flicker (75 Hz, contrast 0.3, 1 x 1 frames, written to NWB and read
back) and spatial binary white noise (100 Hz, 50 x 50 px, 2 px checks, contrast 0.4; the spike
counts of its 10 ms frames, which is what reading the rig's NWB file gives, without writing 300 MB
per recording). Spikes only: no positions, no types. Each recording is typed
(:func:`retinacodec.models.cell_types.functional_types`) on its first 5 minutes and on all 20.

A label is correct when it is the functional type that the true type should show on such a stimulus,
a correspondence fixed with the rules and before any accuracy was seen: ``on`` -> on, ``off`` ->
off, ``on_off`` -> on_off, ``oms`` -> off_transient (the virtual retina's OMS cell is the
salamander "fast OFF" cell, pooling rectified OFF transient bipolars; that it is object-motion
sensitive needs a differential-motion stimulus, which neither recording has). Shares come with
Wilson 95 % intervals over cells (pooled over seeds).

Usage::

    python analyses/cell_types_accuracy.py [--seeds 380101 380102] [--parts /tmp/cell_types]
        [--json docs/results/cell_types.json] [--page docs/results/cell-types.md]
    python analyses/cell_types_accuracy.py --redraw   # the page again from the json

Seeds from 380101 on were never used before (the rules were fixed on analytic filters and
synthetic cells only). Each seed's rows are kept in ``--parts`` (``cell_types_seed<N>.json``), so a
rerun with more seeds computes only the new ones. One seed took about 14 minutes on 2 CPU cores
shared with other jobs (simulating two 20-minute recordings of the 50 x 50 px retina, then typing).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from retinacodec.bench.rig import record_full_field, white_noise_frames
from retinacodec.device import machine
from retinacodec.io import read_nwb
from retinacodec.io.atomic import atomic_destination
from retinacodec.models.cell_types import functional_types
from retinacodec.models.virtual_retina import VirtualRetina
from retinacodec.pipelines.retina.report import machine_line

EXPECTED = {"on": "on", "off": "off", "on_off": "on_off", "oms": "off_transient"}
"""True type -> the functional label that counts as correct (fixed before any accuracy was seen)."""
LABELS = ("on", "off", "on_transient", "off_transient", "on_off", "unclassified")
MINUTES = (5, 20)
SEEDS = (380101, 380102)
Z_95 = 1.959963984540054
LIMITS: tuple[str, ...] = (
    "- **OMS from OFF.** No noise stimulus shows object-motion sensitivity: that needs differential against "
    "global motion (the jittered-grating OMS index of the phenomena battery). From noise the OMS cell can at best be "
    "a fast (transient) OFF cell. Its biphasic index sits at the rule's threshold of 0.5 (median column), while the "
    "OFF cells' stays near 0.2: the index separates the two types, the threshold fixed beforehand (a second lobe at "
    "least half the first) cuts through the OMS cells, which are split between `off` and `off_transient`. Moving "
    "the threshold after seeing this would fit it to these seeds; a new threshold needs new seeds to be checked.",
    "- **ON-OFF cells have no polarity.** Their rectified ON and OFF inputs cancel in the spike-triggered average "
    "(median STA z well below 5), so they are never typed ON or OFF. The two-filter test sees them respond to both "
    "polarities (on-off index 0.4-1.0), but at their rates the excess in the non-preferred tail reaches the "
    "significance threshold (4 Poisson SDs) in only some cells, more of them at 20 minutes; the rest are "
    "`unclassified` (no clear polarity), not mistyped.",
    "- **The ON-OFF test is optimistic on short recordings.** Its direction (the top eigenvector of the "
    "spike-triggered second moment over 0.5 s of lags) is chosen on the same spikes it is tested on, so on a "
    "weak signal a noise direction can show an excess in both tails: two OFF cells of 5 minutes of spatial noise "
    "were called ON-OFF (on-off index 0.76 and 0.92, z 4.2 and 5.2), and the same cells score -0.5 after 20 "
    "minutes. Choosing the direction on half of the spikes and testing it on the other half would remove that "
    "bias; it is a change of the rules, so it is left for a study on new seeds.",
    "- **ON cells under spatial noise need time.** At the receptive-field pixel of 2 px checks their STA is weaker "
    "than the OFF cells' (median STA z), near the threshold of 5 after 5 minutes: some are unclassified, and their "
    "biphasic index is noisy enough to call some transient. After 20 minutes all are typed ON.",
    "- **Full field against spatial.** Full-field flicker types ON and OFF cells at 5 minutes already (one number "
    "per frame, no receptive field to find); the OMS cells fire less under it (the wide-field amacrine sees the "
    "global flicker) but enough to be typed.",
)
"""What the method cannot tell apart, and why (written after reading the results)."""


def wilson(correct: int, total: int) -> tuple[float, float]:
    """Wilson score 95 % interval of a proportion."""
    if total == 0:
        return (float("nan"), float("nan"))
    p = correct / total
    centre = (p + Z_95**2 / (2 * total)) / (1 + Z_95**2 / total)
    half = Z_95 * np.sqrt(p * (1 - p) / total + Z_95**2 / (4 * total**2)) / (1 + Z_95**2 / total)
    return (float(centre - half), float(centre + half))


def _recordings(seed: int, retina: VirtualRetina, folder: Path) -> dict[str, tuple[xr.DataArray, xr.DataArray]]:
    """stimulus kind -> (stimulus, spikes) of 20 minutes."""
    path, _, _ = record_full_field(folder / f"full_field_{seed}.nwb", 20.0, seed=seed, retina=retina)
    full = read_nwb(path)
    noise = white_noise_frames(20.0, seed + 10)
    spikes = retina.respond(noise, seed=seed + 11)["spikes"]
    return {"full-field": (full["stimulus"], full["spikes"]), "spatial": (noise, spikes)}


def _type_seed(seed: int, retina: VirtualRetina, folder: Path) -> list[dict]:
    rows = []
    truth = [str(t) for t in retina.cells["cell_type"].values]
    for kind, (stimulus, spikes) in _recordings(seed, retina, folder).items():
        rate = float(stimulus.attrs["frame_rate_hz"])
        for minutes in MINUTES:
            frames = slice(0, int(round(minutes * 60 * rate)))
            started = time.perf_counter()
            typed = functional_types(stimulus.isel(time=frames), spikes.isel(time=frames))
            seconds = time.perf_counter() - started
            for cell, true in enumerate(truth):
                rows.append(
                    {
                        "seed": seed,
                        "stimulus": kind,
                        "minutes": minutes,
                        "cell": cell,
                        "true": true,
                        "label": str(typed["cell_type"].values[cell]),
                        "reason": str(typed["reason"].values[cell]),
                        "n_spikes": int(typed["n_spikes"].values[cell]),
                        "peak_z": float(typed["peak_z"].values[cell]),
                        "biphasic_index": float(typed["biphasic_index"].values[cell]),
                        "on_off_index": float(typed["on_off_index"].values[cell]),
                        "opposite_z": float(typed["opposite_z"].values[cell]),
                        "typing_seconds": seconds,
                    }
                )
            print(f"seed {seed} {kind} {minutes} min typed in {seconds:.1f} s", file=sys.stderr)
    return rows


def _median_seconds(rows: list[dict], kind: str, minutes: int) -> float:
    """Median over seeds of the time one recording of ``kind`` and length took to type (s)."""
    chosen = [r["typing_seconds"] for r in rows if (r["stimulus"], r["minutes"], r["cell"]) == (kind, minutes, 0)]
    return float(np.median(chosen)) if chosen else float("nan")


def _median(rows: list[dict], key: str) -> float:
    return float(np.median([r[key] for r in rows])) if rows else float("nan")


def summarise(rows: list[dict]) -> list[dict]:
    """Per stimulus, length and true type: cells, correct share, Wilson interval, label counts."""
    out = []
    for kind in ("full-field", "spatial"):
        for minutes in MINUTES:
            for true, expected in EXPECTED.items():
                chosen = [r for r in rows if r["stimulus"] == kind and r["minutes"] == minutes and r["true"] == true]
                correct = sum(r["label"] == expected for r in chosen)
                low, high = wilson(correct, len(chosen))
                out.append(
                    {
                        "stimulus": kind,
                        "minutes": minutes,
                        "true_type": true,
                        "expected_label": expected,
                        "cells": len(chosen),
                        "correct": correct,
                        "share": correct / len(chosen) if chosen else float("nan"),
                        "interval_95": [low, high],
                        "labels": {label: sum(r["label"] == label for r in chosen) for label in LABELS},
                        "median_peak_z": _median(chosen, "peak_z"),
                        "median_biphasic_index": _median(chosen, "biphasic_index"),
                    }
                )
    return out


def page(record: dict) -> str:
    """The docs page of a record."""
    lines = [
        "# Functional cell types against the virtual retina",
        "",
        "<!-- generated by analyses/cell_types_accuracy.py from docs/results/cell_types.json; do not edit -->",
        "",
        "The virtual retina's cells (5 per type per seed) typed from simulated rig recordings (spikes only) by "
        "`retinacodec.models.cell_types.functional_types`, whose rules were fixed (commit "
        f"{record['rules_commit']}) before this study ran. Seeds {', '.join(map(str, record['seeds']))}; "
        "share of cells correct with a Wilson 95 % interval. OMS counts as correct when typed `off_transient` "
        "(the fast-OFF cell it is; object-motion sensitivity needs a differential-motion stimulus).",
        "",
        "| stimulus | minutes | true type | correct | share [95 % interval] | labels given | median STA z | "
        "median biphasic index |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in record["accuracy"]:
        given = ", ".join(f"{label} {n}" for label, n in row["labels"].items() if n)
        low, high = row["interval_95"]
        lines.append(
            f"| {row['stimulus']} | {row['minutes']} | {row['true_type']} | {row['correct']}/{row['cells']} | "
            f"{row['share']:.2f} [{low:.2f}, {high:.2f}] | {given} | {row['median_peak_z']:.1f} | "
            f"{row['median_biphasic_index']:.2f} |"
        )
    lines += ["", "## What the method cannot tell apart", "", *LIMITS, ""]
    timing = ", ".join(f"{key} {value:.0f} s" for key, value in record["typing_seconds"].items())
    lines.append(f"Typing the 20 units of one recording took (median over seeds) {timing}, on {record['machine']}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--json", default="docs/results/cell_types.json")
    parser.add_argument("--parts", default=str(Path(tempfile.gettempdir()) / "cell_types"), help="per-seed rows")
    parser.add_argument("--page", default="docs/results/cell-types.md")
    parser.add_argument("--rules-commit", default="41254a2")
    parser.add_argument("--redraw", action="store_true", help="only write the page again from the json")
    args = parser.parse_args(argv)
    if not args.redraw:
        retina = VirtualRetina()
        rows = []
        Path(args.parts).mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:  # each seed's rows are kept beside the json, so a rerun skips it
            part = Path(args.parts) / f"cell_types_seed{seed}.json"
            if not part.is_file():
                with tempfile.TemporaryDirectory() as folder:
                    part.write_text(json.dumps(_type_seed(seed, retina, Path(folder))))
            rows += json.loads(part.read_text())
        record = {
            "seeds": args.seeds,
            "rules_commit": args.rules_commit,
            "expected": EXPECTED,
            "accuracy": summarise(rows),
            "cells": rows,
            "machine": machine_line(machine()),
            "typing_seconds": {
                f"{kind} {minutes} min": _median_seconds(rows, kind, minutes)
                for kind in ("full-field", "spatial")
                for minutes in MINUTES
            },
        }
        with atomic_destination(Path(args.json)) as tmp:
            tmp.write_text(json.dumps(record, indent=1))
    record = json.loads(Path(args.json).read_text())
    with atomic_destination(Path(args.page)) as tmp:
        tmp.write_text(page(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())

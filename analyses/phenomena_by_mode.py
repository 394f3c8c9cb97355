"""The retina's phenomena explained by mode, each claim tested by a block on the virtual retina.

Fits the full demo's contribution modes of its IRF layer (``DemoSettings()`` defaults: the same
contributions and SAE as ``retinacodec demo``), says which mode carries each phenomenon's response
contrast in the CNN (:func:`retinacodec.hypotheses.phenomena_by_mode`), matches every mode to a
pathway on the demo's held-out match stimulus (:func:`retinacodec.hypotheses.mode_pathways`) and
tests each claim by blocking the leading mode's pathway against the pathways no mode names
(:func:`retinacodec.hypotheses.check_phenomena`), with the rules of
:class:`~retinacodec.hypotheses.PhenomenonRules` as committed in 639cabc before any block outcome of
a claim was seen. Its default seeds 39390-39394 were used by nothing before.

Usage::

    python analyses/phenomena_by_mode.py -o OUT [--seeds 39390 ...]

``OUT`` gets ``record.json`` (the claims with their effect sizes and intervals), ``phenomena.nc``,
``phenomena_checked.nc`` and ``phenomena.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from retinacodec.device import machine
from retinacodec.hypotheses import PhenomenonRules, check_phenomena, mode_pathways, phenomena_by_mode
from retinacodec.io.netcdf import write_netcdf
from retinacodec.models import load
from retinacodec.pipelines.retina import DemoSettings, steps
from retinacodec.plots import save_figure
from retinacodec.plots.phenomena import plot_phenomena
from retinacodec.stimuli import natural_jitter

RULES_COMMIT = "639cabc"
"""The commit that fixed the rules of the block test, before any outcome of a claim was looked at."""


def _claims(checked) -> list[dict]:
    """One record per claim: the CNN's leading mode and pathway, the retina's effect sizes."""
    rows = []
    for claim in checked["claim"].values:
        row = checked.sel(claim=claim)
        controls = {
            str(c): {
                "removed": float(row["control_reduction_mean"].sel(control=c)),
                "difference": [float(row[f"difference_{p}"].sel(control=c)) for p in ("mean", "low", "high")],
            }
            for c in checked["control"].values
        }
        rows.append(
            {
                "phenomenon": str(row["phenomenon"].values),
                "cell_type": str(row["cell_type"].values),
                "measure": str(row["measure"].values),
                "retina_value": float(row["shown"]),
                "leading_mode": int(row["leading_mode"]),
                "leading_share": float(row["leading_share"]),
                "block": str(row["block"].values),
                "pathway_share": float(row["pathway_share"]),
                "removed_by_block": [float(row[f"reduction_{p}"]) for p in ("mean", "low", "high")],
                "controls": controls,
                "verdict": str(row["verdict"].values),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(PhenomenonRules().seeds))
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    started, settings = time.perf_counter(), DemoSettings()
    model = load("default")
    retina, layer = model.virtual_retina, settings.irf_layer or settings.layers[-1]
    demo = DemoSettings(layers=(layer,))  # the demo's contributions and SAE of this layer
    analysis = natural_jitter(n_frames=demo.analysis_frames, seed=demo.seed + 1, progress=False)
    found = steps.layer_contributions(model, analysis, demo, False)
    found |= steps.layer_modes(found, demo, False)
    by_mode = phenomena_by_mode(model, found[f"sae_{layer}"], layer)
    match = natural_jitter(n_frames=demo.match_frames, seed=demo.seed + 3, progress=False)
    pathways = mode_pathways(model, found[f"modes_{layer}"], layer, retina, match, steps.hypothesis_settings(demo))
    checked = check_phenomena(by_mode, pathways, retina, PhenomenonRules(seeds=tuple(args.seeds)))
    write_netcdf(by_mode.assign(pathway=pathways), args.output / "phenomena.nc")
    write_netcdf(checked, args.output / "phenomena_checked.nc")
    save_figure(plot_phenomena(by_mode, checked), args.output / "phenomena.png")
    record = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "rules_commit": RULES_COMMIT,
        "layer": layer,
        "seeds": list(args.seeds),
        "controls": [str(c) for c in checked["control"].values],
        "max_abs_completeness_error_hz": float(np.abs(by_mode["completeness_error"]).max()),
        "claims": _claims(checked),
        "seconds": time.perf_counter() - started,
        "machine": machine(),
    }
    (args.output / "record.json").write_text(json.dumps(record, indent=1))
    confirmed = sum(row["verdict"] == "confirmed" for row in record["claims"])
    print(f"{confirmed} of {len(record['claims'])} claims confirmed; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

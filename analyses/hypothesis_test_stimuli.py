"""Designed test stimuli checked on the virtual retina: does the stimulus designed from the CNN make
each hypothesis's block easier to see in the retina than natural jitter of the same length?

For every hypothesis of a demo run (its ``hypotheses.nc``) and every stimulus seed, this script
designs the hypothesis's test stimulus from the CNN alone
(:func:`retinacodec.hypotheses.design.design_tests`, the library's default
:class:`~retinacodec.hypotheses.optimise.DesignSettings` with the seed's index as optimisation seed),
draws natural jitter of the same length (the seed), blocks the hypothesis's pathway in the virtual
retina under each (:func:`retinacodec.hypotheses.design_check.check_designs`) and records the observed
effect on the aimed-at cell types in Poisson standard errors (a recording of the hypotheses'
``recording_s`` per condition) and the ratio designed / jitter. It reports the median ratio with a
95 % bootstrap interval (hypotheses x seeds resampled) over the first seed alone and over all seeds.

The design settings and this procedure were committed before any virtual-retina outcome was looked
at. Seeds 39000-39004 were used by nothing before.

Usage::

    python analyses/hypothesis_test_stimuli.py RUN -o OUT [--seeds 39000 ...] [--page docs/results/test-stimuli.md]

``RUN`` is a demo folder (``retinacodec demo -o RUN``). ``OUT`` gets ``record.json``, the first
seed's designs (``designs.nc``) and ``test_stimuli.png``; with ``--page`` the page is written from
the record (``--redraw``: from an earlier run's record, running nothing).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from retinacodec.device import machine
from retinacodec.hypotheses.design import design_tests
from retinacodec.hypotheses.design_check import check_designs, target_z
from retinacodec.hypotheses.optimise import DesignSettings
from retinacodec.io.netcdf import write_netcdf
from retinacodec.models import load
from retinacodec.pipelines.retina import DemoSettings
from retinacodec.pipelines.retina.report import machine_line
from retinacodec.plots import save_figure
from retinacodec.plots.designs import designed_stimuli_figure
from retinacodec.stimuli import natural_jitter

RUN_KINDS = {
    "fast": "a `retinacodec demo --fast` run: its hypotheses come from tiny fits, so they are not the full "
    "demo's; rerun on a full demo folder for those",
    "full": "a full demo run",
    "custom": "a demo run with its own settings",
}
"""How the page names the kind of demo run the hypotheses come from."""
SEEDS = (39000, 39001, 39002, 39003, 39004)
"""Jitter seeds; the i-th also designs with optimisation seed i."""
SETTINGS_COMMIT = "4433c97"
"""The commit that fixed the design settings and this procedure, before any outcome was looked at."""
Z_SEEN = 2.0
"""Standard errors from which a type counts as seen to change (the hypotheses' ``z_min``)."""
BOOTSTRAPS = 2000
"""Resamples of the bootstrap interval of the median ratio."""


def median_interval(values: np.ndarray, seed: int = 0) -> dict:
    """Median and 95 % percentile-bootstrap interval of the median of finite ``values``."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"median": None, "low": None, "high": None, "n": 0}
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(values, size=(BOOTSTRAPS, values.size)), axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return {"median": float(np.median(values)), "low": float(low), "high": float(high), "n": int(values.size)}


def _matches(settings: dict, reference: DemoSettings) -> bool:
    """Whether the run's settings equal ``reference`` on every setting both name."""
    expected = json.loads(json.dumps(reference.to_dict()))  # tuples as lists, as in the manifest
    return all(settings[key] == expected[key] for key in set(settings) & set(expected))


def run_kind(run: Path) -> str:
    """ "fast" for a run with :meth:`DemoSettings.fast` (hypotheses from tiny fits), "full" for the
    demo's defaults, "custom" otherwise."""
    settings = json.loads((run / "manifest.json").read_text())["fingerprint"]["settings"]
    if _matches(settings, DemoSettings.fast()):
        return "fast"
    return "full" if _matches(settings, DemoSettings()) else "custom"


def per_type(designs: xr.Dataset) -> list[dict]:
    """Per hypothesis and aimed-at type: z predicted by the CNN and observed in the retina, under
    the designed stimulus and under jitter."""
    rows = []
    for name in designs["hypothesis"].values:
        row = designs.sel(hypothesis=name)
        for cell_type, sign in zip(row["type"].values, row["design_target"].values):
            if sign:
                at = {"type": cell_type}
                rows.append(
                    {
                        "hypothesis": str(name),
                        "type": str(cell_type),
                        "direction": int(sign),
                        **{
                            key: float(row[key].sel(at))
                            for key in ("designed_z", "jitter_z", "observed_designed_z", "observed_jitter_z")
                        },
                    }
                )
    return rows


def run_seed(model, hypotheses: xr.Dataset, index: int, seed: int) -> xr.Dataset:
    """One seed's designs of every hypothesis, checked on the virtual retina."""
    settings = DesignSettings(seed=index)
    jitter = natural_jitter(n_frames=settings.n_frames, seed=seed, progress=False)
    designs = design_tests(model, hypotheses, settings, jitter=jitter, progress=True)
    return check_designs(designs, hypotheses, model.virtual_retina, jitter, progress=False)


def rows_of(checked: xr.Dataset, seed: int) -> list[dict]:
    """Per hypothesis: predicted (CNN) and observed (retina) aimed-at z under each stimulus."""
    target = checked["design_target"]
    predicted = {name: target_z(checked[f"{name}_z"], target).values for name in ("designed", "jitter")}
    return [
        {
            "seed": seed,
            "hypothesis": str(name),
            "predicted_designed_z": float(predicted["designed"][k]),
            "predicted_jitter_z": float(predicted["jitter"][k]),
            "observed_designed_z": float(checked["observed_designed_target_z"].values[k]),
            "observed_jitter_z": float(checked["observed_jitter_target_z"].values[k]),
            "observed_ratio": float(checked["observed_ratio"].values[k]),
            "aimed_at": [str(t) for t, s in zip(checked["type"].values, target.values[k]) if s],
        }
        for k, name in enumerate(checked["hypothesis"].values)
    ]


def record(run: Path, out: Path, seeds: list[int]) -> dict:
    """Run every seed, write the first seed's designs and figure, return the record."""
    hypotheses = xr.load_dataset(run / "hypotheses.nc")
    model = load(str(hypotheses.attrs.get("model", "default")))
    rows = []
    for index, seed in enumerate(seeds):
        checked = run_seed(model, hypotheses, index, seed)
        if index == 0:
            write_netcdf(checked, out / "designs.nc")
            save_figure(designed_stimuli_figure(checked, hypotheses), out / "test_stimuli.png")
        rows += rows_of(checked, seed)
    ratios = np.array([row["observed_ratio"] for row in rows])
    first = ratios[: hypotheses.sizes["hypothesis"]]
    return {
        "run": str(run),
        "run_kind": run_kind(run),
        "first_seed_types": per_type(xr.load_dataset(out / "designs.nc")),
        "settings": {**DesignSettings().attrs(), "seeds": list(seeds)},
        "recording_s": float(hypotheses.attrs["recording_s"]),
        "rows": rows,
        "ratio_first_seed": median_interval(first),
        "ratio_all_seeds": median_interval(ratios),
        "designed_above_jitter": int(sum(row["observed_designed_z"] > row["observed_jitter_z"] for row in rows)),
        "machine": machine(),
    }


def _number(value, spec: str = ".2f") -> str:
    return "n/a" if value is None or not np.isfinite(value) else format(value, spec)


def _seen(types: list[dict]) -> str:
    """How many aimed-at types the retina shows changing in the predicted direction under each stimulus."""
    counts = {
        name: sum(row["direction"] * row[f"observed_{name}_z"] >= Z_SEEN for row in types)
        for name in ("designed", "jitter")
    }
    return (
        f"Aimed-at types the retina shows changing the predicted way (at least {Z_SEEN:g} SE): "
        f"{counts['designed']} of {len(types)} under the designed stimuli, {counts['jitter']} under jitter; "
        "the others are changes the CNN predicts and the retina does not make, and designing for them "
        "makes them larger in the CNN only."
    )


def page(result: dict, figure: str) -> str:
    """The docs page of the record."""
    first, every = result["ratio_first_seed"], result["ratio_all_seeds"]
    lines = [
        "# Test stimuli designed per hypothesis, checked on the virtual retina",
        "",
        "Each hypothesis's test stimulus is designed from the CNN alone: a 3 s movie, contrast within the "
        "training range (+-0.4, RMS <= 0.2), Gaussian-smoothed (1 px, 2 frames) and jittered, that maximises "
        "the CNN's predicted change of the aimed-at cell types under the hypothesis's block, in Poisson "
        f"standard errors of a {result['recording_s']:g} s recording per condition, minus the change of the "
        "other types. The virtual retina then does the block under the designed stimulus and under natural "
        f"jitter of the same length. The settings were fixed (commit {SETTINGS_COMMIT}) before any retina "
        "outcome was seen.",
        "",
        f"Written by `analyses/hypothesis_test_stimuli.py` from the hypotheses of `{result['run']}` "
        f"({RUN_KINDS[result['run_kind']]}); machine: {machine_line(result['machine'])}.",
        "",
        f"- median ratio observed z (designed / jitter), first seed ({first['n']} hypotheses): "
        f"{_number(first['median'])} [{_number(first['low'])}, {_number(first['high'])}]",
        f"- over all {len(result['settings']['seeds'])} seeds ({every['n']} pairs): "
        f"{_number(every['median'])} [{_number(every['low'])}, {_number(every['high'])}] (95 % bootstrap interval)",
        f"- designed stimulus shows the larger observed effect in {result['designed_above_jitter']} of "
        f"{len(result['rows'])} pairs",
        "",
        "| seed | hypothesis | aimed at | CNN z designed | CNN z jitter | retina z designed | retina z jitter "
        "| ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['seed']} | {row['hypothesis']} | {', '.join(row['aimed_at'])} | "
            f"{_number(row['predicted_designed_z'], '.1f')} | {_number(row['predicted_jitter_z'], '.1f')} | "
            f"{_number(row['observed_designed_z'], '.1f')} | {_number(row['observed_jitter_z'], '.1f')} | "
            f"{_number(row['observed_ratio'])} |"
        )
    lines += [
        "",
        "Per aimed-at type, first seed: z (signed) predicted by the CNN and observed in the retina. "
        + _seen(result["first_seed_types"]),
        "",
        "| hypothesis | type | predicted direction | CNN z designed | CNN z jitter | retina z designed "
        "| retina z jitter |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["first_seed_types"]:
        lines.append(
            f"| {row['hypothesis']} | {row['type']} | {'up' if row['direction'] > 0 else 'down'} | "
            + " | ".join(
                _number(row[key], "+.1f")
                for key in ("designed_z", "jitter_z", "observed_designed_z", "observed_jitter_z")
            )
            + " |"
        )
    lines += ["", f"![The first seed's test stimuli]({figure})", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a demo folder with hypotheses.nc")
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--page", type=Path, help="write the docs page here")
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"))
    parser.add_argument("--redraw", action="store_true", help="run nothing: write the page from OUT/record.json")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.redraw:
        result = json.loads((args.out / "record.json").read_text())
    else:
        result = record(args.run, args.out, args.seeds)
        (args.out / "record.json").write_text(json.dumps(result, indent=1))
    if args.page:
        args.figures.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.out / "test_stimuli.png", args.figures / "test_stimuli.png")
        relative = Path("..") / args.figures.relative_to(args.figures.parent) / "test_stimuli.png"
        args.page.write_text(page(result, relative.as_posix()))
    print(json.dumps({k: result[k] for k in ("ratio_first_seed", "ratio_all_seeds", "designed_above_jitter")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

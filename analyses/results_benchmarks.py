"""Regenerate the benchmarks page from recorded benchmark runs, so that its tables cannot go stale.

    python analyses/results_benchmarks.py [--records docs/bench] [--page docs/results/benchmarks.md] [--only NAME ...]

Reads every ``*.json`` written by ``python -m retinacodec.bench NAME --record FILE.json`` in the records
folder (with ``--only``, those of the named benchmarks) and rewrites the page between
``<!-- bench:begin -->`` and ``<!-- bench:end -->``: one row per figure, with the date of its run and
the load average the run saw, the command that made each file, and with the ``sae`` record its
planted problems one by one. ``docs/scaling.md`` takes the ``parallel`` record this way
(``--page docs/scaling.md --only parallel``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from retinacodec.bench import BENCHMARKS
from retinacodec.errors import RetinaCodecError, one_line_errors
from retinacodec.io.markdown import replace_section

SECTION = "bench"
"""Name of the page's generated benchmark section."""


def read_records(folder: str | Path) -> list[dict]:
    """The benchmark records in ``folder``, in the order of :data:`retinacodec.bench.BENCHMARKS`.

    Raises
    ------
    RetinaCodecError
        If the folder holds no record, or a file that is not a benchmark record.
    """
    records = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            record = json.loads(path.read_text())
            _ = record["bench"], record["rows"], record["date"], record["load_average_before"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RetinaCodecError(
                f"{path} is not a benchmark record ({exc!r}); expected the JSON that "
                "python -m retinacodec.bench NAME --record FILE writes"
            ) from None
        records.append(record)
    if not records:
        raise RetinaCodecError(
            f"no benchmark records (*.json) in {folder}; run python -m retinacodec.bench NAME "
            f"--record {folder}/NAME.json first"
        )
    order = list(BENCHMARKS)
    return sorted(records, key=lambda r: (order.index(r["bench"]) if r["bench"] in order else len(order), r["command"]))


def only_benchmarks(records: list[dict], names: list[str]) -> list[dict]:
    """The records of the benchmarks ``names``, in their order in ``records``.

    Raises
    ------
    RetinaCodecError
        If a name has no record among ``records``.
    """
    present = {record["bench"] for record in records}
    missing = [name for name in names if name not in present]
    if missing:
        raise RetinaCodecError(
            f"no record of benchmark {', '.join(missing)}; the records are of {', '.join(sorted(present))}"
        )
    return [record for record in records if record["bench"] in names]


def sae_problems(record: dict) -> str:
    """The ``sae`` record's planted problems, one row each, as markdown: the SAE's recovery with its
    defaults (mean and range over its seeds), active modes per sample, scikit-learn's and NMF's
    recovery (— where NMF was not run), the SAE's time to scikit-learn's final recovery over
    scikit-learn's own, and the SAE's whole fit time over scikit-learn's."""
    lines = [
        "| problem | SAE recovery, mean (range over seeds) | SAE active modes per sample | MiniBatchDictionaryLearning "
        "recovery | its non-zero codes per sample | NMF recovery | SAE time to scikit-learn's recovery / "
        "scikit-learn's time | SAE whole fit / scikit-learn's whole fit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    problems = record["figures"]["problems"]
    for name, problem in problems.items():
        fits, sklearn = problem["sae"], problem["sklearn"]
        recovery = [fit["recovery"] for fit in fits]
        ratios = [fit["to_goal_s"] / sklearn["to_goal_s"] for fit in fits]
        whole = [fit["fit_s"] / sklearn["fit_s"] for fit in fits]
        nmf = "—" if problem["nmf"] is None else f"{problem['nmf']['recovery']:.4f}"
        lines.append(
            f"| {name} | {np.mean(recovery):.4f} ({min(recovery):.4f}-{max(recovery):.4f}) | "
            f"{np.mean([fit['l0'] for fit in fits]):.1f} | {sklearn['recovery']:.4f} | {sklearn['l0']:.1f} | "
            f"{nmf} | {min(ratios):.2f}-{max(ratios):.2f} | {min(whole):.2f}-{max(whole):.2f} |"
        )
    seeds = len(next(iter(problems.values()))["sae"])
    condition = ", beside a second job" if record["figures"].get("second_job") else ""
    return (
        f"The `sae` record's planted problems one by one ({seeds} SAE seed(s) each{condition}; "
        "problem: atoms/features, "
        "k active atoms per sample, s noise SD, cos atoms in pairs at that cosine; recovery is the mean "
        "Hungarian-matched cosine with the true atoms):\n\n" + "\n".join(lines)
    )


def bench_section(records: list[dict]) -> str:
    """The page's benchmark table, the list of commands behind it and, with the ``sae`` record, its
    planted problems, as markdown."""
    lines = [
        "| benchmark | ours | reference | ratio | run (date, load average before / after) |",
        "|---|---|---|---|---|",
    ]
    for record in records:
        run = f"{record['date']}, {record['load_average_before']:.1f} / {record['load_average_after']:.1f}"
        lines += [
            f"| `{record['bench']}`: {row['benchmark']} | {row['ours']} | {row['reference']} | {row['ratio']} | {run} |"
            for row in record["rows"]
        ]
    cpus = sorted({record["cpus"] for record in records})
    commands = "\n".join(f"- `{record['command']}` ({record['seconds']:.0f} s)" for record in records)
    problems = "".join(f"\n\n{sae_problems(record)}" for record in records if record["bench"] == "sae")
    return (
        "Generated by `python analyses/results_benchmarks.py` from the records in `docs/bench/` "
        f"({' or '.join(map(str, cpus))} CPUs; a load average above the CPU count means other jobs shared "
        "the cores during the run, which slows every timing in it):\n\n"
        + "\n".join(lines)
        + "\n\nThe runs behind the table:\n\n"
        + commands
        + problems
    )


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """Command line: rewrite a page's benchmark section; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default="docs/bench", help="folder of benchmark records (default: %(default)s)")
    parser.add_argument("--page", default="docs/results/benchmarks.md", help="page to update (default: %(default)s)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only the records of these benchmarks")
    args = parser.parse_args(argv)
    records = read_records(args.records)
    records = only_benchmarks(records, args.only) if args.only else records
    path = replace_section(args.page, SECTION, bench_section(records))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

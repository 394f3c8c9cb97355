"""A benchmark run's figures, written as JSON so that the benchmarks page's table is generated.

Every benchmark takes ``--record FILE.json``. The run then also writes what it measured: the rows it
contributes to the benchmark table of ``docs/results/benchmarks.md`` (what was measured, our figure,
the reference's, the ratio), its raw figures, the command line, the date, the machine
(:func:`retinacodec.device.machine`) and the load average before and after the run (other processes
sharing the cores make a timing mean less, and the table says so).
``python analyses/results_benchmarks.py`` builds that table from the files in ``docs/bench/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path


def speed_ratio(reference_s: float, ours_s: float) -> str:
    """How much faster ours is than the reference, in words (within 5 % counts as equal)."""
    ratio = reference_s / ours_s
    if ratio >= 1.05:
        return f"{ratio:.1f}x faster"
    return f"{1 / ratio:.1f}x slower" if ratio <= 1 / 1.05 else f"{ratio:.2f}x (equal within 5 %)"


def add_record_option(parser: argparse.ArgumentParser) -> None:
    """Give a benchmark's parser the ``--record FILE.json`` option."""
    parser.add_argument(
        "--record",
        metavar="FILE.json",
        default=None,
        help="also write the figures and the benchmark table rows to this JSON file "
        "(docs/bench/NAME.json feeds docs/results/benchmarks.md: python analyses/results_benchmarks.py)",
    )


@dataclass
class Record:
    """What one benchmark run measured, for the benchmarks page's table and for later reading.

    Parameters
    ----------
    bench : str
        The benchmark's name (``python -m retinacodec.bench NAME``).
    argv : list of str
        The benchmark's command-line arguments.

    Attributes
    ----------
    rows : list of dict
        Benchmark table rows: ``benchmark``, ``ours``, ``reference`` and ``ratio``, each a string.
    figures : dict
        The raw figures (numbers, lists, strings), under names the benchmark chooses.
    measured : dict
        For a record written from earlier runs' own results: their ``date`` (YYYY-MM-DD) and
        ``load_average_before`` / ``load_average_after``, which then replace this process's.
    """

    bench: str
    argv: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    measured: dict = field(default_factory=dict)
    _started: float = field(default_factory=time.perf_counter, repr=False)
    _load_before: float = field(default_factory=lambda: os.getloadavg()[0], repr=False)

    def row(self, benchmark: str, ours: str, reference: str, ratio: str) -> None:
        """Add one benchmark table row: what was measured, our figure, the reference's figure, and the ratio."""
        self.rows.append({"benchmark": benchmark, "ours": ours, "reference": reference, "ratio": ratio})

    def write(self, path: str | os.PathLike | None) -> Path | None:
        """Write the record as JSON to ``path`` atomically (nothing when ``path`` is None); returns the path."""
        if path is None:
            return None
        from ..device import machine
        from ..io.atomic import atomic_destination

        argv = list(self.argv)
        if "--record" in argv:  # the command that reproduces the figures, wherever they are written
            del argv[argv.index("--record") : argv.index("--record") + 2]
        argv = [arg for arg in argv if not arg.startswith("--record=")]
        content = {
            "bench": self.bench,
            "command": " ".join(["python -m retinacodec.bench", self.bench, *argv]),
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
            **machine(),
            "load_average_before": round(self._load_before, 2),
            "load_average_after": round(os.getloadavg()[0], 2),
            "seconds": round(time.perf_counter() - self._started, 1),
            "rows": self.rows,
            "figures": self.figures,
        } | self.measured
        with atomic_destination(path) as tmp:
            tmp.write_text(json.dumps(content, indent=1, default=_plain) + "\n")
        return Path(path)


def _plain(value):
    """numpy scalars and arrays as plain Python numbers and lists, for JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to a benchmark record")

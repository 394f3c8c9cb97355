"""Kill ``retinacodec demo --fast`` at several moments, rerun it, and compare with a clean run.

A run is killed (SIGKILL, no chance to clean up) as soon as its output folder holds ``k`` entries,
for each ``k`` given; the same command then runs again in the same folder. Each rerun must exit 0,
leave exactly the files of an uninterrupted run (no temporary files, part folders or lock), and
write the same ``summary.json``. One JSON line per kill goes to stdout and to ``OUT/kill_and_resume.json``.

Usage::

    python analyses/kill_and_resume.py -o results/kill_and_resume [--at 2 8 16 26 33]

Each kill costs up to two ``demo --fast`` runs (about a minute each on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

COMMAND = [sys.executable, "-m", "retinacodec", "demo", "--fast", "-o"]


def run_clean(folder: Path) -> None:
    """An uninterrupted run: the reference."""
    subprocess.run([*COMMAND, str(folder)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_when(folder: Path, entries: int) -> list[str]:
    """Start a run, SIGKILL it once ``folder`` holds ``entries`` entries; what the folder held then."""
    process = subprocess.Popen([*COMMAND, str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while process.poll() is None:
        if folder.exists() and len(list(folder.iterdir())) >= entries:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def check(reference: Path, folder: Path, entries: int) -> dict:
    """Kill at ``entries``, rerun, and compare the folder with ``reference``."""
    at_kill = kill_when(folder, entries)
    rerun = subprocess.run([*COMMAND, str(folder)], capture_output=True, text=True)
    names = sorted(p.name for p in folder.iterdir())
    expected = sorted(p.name for p in reference.iterdir())
    summary = folder / "summary.json"
    return {
        "kill_at_entries": entries,
        "held_at_kill": len(at_kill),
        "hidden_at_kill": [name for name in at_kill if name.startswith(".")],
        "rerun_status": rerun.returncode,
        "same_files": names == expected,
        "extra": sorted(set(names) - set(expected)),
        "missing": sorted(set(expected) - set(names)),
        "same_summary": summary.is_file() and summary.read_bytes() == (reference / "summary.json").read_bytes(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True, help="folder for the runs and the record")
    parser.add_argument("--at", type=int, nargs="+", default=[2, 8, 16, 26, 33], help="entries at which to kill")
    args = parser.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    reference = out / "clean"
    if not (reference / "summary.json").is_file():
        shutil.rmtree(reference, ignore_errors=True)
        run_clean(reference)
    results = []
    for entries in args.at:
        folder = out / f"kill_{entries}"
        shutil.rmtree(folder, ignore_errors=True)
        results.append(check(reference, folder, entries))
        print(json.dumps(results[-1]), flush=True)
    (out / "kill_and_resume.json").write_text(json.dumps(results, indent=1) + "\n")
    passed = all(r["rerun_status"] == 0 and r["same_files"] and r["same_summary"] for r in results)
    print("every kill resumed to the clean run's files and summary" if passed else "a kill did not resume cleanly")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

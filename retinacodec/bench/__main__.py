"""Dispatch ``python -m retinacodec.bench NAME ...`` to the benchmark module NAME."""

import importlib
import sys

from . import BENCHMARKS


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BENCHMARKS:
        listing = "\n".join(f"  {name:<14} {text}" for name, text in BENCHMARKS.items())
        print(f"usage: python -m retinacodec.bench NAME [options]\n\nbenchmarks:\n{listing}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"retinacodec.bench.{argv[0]}")
    return module.main(argv[1:]) or 0


sys.exit(main(sys.argv[1:]))

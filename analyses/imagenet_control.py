"""CODEC's ImageNet control table and curves on real images: modes fitted on one image set,
control measured on held-out images, for EfficientNet-Lite0 and -Lite2.

    python analyses/imagenet_control.py --images ../shared/imagenette/val \\
        --fit-images ../shared/imagenette/fit -o results/imagenet_control [--model efficientnet_lite0]
        [--time-budget 1100] [--fit-per-class N] [--n-layers 8 | --layers block4 ...] [--ig-steps 10] [--n-target
        50] [--n-off-target 45]
        [--random-draws 3] [--random-images 200] [--stability-fits 2]

Each call runs the steps that are not finished yet (``--time-budget`` seconds at most, then it
stops between steps; call it again to resume), and once all are done writes, per model,
``<out>/<model>/report.md`` (the table with the paper's numbers beside ours, the seed's table per
layer and the timings), the figures and ``summary.json``. ``--fit-per-class N`` fits the modes
on the first N images of each fit class only (a symlinked subset in ``<out>/<model>/subsets``),
for runs that must be smaller than the whole fit set; the report states the sizes used.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from retinacodec.errors import one_line_errors
from retinacodec.pipelines.imagenet.common.images import IMAGE_SUFFIXES
from retinacodec.pipelines.imagenet.control.run import run_control
from retinacodec.pipelines.imagenet.control.settings import ControlSettings


def subset(folder: Path, per_class: int, destination: Path) -> Path:
    """A folder of symlinks to the first ``per_class`` images (sorted names) of each class folder."""
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        target = destination / class_dir.name
        target.mkdir(parents=True, exist_ok=True)
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:per_class]
        for file in files:
            link = target / file.name
            if not link.exists():
                link.symlink_to(file.resolve())
    return destination


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, type=Path, help="held-out images (WordNet-id class folders)")
    parser.add_argument("--fit-images", required=True, type=Path, help="images the modes are fitted on")
    parser.add_argument("-o", "--output", required=True, type=Path)
    parser.add_argument("--model", action="append", help="zoo model (repeatable; default Lite0 then Lite2)")
    parser.add_argument("--time-budget", type=float, default=None, help="start no new step after this many s")
    parser.add_argument("--fit-per-class", type=int, default=None, help="fit images per class (default: all)")
    parser.add_argument("--n-layers", type=int, default=ControlSettings.n_layers, help="layers spread over the depth")
    parser.add_argument("--layers", nargs="+", help="layer aliases (default: --n-layers spread over the depth)")
    parser.add_argument("--ig-steps", type=int, default=ControlSettings.ig_steps)
    parser.add_argument("--n-target", type=int, default=ControlSettings.n_target_images)
    parser.add_argument("--n-off-target", type=int, default=ControlSettings.n_off_target_images)
    parser.add_argument("--random-draws", type=int, default=ControlSettings.n_random_draws)
    parser.add_argument("--random-images", type=int, default=ControlSettings.n_random_images)
    parser.add_argument(
        "--stability-fits",
        type=int,
        default=ControlSettings.stability_fits,
        help="extra SAE fits per layer and variable for the modes' seed stability (0: none)",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    for model in args.model or ["efficientnet_lite0", "efficientnet_lite2"]:
        out = args.output / model
        fit = (
            args.fit_images
            if args.fit_per_class is None
            else subset(args.fit_images, args.fit_per_class, out / "subsets" / f"fit_{args.fit_per_class}")
        )
        settings = ControlSettings(
            model=model,
            layers=tuple(args.layers) if args.layers else None,
            n_layers=args.n_layers,
            ig_steps=args.ig_steps,
            n_target_images=args.n_target,
            n_off_target_images=args.n_off_target,
            n_random_draws=args.random_draws,
            n_random_images=args.random_images,
            stability_fits=args.stability_fits,
        )
        path = run_control(
            args.images,
            fit,
            out / "run",
            settings=settings,
            time_budget_s=args.time_budget,
            device=args.device,
            progress=not args.quiet,
        )
        print(f"{model}: {path}")
        if path.name != "report.md":
            return 3  # unfinished: rerun to resume
    return 0


if __name__ == "__main__":
    sys.exit(main())

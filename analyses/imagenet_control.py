"""The replication of CODEC's control experiment (its Fig. 6) on imagenette: both control protocols,
side by side, on the layers and at the sizes fixed here before any run was read.

    python analyses/imagenet_control.py --images ../shared/imagenette/val \\
        --fit-images ../shared/imagenette/fit -o results/replication [--model efficientnet_lite0]
        [--protocol codec] [--time-budget S]
    python analyses/results_imagenet_control.py results/replication   # the results page

Each (model, protocol) runs ``retinacodec imagenet --fit-images`` (the command users run) into
``<out>/<model>_<protocol>``; a call resumes what an earlier one left unfinished. Layers: four block
outputs spread evenly over the depth (first and last included), the last block's post-ReLU6
depthwise output (a late layer where zero is a channel's resting state) and the 1280-channel head
after ReLU6 (the analogue of ResNet-50's last block). Sizes: every fit image (2000) and every
held-out image (500); the ``codec`` protocol at the reference's settings (10 activation-trapezoid
steps, SAE 300 epochs, 20 trials of 10 images per class, its percentages); the ``retinacodec``
protocol at its defaults, but without the seed-stability fits and with at most 50 SAE epochs (early
stopping on), which the 90-minute budget of the issue leaves room for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from retinacodec.cli import main as cli
from retinacodec.errors import one_line_errors
from retinacodec.models.zoo import load_classifier
from retinacodec.pipelines.imagenet.common.layers import default_layers

MODELS = ("efficientnet_lite0", "efficientnet_lite2")
PROTOCOLS = ("codec", "retinacodec")
N_BLOCK_OUTPUTS = 4
PROTOCOL_ARGUMENTS = {"codec": [], "retinacodec": ["--stability-fits", "0", "--sae-epochs", "50"]}
"""Arguments each protocol adds to the shared command (the codec protocol's defaults are the reference's)."""


def replication_layers(model: str) -> list[str]:
    """:data:`N_BLOCK_OUTPUTS` block outputs spread evenly over the depth, the last block's depthwise
    output and the head."""
    blocks = [layer for layer in default_layers(model, module=load_classifier(model)) if layer != "head"]
    picks = np.unique(np.round(np.linspace(0, len(blocks) - 1, N_BLOCK_OUTPUTS)).astype(int))
    return [blocks[i] for i in picks] + [f"{blocks[-1]}_depthwise", "head"]


def command(model: str, protocol: str, images: Path, fit: Path, out: Path, budget: float | None) -> list[str]:
    """The ``retinacodec imagenet`` arguments of one (model, protocol) run."""
    arguments = ["imagenet", "--model", model, "--images", str(images), "--fit-images", str(fit)]
    arguments += ["--protocol", protocol, "--layers", *replication_layers(model), *PROTOCOL_ARGUMENTS[protocol]]
    arguments += ["-o", str(out / f"{model}_{protocol}")]
    return arguments + ([] if budget is None else ["--time-budget", str(budget)])


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status (3 while a run is unfinished)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, type=Path, help="held-out images (WordNet-id class folders)")
    parser.add_argument("--fit-images", required=True, type=Path, help="images the modes are fitted on")
    parser.add_argument("-o", "--output", required=True, type=Path)
    parser.add_argument("--model", action="append", choices=MODELS, help="repeatable (default: both)")
    parser.add_argument("--protocol", action="append", choices=PROTOCOLS, help="repeatable (default: both)")
    parser.add_argument("--time-budget", type=float, help="start no new step after this many s (per run)")
    args = parser.parse_args(argv)
    for model in args.model or MODELS:
        for protocol in args.protocol or PROTOCOLS:
            status = cli(command(model, protocol, args.images, args.fit_images, args.output, args.time_budget))
            if status:
                return status
            if not (args.output / f"{model}_{protocol}" / "summary.json").exists():
                return 3  # stopped by the time budget: rerun to resume
    return 0


if __name__ == "__main__":
    sys.exit(main())

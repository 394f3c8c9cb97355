"""Speed-up of every torch path on a GPU: ``python -m retinacodec.bench gpu [--device cuda]``.

Times, on the CPU (all its threads) and on ``--device``, each after a warm-up call: contributions
of a random default-sized retina CNN on both integration paths and with per-cell activations,
predictions, an SAE fit, two training epochs, IRFs, the retina control experiment and control
curves (recorded-layer interventions), and contributions of a random ResNet-50 at ``layer3`` per
image (the ImageNet analysis's cost). Prints seconds on each and the ratio. ``--device cpu`` runs
it on a machine without a GPU (ratios near 1), to check the script itself.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
import xarray as xr


def _cases(scale: float) -> dict[str, Callable[[str], object]]:
    """Name -> ``run(device)`` of each torch path, sized by ``scale`` (1: the documented sizes)."""
    import torchvision

    import retinacodec as rc
    from retinacodec.control.curves import CurveSettings, retina_control_curves
    from retinacodec.control.experiments import retina_control
    from retinacodec.models.registry import predict
    from retinacodec.models.retina_cnn import RetinaCNN
    from retinacodec.models.training import TrainingSettings, train_model
    from retinacodec.stimuli import white_noise

    torch.manual_seed(0)
    model = RetinaCNN(8, cell_type=["ON", "OFF"] * 4).eval()
    n_windows = max(200, int(600 * scale))  # training needs validation windows, a gap and a segment
    stimulus = white_noise(n_frames=n_windows + model.history - 1, size=model.size, block_size=2, seed=0)
    responses = xr.DataArray(
        np.random.default_rng(0).exponential(size=(stimulus.sizes["time"], 8)),
        dims=("time", "cell"),
        coords={"cell_type": ("cell", ["ON", "OFF"] * 4), "y": ("cell", [25] * 8), "x": ("cell", [25] * 8)},
    )
    features = np.random.default_rng(0).exponential(size=(max(256, int(5000 * scale)), 64))
    resnet = torchvision.models.resnet50(weights=None).eval()
    images = torch.randn(max(1, int(8 * scale)), 3, 224, 224)
    settings = TrainingSettings(epochs=2, segment_windows=50, batch_segments=8)
    return {
        f"contributions, layer path ({n_windows} windows)": lambda d: rc.contributions(
            model, stimulus, "amacrine", "cell:0", device=d, options=rc.AttributionOptions(progress=False)
        ),
        f"contributions, input path ({n_windows} windows)": lambda d: rc.contributions(
            model, stimulus, "amacrine", "cell:0", device=d, options=rc.AttributionOptions(path="input", progress=False)
        ),
        f"per-cell contributions, 8 cells ({n_windows // 10} windows)": lambda d: rc.contributions(
            model,
            stimulus.isel(time=slice(0, n_windows // 10 + model.history - 1)),
            "amacrine",
            [f"cell:{i}" for i in range(8)],
            device=d,
            options=rc.AttributionOptions(split="sign", activation="cell", progress=False),
        ),
        f"predictions ({n_windows} windows)": lambda d: predict(model, stimulus, device=d),
        f"SAE fit ({len(features)} x 64, 50 epochs)": lambda d: rc.SAE(
            n_modes=16, epochs=50, early_stopping=False, device=d, progress=False
        ).fit(features),
        f"training (2 epochs, {stimulus.sizes['time']} frames)": lambda d: train_model(
            stimulus, responses, settings=settings, device=d, progress=False
        ),
        "IRFs (8 cells x 20 times)": lambda d: rc.irf(
            model,
            stimulus,
            times=stimulus["time"].values[model.history :][:20],
            device=d,
            options=rc.AttributionOptions(progress=False),
        ),
        f"control ({n_windows} windows)": lambda d: retina_control(
            model, stimulus, "amacrine", {"half": [0, 1, 2, 3]}, device=d, progress=False
        ),
        f"control curves (k = 1..4, 5 random sets, {n_windows} windows)": lambda d: retina_control_curves(
            model,
            stimulus,
            "amacrine",
            {"contribution": {"ON": [0, 1, 2, 3]}},
            CurveSettings(max_channels=4, n_random=5),
            device=d,
            progress=False,
        ),
        f"ResNet-50 contributions at layer3 ({len(images)} images)": lambda d: rc.contributions(
            resnet, images, "layer3", "top", batch_size=20, device=d, options=rc.AttributionOptions(progress=False)
        ),
    }


def _seconds(run: Callable[[str], object], device: str) -> float:
    run(device)  # warm-up: kernels, allocator, lazy imports
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    run(device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Time each path on the CPU and on the device; print the table; returns 0 (2 without the device)."""
    parser = argparse.ArgumentParser(prog="python -m retinacodec.bench gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="device to compare with the CPU (default cuda)")
    parser.add_argument("--scale", type=float, default=1.0, help="size of every case (0.1 for a quick check)")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here; run on a GPU machine, or pass --device cpu to check the script")
        return 2
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    print(f"{torch.get_num_threads()} CPU threads against {args.device} ({name}); torch {torch.__version__}")
    print(f"| path | CPU s | {args.device} s | speed-up |\n|---|---|---|---|")
    for label, run in _cases(args.scale).items():
        cpu, other = _seconds(run, "cpu"), _seconds(run, args.device)
        print(f"| {label} | {cpu:.2f} | {other:.2f} | {cpu / other:.1f}x |", flush=True)
    return 0

"""Chunked-job throughput: ``python -m retinacodec.bench parallel [--windows 1200] [--resnet-images 2]``.

Runs one contributions job (a random default-sized retina CNN, white noise) through
:func:`retinacodec.parallel.run_contributions` in one process and on local Dask clusters of 1 and
2 worker processes (one torch thread each), prints samples/s and the ratios, and checks that every
run gives the same result as the single-process one. Cluster start-up is timed apart from the job.
With ``--resnet-images N`` it also times ``contributions`` of a random ResNet-50 at one layer per
image on this CPU (the per-image cost docs/scaling.md extrapolates from).
"""
from __future__ import annotations

import argparse
import importlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr


def _time_job(label: str, run, n_windows: int, reference: xr.Dataset | None) -> tuple[float, xr.Dataset]:
    """Run ``run()``, print its throughput (and agreement with ``reference``); return samples/s, result."""
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    agreement = ""
    if reference is not None:
        xr.testing.assert_identical(result, reference)
        agreement = "; identical to the single-process result"
    print(f"{label:<24} {seconds:7.2f} s  {n_windows / seconds:8.1f} windows/s{agreement}")
    return n_windows / seconds, result


def _resnet_cost(n_images: int, layer: str, n_steps: int) -> None:
    """Print seconds per image of ``contributions`` on a random ResNet-50 (224 x 224 px)."""
    import torchvision

    from ..attribution.ig import contributions

    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    images = torch.randn(n_images, 3, 224, 224)
    contributions(model, images[:1], layer, "top", n_steps=2, batch_size=2, progress=False)  # warm-up
    started = time.perf_counter()
    contributions(model, images, layer, "top", n_steps=n_steps, batch_size=n_steps, progress=False)
    per_image = (time.perf_counter() - started) / n_images
    print(f"ResNet-50 contributions at {layer!r}, {n_steps} steps, {torch.get_num_threads()} torch "
          f"thread(s): {per_image:.2f} s per image ({n_images} images)")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print throughput and speed-up ratios; returns 0."""
    parser = argparse.ArgumentParser(prog="python -m retinacodec.bench parallel",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=1200, help="time windows (samples) in the job")
    parser.add_argument("--chunk-size", type=int, default=60, help="windows per chunk")
    parser.add_argument("--n-steps", type=int, default=20, help="quadrature nodes")
    parser.add_argument("--resnet-images", type=int, default=0,
                        help="also time ResNet-50 contributions on this many images (0: skip)")
    parser.add_argument("--resnet-layer", default="layer3", help="ResNet-50 layer to explain")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster

    from ..io.checkpoints import save_checkpoint
    from ..models.retina_cnn import RetinaCNN
    from ..parallel import run_contributions
    from ..stimuli import white_noise

    torch.manual_seed(args.seed)
    model = RetinaCNN(8, cell_type=["ON", "OFF"] * 4).eval()
    stimulus = white_noise(n_frames=args.windows + model.history - 1, size=model.size, block_size=2,
                           seed=args.seed)
    options = dict(n_steps=args.n_steps, batch_size=64, progress=False)
    print(f"random retina CNN ({model.history} frames x {model.size}x{model.size} px), layer 'amacrine', "
          f"target cell:0, {args.n_steps} steps; {args.windows} windows in chunks of {args.chunk_size}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = save_checkpoint({"config": model.config(), "state_dict": model.state_dict()},
                                     Path(tmp) / "model.pt")

        def job(folder: str, **kwargs) -> xr.Dataset:
            return run_contributions(checkpoint, stimulus, "amacrine", "cell:0", Path(tmp) / folder,
                                     chunk_size=args.chunk_size, **options, **kwargs)

        single, reference = _time_job("one process, 1 thread", lambda: job("single"), args.windows, None)
        rates = {}
        for workers in (1, 2):
            started = time.perf_counter()
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=":0") as cluster, Client(cluster) as client:
                client.run(importlib.import_module, "retinacodec.parallel.contributions")  # torch etc.
                print(f"local cluster of {workers} worker(s) started and imports loaded in "
                      f"{time.perf_counter() - started:.1f} s")
                rates[workers], _ = _time_job(f"dask, {workers} worker(s)",
                                              lambda: job(f"dask{workers}", scheduler=cluster.scheduler_address),
                                              args.windows, reference)
    print(f"load average now {os.getloadavg()[0]:.1f} (other processes share these CPUs)")
    print(f"ratio 2 workers / 1 worker: {rates[2] / rates[1]:.2f}x; 1 worker / one process: "
          f"{rates[1] / single:.2f}x ({np.asarray(reference.contribution).shape[0]} samples)")
    if args.resnet_images:
        torch.set_num_threads(1)
        _resnet_cost(args.resnet_images, args.resnet_layer, args.n_steps)
    return 0

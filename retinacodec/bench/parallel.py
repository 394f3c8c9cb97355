"""Chunked-job throughput: ``python -m retinacodec.bench parallel [--windows 1200] [--images 32]``.

Runs two contributions jobs through :func:`retinacodec.parallel.run_contributions`: a random
default-sized retina CNN on white noise (windows/s) and a random ResNet-18 classifier on 64 x 64 px
images (images/s). Each runs in one process and on local Dask clusters of 1 and 2 worker processes,
one torch thread everywhere, ``--repeats`` times each; the best run counts (contention from other
processes only slows runs down, and the first run on a fresh cluster also pays the workers'
warm-up). The chunk size is chosen by the job (from the measured cost per input) unless
``--chunk-size`` is given. It prints each configuration's rate, times and chunking, the ratios to
the one process, the overhead per chunk on a worker, the load average before each configuration
(other processes share the CPUs), and checks that every run gives the single-process result.
Cluster start-up is timed apart from the jobs. With ``--resnet-images N`` it also times
``contributions`` of a random ResNet-50 at one layer per image on this CPU against a forward pass
of the same images (the per-image cost docs/scaling.md extrapolates from, in its generated table).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import time
from pathlib import Path

import torch
import xarray as xr
from torch import nn

from ._record import Record, add_record_option


def random_classifier(seed: int) -> nn.Module:
    """A ResNet-18 with seeded random weights and 10 classes (a picklable factory for the workers)."""
    import torchvision

    torch.manual_seed(seed)
    return torchvision.models.resnet18(weights=None, num_classes=10).eval()


def _run(label: str, job, n_inputs: int, unit: str, repeats: int, reference: xr.Dataset | None) -> dict:
    """Run ``job(folder)`` ``repeats`` times (fresh folders); print the times, the best rate and the
    chunking (and agreement with ``reference``); return the best time, chunks and the result."""
    load = os.getloadavg()[0]
    times = []
    for repeat in range(repeats):
        started = time.perf_counter()
        result, folder = job(f"{repeat}")
        times.append(time.perf_counter() - started)
        if reference is not None:
            xr.testing.assert_identical(result, reference)
    chunking = json.loads((folder / "manifest.json").read_text())["chunking"]
    n_chunks = -(-chunking["n_inputs"] // chunking["chunk_size"])
    best = min(times)
    print(
        f"{label:<18} {n_inputs / best:7.1f} {unit}/s (best of {', '.join(f'{t:.2f}' for t in times)} s)  "
        f"{n_chunks:3d} chunks of {chunking['chunk_size']:4d}  (load {load:.1f})"
        f"{'; identical to one process' if reference is not None else ''}"
    )
    return {"seconds": best, "rate": n_inputs / best, "chunks": n_chunks, "result": result}


def _compare(name: str, job, n_inputs: int, unit: str, repeats: int, record: Record) -> None:
    """Time ``job`` in one process and on 1 and 2 workers; print the ratios and per-chunk overhead, and
    add them to ``record``."""
    from distributed import Client

    from ..parallel.cluster import local_cluster

    single = _run("one process", lambda r: job(f"{name}-single-{r}"), n_inputs, unit, repeats, None)
    runs = {}
    for workers in (1, 2):
        started = time.perf_counter()
        with local_cluster(workers) as cluster, Client(cluster) as client:
            client.run(__import__, "retinacodec.parallel.workers")  # torch, xarray, ...
            print(f"  (local cluster of {workers} worker(s) started in {time.perf_counter() - started:.1f} s)")
            runs[workers] = _run(
                f"dask, {workers} worker(s)",
                lambda r, n=workers, at=cluster.scheduler_address: job(f"{name}-dask{n}-{r}", scheduler=at),
                n_inputs,
                unit,
                repeats,
                single["result"],
            )
    per_chunk = single["seconds"] / single["chunks"]
    overhead = (runs[1]["seconds"] - single["seconds"]) / runs[1]["chunks"]
    print(
        f"{name}: 1 worker {runs[1]['rate'] / single['rate']:.2f}x one process, 2 workers "
        f"{runs[2]['rate'] / single['rate']:.2f}x; a chunk in one process {per_chunk:.2f} s, overhead per "
        f"chunk on a worker {overhead * 1000:+.0f} ms (best runs)"
    )
    record.figures[name] = {
        "one_process_per_s": single["rate"],
        "overhead_per_chunk_s": overhead,
        **{f"workers_{n}_per_s": run["rate"] for n, run in runs.items()},
    }
    record.row(
        f"{name} contributions, {n_inputs} {unit}, 1 torch thread per process, results identical",
        " / ".join(f"{runs[n]['rate']:.3g}" for n in (1, 2)) + f" {unit}/s on 1 / 2 Dask workers",
        f"one process {single['rate']:.3g} {unit}/s",
        " / ".join(f"{runs[n]['rate'] / single['rate']:.2f}x" for n in (1, 2)),
    )


def _resnet_cost(n_images: int, layer: str, n_steps: int, record: Record) -> None:
    """Time ``contributions`` of a random ResNet-50 (224 x 224 px) per image against a plain forward
    pass of the same images in this process; print both and add the row to ``record``."""
    import torchvision

    from ..attribution.ig import contributions
    from ..attribution.options import AttributionOptions

    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    images = torch.randn(n_images, 3, 224, 224)
    quiet = AttributionOptions(progress=False)
    contributions(model, images[:1], layer, "top", n_steps=2, batch_size=2, options=quiet)  # warm-up
    started = time.perf_counter()
    with torch.no_grad():
        for image in images:
            model(image[None])
    forward = (time.perf_counter() - started) / n_images
    started = time.perf_counter()
    contributions(model, images, layer, "top", n_steps=n_steps, batch_size=n_steps, options=quiet)
    per_image = (time.perf_counter() - started) / n_images
    threads = torch.get_num_threads()
    print(
        f"ResNet-50 contributions at {layer!r}, {n_steps} steps, {threads} torch thread(s): {per_image:.2f} s "
        f"per image ({n_images} images); a forward pass {forward:.3f} s per image"
    )
    record.figures["resnet50"] = {
        "layer": layer,
        "n_steps": n_steps,
        "images": n_images,
        "threads": threads,
        "contributions_s_per_image": per_image,
        "forward_s_per_image": forward,
    }
    record.row(
        f"ResNet-50 contributions (random weights, 224 x 224 px), {layer!r}, top class, {n_steps} steps, "
        f"{threads} torch thread, {n_images} images",
        f"{per_image:.2f} s per image",
        f"a forward pass {forward:.3f} s per image",
        f"{per_image / forward:.0f} forward passes' time",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print throughput and speed-up ratios; returns 0."""
    parser = argparse.ArgumentParser(prog="python -m retinacodec.bench parallel", description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=1200, help="time windows (samples) in the retina job")
    parser.add_argument("--images", type=int, default=32, help="images in the classifier job (0: skip)")
    parser.add_argument("--chunk-size", type=int, default=None, help="inputs per chunk (default: chosen by the job)")
    parser.add_argument("--n-steps", type=int, default=20, help="quadrature nodes")
    parser.add_argument(
        "--resnet-images", type=int, default=0, help="also time ResNet-50 contributions on this many images (0: skip)"
    )
    parser.add_argument("--resnet-layer", default="layer3", help="ResNet-50 layer to explain")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each configuration (the best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    add_record_option(parser)
    args = parser.parse_args(argv)
    record = Record("parallel", list(argv or []))

    from ..io.checkpoints import save_checkpoint
    from ..models.retina_cnn import RetinaCNN
    from ..parallel import Execution, run_contributions
    from ..stimuli import white_noise

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    model = RetinaCNN(8, cell_type=["ON", "OFF"] * 4).eval()
    stimulus = white_noise(n_frames=args.windows + model.history - 1, size=model.size, block_size=2, seed=args.seed)
    images = torch.randn(args.images, 3, 64, 64, generator=torch.Generator().manual_seed(args.seed))
    options = {"n_steps": args.n_steps, "batch_size": 64, "chunk_size": args.chunk_size}
    print(
        f"{os.cpu_count()} CPUs, 1 torch thread per process; {args.n_steps} steps. Retina: random CNN "
        f"({model.history} frames x {model.size}x{model.size} px), layer 'amacrine', cell:0, {args.windows} "
        f"windows. Classifier: random ResNet-18, layer 'layer2', top class, {args.images} images of 64x64 px"
    )
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = save_checkpoint(
            {"config": model.config(), "state_dict": model.state_dict()}, Path(tmp) / "model.pt"
        )

        def retina_job(folder: str, **kwargs) -> tuple[xr.Dataset, Path]:
            out = Path(tmp) / folder
            execution = Execution(progress=False, **kwargs)
            return run_contributions(
                checkpoint, stimulus, "amacrine", "cell:0", out, execution=execution, **options
            ), out

        def classifier_job(folder: str, **kwargs) -> tuple[xr.Dataset, Path]:
            out = Path(tmp) / folder
            execution = Execution(progress=False, **kwargs)
            return run_contributions(
                functools.partial(random_classifier, args.seed),
                images,
                "layer2",
                "top",
                out,
                execution=execution,
                **options,
            ), out

        _compare("retina", retina_job, args.windows, "windows", args.repeats, record)
        if args.images:
            _compare("classifier", classifier_job, args.images, "images", args.repeats, record)
    print(f"load average now {os.getloadavg()[0]:.1f} (1-minute; other processes share these CPUs)")
    if args.resnet_images:
        _resnet_cost(args.resnet_images, args.resnet_layer, args.n_steps, record)
    record.write(args.record)
    return 0

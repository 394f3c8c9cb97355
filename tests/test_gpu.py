"""Every torch path on CUDA gives what it gives on the CPU: contributions (layer and input paths,
per-cell activations, in one call and as a job on a Dask worker), predictions and the evaluation
on the virtual retina, recorded-layer interventions and control curves, the demo's steps, the SAE,
training, IRFs, control and the ImageNet analysis. Marked ``gpu``; skipped on a machine without
CUDA (``pytest -m gpu`` runs only these)."""

import dataclasses
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import retinacodec as rc
from retinacodec.attribution.options import AttributionOptions
from retinacodec.control.curves import CurveSettings, retina_control_curves
from retinacodec.control.experiments import retina_control
from retinacodec.control.recorded import record_layer, scaled_mean_rates
from retinacodec.models.registry import predict
from retinacodec.models.training import TrainingSettings, train_model
from retinacodec.parallel import Execution, run_contributions
from retinacodec.pipelines.imagenet.layers.settings import ImagenetSettings
from retinacodec.pipelines.retina import DemoSettings
from retinacodec.pipelines.retina import steps as demo_steps
from retinacodec.stimuli import white_noise
from retinacodec.stimuli.base import make_stimulus

QUIET = AttributionOptions(progress=False)
"""No progress bar."""

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
DEVICE = "cuda"
"""The device under test; every result is checked against the same computation on the CPU."""
CLOSE = {"rtol": 1e-4, "atol": 1e-5}  # float32 on two devices: the same sums in other orders


@pytest.fixture(scope="module")
def model(make_cnn):
    """A small retina CNN with batch-norm statistics moved off their defaults (eval mode)."""
    return make_cnn(
        2,
        seed=1,
        warm=16,
        history=5,
        size=14,
        bipolar_channels=3,
        amacrine_channels=4,
        amacrine_kernel=3,
        cell_type=["ON", "OFF"],
    )


@pytest.fixture(scope="module")
def stimulus():
    return white_noise(n_frames=44, size=14, block_size=2, seed=1)  # 40 windows


@pytest.mark.parametrize("path", ["layer", "input"])
def test_contributions_on_cuda_equal_the_cpu(model, stimulus, path):
    kwargs = {"n_steps": 8, "batch_size": 32, "options": AttributionOptions(path=path, progress=False)}
    cpu = rc.contributions(model, stimulus, "amacrine", ["cell:0", "cell:1"], device="cpu", **kwargs)
    cuda = rc.contributions(model, stimulus, "amacrine", ["cell:0", "cell:1"], device=DEVICE, **kwargs)
    xr.testing.assert_allclose(cuda, cpu, **CLOSE)
    assert next(model.parameters()).device.type == "cpu"  # handed back where it was


def test_per_cell_contributions_on_cuda_equal_the_cpu(model, stimulus):
    options = AttributionOptions(split="sign", activation="cell", progress=False)
    kwargs = {"n_steps": 6, "batch_size": 24, "options": options}
    cpu = rc.contributions(model, stimulus, "bipolar", ["cell:0", "cell:1"], device="cpu", **kwargs)
    cuda = rc.contributions(model, stimulus, "bipolar", ["cell:0", "cell:1"], device=DEVICE, **kwargs)
    xr.testing.assert_allclose(cuda, cpu, **CLOSE)


def test_predictions_and_layer_interventions_on_cuda_equal_the_cpu(model, stimulus):
    xr.testing.assert_allclose(predict(model, stimulus, device=DEVICE), predict(model, stimulus), **CLOSE)
    assert next(model.parameters()).device.type == "cpu"
    recordings = {
        key: record_layer(model, stimulus, "amacrine", 16, device=device)
        for key, device in (("cpu", "cpu"), ("cuda", DEVICE))
    }
    assert recordings["cuda"].activation.device.type == "cpu"  # kept on the CPU for the interventions
    torch.testing.assert_close(recordings["cuda"].activation, recordings["cpu"].activation, **CLOSE)
    sets = [[0], [1, 3], []]
    rates = {
        key: scaled_mean_rates(model, recordings["cpu"], "amacrine", sets, 0.0, 16, device=device)
        for key, device in (("cpu", "cpu"), ("cuda", DEVICE))
    }
    np.testing.assert_allclose(rates["cuda"], rates["cpu"], **CLOSE)


def test_the_demos_steps_on_cuda_equal_the_cpu(model, stimulus):
    settings = dataclasses.replace(DemoSettings.fast(), analysis_windows=8, analysis_snippets=2)
    found = {
        key: demo_steps.layer_contributions(model, stimulus, settings, False, device=device)
        for key, device in (("cpu", "cpu"), ("cuda", DEVICE))
    }
    for name, result in found["cpu"].items():
        xr.testing.assert_allclose(found["cuda"][name], result, **CLOSE)
    curves = {
        key: retina_control_curves(
            model,
            stimulus,
            "amacrine",
            {"contribution": {"ON": [0, 1, 2, 3]}},
            CurveSettings(max_channels=2, n_random=2),
            device=device,
            progress=False,
        )
        for key, device in (("cpu", "cpu"), ("cuda", DEVICE))
    }
    xr.testing.assert_allclose(curves["cuda"], curves["cpu"], **CLOSE)


def test_the_whole_demo_on_cuda_follows_the_cpu_run(tmp_path, tiny_model):
    """The demo end to end (fast settings, a random model on the virtual retina): the same
    contributions and predicted hypothesis effects on CUDA as on the CPU."""
    from retinacodec.pipelines.retina import Placement
    from retinacodec.pipelines.retina.run import run_demo

    for key, device in (("cpu", "cpu"), ("cuda", DEVICE)):
        run_demo(
            tmp_path / key,
            model=tiny_model,
            settings=DemoSettings.fast(),
            progress=False,
            placement=Placement(device=device),
        )
    for name in ("contributions_bipolar", "contributions_amacrine"):
        xr.testing.assert_allclose(
            rc.io.read_netcdf(tmp_path / "cuda" / f"{name}.nc"),
            rc.io.read_netcdf(tmp_path / "cpu" / f"{name}.nc"),
            **CLOSE,
        )
    hypotheses = {key: rc.io.read_netcdf(tmp_path / key / "hypotheses.nc") for key in ("cpu", "cuda")}
    np.testing.assert_allclose(
        hypotheses["cuda"]["predicted_change"].values,
        hypotheses["cpu"]["predicted_change"].values,
        rtol=1e-3,
        atol=1e-3,
    )


def test_a_contributions_job_on_cuda_workers_equals_the_cpu(tmp_path, model, stimulus):
    kwargs = {"chunk_size": 8, "n_steps": 4, "batch_size": 16}
    quiet = Execution(progress=False)
    cpu = run_contributions(
        model, stimulus, "amacrine", "cell:0", tmp_path / "cpu", execution=quiet, device="cpu", **kwargs
    )
    here = run_contributions(
        model, stimulus, "amacrine", "cell:0", tmp_path / "here", execution=quiet, device=DEVICE, **kwargs
    )
    on_worker = Execution(workers=1, progress=False)
    worker = run_contributions(
        model, stimulus, "amacrine", "cell:0", tmp_path / "dask", execution=on_worker, device=DEVICE, **kwargs
    )
    xr.testing.assert_allclose(here, cpu, **CLOSE)
    xr.testing.assert_allclose(worker, here, **CLOSE)  # cuDNN may pick other kernels in another process


def test_the_sae_fits_on_cuda_as_on_the_cpu():
    rng = np.random.default_rng(0)
    modes = rng.exponential(size=(4, 12))
    codes = rng.exponential(size=(600, 4)) * (rng.random((600, 4)) < 0.3)
    data = codes @ modes + 0.01 * rng.exponential(size=(600, 12))  # non-negative, as the SAE expects
    fits = {
        key: rc.SAE(n_modes=4, epochs=30, seed=0, device=device, progress=False).fit(data)
        for key, device in (("cpu", "cpu"), ("cuda", DEVICE))
    }
    assert fits["cuda"].r2_ == pytest.approx(fits["cpu"].r2_, abs=0.01)
    np.testing.assert_allclose(fits["cuda"].transform(data), fits["cpu"].transform(data), rtol=0.05, atol=0.05)


def test_training_on_cuda_follows_the_cpu_run():
    rng = np.random.default_rng(0)
    frames = rng.choice([-1.0, 1.0], size=(400, 16, 16)).astype(np.float32)
    drive = frames[:, 6:10, 6:10].mean(axis=(1, 2))
    rates = np.stack([np.log1p(np.exp(3 * drive)), np.log1p(np.exp(-3 * drive))], axis=1)
    responses = xr.DataArray(
        rates,
        dims=("time", "cell"),
        coords={"cell_type": ("cell", ["on", "off"]), "y": ("cell", [8, 8]), "x": ("cell", [8, 8])},
    )
    stim = make_stimulus(frames, kind="white_noise", seed=0)
    settings = TrainingSettings(epochs=2, segment_windows=24, batch_segments=4, learning_rate=3e-3)
    arch = {"history": 6, "bipolar_kernel": 5, "amacrine_kernel": 3, "bipolar_channels": 4, "amacrine_channels": 4}
    logs = {
        key: train_model(stim, responses, architecture=arch, settings=settings, device=device, progress=False)[1]
        for key, device in (("cpu", "cpu"), ("cuda", DEVICE))
    }
    np.testing.assert_allclose(logs["cuda"]["train_loss"], logs["cpu"]["train_loss"], rtol=1e-2)
    np.testing.assert_allclose(logs["cuda"]["validation_r"], logs["cpu"]["validation_r"], atol=0.02)


def test_irfs_and_control_on_cuda_equal_the_cpu(model, stimulus):
    irfs = {
        key: rc.irf(model, stimulus, cells=[0, 1], times=[0.2, 0.3], device=device, options=QUIET)
        for key, device in (("cpu", "cpu"), ("cuda", DEVICE))
    }
    xr.testing.assert_allclose(irfs["cuda"], irfs["cpu"], **CLOSE)
    channels = {"mode 0": [0, 2]}
    control = {
        key: retina_control(model, stimulus, "amacrine", channels, device=device, progress=False)
        for key, device in (("cpu", "cpu"), ("cuda", DEVICE))
    }
    xr.testing.assert_allclose(control["cuda"], control["cpu"], **CLOSE)


def test_the_imagenet_analysis_on_cuda_gives_the_cpu_contributions(tmp_path):
    spec = importlib.util.find_spec("foolbox")
    if spec is None:
        pytest.skip("the foolbox sample images are not installed")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    folder = tmp_path / "images"
    folder.mkdir()
    names = ["imagenet_00_243.jpg", "imagenet_01_559.jpg", "imagenet_06_609.jpg", "imagenet_07_609.jpg"]
    for name in names:
        shutil.copy(data / name, folder / name)
    (tmp_path / "labels.txt").write_text("".join(f"{n} {n.split('_')[-1][:-4]}\n" for n in names))
    settings = ImagenetSettings.fast(control_classes=(609,))
    for key, device in (("cpu", "cpu"), ("cuda", DEVICE)):
        rc.run_imagenet(
            folder,
            tmp_path / key,
            settings=settings,
            labels=tmp_path / "labels.txt",
            execution=Execution(threads=None, progress=False),
            device=device,
        )
    parts = {
        d: xr.concat(
            [
                rc.io.read_netcdf(p)
                for p in sorted((tmp_path / d / "layers" / "block16" / "contributions").glob("part-*.nc"))
            ],
            "sample",
        )
        for d in ("cpu", "cuda")
    }
    xr.testing.assert_allclose(parts["cuda"], parts["cpu"], rtol=1e-3, atol=1e-4)


def test_the_imagenet_control_analysis_on_cuda_follows_the_cpu_run(tmp_path):
    from retinacodec.pipelines.imagenet.control.run import run_control
    from retinacodec.pipelines.imagenet.control.settings import ControlSettings

    from .pipelines.imagenet.test_control_run import SHARED, _few

    if not (SHARED / "val").is_dir():
        pytest.skip("shared imagenette images not present")
    held_out, fit = _few("val", tmp_path / "val"), _few("fit", tmp_path / "fit", per_class=4)
    settings = ControlSettings.fast(layers=("block16",), n_target_images=2, n_off_target_images=2)
    for key, device in (("cpu", "cpu"), ("cuda", DEVICE)):
        run_control(held_out, fit, tmp_path / key, settings=settings, device=device, progress=False)
    for name in ("contributions_00", "predictions"):
        found = {key: sorted((tmp_path / key).glob(f"{name}*.nc")) for key in ("cpu", "cuda")}
        for cpu, cuda in zip(found["cpu"], found["cuda"], strict=True):
            xr.testing.assert_allclose(rc.io.read_netcdf(cuda), rc.io.read_netcdf(cpu), rtol=1e-3, atol=1e-4)

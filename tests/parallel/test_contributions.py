"""Chunked, resumable, Dask-distributed jobs: equal to one process and to one ``contributions`` call."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
import xarray as xr

from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.errors import RetinaCodecError
from retinacodec.io import read_netcdf, write_netcdf
from retinacodec.io.checkpoints import save_checkpoint
from retinacodec.models.registry import load
from retinacodec.parallel import Chunking, Execution, run_chunked, run_contributions
from retinacodec.parallel.cluster import local_cluster
from retinacodec.stimuli.base import make_stimulus

TARGETS = ["cell:0", "cell:2"]
OPTIONS = dict(n_steps=4, batch_size=16)  # 4 windows per internal batch
QUIET = AttributionOptions(progress=False)
"""No progress bar."""
QUIET_RUN = Execution(progress=False)
"""A job without a progress bar, in this process."""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, make_cnn):
    """The tiny CNN (``tiny_cnn``) with batch-norm running statistics moved off their defaults."""
    model = make_cnn(cell_type=["ON", "OFF", "ON"], stimulus_mean=0.1, stimulus_std=0.5, warm=32)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_checkpoint({"config": model.config(), "state_dict": model.state_dict()}, path)
    return str(path)


@pytest.fixture(scope="module")
def stimulus():
    frames = np.random.default_rng(0).uniform(-1, 1, (45, 16, 16)).astype(np.float32)
    return make_stimulus(frames, frame_rate_hz=100.0, kind="white_noise", seed=0)  # 40 windows


@pytest.fixture(scope="module")
def reference(checkpoint, stimulus):
    """One ``contributions`` call on the whole stimulus: what every job must reproduce."""
    return contributions(load(checkpoint), stimulus, "amacrine", TARGETS, options=QUIET, **OPTIONS)


@pytest.fixture(scope="module")
def scheduler():
    with local_cluster(2) as cluster:
        yield cluster.scheduler_address


def _job(checkpoint, stimulus, folder, **kwargs):
    where = {name: kwargs.pop(name) for name in ("workers", "scheduler", "threads", "overwrite") if name in kwargs}
    kwargs = {"chunk_size": 8, **OPTIONS, **kwargs}
    execution = Execution(progress=False, **where)
    return run_contributions(checkpoint, stimulus, "amacrine", TARGETS, folder, execution=execution, **kwargs)


def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def test_chunks_depend_only_on_inputs_and_chunk_size():
    assert [(c.index, c.start, c.stop) for c in Chunking(10, 4)] == [(0, 0, 4), (1, 4, 8), (2, 8, 10)]
    assert len(Chunking(8, 4)) == 2 and len(Chunking(3, 50)) == 1
    with pytest.raises(RetinaCodecError, match="chunk_size is 0"):
        Chunking(10, 0)


def test_single_process_job_equals_one_call_on_the_whole_stimulus(tmp_path, checkpoint, stimulus, reference):
    result = _job(checkpoint, stimulus, tmp_path / "aligned")  # chunks of 8 = two internal batches
    xr.testing.assert_identical(result, reference)
    manifest = _manifest(tmp_path / "aligned")
    assert sorted(manifest["parts"]) == ["0", "1", "2", "3", "4"] and manifest["runs"] == 1
    assert [(p["start"], p["stop"]) for p in manifest["parts"].values()] == [
        (0, 8),
        (8, 16),
        (16, 24),
        (24, 32),
        (32, 40),
    ]
    unaligned = _job(checkpoint, stimulus, tmp_path / "unaligned", chunk_size=7)  # batches differ
    xr.testing.assert_allclose(unaligned, reference, rtol=1e-5, atol=1e-6)
    assert unaligned.attrs == reference.attrs


def test_two_workers_give_the_same_parts_as_one_process(tmp_path, checkpoint, stimulus, reference, scheduler):
    single = _job(checkpoint, stimulus, tmp_path / "single")
    distributed = _job(checkpoint, stimulus, tmp_path / "dask", scheduler=scheduler)
    xr.testing.assert_identical(distributed, single)
    xr.testing.assert_identical(distributed, reference)
    hashes = [{k: p["sha256"] for k, p in _manifest(tmp_path / name)["parts"].items()} for name in ("single", "dask")]
    assert hashes[0] == hashes[1]


@pytest.mark.slow
def test_image_batches_on_a_local_cluster_use_the_mean_over_all_images(tmp_path, checkpoint):
    images = np.random.default_rng(1).normal(size=(11, 6, 16, 16)).astype(np.float32)
    whole = contributions(load(checkpoint), images, "bipolar", "cell:0", baseline="mean", options=QUIET, **OPTIONS)
    whole = read_netcdf(write_netcdf(whole, tmp_path / "whole.nc"))  # labelled as netCDF gives them back
    job = run_contributions(
        checkpoint,
        images,
        "bipolar",
        "cell:0",
        tmp_path / "images",
        chunk_size=4,
        execution=Execution(workers=1, progress=False),
        baseline="mean",
        **OPTIONS,
    )
    assert list(job.indexes["sample"].get_level_values(0)) == list(range(11))
    xr.testing.assert_allclose(job, whole, rtol=1e-5, atol=1e-6)
    chunk_mean = run_contributions(
        checkpoint,
        images[4:8],
        "bipolar",
        "cell:0",
        tmp_path / "chunk",
        chunk_size=4,
        execution=QUIET_RUN,
        baseline="mean",
        **OPTIONS,
    )
    assert not np.allclose(chunk_mean.baseline_value, job.baseline_value.isel(sample=slice(4, 8)))


KILLED_JOB = """
import sys, time
import retinacodec.parallel.runner as runner
from retinacodec.io import read_netcdf
from retinacodec.parallel import Execution, run_contributions

compute_part = runner.compute_part
def slow_part(*args):  # give the test time to kill the job between chunks
    digest = compute_part(*args)
    time.sleep(0.4)
    return digest
runner.compute_part = slow_part
run_contributions(sys.argv[1], read_netcdf(sys.argv[2]), "amacrine", ["cell:0", "cell:2"], sys.argv[3],
                  chunk_size=4, n_steps=4, batch_size=16, execution=Execution(progress=False))
"""


@pytest.mark.slow
def test_killed_job_resumes_and_recomputes_only_missing_chunks(tmp_path, checkpoint, stimulus, reference):
    write_netcdf(stimulus, tmp_path / "stimulus.nc")
    folder = tmp_path / "job"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_JOB, checkpoint, str(tmp_path / "stimulus.nc"), str(folder)]
    )
    try:
        deadline = time.monotonic() + 60
        while not ((folder / "manifest.json").is_file() and len(_manifest(folder)["parts"]) >= 2):
            assert process.poll() is None and time.monotonic() < deadline, "job ended before it was killed"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    before = _manifest(folder)["parts"]
    assert 2 <= len(before) < 10
    mtimes = {k: (folder / p["file"]).stat().st_mtime_ns for k, p in before.items()}
    result = _job(checkpoint, stimulus, folder, chunk_size=4)
    xr.testing.assert_identical(result, reference)
    after = _manifest(folder)
    assert after["runs"] == 2 and len(after["parts"]) == 10
    assert {k for k, p in after["parts"].items() if p["run"] == 1} == set(before)
    assert all((folder / before[k]["file"]).stat().st_mtime_ns == mtimes[k] for k in before)
    assert not list(folder.glob(".*.tmp.*"))


def test_corrupt_or_missing_parts_are_recomputed(tmp_path, checkpoint, stimulus, reference, scheduler):
    folder = tmp_path / "job"
    _job(checkpoint, stimulus, folder)
    parts = {k: folder / p["file"] for k, p in _manifest(folder)["parts"].items()}
    data = parts["1"].read_bytes()
    parts["1"].write_bytes(data[: len(data) // 2])  # half a file
    parts["2"].write_bytes(b"not a netCDF file" * 100)  # garbage
    parts["3"].write_bytes(parts["0"].read_bytes())  # a readable netCDF, but the wrong one
    parts["4"].unlink()
    result = _job(checkpoint, stimulus, folder, scheduler=scheduler)
    xr.testing.assert_identical(result, reference)
    runs = {k: p["run"] for k, p in _manifest(folder)["parts"].items()}
    assert runs == {"0": 1, "1": 2, "2": 2, "3": 2, "4": 2}


def test_different_parameters_are_refused_unless_overwritten(tmp_path, checkpoint, stimulus):
    folder = tmp_path / "job"
    _job(checkpoint, stimulus, folder)
    with pytest.raises(RetinaCodecError, match=r"options .*n_steps.*overwrite"):
        _job(checkpoint, stimulus, folder, n_steps=6)
    with pytest.raises(RetinaCodecError, match="chunking"):
        _job(checkpoint, stimulus, folder, chunk_size=5)
    with pytest.raises(RetinaCodecError, match="inputs"):
        _job(checkpoint, stimulus.isel(time=slice(0, 30)), folder)
    assert _manifest(folder)["runs"] == 1
    fresh = _job(checkpoint, stimulus, tmp_path / "fresh", n_steps=6)
    replaced = _job(checkpoint, stimulus, folder, n_steps=6, overwrite=True)
    xr.testing.assert_identical(replaced, fresh)
    assert {p["run"] for p in _manifest(folder)["parts"].values()} == {1}


def test_attribution_options_are_recorded_as_options_of_their_own(tmp_path, checkpoint, stimulus):
    options = AttributionOptions(split="sign", activation="cell")
    result = _job(checkpoint, stimulus, tmp_path / "job", chunk_size=20, options=options)
    expected = contributions(load(checkpoint), stimulus, "amacrine", TARGETS, **OPTIONS, options=options)
    xr.testing.assert_allclose(result, expected)
    assert _manifest(tmp_path / "job")["params"]["options"] == {
        "activation": "cell",
        "batch_size": 16,
        "n_steps": 4,
        "split": "sign",
    }


def test_bad_input_is_refused(tmp_path, checkpoint, stimulus):
    with pytest.raises(RetinaCodecError, match="unknown contributions option"):
        _job(checkpoint, stimulus, tmp_path / "a", n_step=4)
    with pytest.raises(RetinaCodecError, match="unknown contributions option.*path"):
        _job(checkpoint, stimulus, tmp_path / "a", path="input")
    with pytest.raises(RetinaCodecError, match="expected AttributionOptions"):
        _job(checkpoint, stimulus, tmp_path / "a", options={"split": "sign"})
    with pytest.raises(RetinaCodecError, match="at least 6"):
        _job(checkpoint, stimulus.isel(time=slice(0, 5)), tmp_path / "b")
    with pytest.raises(RetinaCodecError, match="both workers and scheduler"):
        _job(checkpoint, stimulus, tmp_path / "c", workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(RetinaCodecError, match="threads is 0"):
        _job(checkpoint, stimulus, tmp_path / "d", threads=0)
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "manifest.json").write_text("{truncated")
    with pytest.raises(RetinaCodecError, match="cannot read job manifest"):
        _job(checkpoint, stimulus, tmp_path / "e")
    with pytest.raises(RetinaCodecError, match="a stimulus \\(time, y, x\\) needs a retina model with a 'history'"):
        run_contributions(torch.nn.Identity, stimulus, "0", "top", tmp_path / "g", execution=QUIET_RUN)
    with pytest.raises(RetinaCodecError, match="without a 'sample' dim"):
        run_chunked(lambda chunk, data: xr.Dataset(), Chunking(3, 2), tmp_path / "f", {}, execution=QUIET_RUN)


def test_a_model_factory_gives_the_same_result_as_its_checkpoint(tmp_path, checkpoint):
    import functools

    images = np.random.default_rng(2).normal(size=(5, 6, 16, 16)).astype(np.float32)
    by_path = run_contributions(
        checkpoint, images, "bipolar", "cell:0", tmp_path / "path", chunk_size=2, execution=QUIET_RUN, **OPTIONS
    )
    by_factory = run_contributions(
        functools.partial(load, checkpoint),
        images,
        "bipolar",
        "cell:0",
        tmp_path / "factory",
        chunk_size=2,
        execution=QUIET_RUN,
        **OPTIONS,
    )
    xr.testing.assert_identical(by_factory, by_path)
    assert _manifest(tmp_path / "factory")["params"]["model"] == {
        "factory": f"retinacodec.models.registry.load({checkpoint!r})"
    }


SLOW_CHUNKS = """
import time
import retinacodec.parallel.workers as workers
if not hasattr(workers, "unslowed"):
    workers.unslowed = workers.compute_part
    def slow_part(*args, compute=workers.unslowed):  # give the test time to kill between chunks
        digest = compute(*args)
        time.sleep(0.3)
        return digest
    workers.compute_part = slow_part
"""
"""Run on workers (``client.run(exec, SLOW_CHUNKS, {})``): each part takes 0.3 s longer."""


def _wait_for_parts(folder, n, alive=lambda: True):
    deadline = time.monotonic() + 60
    while not ((folder / "manifest.json").is_file() and len(_manifest(folder)["parts"]) >= n):
        assert alive() and time.monotonic() < deadline, "job ended before it was killed"
        time.sleep(0.02)


@pytest.mark.slow
def test_workers_killed_mid_run_are_replaced_and_the_run_ends_with_the_same_result(
    tmp_path, checkpoint, stimulus, reference, scheduler
):
    from distributed import Client

    folder = tmp_path / "job"
    with Client(scheduler) as client:
        client.run(exec, SLOW_CHUNKS, {})
        killed = client.run(os.getpid)

        def kill_workers():
            _wait_for_parts(folder, 2)
            for pid in killed.values():
                os.kill(pid, signal.SIGKILL)  # their nannies start fresh workers (without the slow-down)

        killer = threading.Thread(target=kill_workers)
        killer.start()
        result = _job(checkpoint, stimulus, folder, chunk_size=4, scheduler=scheduler)
        killer.join()
        replaced = client.run(os.getpid)
    xr.testing.assert_identical(result, reference)
    manifest = _manifest(folder)
    assert manifest["runs"] == 1 and len(manifest["parts"]) == 10
    assert set(replaced.values()).isdisjoint(killed.values())


KILLED_ON_A_CLUSTER = """
import sys
from distributed import Client
from retinacodec.io import read_netcdf
from retinacodec.parallel import Execution, run_contributions
from retinacodec.parallel.cluster import local_cluster

with local_cluster(2) as cluster, Client(cluster) as client:
    client.run(exec, sys.argv[4], {})
    run_contributions(sys.argv[1], read_netcdf(sys.argv[2]), "amacrine", ["cell:0", "cell:2"], sys.argv[3],
                      chunk_size=4, n_steps=4, batch_size=16,
                      execution=Execution(scheduler=cluster.scheduler_address, progress=False))
"""


@pytest.mark.slow
def test_a_run_killed_with_its_workers_resumes_to_the_same_result(tmp_path, checkpoint, stimulus, reference, scheduler):
    write_netcdf(stimulus, tmp_path / "stimulus.nc")
    folder = tmp_path / "job"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_ON_A_CLUSTER,
            checkpoint,
            str(tmp_path / "stimulus.nc"),
            str(folder),
            SLOW_CHUNKS,
        ],
        start_new_session=True,
    )
    try:
        _wait_for_parts(folder, 2, alive=lambda: process.poll() is None)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the client, its scheduler, the nannies and workers
        process.wait()
    before = _manifest(folder)["parts"]
    assert 2 <= len(before) < 10
    mtimes = {k: (folder / p["file"]).stat().st_mtime_ns for k, p in before.items()}
    result = _job(checkpoint, stimulus, folder, chunk_size=4, scheduler=scheduler)
    xr.testing.assert_identical(result, reference)
    after = _manifest(folder)
    assert after["runs"] == 2 and {k for k, p in after["parts"].items() if p["run"] == 1} == set(before)
    assert all((folder / before[k]["file"]).stat().st_mtime_ns == mtimes[k] for k in before)


def test_a_chosen_chunk_size_gives_the_same_result_and_is_kept_on_resume(
    tmp_path, checkpoint, stimulus, reference, monkeypatch
):
    from retinacodec.parallel import runner

    folder = tmp_path / "job"
    monkeypatch.setattr(runner, "seconds_per_input", lambda *args: 0.25)  # 2 s per chunk: 8 windows
    first = _job(checkpoint, stimulus, folder, chunk_size=None)
    xr.testing.assert_identical(first, reference)
    assert _manifest(folder)["chunking"] == {"n_inputs": 40, "chunk_size": 8}
    (folder / "part-000002.nc").unlink()
    monkeypatch.setattr(runner, "seconds_per_input", lambda *args: 0.5)  # 2 s per chunk: 4 windows
    again = _job(checkpoint, stimulus, folder, chunk_size=None)
    xr.testing.assert_identical(again, reference)
    manifest = _manifest(folder)
    assert manifest["chunking"]["chunk_size"] == 8 and manifest["runs"] == 2
    assert [p["run"] for p in manifest["parts"].values()] == [1, 1, 2, 1, 1]
    for part in folder.glob("part-*.nc"):
        part.unlink()
    (folder / "manifest.json").write_text(json.dumps({**manifest, "parts": {}}))  # killed before a first part
    xr.testing.assert_identical(_job(checkpoint, stimulus, folder, chunk_size=None), reference)
    assert _manifest(folder)["chunking"]["chunk_size"] == 8
    fresh = _job(checkpoint, stimulus, tmp_path / "fresh", chunk_size=None)
    assert _manifest(tmp_path / "fresh")["chunking"]["chunk_size"] == 4
    xr.testing.assert_identical(fresh, reference)


def test_jobs_leave_nothing_on_the_workers(tmp_path, checkpoint, stimulus, scheduler):
    from distributed import Client

    _job(checkpoint, stimulus, tmp_path / "job", scheduler=scheduler)
    with Client(scheduler) as client:
        held = client.run(lambda: len(__import__("retinacodec.parallel.workers", fromlist=["_JOBS"])._JOBS))
    assert set(held.values()) == {0}


def test_a_model_object_is_sent_to_the_workers_and_named_by_its_state(
    tmp_path, checkpoint, stimulus, reference, scheduler
):
    model = load(checkpoint)
    here = _job(model, stimulus, tmp_path / "here")
    on_workers = _job(model, stimulus, tmp_path / "dask", scheduler=scheduler)
    xr.testing.assert_identical(here, reference)
    xr.testing.assert_identical(on_workers, reference)
    with torch.no_grad():
        next(model.parameters()).add_(0.1)  # another model of the same class
    with pytest.raises(RetinaCodecError, match="model"):
        _job(model, stimulus, tmp_path / "here")


def test_the_cli_runs_a_chunked_job_and_refuses_bad_cluster_options(tmp_path, checkpoint, stimulus, reference, capsys):
    from retinacodec.cli import main

    write_netcdf(stimulus, tmp_path / "stimulus.nc")
    command = [
        "contributions",
        "--model",
        checkpoint,
        "--stimulus",
        str(tmp_path / "stimulus.nc"),
        "--layer",
        "amacrine",
        "--target",
        ",".join(TARGETS),
        "--n-steps",
        "4",
        "--batch-size",
        "16",
    ]
    assert main([*command, "-o", str(tmp_path / "out.nc"), "--job-dir", str(tmp_path / "job")]) == 0
    xr.testing.assert_identical(read_netcdf(tmp_path / "out.nc"), reference)
    assert _manifest(tmp_path / "job")["chunking"]["chunk_size"] % 4 == 0  # chosen, whole internal batches
    assert main([*command, "-o", str(tmp_path / "default.nc"), "--chunk-size", "8"]) == 0
    xr.testing.assert_identical(read_netcdf(tmp_path / "default.nc"), reference)
    assert not (tmp_path / "default.nc.parts").exists()  # the default job folder goes once the output is written
    capsys.readouterr()
    assert main([*command, "-o", str(tmp_path / "bad.nc"), "--workers", "0"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "workers is 0; expected a positive integer" in error

"""The pipelines' contributions on Dask: the same result as their one-process path, one cluster per run."""

import json

import pytest
import torch
import xarray as xr

from retinacodec.cli import main
from retinacodec.parallel import cluster as cluster_module
from retinacodec.pipelines.retina import DemoSettings, Placement
from retinacodec.pipelines.retina import steps as demo_steps
from retinacodec.pipelines.retina.settings import LAYERS
from retinacodec.stimuli import natural_jitter

FAST = DemoSettings.fast()


@pytest.fixture(scope="module")
def model(make_cnn):
    """Batch-norm running statistics moved off their defaults (eval mode)."""
    return make_cnn(cell_type=["ON", "OFF", "ON"], stimulus_mean=0.0, stimulus_std=0.3, warm=32)


@pytest.mark.slow
def test_the_demos_contributions_on_one_local_cluster_equal_the_one_process_path(tmp_path, model, monkeypatch):
    stimulus = natural_jitter(n_frames=FAST.analysis_frames, size=16, seed=3, progress=False)
    alone = demo_steps.layer_contributions(model, stimulus, FAST, False)
    started = []
    real = cluster_module.local_cluster

    def counted(workers):
        started.append(workers)
        return real(workers)

    monkeypatch.setattr(cluster_module, "local_cluster", counted)
    spread = demo_steps.layer_contributions(model, stimulus, FAST, False, workers=2, job_dir=tmp_path)
    assert started == [2]  # one cluster for every layer
    assert list(spread) == list(alone) == [f"contributions_{layer}" for layer in LAYERS]
    for name, result in alone.items():
        xr.testing.assert_identical(spread[name], result)
        assert result.sizes["sample"] == FAST.analysis_windows * model.n_cells
    for layer in LAYERS:  # one stretch per chunk, every part recorded
        manifest = json.loads((tmp_path / layer / "manifest.json").read_text())
        assert manifest["chunking"]["chunk_size"] == 1 and len(manifest["parts"]) == FAST.analysis_snippets


def test_a_bad_placement_gives_one_line_before_any_work(tmp_path, capsys):
    with pytest.raises(Exception, match="both workers and scheduler"):
        Placement(workers=2, scheduler="tcp://127.0.0.1:1")
    assert main(["demo", "-o", str(tmp_path / "out"), "--fast", "--workers", "0"]) == 2
    assert "workers is 0; expected a positive integer" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["demo", "-o", str(tmp_path / "out"), "--fast", "--device", "cuda"]) == 2
        err = capsys.readouterr().err
        assert "CUDA is not available" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()

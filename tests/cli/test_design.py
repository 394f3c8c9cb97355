"""``retinacodec design``: test stimuli for a hypotheses file, checked on the model's virtual retina;
with ``--cell``, the stimuli a cell's modes prefer."""

import numpy as np
import pytest
import xarray as xr

from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.cli import main
from retinacodec.hypotheses.generate import KIND
from retinacodec.io import read_netcdf, write_netcdf
from retinacodec.models.registry import load
from retinacodec.models.virtual_retina import VirtualRetina
from retinacodec.modes.sae import SAE
from retinacodec.stimuli import natural_jitter
from retinacodec.targets import Cell


def _hypotheses(path):
    cells = VirtualRetina().cells
    types = list(dict.fromkeys(str(t) for t in cells["cell_type"].values))
    category = np.zeros((1, len(types)), dtype=np.int8)
    category[0, types.index("oms")] = 1
    ds = xr.Dataset(
        {
            "layer": ("hypothesis", ["amacrine"]),
            "channels": ("hypothesis", ["1"]),
            "blocked_outputs": ("hypothesis", ["all"]),
            "predicted_category": (("hypothesis", "type"), category),
            "predicted_effect": (("hypothesis", "type"), category.astype(float)),
            "block": ("hypothesis", ["amacrine_wide"]),
        },
        coords={
            "hypothesis": ["amacrine-0"],
            "type": types,
            "cell": np.arange(cells.sizes["cell"]),
            "cell_type": ("cell", cells["cell_type"].values),
        },
        attrs={"kind": KIND, "gain": 0.0, "recording_s": 60.0, "model_history": 8},
    )
    return write_netcdf(ds, path)


def test_design_writes_checked_stimuli_and_a_figure(tmp_path, tiny_model, capsys):
    source = _hypotheses(tmp_path / "hypotheses.nc")
    out, figure = tmp_path / "designs.nc", tmp_path / "designs.png"
    argv = ["design", str(source), "--model", str(tiny_model / "model.pt"), "--frames", "30", "--steps", "2"]
    assert main([*argv, "--jitter-seed", "5", "-o", str(out), "--plot", str(figure)]) == 0
    designs = read_netcdf(out)
    assert designs["test_stimulus"].shape == (1, 30, 50, 50) and "observed_ratio" in designs
    assert figure.is_file() and "checked on the virtual retina" in capsys.readouterr().out


def test_design_refuses_what_is_not_a_hypotheses_file_in_one_line(tmp_path, tiny_model, capsys):
    other = write_netcdf(xr.Dataset({"a": ("x", [1.0])}), tmp_path / "other.nc")
    code = main(["design", str(other), "--model", str(tiny_model / "model.pt"), "-o", str(tmp_path / "o.nc")])
    err = capsys.readouterr().err
    assert code == 2 and "expected the Dataset of retinacodec.hypotheses.generate()" in err
    assert len(err.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory, tiny_model):
    """A folder as a demo leaves it for `design --cell`: a saved contribution SAE of the amacrine
    layer and an IRF by mode that names cell 2's modes."""
    folder = tmp_path_factory.mktemp("demo_like")
    model = load(str(tiny_model / "model.pt"))
    found = contributions(
        model,
        natural_jitter(n_frames=20, seed=3, progress=False),
        "amacrine",
        [Cell(i) for i in range(model.n_cells)],
        n_steps=2,
        options=AttributionOptions(split="sign", progress=False),
    )
    SAE(n_modes=5, epochs=1, batch_size=32, device="cpu", progress=False).fit(found).save(folder / "sae_amacrine.nc")
    rng = np.random.default_rng(0)
    shape = (1, 1, model.history, 50, 50)
    irf = xr.Dataset(
        {
            "irf": (("time", "cell", "lag", "y", "x"), rng.normal(size=shape)),
            "mode_irf": (("time", "cell", "mode", "lag", "y", "x"), rng.normal(size=(1, 1, 2, *shape[2:]))),
            "cell_modes": (("cell", "rank"), [[3, 1]]),
        },
        coords={"cell": [2], "mode": [1, 3]},
        attrs={"layer": "amacrine"},
    )
    write_netcdf(irf, folder / "irf.nc")
    return folder


def test_design_cell_from_a_demo_folder_uses_its_irf_modes(demo_like, tiny_model, tmp_path, capsys):
    out, figure = tmp_path / "preferred.nc", tmp_path / "preferred.png"
    argv = ["design", str(demo_like), "--cell", "2", "--model", str(tiny_model / "model.pt"), "--steps", "2"]
    assert main([*argv, "-o", str(out), "--plot", str(figure)]) == 0
    preferred = read_netcdf(out)
    assert list(preferred["mode"].values) == [3, 1] and preferred["preferred_stimulus"].shape == (2, 8, 50, 50)
    assert "irf_correlation" in preferred and np.isfinite(preferred["irf_correlation"].values).all()
    assert figure.is_file() and "preferred stimuli of 2 modes, 8 frames each" in capsys.readouterr().out


def test_design_cell_from_an_sae_file_with_chosen_modes(demo_like, tiny_model, tmp_path):
    out = tmp_path / "preferred.nc"
    argv = ["design", str(demo_like / "sae_amacrine.nc"), "--cell", "0", "--mode", "4", "--frames", "10"]
    assert main([*argv, "--model", str(tiny_model / "model.pt"), "--steps", "2", "--seed", "3", "-o", str(out)]) == 0
    preferred = read_netcdf(out)
    assert list(preferred["mode"].values) == [4] and preferred.sizes["time"] == 10
    assert "irf_correlation" not in preferred and preferred.attrs["design_seed"] == 3

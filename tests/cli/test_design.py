"""``retinacodec design``: test stimuli for a hypotheses file, checked on the model's virtual retina."""

import numpy as np
import xarray as xr

from retinacodec.cli import main
from retinacodec.hypotheses.generate import KIND
from retinacodec.io import read_netcdf, write_netcdf
from retinacodec.models.virtual_retina import VirtualRetina


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

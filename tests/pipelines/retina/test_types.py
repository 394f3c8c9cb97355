"""Recordings' cell types in the demo: figures chosen by the stimulus's shape, the cell-type
section, user labels from the API and the CLI, and a full-field recording end to end."""

import dataclasses
import json

import numpy as np
import pytest
import xarray as xr

from retinacodec.errors import RetinaCodecError
from retinacodec.io import read_netcdf
from retinacodec.models.cell_types import TypeLabels
from retinacodec.pipelines.retina import DemoSettings
from retinacodec.pipelines.retina.figures import irf_figures
from retinacodec.pipelines.retina.report_types import cell_types_section
from retinacodec.pipelines.retina.run import run_demo
from retinacodec.pipelines.retina.summary import DemoSummary

FAST = DemoSettings.fast()


def _irf(size: int) -> xr.Dataset:
    rng = np.random.default_rng(0)
    shape = (2, 2, 5, size, size)
    whole = xr.DataArray(
        rng.normal(size=shape),
        dims=("time", "cell", "lag", "y", "x"),
        coords={"time": [0.5, 1.0], "cell": [3, 7], "lag": np.arange(5) * 0.01, "cell_type": ("cell", ["on", "off"])},
    )
    parts = xr.concat([0.6 * whole, 0.3 * whole], dim="mode").assign_coords(mode=[0, 4])
    return xr.Dataset({"irf": whole, "mode_irf": parts, "residual": 0.1 * whole})


def test_irf_figures_are_time_courses_on_full_field_frames_and_maps_on_a_movie():
    assert list(irf_figures(_irf(1))) == ["irf_courses"]
    assert list(irf_figures(_irf(4))) == ["irf_cell3", "irf_cell7"]


def test_time_course_figure_refuses_a_movie():
    from retinacodec.plots.irf_courses import plot_irf_courses

    with pytest.raises(RetinaCodecError, match="expected a full-field"):
        plot_irf_courses(_irf(4))
    figure = plot_irf_courses(_irf(1))
    assert len(figure.axes) == 2 * 4  # two cells x (IRF, two modes, residual)
    assert figure.axes[0].get_title() == "cell 3 (on)"


def test_cell_type_section_lists_every_unit_with_its_evidence():
    types = xr.Dataset(
        {
            "cell_type": ("cell", ["mine", "off"]),
            "source": ("cell", ["user", "functional"]),
            "functional_type": ("cell", ["on", "off"]),
            "reason": ("cell", ["ON STA lobe", "OFF STA lobe"]),
            "n_spikes": ("cell", [900, 1200]),
            "peak_z": ("cell", [12.0, 30.5]),
            "biphasic_index": ("cell", [0.2, np.nan]),
            "on_off_index": ("cell", [0.0, -0.4]),
        },
        coords={"cell": [0, 5]},
    )
    text = "\n".join(cell_types_section(types))
    assert "mine: 1, off: 1" in text
    assert "| 5 | off | functional | off | 1200 | 30.5 | – | -0.40 | OFF STA lobe |" in text


def test_labels_need_a_recording_and_the_cli_passes_them(tmp_path, monkeypatch, capsys):
    from retinacodec.cli import main
    from retinacodec.pipelines.retina import run

    with pytest.raises(RetinaCodecError, match="expected them with nwb"):
        run_demo(tmp_path / "x", cell_types=TypeLabels(column="lab"), progress=False)
    (tmp_path / "types.csv").write_text("3,mine\n")
    seen = {}
    monkeypatch.setattr(run, "run_demo", lambda output, **kwargs: seen.update(kwargs))
    labels = str(tmp_path / "types.csv")
    args = ["demo", "-o", str(tmp_path / "out"), "--fast", "--nwb", "r.nwb", "--cell-types", labels]
    assert main([*args, "--cell-type-column", "lab"]) in (0, None)
    assert seen["cell_types"] == TypeLabels("lab", {3: "mine"})
    assert main(["demo", "-o", str(tmp_path / "out"), "--fast"]) in (0, None) and seen["cell_types"] is None
    monkeypatch.undo()
    assert main(["train", "--recipe", "r.toml", "-o", str(tmp_path / "m"), "--cell-type-column", "lab"]) == 2
    assert "expected --nwb" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_types_a_full_field_recording_draws_time_courses_and_user_labels_win(tmp_path):
    from retinacodec.bench.rig import record_full_field

    path, _, _ = record_full_field(tmp_path / "full_field.nwb", 2.5, seed=38, n_repeats=2)
    settings = dataclasses.replace(FAST, analysis_windows=8, hypothesis_frames=120)
    report = run_demo(
        tmp_path / "out", nwb=path, settings=settings, progress=False, cell_types=TypeLabels(labels={0: "mine"})
    )
    text = report.read_text()
    types = read_netcdf(tmp_path / "out" / "cell_types.nc")
    assert types["source"].values[0] == "user" and types["cell_type"].values[0] == "mine"
    assert set(types["source"].values[1:]) == {"functional"}
    assert "## Cell types" in text and "| 0 | mine | user |" in text
    assert (tmp_path / "out" / "irf_courses.png").is_file()
    assert not list((tmp_path / "out").glob("irf_cell*.png")) and "irf_courses.png" in text
    summary = DemoSummary.from_json((tmp_path / "out" / "summary.json").read_text())
    assert summary.cell_types is not None and summary.cell_types["mine"] == 1 and sum(summary.cell_types.values()) == 20
    labels = set(read_netcdf(tmp_path / "out" / "modes_bipolar.nc")["loadings"]["cell_type"].values)
    assert "mine" in labels and "unknown" not in labels
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["steps"].keys() >= {"types", "train"}

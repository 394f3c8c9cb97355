"""`retinacodec stimulus`: the written netCDF reads back identical, --plot writes a PNG, and each
user mistake gives exit status 2 with exactly one line on stderr (never a traceback)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from matplotlib.image import imread

from retinacodec.cli import main
from retinacodec.io import read_netcdf
from retinacodec.stimuli import list_protocols, render_protocol


def _recipe(tmp_path, text, name="recipe.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_stimulus_writes_netcdf_that_reads_back_and_a_plot(tmp_path, capsys):
    recipe = _recipe(
        tmp_path, 'kind = "natural_jitter"\ndescription = "small"\n[parameters]\nn_frames = 40\nsize = 12\nseed = 3\n'
    )
    out, png = tmp_path / "stim.nc", tmp_path / "stim.png"
    assert main(["stimulus", recipe, "-o", str(out), "--plot", str(png)]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out}" in captured.out and f"wrote {png}" in captured.out

    expected = render_protocol(recipe, progress=False)
    written = read_netcdf(out)
    xr.testing.assert_identical(written, expected)  # values, dims, coords (gaze) and attrs
    assert written.attrs["protocol"] == recipe and written.attrs["seed"] == 3
    image = imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0


def test_shipped_protocol_name_works(tmp_path):
    out = tmp_path / "flash.nc"
    assert main(["stimulus", "flash", "-o", str(out)]) == 0
    written = read_netcdf(out)
    np.testing.assert_array_equal(written.values, render_protocol("flash").values)
    assert written.attrs["protocol"] == "flash"


@pytest.mark.parametrize(
    ("recipe", "argument", "fragment"),
    [
        (None, "no_such_protocol", "unknown protocol 'no_such_protocol'"),
        ('kind = "spiral"\n', "{path}", "kind is 'spiral'"),
        ('kind = "grating"\n[parameters]\nspeed = 3\n', "{path}", "unknown parameter 'speed'"),
        (None, "{tmp}/missing.toml", "recipe file not found"),
        ('kind = "grating"\n[parameters]\nn_frames = -1\n', "{path}", "n_frames is -1"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, recipe, argument, fragment):
    path = _recipe(tmp_path, recipe) if recipe else ""
    argument = argument.format(path=path, tmp=tmp_path)
    status = main(["stimulus", argument, "-o", str(tmp_path / "out.nc")])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.splitlines()) == 1 and err.startswith("retinacodec stimulus: error: ")
    assert fragment in err
    if argument == "no_such_protocol":
        assert ", ".join(list_protocols()) in err
    assert not (tmp_path / "out.nc").exists()


def test_console_script_prints_no_traceback(tmp_path):
    script = Path(sys.executable).parent / "retinacodec"
    assert script.is_file()
    result = subprocess.run(
        [str(script), "stimulus", "no_such_protocol", "-o", str(tmp_path / "out.nc")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown protocol 'no_such_protocol'" in lines[0]

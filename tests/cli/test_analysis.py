"""`retinacodec irf` and `retinacodec control` on the shipped default model: the written results
equal the library's, --plot writes a PNG, and each user mistake gives exit status 2 with exactly
one line on stderr (never a traceback)."""

import numpy as np
import pytest
import xarray as xr
from matplotlib.image import imread

from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.cli import main
from retinacodec.cli.irf import DEFAULT_IRF_TIMES
from retinacodec.control.experiments import retina_control
from retinacodec.io import read_netcdf, write_netcdf
from retinacodec.models.registry import load
from retinacodec.modes.sae import SAE
from retinacodec.modes.selection import associated_mode, top_channels
from retinacodec.modes.workflow import fit_modes
from retinacodec.receptive_fields.instantaneous import irf
from retinacodec.receptive_fields.selection import ModeSelection
from retinacodec.stimuli import render_protocol
from retinacodec.targets import Cell

QUIET = AttributionOptions(progress=False)
"""No progress bar."""

LAYER = "amacrine"
N_WINDOWS = 9  # 48 frames with a history of 40


@pytest.fixture(scope="module")
def model():
    return load("default")


@pytest.fixture(scope="module")
def files(tmp_path_factory, model):
    """A short natural-jitter stimulus (netCDF, so that no progress bar precedes an error), and the
    amacrine layer's contribution and activation modes of every cell, as `retinacodec modes` writes
    them (-o and --save-sae)."""
    folder = tmp_path_factory.mktemp("analysis")
    recipe = folder / "stim.toml"
    recipe.write_text('kind = "natural_jitter"\n[parameters]\nn_frames = 48\nsize = 50\nseed = 3\n')
    stimulus = render_protocol(str(recipe), progress=False)
    paths = {"stimulus": write_netcdf(stimulus, folder / "stim.nc")}
    data = contributions(
        model,
        stimulus,
        LAYER,
        [Cell(i) for i in range(model.n_cells)],
        n_steps=5,
        options=AttributionOptions(split="sign", progress=False),
    )
    for variable in ("contribution", "activation"):
        sae, result = fit_modes(
            data,
            labels="cell_type",
            variable=variable,
            n_modes=4,
            epochs=20,
            batch_size=32,
            seed=0,
            device="cpu",
            progress=False,
        )
        paths[variable] = write_netcdf(result, folder / f"{variable}_modes.nc")
        paths[f"{variable}_sae"] = sae.save(folder / f"{variable}_sae.nc")
    paths["five_channels"] = write_netcdf(_modes_file(np.ones((3, 5)), np.ones((4, 3))), folder / "five_channels.nc")
    paths["constant"] = write_netcdf(_modes_file(np.eye(2, 8), np.ones((4, 2))), folder / "constant.nc")
    return {name: str(path) for name, path in paths.items()}


def _modes_file(modes: np.ndarray, loadings: np.ndarray) -> xr.Dataset:
    """A modes file as `retinacodec modes -o` writes it, of the amacrine layer, with four samples of two types."""
    return xr.Dataset(
        {
            "modes": xr.DataArray(modes, dims=("mode", "channel"), attrs={"layer": LAYER}),
            "loadings": (("sample", "mode"), loadings),
        },
        coords={"cell": ("sample", [0, 1, 2, 3]), "cell_type": ("sample", ["on", "on", "oms", "oms"])},
    )


def _one_error_line(capsys, status: int, command: str, fragment: str, output) -> None:
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.splitlines()) == 1 and err.startswith(f"retinacodec {command}: error: "), err
    assert fragment in err and "Traceback" not in err
    assert not output.exists()


def test_irf_equals_the_library_and_plots(tmp_path, capsys, model, files):
    out, png = tmp_path / "irf.nc", tmp_path / "irf.png"
    status = main(
        [
            "irf",
            "--stimulus",
            files["stimulus"],
            "--cells",
            "0,3",
            "--times",
            "0.4,0.42:0.43",
            "-o",
            str(out),
            "--plot",
            str(png),
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: gradient IRFs (time 3 x cell 2 x lag 40 x y 50 x x 50) of cells 0,3" in printed
    assert f"wrote {png}" in printed

    written = read_netcdf(out)
    assert written.dims == ("time", "cell", "lag", "y", "x")
    np.testing.assert_allclose(written["time"].values, [0.40, 0.42, 0.43])
    np.testing.assert_array_equal(written["cell"].values, [0, 3])
    expected = irf(model, read_netcdf(files["stimulus"]), [0, 3], [0.40, 0.42, 0.43], options=QUIET)
    np.testing.assert_allclose(written.values, expected.values, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(written["cell_type"].values, expected["cell_type"].values)
    assert written.attrs["method"] == "gradient" and np.abs(written.values).max() > 0
    image = imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0


def test_irf_default_times_are_a_few_evenly_spaced_ones(tmp_path, capsys, files):
    out = tmp_path / "irf.nc"
    assert (
        main(
            ["irf", "--stimulus", files["stimulus"], "--cells", "1", "--method", "ig", "--n-steps", "4", "-o", str(out)]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert f"IRFs at {DEFAULT_IRF_TIMES} evenly spaced times of the {N_WINDOWS}" in printed
    times = read_netcdf(out)["time"].values
    assert len(times) == DEFAULT_IRF_TIMES and times[0] == pytest.approx(0.39) and times[-1] == pytest.approx(0.47)
    assert read_netcdf(out).attrs["method"] == "ig"


@pytest.mark.parametrize("source", ["contribution_sae", "contribution"])
def test_irf_by_modes_equals_the_library(tmp_path, capsys, model, files, source):
    out = tmp_path / "irf.nc"
    assert (
        main(
            [
                "irf",
                "--stimulus",
                files["stimulus"],
                "--cells",
                "2",
                "--times",
                "0.41:0.45:0.04",
                "--modes",
                files[source],
                "--selected-modes",
                "0,2",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    written = read_netcdf(out)
    modes = SAE.load(files[source]) if source.endswith("sae") else read_netcdf(files[source])["modes"]
    expected = irf(
        model,
        read_netcdf(files["stimulus"]),
        2,
        [0.41, 0.45],
        modes=ModeSelection(modes, positions=[0, 2]),
        options=QUIET,
    )
    assert written["mode_irf"].dims == ("time", "cell", "mode", "lag", "y", "x")
    np.testing.assert_array_equal(written["mode"].values, [0, 2])
    for variable in ("irf", "mode_irf", "residual", "explained", "loadings"):
        np.testing.assert_allclose(written[variable].values, expected[variable].values, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(
        (written["mode_irf"].sum("mode") + written["residual"]).values, written["irf"].values, rtol=1e-5, atol=1e-7
    )
    assert written.attrs["layer"] == LAYER
    assert written.attrs["modes"] == (
        "SAE loadings" if source.endswith("sae") else "static dictionary (all modes loading 1)"
    )
    printed = capsys.readouterr().out
    assert f"explain {100 * expected.attrs['explained_overall']:.1f}%" in printed


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (["--cells", "25"], "cell index 25 is out of range"),
        (["--cells", "0,a"], "cannot read --cells '0,a'"),
        (["--times", "5"], "time 5 s is outside the stimulus frames"),
        (["--times", "0.2:0.45"], "time 0.2 s is outside the stimulus frames"),
        (["--times", "0.45:0.4"], "cannot read --times item '0.45:0.4'"),
        (["--times", "0.4,0.4:inf"], "cannot read --times item '0.4:inf'"),
        (
            ["--modes", "{contribution_sae}", "--layer", "bipolar"],
            "the modes were fitted on layer 'amacrine', not 'bipolar'",
        ),
        (["--layer", "amacrine"], "--layer or --selected-modes given without --modes"),
        (["--modes", "{five_channels}"], "the modes have 5 channels but layer 'amacrine' outputs 8"),
        (["--modes", "{stimulus}"], "holds no modes; expected a file written by 'retinacodec modes'"),
        (["--modes", "{contribution_sae}", "--selected-modes", "9"], "expected distinct mode positions in 0..3"),
    ],
)
def test_irf_bad_input_exits_2_with_one_line(tmp_path, capsys, files, arguments, fragment):
    out = tmp_path / "irf.nc"
    arguments = [argument.format(**files) for argument in arguments]
    defaults = ["--cells", "0", "--times", "0.4"]
    status = main(["irf", "--stimulus", files["stimulus"], *defaults, *arguments, "-o", str(out)])
    _one_error_line(capsys, status, "irf", fragment, out)


def test_control_equals_the_library_and_prints_both_selections(tmp_path, capsys, model, files):
    out, png = tmp_path / "control.nc", tmp_path / "control.png"
    status = main(
        [
            "control",
            "--stimulus",
            files["stimulus"],
            "--modes",
            files["contribution"],
            "--activation-modes",
            files["activation"],
            "--activation-mode",
            "2",
            "--fraction",
            "0.25",
            "-o",
            str(out),
            "--plot",
            str(png),
        ]
    )
    assert status == 0
    written = read_netcdf(out)

    modes = read_netcdf(files["contribution"])
    mode = associated_mode(modes["loadings"], modes["loadings"]["cell_type"].values, "oms")  # the default target
    channels = {
        "contribution": top_channels(modes["modes"], mode, 0.25),
        "activation": top_channels(read_netcdf(files["activation"])["modes"], 2, 0.25),
    }
    for variable, chosen in channels.items():
        np.testing.assert_array_equal(written.attrs[f"channels_{variable}"], chosen)
    assert len(channels["contribution"]) == 2  # a quarter of the layer's 8 channels
    expected = retina_control(model, read_netcdf(files["stimulus"]), LAYER, channels, progress=False)
    assert written["rate_change"].dims == ("selection", "intervention", "cell")
    assert list(written["selection"].values) == ["contribution", "activation"]
    assert list(written["intervention"].values) == ["none", "ablate", "preserve"]
    for variable in ("mean_rate", "rate_change", "correlation", "n_channels"):
        np.testing.assert_allclose(written[variable].values, expected[variable].values, rtol=1e-6)
    assert written.attrs["target_kind"] == "cell_type" and written.attrs["target_label"] == "oms"
    assert written.attrs["layer"] == LAYER and written.attrs["fraction"] == 0.25

    printed = capsys.readouterr().out
    n_oms = int((written["cell_type"] == "oms").sum())
    assert f"contribution modes ({files['contribution']}): mode {mode} (most tied to type:oms)" in printed
    assert f"activation modes ({files['activation']}): mode 2 (chosen by hand)" in printed
    header = next(line for line in printed.splitlines() if line.startswith("cells"))
    assert header.split() == ["cells", "intervention", "contribution", "activation", "contribution", "activation"]
    oms = written.isel(cell=np.flatnonzero(written["cell_type"].values == "oms"))
    row = next(line for line in printed.splitlines() if line.startswith(f"oms cells ({n_oms})") and "ablate" in line)
    values = [float(value) for value in row.split()[-4:]]
    np.testing.assert_allclose(values[:2], oms["rate_change"].sel(intervention="ablate").mean("cell"), atol=0.006)
    np.testing.assert_allclose(values[2:], oms["correlation"].sel(intervention="ablate").mean("cell"), atol=6e-4)
    assert f"other cells ({model.n_cells - n_oms})" in printed
    image = imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0


def test_control_of_every_channel_preserves_the_rates_and_ablation_changes_them(tmp_path, capsys, files):
    """Preserving all channels changes nothing; ablating them all changes every cell's rate."""
    out = tmp_path / "control.nc"
    assert (
        main(
            [
                "control",
                "--stimulus",
                files["stimulus"],
                "--modes",
                files["contribution_sae"],
                "--mode",
                "1",
                "--fraction",
                "1",
                "--cells",
                "0,5,10",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    written = read_netcdf(out)
    np.testing.assert_array_equal(written["cell"].values, [0, 5, 10])
    assert int(written["n_channels"].sel(selection="contribution")) == 8
    np.testing.assert_array_equal(written["rate_change"].sel(intervention=["none", "preserve"]).values, 0.0)
    assert (np.abs(written["rate_change"].sel(intervention="ablate")) > 1e-3).all()
    assert "target_kind" not in written.attrs
    printed = capsys.readouterr().out
    assert "mode 1 (chosen by hand)" in printed and "all cells (3)" in printed


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (["--target", "type:amacrine"], "is of type:amacrine; expected one of ['off', 'oms', 'on', 'on_off']"),
        (["--target", "neuron:3"], "cannot read --target 'neuron:3'"),
        (["--layer", "bipolar"], "the modes were fitted on layer 'amacrine', not 'bipolar'"),
        (["--activation-modes", "{contribution}"], "holds modes of the contribution; expected activation modes"),
        (["--activation-mode", "0"], "--activation-mode given without --activation-modes"),
        (["--fraction", "0"], "fraction is 0.0; expected a number in (0, 1]"),
        (["--mode", "9"], "mode 9 is out of range"),
        (["--cells", "25"], "cell index 25 is out of range"),
        (
            ["--modes", "{constant}"],
            (
                "every mode has constant loadings; expected loadings that vary across "
                "samples; or choose the mode by --mode / --activation-mode"
            ),
        ),
    ],
)
def test_control_bad_input_exits_2_with_one_line(tmp_path, capsys, files, arguments, fragment):
    out = tmp_path / "control.nc"
    arguments = [argument.format(**files) for argument in arguments]
    status = main(
        ["control", "--stimulus", files["stimulus"], "--modes", files["contribution"], *arguments, "-o", str(out)]
    )
    _one_error_line(capsys, status, "control", fragment, out)


def test_control_needs_loadings_or_a_mode_for_a_saved_sae(tmp_path, capsys, files):
    out = tmp_path / "control.nc"
    status = main(["control", "--stimulus", files["stimulus"], "--modes", files["contribution_sae"], "-o", str(out)])
    _one_error_line(capsys, status, "control", "is a saved SAE, which holds no loadings", out)


def test_control_curves_equal_the_library_and_print_a_table(tmp_path, capsys, model, files):
    from retinacodec.control.curves import CurveSettings, retina_control_curves, target_rankings

    out, png = tmp_path / "curves.nc", tmp_path / "curves.png"
    status = main(
        [
            "control",
            "--stimulus",
            files["stimulus"],
            "--modes",
            files["contribution"],
            "--activation-modes",
            files["activation"],
            "--curves",
            "2",
            "--draws",
            "3",
            "-o",
            str(out),
            "--plot",
            str(png),
        ]
    )
    assert status == 0
    written = read_netcdf(out)
    rankings = {v: target_rankings(read_netcdf(files[v])) for v in ("contribution", "activation")}
    settings = CurveSettings(max_channels=2, n_random=3)
    expected = retina_control_curves(model, read_netcdf(files["stimulus"]), LAYER, rankings, settings, progress=False)
    np.testing.assert_allclose(written["specificity"].values, expected["specificity"].values, rtol=1e-6)
    assert list(written["k"].values) == [1, 2] and set(written["target"].values) == {"on", "off", "on_off", "oms"}
    printed = capsys.readouterr().out
    assert printed.splitlines()[1].split()[:3] == ["target", "intervention", "k"] and "mean over targets" in printed
    assert imread(png).std() > 0
    assert (
        main(
            [
                "control",
                "--stimulus",
                files["stimulus"],
                "--modes",
                files["contribution"],
                "--curves",
                "2",
                "--mode",
                "1",
                "-o",
                str(out),
            ]
        )
        == 2
    )
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (
            ["--activation-modes", "{contribution}"],
            "holds modes of the contribution; expected activation modes ('retinacodec modes --variable activation')",
        ),
        (["--modes", "{contribution_sae}"], "is a saved SAE, which holds no loadings; --curves expects"),
        (["--layer", "bipolar"], "the modes were fitted on layer 'amacrine', not 'bipolar'"),
    ],
)
def test_control_curves_bad_input_exits_2_with_one_line(tmp_path, capsys, files, arguments, fragment):
    out = tmp_path / "curves.nc"
    arguments = [argument.format(**files) for argument in arguments]
    status = main(
        [
            "control",
            "--stimulus",
            files["stimulus"],
            "--modes",
            files["contribution"],
            "--curves",
            "2",
            *arguments,
            "-o",
            str(out),
        ]
    )
    _one_error_line(capsys, status, "control", fragment, out)


def test_contributions_with_per_cell_activation_equal_the_library(tmp_path, capsys, model, files):
    out = tmp_path / "contributions.nc"
    status = main(
        [
            "contributions",
            "--stimulus",
            files["stimulus"],
            "--layer",
            LAYER,
            "--target",
            "cell:0,cell:15",
            "--n-steps",
            "2",
            "--split",
            "sign",
            "--activation",
            "cell",
            "-o",
            str(out),
        ]
    )
    assert status == 0
    written = read_netcdf(out)
    expected = contributions(
        model,
        read_netcdf(files["stimulus"]),
        LAYER,
        [Cell(0), Cell(15)],
        n_steps=2,
        options=AttributionOptions(split="sign", activation="cell", progress=False),
    )
    np.testing.assert_allclose(written["activation"].values, expected["activation"].values, rtol=1e-6)
    assert written.attrs["activation"] == "cell"
    assert not np.allclose(written["activation"].sel(cell=0).values, written["activation"].sel(cell=15).values)

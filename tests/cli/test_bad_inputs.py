"""Bad input to every `retinacodec` subcommand: exit status 2, exactly one line on stderr that
starts with ``retinacodec <command>: error:``, and never a traceback. Most refusals happen before
any computation; the files are tiny."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.cli import main
from retinacodec.io import write_netcdf, write_nwb
from retinacodec.models.registry import load
from retinacodec.modes.sae import SAE
from retinacodec.stimuli import render_protocol
from retinacodec.targets import Cell

LAYER = "amacrine"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Tiny inputs: a white-noise stimulus (netCDF, recipe, NWB), its contributions (few and many
    samples), and corrupt or foreign files."""
    folder = tmp_path_factory.mktemp("bad_inputs")
    recipe = folder / "stim.toml"
    recipe.write_text('kind = "white_noise"\n[parameters]\nn_frames = 110\nsize = 50\nseed = 3\n')
    stimulus = render_protocol(str(recipe), progress=False)
    paths: dict[str, Path | str] = {"recipe": recipe, "stimulus": write_netcdf(stimulus, folder / "stim.nc")}
    model = load("default")
    data = contributions(
        model, stimulus, LAYER, [Cell(0), Cell(1)], n_steps=2, options=AttributionOptions(split="sign", progress=False)
    )
    paths["contributions"] = write_netcdf(data, folder / "contributions.nc")  # 142 samples
    sae = SAE(n_modes=4, epochs=1, batch_size=32, device="cpu", progress=False).fit(data)
    paths["sae"] = sae.save(folder / "sae.nc")
    paths["few_samples"] = write_netcdf(data.isel(sample=slice(0, 12)), folder / "few_samples.nc")
    with xr.open_dataset(paths["contributions"]) as opened:  # a level of the stacked sample index removed
        opened.load().drop_vars("cell").to_netcdf(folder / "no_cell_level.nc")
    paths["no_cell_level"] = folder / "no_cell_level.nc"
    for name in ("recipe", "stimulus", "contributions"):  # outputs that would overwrite an input
        victim = folder / f"victim_{Path(paths[name]).name}"
        victim.write_bytes(Path(paths[name]).read_bytes())
        paths[f"victim_{name}"] = victim
    paths["modes"] = write_netcdf(_modes_file(), folder / "modes.nc")
    paths["nwb"] = write_nwb(folder / "recording.nwb", stimulus, [[0.1, 0.2], [0.3]])
    paths["truncated_nwb"] = _write(folder / "truncated.nwb", Path(paths["nwb"]).read_bytes()[:1000])
    paths["random_nc"] = _write(folder / "random.nc", np.random.default_rng(0).bytes(4000))
    paths["random_nwb"] = _write(folder / "random.nwb", np.random.default_rng(1).bytes(4000))
    paths["plain_nc"] = write_netcdf(xr.Dataset({"x": ("a", np.arange(3.0))}), folder / "plain.nc")
    string_rate = stimulus.copy()
    string_rate.attrs["frame_rate_hz"] = "fast"
    paths["string_rate"] = _raw_netcdf(string_rate, folder / "string_rate.nc")
    bad_json = stimulus.copy()
    bad_json.attrs["_retinacodec_json_attrs"] = '["description"'  # truncated JSON
    paths["bad_json"] = _raw_netcdf(bad_json, folder / "bad_json.nc")
    paths["hdf5"] = _hdf5(folder / "plain.nwb")
    paths["latin1_toml"] = _write(folder / "latin1.toml", 'kind = "flash"\ndescription = "caf\xe9"\n'.encode("latin-1"))
    paths["unknown_kind"] = _write(folder / "unknown_kind.toml", b'kind = "spiral"\n')
    paths["unknown_key"] = _write(folder / "unknown_key.toml", b'kind = "white_noise"\ncolour = "red"\n')
    paths["huge"] = _write(folder / "huge.toml", b'kind = "white_noise"\n[parameters]\nn_frames = 1000000000000\n')
    paths["text"] = _write(folder / "notes.txt", b"hello\n")
    paths["folder"] = folder / "a_folder"
    paths["folder"].mkdir()
    paths["tmp"] = folder
    return {name: str(path) for name, path in paths.items()}


def _modes_file() -> xr.Dataset:
    """A modes file as `retinacodec modes -o` writes it: three modes of the amacrine layer's eight
    channels, loaded by four samples of two cell types."""
    return xr.Dataset(
        {
            "modes": xr.DataArray(np.eye(3, 8), dims=("mode", "channel"), attrs={"layer": LAYER}),
            "loadings": (("sample", "mode"), np.array([[3.0, 0, 1], [2, 0, 1], [0, 1, 2], [0, 2, 3]])),
        },
        coords={"cell": ("sample", [0, 1, 2, 3]), "cell_type": ("sample", ["on", "on", "oms", "oms"])},
    )


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _raw_netcdf(stimulus: xr.DataArray, path: Path) -> Path:
    """Write with xarray directly, so that the attributes are stored as given."""
    stimulus.to_dataset(name="stimulus").to_netcdf(path)
    return path


def _hdf5(path: Path) -> Path:
    import h5py

    with h5py.File(path, "w") as handle:
        handle["x"] = np.arange(3)
    return path


RECIPE_CASES = [
    ("missing recipe", ["stimulus", "{tmp}/missing.toml", "-o", "{out}.nc"], "not found"),
    ("recipe is a folder", ["stimulus", "{folder}", "-o", "{out}.nc"], "a_folder is a folder; expected a"),
    ("non-UTF-8 recipe", ["stimulus", "{latin1_toml}", "-o", "{out}.nc"], "is not UTF-8 text"),
    ("unknown kind", ["stimulus", "{unknown_kind}", "-o", "{out}.nc"], "spiral"),
    ("unknown key", ["stimulus", "{unknown_key}", "-o", "{out}.nc"], "colour"),
    ("unknown protocol", ["stimulus", "nope", "-o", "{out}.nc"], "unknown protocol 'nope'"),
    ("recipe not TOML", ["stimulus", "{text}", "-o", "{out}.nc"], "is not valid TOML"),
    ("n_frames 10**12", ["stimulus", "{huge}", "-o", "{out}.nc"], "PiB of memory"),
    ("-o existing folder", ["stimulus", "flash", "-o", "{folder}"], "folder"),
    ("-o under a file", ["stimulus", "flash", "-o", "{text}/out.nc"], "is a file, not a folder"),
    ("-o equals input", ["stimulus", "{victim_recipe}", "-o", "{victim_recipe}"], "would overwrite its input"),
    ("--plot into a folder", ["stimulus", "flash", "-o", "{out}.nc", "--plot", "{folder}"], "folder"),
]

TRAIN_CASES = [
    ("missing recipe", ["train", "--recipe", "{tmp}/missing.toml", "-o", "{out}"], "not found"),
    ("recipe is a folder", ["train", "--recipe", "{folder}", "-o", "{out}"], "a_folder is a folder; expected a"),
    ("non-UTF-8 recipe", ["train", "--recipe", "{latin1_toml}", "-o", "{out}"], "not valid TOML"),
    ("missing nwb", ["train", "--nwb", "{tmp}/missing.nwb", "-o", "{out}"], "not found"),
    ("nwb is a folder", ["train", "--nwb", "{folder}", "-o", "{out}"], "NWB file not found"),
    ("truncated nwb", ["train", "--nwb", "{truncated_nwb}", "-o", "{out}"], "expected a complete NWB 2.x (HDF5) file"),
    ("random-byte nwb", ["train", "--nwb", "{random_nwb}", "-o", "{out}"], "is not an HDF5 file"),
    ("hdf5 that is not nwb", ["train", "--nwb", "{hdf5}", "-o", "{out}"], "has no NWB version attribute"),
    ("--history-s nan", ["train", "--nwb", "{nwb}", "--history-s", "nan", "-o", "{out}"], "nan"),
    ("--history-s negative", ["train", "--nwb", "{nwb}", "--history-s", "-1", "-o", "{out}"], "history"),
    ("--device tpu", ["train", "--nwb", "{nwb}", "--device", "tpu", "-o", "{out}"], "tpu"),
    ("unknown image series", ["train", "--nwb", "{nwb}", "--stimulus", "nope", "-o", "{out}"], "nope"),
    ("-o is a file", ["train", "--nwb", "{nwb}", "-o", "{text}"], "is a file; expected a model folder"),
    ("-o equals input", ["train", "--nwb", "{nwb}", "-o", "{nwb}"], "is a file; expected a model folder"),
]

CONTRIB = ["contributions", "--stimulus", "{stimulus}", "--layer", LAYER, "--target", "cell:0"]
CONTRIBUTIONS_CASES = [
    ("target superscript", [*CONTRIB, "--target", "cell:²", "-o", "{out}.nc"], "²"),
    ("target negative", [*CONTRIB, "--target", "cell:-1", "-o", "{out}.nc"], "-1"),
    ("target cell out of range", [*CONTRIB, "--target", "cell:999", "-o", "{out}.nc"], "999"),
    ("target unknown type", [*CONTRIB, "--target", "type:NOPE", "-o", "{out}.nc"], "NOPE"),
    ("target unknown kind", [*CONTRIB, "--target", "pixel:3", "-o", "{out}.nc"], "pixel"),
    ("target empty", [*CONTRIB, "--target", "", "-o", "{out}.nc"], "cannot read target ''"),
    ("--n-steps 0", [*CONTRIB, "--n-steps", "0", "-o", "{out}.nc"], "n_steps"),
    ("--n-steps negative", [*CONTRIB, "--n-steps", "-4", "-o", "{out}.nc"], "n_steps"),
    ("--batch-size -3", [*CONTRIB, "--batch-size", "-3", "-o", "{out}.nc"], "batch"),
    ("--batch-size 0", [*CONTRIB, "--batch-size", "0", "-o", "{out}.nc"], "batch"),
    ("--device tpu", [*CONTRIB, "--device", "tpu", "-o", "{out}.nc"], "tpu"),
    ("unknown layer", [*CONTRIB[:4], "nope", "--target", "cell:0", "-o", "{out}.nc"], "nope"),
    ("unknown method", [*CONTRIB, "--method", "magic", "-o", "{out}.nc"], "magic"),
    ("unknown model", [*CONTRIB, "--model", "nope", "-o", "{out}.nc"], "nope"),
    ("model is a random file", [*CONTRIB, "--model", "{random_nc}", "-o", "{out}.nc"], "cannot read checkpoint"),
    ("--workers 0", [*CONTRIB, "--workers", "0", "-o", "{out}.nc"], "workers"),
    ("--chunk-size 0", [*CONTRIB, "--chunk-size", "0", "-o", "{out}.nc"], "chunk"),
    (
        "missing stimulus",
        ["contributions", "--stimulus", "{tmp}/missing.nc", *CONTRIB[3:], "-o", "{out}.nc"],
        "not found",
    ),
    (
        "stimulus is a folder",
        ["contributions", "--stimulus", "{folder}", *CONTRIB[3:], "-o", "{out}.nc"],
        "a_folder is a folder; expected a",
    ),
    ("random-byte .nc", ["contributions", "--stimulus", "{random_nc}", *CONTRIB[3:], "-o", "{out}.nc"], "as netCDF"),
    (
        "netCDF of no stimulus",
        ["contributions", "--stimulus", "{plain_nc}", *CONTRIB[3:], "-o", "{out}.nc"],
        "expected a stimulus DataArray",
    ),
    (
        "string frame_rate_hz",
        ["contributions", "--stimulus", "{string_rate}", *CONTRIB[3:], "-o", "{out}.nc"],
        "frame_rate_hz is 'fast'",
    ),
    (
        "invalid JSON attr",
        ["contributions", "--stimulus", "{bad_json}", *CONTRIB[3:], "-o", "{out}.nc"],
        "not valid JSON",
    ),
    (
        "truncated nwb stimulus",
        ["contributions", "--stimulus", "{truncated_nwb}", *CONTRIB[3:], "-o", "{out}.nc"],
        "is not UTF-8 text",
    ),
    ("hdf5 stimulus", ["contributions", "--stimulus", "{hdf5}", *CONTRIB[3:], "-o", "{out}.nc"], "is not UTF-8 text"),
    ("-o existing folder", [*CONTRIB, "-o", "{folder}"], "folder"),
    ("-o a device", [*CONTRIB, "-o", "/dev/null"], "not a regular file"),
    ("-o under a file", [*CONTRIB, "-o", "{text}/out.nc"], "is a file, not a folder"),
    (
        "-o equals input",
        ["contributions", "--stimulus", "{victim_stimulus}", *CONTRIB[3:], "-o", "{victim_stimulus}"],
        "would overwrite its input",
    ),
    ("--plot into a folder", [*CONTRIB, "-o", "{out}.nc", "--plot", "{folder}"], "folder"),
    (
        "--job-dir is a file",
        [*CONTRIB, "--chunk-size", "20", "--job-dir", "{text}", "-o", "{out}.nc"],
        "cannot make the job folder",
    ),
]

MODES_CASES = [
    ("missing input", ["modes", "{tmp}/missing.nc", "-o", "{out}.nc"], "not found"),
    ("input is a folder", ["modes", "{folder}", "-o", "{out}.nc"], "a_folder is a folder; expected a"),
    ("random-byte input", ["modes", "{random_nc}", "-o", "{out}.nc"], "as netCDF"),
    ("stimulus as input", ["modes", "{stimulus}", "-o", "{out}.nc"], "holds no 'contribution' variable"),
    ("stacked level missing", ["modes", "{no_cell_level}", "-o", "{out}.nc"], "['cell'] are missing"),
    ("foreign netCDF", ["modes", "{plain_nc}", "-o", "{out}.nc"], "holds no 'contribution' variable"),
    ("--n-modes 0", ["modes", "{contributions}", "--n-modes", "0", "-o", "{out}.nc"], "n_modes"),
    ("--n-modes -2", ["modes", "{contributions}", "--n-modes", "-2", "-o", "{out}.nc"], "n_modes"),
    ("--n-modes 10**9", ["modes", "{contributions}", "--n-modes", "1000000000", "-o", "{out}.nc"], "GiB of memory"),
    ("--epochs 0", ["modes", "{contributions}", "--epochs", "0", "-o", "{out}.nc"], "epochs"),
    ("--device tpu", ["modes", "{contributions}", "--device", "tpu", "-o", "{out}.nc"], "tpu"),
    ("unknown labels", ["modes", "{contributions}", "--labels", "nope", "-o", "{out}.nc"], "nope"),
    (
        "--stability-fits -1",
        ["modes", "{contributions}", "--stability-fits", "-1", "-o", "{out}.nc"],
        "stability_fits is -1",
    ),
    (
        "fewer samples than a batch",
        ["modes", "{few_samples}", "-o", "{out}.nc"],
        "expected more samples: contributions of more cells or a longer stimulus",
    ),
    ("-o existing folder", ["modes", "{contributions}", "-o", "{folder}"], "folder"),
    ("-o under a file", ["modes", "{contributions}", "-o", "{text}/out.nc"], "is a file, not a folder"),
    (
        "-o equals input",
        ["modes", "{victim_contributions}", "-o", "{victim_contributions}"],
        "would overwrite its input",
    ),
    (
        "--save-sae equals input",
        ["modes", "{victim_contributions}", "-o", "{out}.nc", "--save-sae", "{victim_contributions}"],
        "would overwrite its input",
    ),
    ("--plot into a folder", ["modes", "{contributions}", "-o", "{out}.nc", "--plot", "{folder}"], "folder"),
]

IRF = ["irf", "--stimulus", "{stimulus}", "--cells", "0", "--times", "0.42"]
IRF_CASES = [
    ("--times 5:1", [*IRF, "--times", "5:1", "-o", "{out}.nc"], "5:1"),
    ("--times tiny step", [*IRF, "--times", "0.5:0.6:1e-12", "-o", "{out}.nc"], "GiB of memory"),
    ("--times word", [*IRF, "--times", "soon", "-o", "{out}.nc"], "soon"),
    ("--times nan", [*IRF, "--times", "nan", "-o", "{out}.nc"], "expected finite times"),
    ("--times empty", [*IRF, "--times", "", "-o", "{out}.nc"], "cannot read --times item"),
    ("--cells a,b", [*IRF, "--cells", "a,b", "-o", "{out}.nc"], "a,b"),
    ("--cells -1", [*IRF, "--cells", "-1", "-o", "{out}.nc"], "-1"),
    ("--cells 999", [*IRF, "--cells", "999", "-o", "{out}.nc"], "999"),
    ("--n-steps 0", [*IRF, "--method", "ig", "--n-steps", "0", "-o", "{out}.nc"], "n_steps"),
    ("--batch-size -3", [*IRF, "--batch-size", "-3", "-o", "{out}.nc"], "batch"),
    ("--device tpu", [*IRF, "--device", "tpu", "-o", "{out}.nc"], "tpu"),
    ("modes file is random bytes", [*IRF, "--modes", "{random_nc}", "-o", "{out}.nc"], "as netCDF"),
    ("modes file missing", [*IRF, "--modes", "{tmp}/missing.nc", "-o", "{out}.nc"], "not found"),
    ("missing stimulus", ["irf", "--stimulus", "{tmp}/missing.nc", *IRF[3:], "-o", "{out}.nc"], "not found"),
    ("random-byte stimulus", ["irf", "--stimulus", "{random_nc}", *IRF[3:], "-o", "{out}.nc"], "as netCDF"),
    ("-o existing folder", [*IRF, "-o", "{folder}"], "folder"),
    (
        "-o equals input",
        ["irf", "--stimulus", "{victim_stimulus}", *IRF[3:], "-o", "{victim_stimulus}"],
        "would overwrite its input",
    ),
    ("--plot into a folder", [*IRF, "-o", "{out}.nc", "--plot", "{folder}"], "folder"),
]

CONTROL = ["control", "--stimulus", "{stimulus}", "--modes", "{modes}"]
CONTROL_CASES = [
    ("--fraction 2", [*CONTROL, "--fraction", "2", "-o", "{out}.nc"], "fraction"),
    ("--fraction -0.5", [*CONTROL, "--fraction", "-0.5", "-o", "{out}.nc"], "fraction"),
    ("--fraction nan", [*CONTROL, "--fraction", "nan", "-o", "{out}.nc"], "fraction"),
    ("--cells a,b", [*CONTROL, "--cells", "a,b", "-o", "{out}.nc"], "a,b"),
    ("--target cell:²", [*CONTROL, "--target", "cell:²", "-o", "{out}.nc"], "²"),
    ("--target type:NOPE", [*CONTROL, "--target", "type:NOPE", "-o", "{out}.nc"], "NOPE"),
    ("--device tpu", [*CONTROL, "--device", "tpu", "-o", "{out}.nc"], "tpu"),
    ("--batch-size -3", [*CONTROL, "--batch-size", "-3", "-o", "{out}.nc"], "batch"),
    ("--curves 0", [*CONTROL, "--curves", "0", "-o", "{out}.nc"], "max_channels is 0"),
    ("--draws -1", [*CONTROL, "--curves", "3", "--draws", "-1", "-o", "{out}.nc"], "n_random is -1"),
    (
        "modes file random bytes",
        ["control", "--stimulus", "{stimulus}", "--modes", "{random_nc}", "-o", "{out}.nc"],
        "as netCDF",
    ),
    (
        "modes file missing",
        ["control", "--stimulus", "{stimulus}", "--modes", "{tmp}/m.nc", "-o", "{out}.nc"],
        "not found",
    ),
    (
        "modes file is a stimulus",
        ["control", "--stimulus", "{stimulus}", "--modes", "{stimulus}", "-o", "{out}.nc"],
        "holds no modes",
    ),
    (
        "stimulus missing",
        ["control", "--stimulus", "{tmp}/s.nc", "--modes", "{contributions}", "-o", "{out}.nc"],
        "not found",
    ),
    ("-o existing folder", [*CONTROL, "-o", "{folder}"], "folder"),
    (
        "-o equals input",
        ["control", "--stimulus", "{victim_stimulus}", *CONTROL[3:], "-o", "{victim_stimulus}"],
        "would overwrite its input",
    ),
    ("--plot into a folder", [*CONTROL, "-o", "{out}.nc", "--plot", "{folder}"], "folder"),
]

IMAGENET_CASES = [
    ("unknown model", ["imagenet", "--model", "nope", "-o", "{out}"], "nope"),
    (
        "missing images",
        ["imagenet", "--images", "{tmp}/missing", "--top1-only", "-o", "{out}"],
        "image folder not found",
    ),
    ("images is a file", ["imagenet", "--images", "{text}", "--top1-only", "-o", "{out}"], "image folder not found"),
    (
        "missing weights",
        ["imagenet", "--weights", "{tmp}/missing.pt", "--top1-only", "-o", "{out}"],
        "weights file not found",
    ),
    ("--n-steps 0", ["imagenet", "--fit-images", "{folder}", "--n-steps", "0", "-o", "{out}"], "ig_steps is 0"),
    (
        "--method simpson",
        ["imagenet", "--fit-images", "{folder}", "--method", "simpson", "-o", "{out}"],
        "unknown quadrature method 'simpson'",
    ),
    ("--method simpson (layers)", ["imagenet", "--method", "simpson", "-o", "{out}"], "unknown quadrature method"),
    ("empty image folder", ["imagenet", "--fit-images", "{folder}", "-o", "{out}"], "no images found"),
    (
        "missing labels",
        ["imagenet", "--images", "{folder}", "--labels", "{tmp}/l.txt", "--top1-only", "-o", "{out}"],
        "labels file not found",
    ),
    ("fit-images is a file", ["imagenet", "--fit-images", "{text}", "-o", "{out}"], "image folder not found"),
]

DEMO_CASES = [
    ("missing nwb", ["demo", "--fast", "--nwb", "{tmp}/missing.nwb", "-o", "{out}"], "not found"),
    ("truncated nwb", ["demo", "--fast", "--nwb", "{truncated_nwb}", "-o", "{out}"], "expected a complete NWB"),
    ("unknown model", ["demo", "--fast", "--model", "nope", "-o", "{out}"], "nope"),
    ("--device tpu", ["demo", "--fast", "--device", "tpu", "-o", "{out}"], "tpu"),
    ("-o is a file", ["demo", "--fast", "-o", "{text}"], "is a file; expected an output folder"),
    ("--workers 0", ["demo", "--fast", "--workers", "0", "-o", "{out}"], "workers"),
]

DESIGN = ["design", "{sae}", "--cell"]
AT_MODE = ["--cell", "0", "--mode", "0", "-o", "{out}.nc"]
DESIGN_CASES = [
    ("--mode without --cell", ["design", "{plain_nc}", "--mode", "1", "-o", "{out}.nc"], "expected --cell with it"),
    ("--jitter-seed with --cell", [*DESIGN, "0", "--jitter-seed", "1", "-o", "{out}.nc"], "without --cell"),
    ("--cell on modes without SAE", ["design", "{modes}", *AT_MODE], "SAE"),
    ("--cell on a folder without irf.nc", ["design", "{folder}", "--cell", "0", "-o", "{out}.nc"], "irf.nc"),
    ("--cell on a missing file", ["design", "{tmp}/missing.nc", *AT_MODE], "not found"),
    ("--cell on a plain netCDF", ["design", "{plain_nc}", *AT_MODE], "holds no modes"),
    ("--cell without --mode on an SAE", [*DESIGN, "0", "-o", "{out}.nc"], "expected --mode K"),
    ("--cell out of range", [*DESIGN, "999", "--mode", "0", "-o", "{out}.nc"], "cell 999 is out of range"),
    ("--mode out of range", [*DESIGN, "0", "--mode", "9", "-o", "{out}.nc"], "expected distinct positions in 0..3"),
    ("--frames below the history", [*DESIGN, "0", "--mode", "0", "--frames", "3", "-o", "{out}.nc"], "history"),
    ("--cell -o equals input", [*DESIGN, "0", "--mode", "0", "-o", "{sae}"], "would overwrite its input"),
]

CASES = [
    *RECIPE_CASES,
    *TRAIN_CASES,
    *CONTRIBUTIONS_CASES,
    *MODES_CASES,
    *IRF_CASES,
    *CONTROL_CASES,
    *IMAGENET_CASES,
    *DEMO_CASES,
    *DESIGN_CASES,
]


@pytest.mark.parametrize(
    ("arguments", "fragment"), [case[1:] for case in CASES], ids=[f"{c[1][0]}: {c[0]}" for c in CASES]
)
def test_bad_input_exits_2_with_one_error_line(tmp_path, capsys, files, arguments, fragment):
    out = tmp_path / "out"
    argv = [argument.format(out=out, **files) for argument in arguments]
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"retinacodec {argv[0]}: error: "), err
    assert "Traceback" not in err
    assert fragment in err
    assert not list(tmp_path.iterdir()), "a refused command wrote output"


def test_console_script_reports_a_corrupt_file_in_one_line(files, tmp_path):
    """A real process: a truncated NWB gives status 2 and one stderr line, no traceback."""
    script = Path(sys.executable).parent / "retinacodec"
    result = subprocess.run(
        [str(script), "train", "--nwb", files["truncated_nwb"], "-o", str(tmp_path / "model")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("retinacodec train: error: cannot open"), result.stderr
    assert not (tmp_path / "model").exists()


USAGE_CASES = [
    ("no command", [], "retinacodec: error: the following arguments are required: COMMAND"),
    ("unknown command", ["nosuch"], "invalid choice: 'nosuch'"),
    ("missing required flag", ["irf", "--stimulus", "x.nc"], "retinacodec irf: error: the following arguments"),
    ("unknown flag", ["stimulus", "flash", "-o", "x.nc", "--colour", "red"], "unrecognized arguments: --colour"),
    ("not a number", ["contributions", "--n-steps", "ten"], "retinacodec contributions: error: argument --n-steps"),
    ("bad choice", ["contributions", "--baseline", "grey"], "retinacodec contributions: error: argument --baseline"),
    ("not an integer", ["demo", "--workers", "two"], "retinacodec demo: error: argument --workers"),
]


@pytest.mark.parametrize(("arguments", "fragment"), [c[1:] for c in USAGE_CASES], ids=[c[0] for c in USAGE_CASES])
def test_usage_mistakes_are_one_line_pointing_at_help(capsys, arguments, fragment):
    """argparse's own refusals (missing, unknown or malformed arguments): one line, exit 2, no usage block."""
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert len(err.splitlines()) == 1 and fragment in err and err.rstrip().endswith("--help)"), err
    assert "usage:" not in err

"""The --nwb options shared by `retinacodec train` and `retinacodec demo`: --stimulus-series,
--epochs, --units and --electrode-groups, parsed into one NWBSelection and refused in one line."""

from __future__ import annotations

import numpy as np
import pytest

from retinacodec.cli import build_parser, main
from retinacodec.cli._nwb import nwb_selection
from retinacodec.io import NWBSelection, write_nwb
from retinacodec.stimuli.base import make_stimulus


def parse(*arguments: str):
    return build_parser().parse_args(list(arguments))


@pytest.mark.parametrize("command", [["train", "-o", "out"], ["demo", "--fast"]])
def test_both_commands_parse_the_same_selection(command):
    args = parse(
        *command,
        "--nwb",
        "rec.nwb",
        "--stimulus-series",
        "movie",
        "--epochs",
        "natural_movie,10:20.5",
        "--units",
        "quality==good",
        "--units",
        "firing_rate>1",
        "--electrode-groups",
        "shank0,shank1",
    )
    assert nwb_selection(args) == NWBSelection(
        stimulus="movie",
        epochs=["natural_movie", (10.0, 20.5)],
        units=["quality==good", "firing_rate>1"],
        electrode_groups=["shank0", "shank1"],
    )
    assert nwb_selection(parse(*command, "--nwb", "rec.nwb")) is None
    assert nwb_selection(parse(*command, "--nwb", "rec.nwb", "--stimulus", "noise")).stimulus == "noise"  # old name


@pytest.mark.parametrize(
    "arguments, fragment",
    [
        (["demo", "--fast", "--units", "quality==good"], "--units given without --nwb"),
        (["train", "--recipe", "r.toml", "--epochs", "a", "-o", "{out}"], "--epochs given without --nwb"),
        (["train", "--nwb", "{nwb}", "--epochs", "1:x", "-o", "{out}"], "cannot read --epochs item '1:x'"),
        (["train", "--nwb", "{nwb}", "--units", "quality==good", "-o", "{out}"], "no column 'quality'"),
        (["train", "--nwb", "{nwb}", "--epochs", "light", "-o", "{out}"], "no epoch named 'light'"),
        (["demo", "--fast", "--nwb", "{nwb}", "--units", "cell_type==OMS", "-o", "{out}"], "meets the unit selection"),
        (["train", "--nwb", "{nwb}", "--stimulus-series", "nope", "-o", "{out}"], "named 'nope'"),
    ],
)
def test_bad_selections_exit_2_with_one_line(tmp_path, capsys, arguments, fragment):
    stimulus = make_stimulus(np.zeros((20, 4, 4)), 50.0, kind="flat")
    nwb = write_nwb(tmp_path / "rec.nwb", stimulus, [[0.1], [0.2]], ["ON", "OFF"])
    filled = [item.format(nwb=nwb, out=tmp_path / "out") for item in arguments]
    assert main(filled) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and fragment in err and "Traceback" not in err

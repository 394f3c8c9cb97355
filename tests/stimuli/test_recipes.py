"""Protocol recipes: shipped protocols render as specified, recipes reproduce direct generator
calls, and every kind of bad recipe fails with a one-line message listing the valid choices."""

import inspect
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import retinacodec
from retinacodec.errors import RetinaCodecError
from retinacodec.stimuli import (
    GENERATORS,
    grating,
    list_protocols,
    load_recipe,
    natural_jitter,
    render_protocol,
)
from retinacodec.stimuli.recipes import PROTOCOL_DIR, recipe_parameters

REQUIRED = {
    "white_noise",
    "white_noise_gaussian",
    "natural_jitter",
    "flash",
    "moving_bar",
    "grating",
    "chirp",
    "object_motion",
    "object_motion_global",
    "switching_white_noise",
}


def test_shipped_protocols_are_listed_from_the_repository_folder():
    names = list_protocols()
    assert REQUIRED <= set(names)
    assert names == sorted(path.stem for path in PROTOCOL_DIR.glob("*.toml"))
    assert PROTOCOL_DIR == Path(retinacodec.__file__).parent / "shipped" / "stimuli"


@pytest.mark.parametrize("name", list_protocols())
def test_each_shipped_protocol_renders_for_the_retina_model(name):
    stim = render_protocol(name, progress=False)
    assert stim.dims == ("time", "y", "x") and stim.dtype == np.float32
    assert (stim.sizes["y"], stim.sizes["x"]) == (50, 50)
    assert stim.attrs["frame_rate_hz"] == 100.0
    assert 100 <= stim.sizes["time"] <= 6000  # 1 s to 1 min
    assert stim.values.min() >= -1.0 and stim.values.max() <= 1.0
    assert stim.attrs["protocol"] == name and stim.attrs["protocol_description"]
    kind, parameters = load_recipe(name)
    assert stim.attrs["kind"] == kind
    for key, value in parameters.items():
        recorded = value if isinstance(value, dict) else {key: value}  # a table's fields are attrs of their own
        for name, entry in recorded.items():
            assert stim.attrs[name] == entry


def test_recipe_file_reproduces_the_direct_generator_call(tmp_path):
    path = tmp_path / "my_grating.toml"
    path.write_text(
        'kind = "grating"\ndescription = "test"\n[parameters]\nn_frames = 30\n'
        "size = 12\nspatial_period_px = 6\ndirection_deg = 45.0\n"
    )
    assert load_recipe(path) == ("grating", {"n_frames": 30, "size": 12, "spatial_period_px": 6, "direction_deg": 45.0})
    stim = render_protocol(str(path))
    direct = grating(n_frames=30, size=12, spatial_period_px=6, direction_deg=45.0)
    np.testing.assert_array_equal(stim.values, direct.values)
    assert stim.attrs["protocol"] == str(path) and stim.attrs["protocol_description"] == "test"


def test_overrides_replace_recipe_parameters():
    stim = render_protocol("natural_jitter", n_frames=25, size=10, progress=False)
    _, parameters = load_recipe("natural_jitter")
    direct = natural_jitter(**{**parameters, "n_frames": 25, "size": 10}, progress=False)
    xr.testing.assert_equal(stim, direct)


def test_generators_are_keyed_by_their_kind_and_parameters_come_from_signatures():
    for kind, generator in GENERATORS.items():
        stim = generator(n_frames=3, size=4, **({"progress": False} if kind == "natural_jitter" else {}))
        assert stim.attrs["kind"] == kind
        names = recipe_parameters(kind)
        assert {"n_frames", "size", "frame_rate_hz", "seed"} <= set(names)
        assert "progress" not in names
        assert set(names) <= set(inspect.signature(generator).parameters)


def _write(tmp_path, text, name="recipe.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("recipe", "fragments"),
    [
        ('kind = "spiral"\n', ["kind is 'spiral'", "expected one of: white_noise"]),
        ("[parameters]\nn_frames = 3\n", ["kind is None"]),
        (
            'kind = "flash"\n[parameters]\nperiod = 2.0\n',
            ["unknown parameter 'period'", "expected some of: n_frames, size", "period_s"],
        ),
        ('kind = "flash"\nduration = 3\n', ["unknown key 'duration'", "[parameters]"]),
        ('kind = "flash"\n[parameters\n', ["is not valid TOML"]),
        ('kind = "flash"\nparameters = 3\n', ["expected a [parameters] table"]),
    ],
)
def test_bad_recipes_raise_one_line_errors(tmp_path, recipe, fragments):
    path = _write(tmp_path, recipe)
    with pytest.raises(RetinaCodecError) as info:
        load_recipe(path)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("parameters", "fragment"),
    [
        ("n_frames = -5", "n_frames is -5"),
        ("contrast = 1.5", "contrast is 1.5"),
        ('n_frames = "many"', "n_frames is 'many' (str)"),
        ('images = ["china", 3]', "images is 3"),
        ("[parameters.eye_movements]\nsaccade_rate_hz = -1.0", "saccade_rate_hz is -1"),
        ("[parameters.eye_movements]\ndrift = 1.0", "unknown eye_movements field(s) 'drift'"),
    ],
)
def test_bad_parameter_values_name_the_protocol(tmp_path, parameters, fragment):
    path = _write(tmp_path, f'kind = "natural_jitter"\n[parameters]\n{parameters}\n')
    with pytest.raises(RetinaCodecError, match=f"protocol '{path}'") as info:
        render_protocol(path, progress=False)
    assert fragment in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("overrides", [{"n_frames": 10**12}, {"size": 10**6}])
@pytest.mark.parametrize("name", ["white_noise", "flash", "grating", "moving_bar", "chirp", "object_motion"])
def test_requests_beyond_memory_are_refused_before_allocating(name, overrides):
    with pytest.raises(RetinaCodecError, match="would need .* of memory; expected at most the .* available"):
        render_protocol(name, progress=False, **overrides)


def test_direct_generator_calls_beyond_memory_are_refused():
    with pytest.raises(RetinaCodecError, match=r"a stimulus of 1000000000000 frames of 20x20 px would need 1\.42 PiB"):
        retinacodec.stimuli.white_noise(n_frames=10**12, size=20)
    with pytest.raises(RetinaCodecError, match="a chirp of .* frames"):
        retinacodec.stimuli.chirp(sweep_duration_s=1e9)
    with pytest.raises(RetinaCodecError, match="of memory"):
        natural_jitter(n_frames=10**12)


def test_missing_shipped_folder_is_reported(monkeypatch, tmp_path):
    monkeypatch.setattr("retinacodec.stimuli.recipes.PROTOCOL_DIR", tmp_path / "nowhere")
    with pytest.raises(RetinaCodecError, match="shipped protocol folder not found"):
        list_protocols()
    with pytest.raises(RetinaCodecError, match="shipped protocol folder not found"):
        render_protocol("grating")


def test_unknown_name_missing_file_and_unknown_override(tmp_path):
    with pytest.raises(RetinaCodecError, match="unknown protocol 'gratings'") as info:
        render_protocol("gratings")
    assert ", ".join(list_protocols()) in str(info.value)
    with pytest.raises(RetinaCodecError, match="recipe file not found"):
        load_recipe(tmp_path / "absent.toml")
    with pytest.raises(RetinaCodecError, match="recipe file not found"):
        load_recipe("absent.toml")
    with pytest.raises(RetinaCodecError, match="unknown parameter 'speed'"):
        render_protocol("grating", speed=3)

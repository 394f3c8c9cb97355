"""The hypotheses' settings: defaults, values converted to plain types, and one clear error per bad field."""

import dataclasses

import numpy as np
import pytest

from retinacodec.errors import RetinaCodecError
from retinacodec.hypotheses.settings import HypothesisSettings


def test_defaults_are_the_documented_ones_and_numpy_values_become_plain_python():
    settings = HypothesisSettings()
    assert (settings.gain, settings.max_hypotheses, settings.n_shuffles, settings.match) == (0.0, 6, 10, "block")
    assert (settings.recording_s, settings.z_min, settings.batch_size) == (60.0, 2.0, 250)
    assert settings.split and settings.trim and settings.require_effect and settings.inhibitory
    converted = HypothesisSettings(gain=2, max_hypotheses=np.int64(3), seed=np.int32(4), trim=np.bool_(False))
    assert type(converted.gain) is float and converted.gain == 2.0
    assert type(converted.max_hypotheses) is int and type(converted.seed) is int
    assert converted.trim is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.gain = 2.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("gain", 1, "gain is 1; expected a factor >= 0 other than 1"),
        ("gain", -0.5, "gain is -0.5"),
        ("gain", True, "gain is True"),
        ("gain", float("nan"), "gain is nan"),
        ("channel_fraction", 0, "channel_fraction is 0; expected a finite number > 0 and <= 1"),
        ("channel_fraction", 1.5, "channel_fraction is 1.5"),
        ("max_hypotheses", 0, "max_hypotheses is 0; expected an integer >= 1"),
        ("max_hypotheses", 2.5, r"max_hypotheses is 2.5 \(float\)"),
        ("n_shuffles", -1, "n_shuffles is -1; expected an integer >= 0"),
        ("seed", -1, "seed is -1; expected an integer >= 0"),
        ("recording_s", 0, r"recording_s is 0; expected a finite number > 0 \(seconds\)"),
        ("z_min", -1.0, "z_min is -1.0; expected a finite number >= 0"),
        ("match", "nearest", "unknown match 'nearest'; expected one of block, partial, correlation"),
        ("split", "yes", "split is 'yes'; expected True or False"),
        ("inhibitory", 1, "inhibitory is 1; expected True or False"),
        ("batch_size", 0, "batch_size is 0; expected an integer >= 1"),
    ],
)
def test_a_bad_value_raises_naming_the_field_and_what_it_expects(field, value, message):
    with pytest.raises(RetinaCodecError, match=message):
        HypothesisSettings(**{field: value})

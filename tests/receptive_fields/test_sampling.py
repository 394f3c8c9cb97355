"""Default IRF times: evenly spaced window times, and the size of the IRFs at every window by hand."""

import numpy as np
import pytest

from retinacodec.errors import RetinaCodecError
from retinacodec.models.registry import windows
from retinacodec.receptive_fields.sampling import irf_gigabytes, sample_times
from retinacodec.stimuli import white_noise


@pytest.fixture(scope="module")
def model(make_cnn):
    return make_cnn(3, history=40, amacrine_channels=4)


def test_a_few_evenly_spaced_times_from_first_to_last_window(model):
    stimulus = white_noise(n_frames=model.history + 9, size=16, seed=0)
    _, window_times = windows(model, stimulus)
    sample = sample_times(model, stimulus, 4, n_cells=2, n_modes=3)
    assert sample.n_windows == 10
    np.testing.assert_array_equal(sample.times, window_times[[0, 3, 6, 9]])
    window_size = model.history * 16 * 16
    assert sample.all_gb == pytest.approx(10 * 2 * (3 + 2) * window_size * 4 / 1e9)
    every = sample_times(model, stimulus, 50, n_cells=1)
    np.testing.assert_array_equal(every.times, window_times)
    assert every.all_gb == pytest.approx(irf_gigabytes(10, 1, 0, window_size)) == 10 * window_size * 4 / 1e9
    with pytest.raises(RetinaCodecError, match="count"):
        sample_times(model, stimulus, 0, n_cells=1)

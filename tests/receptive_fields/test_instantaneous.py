"""Instantaneous receptive fields against analytic answers (an LN model), completeness, an
independent channel-routing computation, and the default model's ON/OFF polarity."""

import numpy as np
import pytest
import torch
import xarray as xr
from scipy.special import expit
from torch import nn
from torch.nn import functional as F

from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.errors import RetinaCodecError
from retinacodec.models.registry import MODELS_DIR
from retinacodec.modes.sae import SAE
from retinacodec.receptive_fields.instantaneous import irf
from retinacodec.receptive_fields.selection import ModeSelection
from retinacodec.receptive_fields.summaries import irf_variability
from retinacodec.stimuli import natural_jitter, white_noise
from retinacodec.targets import Cell

QUIET = AttributionOptions(progress=False)
"""No progress bar."""

HISTORY = 40
MEAN, STD = 0.1, 0.35


class LinearNonlinear(nn.Module):
    """rate_i = softplus(sum_{l,y,x} F_i[l, y, x] u[l, y, x] + b_i), u = (s - MEAN) / STD."""

    def __init__(self, filters: np.ndarray, bias: np.ndarray):
        super().__init__()
        n_cells, history, size, _ = filters.shape
        self.filter = nn.Conv2d(history, n_cells, size)
        with torch.no_grad():
            self.filter.weight.copy_(torch.as_tensor(filters, dtype=torch.float32))
            self.filter.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
        self.register_buffer("stimulus_mean", torch.tensor(MEAN))
        self.register_buffer("stimulus_std", torch.tensor(STD))
        self.history, self.size, self.frame_rate_hz, self.name = history, size, 100.0, "ln"
        self.cell_type = ["on"] * n_cells

    def forward(self, x):
        return F.softplus(self.filter(x).flatten(1))


def ln_model(size=6, n_cells=2, seed=0):
    rng = np.random.default_rng(seed)
    filters = 0.03 * rng.standard_normal((n_cells, HISTORY, size, size))
    return LinearNonlinear(filters, np.array([0.3, -0.2][:n_cells])), filters


def analytic_drive(model, filters, stimulus, frame):
    """Filter drive of each cell for the window ending at ``frame``, in float64."""
    window = (stimulus.values[frame - HISTORY + 1 : frame + 1].astype(np.float64) - MEAN) / STD
    return np.einsum("clyx,lyx->c", filters, window) + model.filter.bias.detach().numpy().astype(np.float64)


@pytest.fixture
def small_cnn(make_cnn):
    """A builder of 3-cell retina CNNs on 16 x 16 px with a 40-frame history and 4 + 4 channels,
    normalised as (contrast - MEAN) / STD, in eval mode: ``small_cnn(seed=0)``."""

    def build(seed=0):
        model = make_cnn(3, seed=seed, history=HISTORY, amacrine_channels=4, stimulus_mean=MEAN, stimulus_std=STD)
        with torch.no_grad():  # give batch norm non-trivial statistics so that ReLUs cut
            for bn in (model.bipolar[1], model.amacrine[1]):
                bn.running_mean.uniform_(-0.2, 0.2)
        return model

    return build


def test_gradient_irf_of_an_ln_model_is_filter_times_slope_with_lag_and_normalisation():
    model, filters = ln_model()
    stimulus = white_noise(n_frames=70, size=6, seed=3)
    times = [0.39, 0.52, 0.69]
    result = irf(model, stimulus, cells=[0, 1], times=times, options=QUIET)
    assert result.dims == ("time", "cell", "lag", "y", "x")
    np.testing.assert_allclose(result["lag"].values, np.arange(HISTORY) / 100.0)
    for t, time in enumerate(times):
        frame = int(round(time * 100))
        slope = expit(analytic_drive(model, filters, stimulus, frame))
        # lag k is input frame HISTORY - 1 - k; d rate / d contrast = slope * filter / STD
        expected = slope[:, None, None, None] * filters[:, ::-1] / STD
        np.testing.assert_allclose(result.values[t], expected, rtol=1e-4, atol=1e-7)
    assert result.attrs["units"] == "Hz" and "Hz per unit contrast" in result.attrs["long_name"]


def test_lag_zero_is_the_current_frame():
    size = 4
    filters = np.zeros((1, HISTORY, size, size))
    filters[0, HISTORY - 1 - 3, 1, 2] = 0.5  # weight on the frame 3 frames back only
    model = LinearNonlinear(filters, np.zeros(1))
    result = irf(model, white_noise(n_frames=45, size=size, seed=0), cells=0, times=0.44, options=QUIET)
    nonzero = np.argwhere(result.values[0, 0] != 0)
    assert nonzero.tolist() == [[3, 1, 2]]
    assert float(result["lag"][3]) == pytest.approx(0.03)


def test_ig_irf_of_an_ln_model_is_the_path_average_of_the_slope():
    model, filters = ln_model(seed=1)
    stimulus = white_noise(n_frames=60, size=6, seed=4)
    result = irf(model, stimulus, cells=[0, 1], times=[0.45, 0.59], method="ig", n_steps=24, options=QUIET)
    baseline_drive = -MEAN / STD * filters.sum(axis=(1, 2, 3)) + model.filter.bias.detach().numpy()
    for t, frame in enumerate([45, 59]):
        drive = analytic_drive(model, filters, stimulus, frame)
        # integral of sigmoid(d0 + a (d - d0)) over a in [0, 1]
        mean_slope = (np.logaddexp(0, drive) - np.logaddexp(0, baseline_drive)) / (drive - baseline_drive)
        expected = mean_slope[:, None, None, None] * filters[:, ::-1] / STD
        np.testing.assert_allclose(result.values[t], expected, rtol=1e-4, atol=1e-7)


def test_ig_irf_of_a_cnn_is_complete(small_cnn):
    model = small_cnn()
    model.bipolar[3] = model.amacrine[3] = nn.Softplus(beta=4.0)  # smooth: the quadrature converges fast
    stimulus = white_noise(n_frames=60, size=16, seed=2, contrast=0.5)
    frames = [42, 50, 59]
    result = irf(model, stimulus, cells=[0, 2], times=[f / 100 for f in frames], method="ig", n_steps=24, options=QUIET)
    for t, frame in enumerate(frames):
        window = stimulus.values[frame - HISTORY + 1 : frame + 1]  # contrast, oldest first
        attribution = (result.values[t] * window[::-1][None]).sum(axis=(1, 2, 3))
        with torch.no_grad():
            actual = model(torch.as_tensor((window[None] - MEAN) / STD, dtype=torch.float32))[0, [0, 2]]
            blank = model(torch.full((1, HISTORY, 16, 16), -MEAN / STD))[0, [0, 2]]
        np.testing.assert_allclose(attribution, (actual - blank).numpy(), rtol=1e-4, atol=1e-6)


def routed_reference(model, window, cell, channels):
    """Gradient of a cell's rate through the chosen bipolar channels only (others detached)."""
    x = torch.as_tensor(window, dtype=torch.float32).requires_grad_(True)
    hidden = model.bipolar(x)
    mask = torch.zeros(hidden.shape[1])
    mask[channels] = 1.0
    mask = mask.reshape(1, -1, 1, 1)
    routed = hidden * mask + (hidden * (1 - mask)).detach()
    rate = model.ganglion(model.amacrine(routed))[0, cell]
    (gradient,) = torch.autograd.grad(rate, x)
    return gradient[0].flip(0).numpy() / STD


@pytest.mark.slow
def test_modes_route_the_irf_through_their_channels_and_add_up(small_cnn):
    model = small_cnn(seed=1)
    stimulus = white_noise(n_frames=55, size=16, seed=5)
    one_hot = xr.DataArray(np.eye(4), dims=("mode", "channel"), attrs={"layer": "bipolar"})
    result = irf(model, stimulus, cells=[1, 2], times=[0.41, 0.54], modes=one_hot, options=QUIET)
    assert result["mode_irf"].dims == ("time", "cell", "mode", "lag", "y", "x")
    for t, frame in enumerate([41, 54]):
        window = (stimulus.values[None, frame - HISTORY + 1 : frame + 1] - MEAN) / STD
        for c, cell in enumerate([1, 2]):
            for channel in range(4):
                np.testing.assert_allclose(
                    result["mode_irf"].values[t, c, channel],
                    routed_reference(model, window, cell, [channel]),
                    rtol=1e-4,
                    atol=1e-8,
                )
    whole = np.abs(result["irf"].values).max()
    np.testing.assert_allclose(result["mode_irf"].sum("mode") + result["residual"], result["irf"], atol=1e-6 * whole)
    assert np.abs(result["residual"].values).max() < 1e-5 * whole  # one-hot modes cover every channel
    np.testing.assert_allclose(result["explained"], 1.0, atol=1e-6)


def test_overlapping_modes_split_channels_by_weight_and_residual_holds_the_rest(small_cnn):
    model = small_cnn(seed=2)
    stimulus = white_noise(n_frames=50, size=16, seed=6)
    dictionary = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 3.0, 0.0]])  # channels 1 and 3 in no mode
    result = irf(model, stimulus, cells=0, times=0.45, modes=ModeSelection(dictionary, layer="bipolar"), options=QUIET)
    window = (stimulus.values[None, 45 - HISTORY + 1 : 46] - MEAN) / STD
    through = {c: routed_reference(model, window, 0, [c]) for c in range(4)}
    scale = np.abs(result["irf"].values).max()
    np.testing.assert_allclose(result["mode_irf"].values[0, 0, 0], through[0] + 0.25 * through[2], atol=1e-5 * scale)
    np.testing.assert_allclose(result["mode_irf"].values[0, 0, 1], 0.75 * through[2], atol=1e-5 * scale)
    np.testing.assert_allclose(result["residual"].values[0, 0], through[1] + through[3], atol=1e-5 * scale)
    residual_norm = np.square(through[1] + through[3]).sum() / np.square(result["irf"].values[0, 0]).sum()
    assert float(result["explained"][0, 0]) == pytest.approx(1 - residual_norm, rel=1e-4)
    all_ones = irf(
        model, stimulus, cells=0, times=0.45, modes=ModeSelection(np.ones((1, 4)), layer="bipolar"), options=QUIET
    )
    assert np.abs(all_ones["residual"].values).max() < 1e-5 * scale
    second = irf(
        model,
        stimulus,
        cells=0,
        times=0.45,
        modes=ModeSelection(dictionary, positions=[1], layer="bipolar"),
        options=QUIET,
    )
    assert list(second["mode"].values) == [1]  # shares still count mode 0: channel 2 is split as before
    np.testing.assert_allclose(second["mode_irf"].values[0, 0, 0], 0.75 * through[2], atol=1e-5 * scale)
    np.testing.assert_allclose(
        second["residual"].values[0, 0], through[0] + 0.25 * through[2] + through[1] + through[3], atol=1e-5 * scale
    )


@pytest.mark.slow
def test_sae_loadings_are_those_of_each_samples_contributions(small_cnn):
    model = small_cnn(seed=3)
    stimulus = white_noise(n_frames=80, size=16, seed=7)
    found = contributions(
        model,
        stimulus,
        "bipolar",
        [Cell(0), Cell(1)],
        baseline="mean",
        n_steps=6,
        options=AttributionOptions(split="sign", progress=False),
    )
    sae = SAE(n_modes=6, epochs=5, batch_size=16, seed=0, progress=False).fit(found)
    times = [0.5, 0.67, 0.79]
    result = irf(model, stimulus, cells=[1, 0], times=times, modes=sae, options=QUIET)
    expected = sae.transform(found).unstack("sample")  # (mode, time, cell)
    for t, time in enumerate(times):
        for c, cell in enumerate([1, 0]):
            np.testing.assert_allclose(
                result["loadings"].values[t, c], expected.sel(time=time, cell=cell).values, rtol=1e-4, atol=1e-5
            )
    assert (result["loadings"].values > 0).any(axis=2).all()  # some mode active at every sample
    whole = np.abs(result["irf"].values).max()
    np.testing.assert_allclose(result["mode_irf"].sum("mode") + result["residual"], result["irf"], atol=1e-6 * whole)


def test_bad_input_raises(small_cnn):
    model = small_cnn()
    stimulus = white_noise(n_frames=45, size=16, seed=0)
    with pytest.raises(RetinaCodecError, match="cell index 7 is out of range"):
        irf(model, stimulus, cells=7, options=QUIET)
    with pytest.raises(RetinaCodecError, match="outside the stimulus"):
        irf(model, stimulus, cells=0, times=0.2, options=QUIET)
    with pytest.raises(RetinaCodecError, match="outside the stimulus"):
        irf(model, stimulus, cells=0, times=0.5, options=QUIET)
    with pytest.raises(RetinaCodecError, match="fitted on layer 'amacrine'"):
        irf(
            model,
            stimulus,
            cells=0,
            modes=ModeSelection(
                xr.DataArray(np.eye(4), dims=("mode", "channel"), attrs={"layer": "amacrine"}), layer="bipolar"
            ),
            options=QUIET,
        )
    with pytest.raises(RetinaCodecError, match="modes have 5 channels but layer 'bipolar' outputs 4"):
        irf(model, stimulus, cells=0, modes=ModeSelection(np.eye(5), layer="bipolar"), options=QUIET)
    with pytest.raises(RetinaCodecError, match="unknown layer 'retina'"):
        irf(model, stimulus, cells=0, modes=ModeSelection(np.eye(4), layer="retina"), options=QUIET)
    with pytest.raises(RetinaCodecError, match="unknown method"):
        irf(model, stimulus, cells=0, method="saliency", options=QUIET)
    with pytest.raises(RetinaCodecError, match="max_result_gb"):
        irf(model, stimulus, cells=0, options=AttributionOptions(max_result_gb=1e-6, progress=False))
    with pytest.raises(RetinaCodecError, match="irf does not use options.path"):
        irf(model, stimulus, cells=0, options=AttributionOptions(path="input", progress=False))
    with pytest.raises(RetinaCodecError, match="expected distinct mode positions in 0..3"):
        irf(model, stimulus, cells=0, modes=ModeSelection(np.eye(4), positions=[4], layer="bipolar"), options=QUIET)


@pytest.mark.slow
def test_irf_varies_under_natural_jitter_for_a_cnn_but_not_for_an_ln_model(small_cnn):
    stimulus = natural_jitter(n_frames=140, size=16, seed=0, progress=False)
    times = stimulus["time"].values[45::12]
    ln = ln_model(size=16)[0]
    ln_variability = irf_variability(irf(ln, stimulus, cells=[0, 1], times=times, options=QUIET))
    cnn_variability = irf_variability(irf(small_cnn(seed=4), stimulus, cells=[0, 1], times=times, options=QUIET))
    assert float(ln_variability.max()) < 1e-6
    assert float(cnn_variability.min()) > 0.05


def test_irf_figure_shows_the_irf_frames_and_time_courses(tmp_path):
    from matplotlib.image import imread

    from retinacodec.plots import save_figure
    from retinacodec.plots.irf import plot_irf

    rng = np.random.default_rng(5)
    lags = np.arange(HISTORY)
    temporal = np.exp(-lags / 6.0) * np.sin(lags / 4.0)  # lag-ordered
    space = rng.standard_normal((2, 6, 6))
    model = LinearNonlinear(0.02 * temporal[::-1, None, None] * space[:, None], np.zeros(2))  # separable
    stimulus = white_noise(n_frames=70, size=6, seed=3)
    result = irf(model, stimulus, cells=[0, 1], times=[0.4, 0.5, 0.6, 0.69], options=QUIET)
    fig = plot_irf(result, cell=1, n_times=2)
    frames = [ax for ax in fig.axes if ax.images]
    assert len(frames) == 2 and [ax.get_title() for ax in frames] == ["t = 0.40 s", "t = 0.69 s"]
    peak_lag, peak_pixel = np.abs(temporal).argmax(), np.unravel_index(np.abs(space[1]).argmax(), (6, 6))
    course = next(ax for ax in fig.axes if ax.get_lines())
    for c, t in enumerate([0, 3]):  # for a separable IRF the rank-1 approximation is exact
        values = result.values[t, 1]
        np.testing.assert_allclose(frames[c].images[0].get_array(), values[peak_lag], rtol=1e-4, atol=1e-9)
        np.testing.assert_allclose(
            course.get_lines()[c].get_ydata(), values[:, peak_pixel[0], peak_pixel[1]], rtol=1e-4, atol=1e-9
        )
    assert imread(save_figure(fig, tmp_path / "irf.png")).ndim == 3
    with pytest.raises(RetinaCodecError, match="cell 5 is not in the IRF"):
        plot_irf(result, cell=5)


DEFAULT = MODELS_DIR / "default" / "model.pt"


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT.is_file(), reason="the default model (models/default/model.pt) is not trained yet")
def test_default_model_on_cells_are_positive_and_off_cells_negative_at_short_lags():
    from retinacodec.models import load

    model = load("default")
    stimulus = natural_jitter(n_frames=160, seed=1, progress=False)
    types = np.asarray(model.cell_type)
    cells = [int(np.flatnonzero(types == "on")[0]), int(np.flatnonzero(types == "off")[0])]
    times = stimulus["time"].values[60::25]
    result = irf(model, stimulus, cells=cells, times=times, options=QUIET)
    short = result.sel(lag=slice(0.0, 0.15)).sum(("y", "x")).mean("time")
    peak = short.isel(lag=np.abs(short).argmax("lag"))
    assert float(peak.sel(cell=cells[0])) > 0 and float(peak.sel(cell=cells[1])) < 0
    ln_times = irf(ln_model(size=model.size)[0], stimulus, cells=0, times=times, options=QUIET)
    assert float(irf_variability(result).min()) > 10 * max(float(irf_variability(ln_times).max()), 1e-3)

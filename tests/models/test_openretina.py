"""openretina core-readout models as retina models (retinacodec/models/openretina.py).

The fast tests use a small module with openretina's interface; the slow ones build models from
openretina's own classes and Hydra configs (skipped where openretina is not installed).
"""

import warnings

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

import retinacodec as rc
from retinacodec.attribution.options import AttributionOptions
from retinacodec.control.experiments import retina_control
from retinacodec.errors import RetinaCodecError
from retinacodec.models import from_openretina, predict
from retinacodec.targets import Cell

QUIET = AttributionOptions(progress=False)
HEIGHT, WIDTH = 18, 16


class LikeOpenRetina(nn.Module):
    """openretina's interface without openretina: movie (batch, 2 colours, time, 18, 16) -> (batch,
    time - 4, cells), a core with a temporal reach of 5 frames, one readout per session."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.core = nn.Sequential(nn.Conv3d(2, 3, (3, 3, 3)), nn.ELU(), nn.Conv3d(3, 4, (3, 3, 3)), nn.ELU())
        n_features = 4 * (HEIGHT - 4) * (WIDTH - 4)
        self.readout = nn.ModuleDict({"a": nn.Linear(n_features, 3), "b": nn.Linear(n_features, 5)})
        self.hparams = {"in_shape": (2, 10, HEIGHT, WIDTH)}
        self.data_info = {
            "stim_mean": 40.0,
            "stim_std": 20.0,
            "sessions_kwargs": {"b": {"group_assignment": np.array([1.0, 1.0, 12.0, 31.0, 31.0])}},
        }

    def forward(self, x: torch.Tensor, data_key: str | None = None) -> torch.Tensor:
        hidden = self.core(x).transpose(1, 2).flatten(2)  # (batch, time, features)
        return nn.functional.softplus(self.readout[data_key](hidden))


@pytest.fixture(scope="module")
def like():
    return LikeOpenRetina().eval()


def _stimulus(n_frames: int = 12, shape=(HEIGHT, WIDTH), seed: int = 0) -> xr.DataArray:
    values = np.random.default_rng(seed).uniform(-0.8, 0.8, (n_frames, *shape)).astype(np.float32)
    return xr.DataArray(
        values, dims=("time", "y", "x"), coords={"time": np.arange(n_frames) / 30.0}, attrs={"frame_rate_hz": 30.0}
    )


def _rate(model: nn.Module, window: np.ndarray, gain, data_key: str) -> torch.Tensor:
    """The openretina model's output (time, cells) for one contrast window (history, y, x) by hand."""
    colours = torch.as_tensor(np.broadcast_to(gain, (2,)).copy(), dtype=torch.float32)
    movie = torch.as_tensor(np.ascontiguousarray(window), dtype=torch.float32)[None, None] * colours.view(
        1, -1, 1, 1, 1
    )
    with torch.no_grad():
        return model(movie, data_key=data_key)[0]


def assert_complete(ds, relative: float = 1e-3) -> None:
    change = np.abs(ds.target_value - ds.baseline_value).values
    assert change.min() > 0 and np.abs(ds.completeness_error).values.max() < relative * change.max()


def test_the_retina_attributes_come_from_the_model(like):
    model = from_openretina(like, frame_rate_hz=30.0, data_key="b")
    assert model.history == 5  # two 3-frame temporal kernels
    assert model.size == (HEIGHT, WIDTH) and model.n_cells == 5 and model.frame_rate_hz == 30.0
    assert model.cell_type == ["1", "1", "12", "31", "31"]
    assert torch.allclose(model.contrast_gain, torch.tensor([2.0, 2.0]))  # stim_mean / stim_std
    assert np.isnan(model.cell_position).all() and model.cell_position.shape == (5, 2)
    assert "core.0" in rc.models.adapt(model).layers  # openretina's own layer names
    assert not model.training and like.training is False  # the model's own mode, kept
    assert from_openretina(like, frame_rate_hz=30.0, data_key="a").cell_type == ["unknown"] * 3


def test_contributions_on_a_non_square_stimulus_read_the_model_at_its_last_time_bin(like):
    model = from_openretina(like, frame_rate_hz=30.0, data_key="b", contrast_gain=[1.5, 0.5])
    stimulus = _stimulus()
    ds = rc.contributions(model, stimulus, "core.1", "cell:2", n_steps=32, options=QUIET)
    assert ds.sizes["sample"] == 12 - 5 + 1
    by_hand = _rate(like, stimulus.values[-5:], [1.5, 0.5], "b")[-1, 2]
    assert np.isclose(ds.target_value.values[-1], float(by_hand), rtol=1e-5)
    assert_complete(ds)
    types = rc.contributions(model, stimulus, "core.1", "type:31", n_steps=32, options=QUIET)
    assert np.isclose(
        types.target_value.values[-1], float(_rate(like, stimulus.values[-5:], [1.5, 0.5], "b")[-1, 3:].sum())
    )


def test_a_session_by_data_key_or_by_the_target_is_the_same(like):
    stimulus = _stimulus()
    model_b = from_openretina(like, frame_rate_hz=30.0, data_key="b")
    model_a = from_openretina(like, frame_rate_hz=30.0, data_key="a")
    chosen = rc.contributions(model_a, stimulus, "core.1", "cell:1", n_steps=8, options=QUIET)
    by_target = rc.contributions(model_b, stimulus, "core.1", Cell(1, session="a"), n_steps=8, options=QUIET)
    assert np.allclose(chosen.contribution, by_target.contribution, rtol=1e-5, atol=1e-7)
    other = rc.contributions(model_b, stimulus, "core.1", "cell:1", n_steps=8, options=QUIET)
    assert not np.allclose(chosen.target_value, other.target_value)
    with pytest.raises(RetinaCodecError, match="no data_key for a model of sessions a, b"):
        from_openretina(like, frame_rate_hz=30.0)
    with pytest.raises(RetinaCodecError, match="data_key 'c' for a model of sessions a, b"):
        from_openretina(like, frame_rate_hz=30.0, data_key="c")


def test_a_longer_history_and_a_chosen_time_bin(like):
    stimulus = _stimulus()
    first = from_openretina(like, frame_rate_hz=30.0, data_key="b", history=7, time_bin=0)
    mean = from_openretina(like, frame_rate_hz=30.0, data_key="b", history=7, time_bin="mean")
    window = stimulus.values[-7:]
    by_hand = _rate(like, window, 2.0, "b")  # 3 time bins
    with torch.no_grad():
        inputs = torch.as_tensor(window)[None]
        assert torch.allclose(first(inputs)[0], by_hand[0], rtol=1e-5)
        assert torch.allclose(mean(inputs)[0], by_hand.mean(0), rtol=1e-5)
    with pytest.raises(RetinaCodecError, match="history is 4; expected an integer of at least 5"):
        from_openretina(like, frame_rate_hz=30.0, data_key="b", history=4)
    with pytest.raises(RetinaCodecError, match="time is 'first'"):
        from_openretina(like, frame_rate_hz=30.0, data_key="b", time_bin="first")


def test_irf_of_a_non_square_model_sums_to_the_rate_change_along_the_path(like):
    model = from_openretina(like, frame_rate_hz=30.0, data_key="b")
    stimulus = _stimulus()
    last = float(stimulus.time[-1])
    irf = rc.irf(model, stimulus, cells=[0, 3], times=last, method="ig", n_steps=32)
    assert irf.dims == ("time", "cell", "lag", "y", "x") and irf.shape == (1, 2, 5, HEIGHT, WIDTH)
    window = stimulus.values[-5:][::-1]  # lag 0 is the last frame
    summed = (irf.values[0] * window[None]).sum(axis=(1, 2, 3))
    change = _rate(like, stimulus.values[-5:], 2.0, "b")[-1] - _rate(like, np.zeros((5, HEIGHT, WIDTH)), 2.0, "b")[-1]
    assert np.allclose(summed, change[[0, 3]].numpy(), rtol=1e-3, atol=1e-6)
    assert list(irf.cell_type.values) == ["1", "31"]


def test_modes_of_its_contributions_decompose_its_irf(like):
    model = from_openretina(like, frame_rate_hz=30.0, data_key="b")
    stimulus = _stimulus(20)
    targets = [Cell(i) for i in range(model.n_cells)]
    contributions = rc.contributions(model, stimulus, "core.1", targets, n_steps=8, options=QUIET)
    sae = rc.SAE(n_modes=2, epochs=20, batch_size=32, nonnegative=False, seed=0).fit(contributions)
    decomposed = rc.irf(model, stimulus, cells=[0, 4], times=float(stimulus.time[-1]), modes=sae, n_steps=8)
    assert decomposed.mode_irf.sizes["mode"] == 2 and decomposed.attrs["layer"] == "core.1"
    whole = decomposed.mode_irf.sum("mode") + decomposed.residual
    assert np.allclose(whole, decomposed.irf, atol=1e-6 * float(np.abs(decomposed.irf).max()))


def test_predict_and_control_run_on_it(like):
    model = from_openretina(like, frame_rate_hz=30.0, data_key="b")
    stimulus = _stimulus()
    rates = predict(model, stimulus)
    assert rates.dims == ("time", "cell") and rates.shape == (8, 5)
    assert np.isclose(rates.values[-1, 4], float(_rate(like, stimulus.values[-5:], 2.0, "b")[-1, 4]), rtol=1e-5)
    control = retina_control(model, stimulus, "core.1", {"first": [0, 1]}, progress=False)
    assert control.rate_change.sel(selection="first", intervention="none").values == pytest.approx(0.0)
    assert np.abs(control.rate_change.sel(intervention="preserve")).max() > 0


def test_stimuli_and_settings_that_do_not_fit_are_refused(like):
    model = from_openretina(like, frame_rate_hz=30.0, data_key="b")
    with pytest.raises(RetinaCodecError, match="stimulus frames are 16 x 18 px; model .* expects 18 x 16 px"):
        rc.irf(model, _stimulus(shape=(WIDTH, HEIGHT)))
    with pytest.raises(RetinaCodecError, match=r"windows \(N, 5, 18, 16\)"):
        rc.contributions(model, torch.zeros(2, 5, WIDTH, HEIGHT), "core.1", "cell:0", options=QUIET)
    with pytest.raises(RetinaCodecError, match="rc.models.from_openretina"):
        rc.irf(like, _stimulus())
    with pytest.raises(RetinaCodecError, match="contrast_gain is .*; expected one finite number or one per colour"):
        from_openretina(like, frame_rate_hz=30.0, data_key="b", contrast_gain=[1.0, 2.0, 3.0])
    with pytest.raises(RetinaCodecError, match="2 cell types for the 5 cells of session 'b'"):
        from_openretina(like, frame_rate_hz=30.0, data_key="b", cell_types=["ON", "OFF"])
    with pytest.raises(RetinaCodecError, match="frame_rate_hz is 0"):
        from_openretina(like, frame_rate_hz=0, data_key="b")


# --- models built by openretina itself -------------------------------------------------------


def _unified(hidden_padding: bool | list = True):
    """A small UnifiedCoreReadout (openretina's Hydra-configured core-readout, as in its
    unified_core_readout config: a space-time separable core and Gaussian-mask readouts), two
    colour channels, 18 x 16 px frames, two sessions, random weights."""
    pytest.importorskip("openretina")
    from omegaconf import OmegaConf
    from openretina.models.core_readout import UnifiedCoreReadout

    core = OmegaConf.create(
        {
            "_target_": "openretina.modules.core.base_core.SimpleCoreWrapper",
            "_convert_": "object",
            "gamma_input": 0.0,
            "gamma_hidden": 0.0,
            "gamma_in_sparse": 0.0,
            "gamma_temporal": 40.0,
            "input_padding": False,
            "hidden_padding": hidden_padding,
            "convolution_type": "custom_separable",
            "temporal_kernel_sizes": [5, 3],
            "spatial_kernel_sizes": [5, 3],
            "cut_first_n_frames": 0,
            "dropout_rate": 0.0,
            "maxpool_every_n_layers": None,
            "downsample_input_kernel_size": None,
            "color_squashing_weights": None,
        }
    )
    readout = OmegaConf.create(
        {
            "_target_": "openretina.modules.readout.multi_readout.MultiGaussianMaskReadout",
            "_convert_": "object",
            "scale": True,
            "bias": True,
            "gaussian_mean_scale": 6.0,
            "gaussian_var_scale": 4.0,
            "positive": True,
            "readout_reg_avg": False,
        }
    )
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Readout is NOT initialized with mean activity"
        model = UnifiedCoreReadout(
            in_shape=(2, 10, HEIGHT, WIDTH),
            n_neurons_dict={"session_1": 3, "session_2": 4},
            core=core,
            readout=readout,
            hidden_channels=[4, 4],
        )
    with torch.no_grad():  # random weights everywhere: a freshly built readout reads almost nothing
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return model.eval()


@pytest.mark.slow
def test_contributions_and_irf_on_an_openretina_unified_core_readout():
    unified = _unified()
    model = from_openretina(unified, frame_rate_hz=30.0, data_key="session_2")
    assert model.history == 5 and model.size == (HEIGHT, WIDTH) and model.n_cells == 4
    stimulus = _stimulus()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.fx cannot split openretina's separable convolutions
        ds = rc.contributions(model, stimulus, "core.features.layer0", "cell:1", n_steps=32, options=QUIET)
        by_session = rc.contributions(
            model, stimulus, "core.features.layer0", Cell(1, session="session_1"), n_steps=32, options=QUIET
        )
    assert_complete(ds)
    assert_complete(by_session)
    assert np.isclose(ds.target_value.values[-1], float(_rate(unified, stimulus.values[-5:], 1.0, "session_2")[-1, 1]))
    assert np.isclose(
        by_session.target_value.values[-1], float(_rate(unified, stimulus.values[-5:], 1.0, "session_1")[-1, 1])
    )
    irf = rc.irf(model, stimulus, cells=[0, 2], times=float(stimulus.time[-1]), method="ig", n_steps=32)
    window = stimulus.values[-5:][::-1]
    summed = (irf.values[0] * window[None]).sum(axis=(1, 2, 3))
    zero = np.zeros((5, HEIGHT, WIDTH), dtype=np.float32)
    change = _rate(unified, stimulus.values[-5:], 1.0, "session_2")[-1] - _rate(unified, zero, 1.0, "session_2")[-1]
    assert np.allclose(summed, change[[0, 2]].numpy(), rtol=2e-3, atol=1e-6)
    assert not unified.training  # left in its own mode


@pytest.mark.slow
def test_an_openretina_model_without_temporal_padding_has_the_reach_of_its_kernels():
    model = from_openretina(_unified(hidden_padding=[0, 1, 1]), frame_rate_hz=30.0, data_key="session_1")
    assert model.history == 5 + 3 - 1

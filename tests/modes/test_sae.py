"""The SAE estimator: scikit-learn contract, labels, reconstruction, dead modes, I/O, bad input."""

import numpy as np
import pytest
import xarray as xr
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import r2_score

from retinacodec import RetinaCodecError, __version__
from retinacodec.modes._inputs import as_feature_matrix
from retinacodec.modes.sae import SAE


@pytest.fixture
def binary_data():
    """Perfectly reconstructable data: sums of 1-2 of 6 non-negative atoms with unit codes."""
    rng = np.random.default_rng(1)
    atoms = rng.random((6, 10)) * (rng.random((6, 10)) < 0.5) + np.eye(6, 10)
    codes = np.zeros((600, 6))
    for row in codes:
        row[rng.choice(6, rng.integers(1, 3), replace=False)] = 1.0
    return (codes @ atoms).astype(np.float32)


def test_estimator_contract(fast):
    sae = SAE(n_modes=7, l1=0.0, **fast)
    params = sae.get_params()
    assert params["n_modes"] == 7 and params["threshold"] == 0.9 and params["l1_on"] == "contributions"
    twin = clone(sae)
    assert twin is not sae and twin.get_params() == params
    assert sae.set_params(threshold=0.8) is sae and sae.threshold == 0.8
    assert not [name for name in vars(SAE(**fast)) if name.endswith("_")]  # constructor stores params only


def test_fit_returns_self_with_fitted_state(binary_data, fast):
    sae = SAE(**fast)
    assert sae.fit(binary_data) is sae
    n_modes = 3 * binary_data.shape[1]
    assert sae.modes_.shape == (n_modes, 10) and isinstance(sae.modes_, np.ndarray)
    assert (sae.modes_ >= 0).all()
    assert sae.dead_modes_.shape == (n_modes,) and sae.dead_modes_.dtype == bool
    assert sae.n_iter_ == len(sae.history_) <= fast["epochs"]
    assert sae.scale_ == pytest.approx(binary_data.std(), rel=1e-5)
    assert sae.history_[-1] < sae.history_[0]


def test_perfectly_reconstructable_data_gives_high_r2(binary_data):
    sae = SAE(epochs=60, batch_size=32, progress=False, device="cpu").fit(binary_data)
    assert sae.r2_ > 0.95
    loadings = sae.transform(binary_data)
    reconstruction = sae.inverse_transform(loadings)
    # R^2 with per-feature means is scikit-learn's variance-weighted R^2
    assert sae.r2_ == pytest.approx(r2_score(binary_data, reconstruction, multioutput="variance_weighted"), abs=1e-5)
    assert sae.score(binary_data) == pytest.approx(sae.r2_, abs=1e-6)
    np.testing.assert_allclose(reconstruction, loadings @ sae.modes_, rtol=1e-6)
    assert sae.l0_ == pytest.approx((loadings > 0).sum(1).mean())
    # 1-2 true atoms per sample: the decomposition stays sparse
    assert sae.l0_ < 6


def test_same_seed_same_fit_other_seed_other_fit(binary_data, fast):
    a = SAE(seed=3, **fast).fit(binary_data)
    b = SAE(seed=3, **fast).fit(binary_data)
    c = SAE(seed=4, **fast).fit_transform(binary_data)
    np.testing.assert_array_equal(a.modes_, b.modes_)
    np.testing.assert_array_equal(a.transform(binary_data), b.transform(binary_data))
    assert c.shape == a.transform(binary_data).shape
    assert not np.array_equal(a.transform(binary_data), c)


@pytest.mark.parametrize("active_codes", ["linear", "shifted", "sigmoid"])
def test_loadings_are_thresholded(binary_data, fast, active_codes):
    sae = SAE(active_codes=active_codes, **fast).fit(binary_data)
    loadings = sae.transform(binary_data)
    active = loadings[loadings > 0]
    assert active.size and (loadings == 0).any() and (loadings >= 0).all()
    if active_codes != "linear":  # sigmoid codes are bounded
        assert active.max() < 1.0
    if active_codes == "sigmoid":  # the reference code: active codes are the sigmoid, >= threshold
        assert active.min() >= 0.9


def test_l1_on_codes_gives_sparser_loadings(binary_data, fast):
    plain = SAE(l1=0.0, **fast).fit(binary_data)
    penalised = SAE(l1=10.0, l1_on="codes", **fast).fit(binary_data)
    assert penalised.l0_ < plain.l0_


def test_small_negative_part_is_fitted_with_a_warning_and_a_large_one_refused(binary_data, fast):
    noise = np.random.default_rng(2).standard_normal(binary_data.shape).astype(np.float32)
    negative = lambda x: np.linalg.norm(np.minimum(x, 0)) / np.linalg.norm(x)
    noisy = binary_data + 0.02 * noise
    assert 0 < negative(noisy) < 0.05
    with pytest.warns(UserWarning, match="taken for noise"):
        sae = SAE(**fast).fit(noisy)
    assert sae.r2_ > 0.5 and (sae.modes_ >= 0).all()
    loud = binary_data + 0.3 * noise
    assert negative(loud) > 0.05
    with pytest.raises(RetinaCodecError, match="split-sign"):
        SAE(**fast).fit(loud)


def test_signed_dictionary_reconstructs_signed_data(fast):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 2)) @ rng.standard_normal((2, 8))
    with pytest.raises(RetinaCodecError, match="negative values"):
        SAE(**fast).fit(x)
    sae = SAE(nonnegative=False, **fast).fit(x)
    assert (sae.modes_ < 0).any()
    assert sae.r2_ > 0.3


def test_labeled_input_keeps_labels(contributions, fast):
    ds = contributions(split=False)
    with pytest.raises(RetinaCodecError, match="negative values"):  # signed, unsplit contributions
        SAE(**fast).fit(ds)
    sae = SAE(variable="activation", **fast).fit(ds)
    assert isinstance(sae.modes_, xr.DataArray) and sae.modes_.dims == ("mode", "channel")
    np.testing.assert_array_equal(sae.modes_["channel"], ds["channel"])
    assert sae.modes_.attrs["model"] == "toy" and sae.modes_.attrs["retinacodec_version"] == __version__
    loadings = sae.transform(ds)
    assert loadings.dims == ("sample", "mode")
    assert loadings.indexes["sample"].equals(ds.indexes["sample"])
    np.testing.assert_array_equal(loadings["cell_type"], ds["cell_type"])
    np.testing.assert_array_equal(loadings.values, sae.transform(ds["activation"].values))
    reconstruction = sae.inverse_transform(loadings)
    assert reconstruction.dims == ("sample", "channel")
    assert reconstruction.indexes["sample"].equals(ds.indexes["sample"])


def test_split_sign_input_is_flattened_to_magnitudes(contributions, fast):
    ds = contributions(split=True)
    sae = SAE(**fast).fit(ds)
    assert sae.modes_.dims == ("mode", "feature")
    assert sae.n_features_in_ == 2 * ds.sizes["channel"]
    # sign varies fastest: feature 2c is (channel c, neg), 2c + 1 is (channel c, pos)
    np.testing.assert_array_equal(sae.modes_["channel"], np.repeat(ds["channel"].values, 2))
    np.testing.assert_array_equal(sae.modes_["sign"], ["neg", "pos"] * ds.sizes["channel"])
    assert sae.modes_.sel(sign="pos").dims == ("mode", "channel")
    magnitudes = np.abs(ds["contribution"].values).reshape(ds.sizes["sample"], -1)
    np.testing.assert_array_equal(sae.transform(ds), sae.transform(magnitudes))
    # the layout does not depend on the order of the input's dims
    swapped = ds["contribution"].transpose("sample", "sign", "channel")
    np.testing.assert_array_equal(sae.transform(swapped), sae.transform(magnitudes))


def test_dead_modes_are_the_never_active_ones_and_resampling_revives_them(binary_data):
    # a threshold of 0.999 and a strong L1 on the codes silence many modes
    settings = dict(
        n_modes=30,
        threshold=0.999,
        l1=3.0,
        l1_on="codes",
        active_codes="shifted",
        epochs=12,
        batch_size=32,
        progress=False,
        device="cpu",
    )
    reported = SAE(resample_dead=False, **settings).fit(binary_data)
    resampled = SAE(resample_dead=True, **settings).fit(binary_data)
    for sae in (reported, resampled):
        never_active = ~(sae.transform(binary_data) > 0).any(0)
        np.testing.assert_array_equal(sae.dead_modes_, never_active)
    assert reported.n_resampled_ == 0 and resampled.n_resampled_ > 0
    # how many die depends on the machine's float rounding along the fit (10 of 30 on one machine, 6 on
    # another), so only "a tenth or more" is asserted
    assert reported.dead_modes_.sum() >= 3
    assert resampled.dead_modes_.sum() < reported.dead_modes_.sum()


def test_partial_fit_continues_training(binary_data, fast):
    sae = SAE(**fast)
    sae.partial_fit(binary_data)
    first = sae.history_.copy()
    sae.partial_fit(binary_data)
    assert sae.n_iter_ == 2 and sae.history_[0] == first[0]
    assert sae.history_[1] < sae.history_[0]
    with pytest.raises(RetinaCodecError, match="features"):
        sae.partial_fit(binary_data[:, :5])


def test_save_load_round_trip(tmp_path, contributions, fast):
    ds = contributions(split=True)
    sae = SAE(threshold=0.85, **fast).fit(ds)
    path = sae.save(tmp_path / "sae.nc")
    loaded = SAE.load(path)
    assert loaded.get_params() == sae.get_params()
    xr.testing.assert_identical(loaded.modes_, sae.modes_)
    xr.testing.assert_identical(loaded.transform(ds), sae.transform(ds))
    assert loaded.score(ds) == sae.score(ds)
    np.testing.assert_array_equal(loaded.history_, sae.history_)
    np.testing.assert_array_equal(loaded.dead_modes_, sae.dead_modes_)
    assert (loaded.r2_, loaded.l0_, loaded.n_iter_, loaded.scale_) == (sae.r2_, sae.l0_, sae.n_iter_, sae.scale_)
    loaded.partial_fit(ds)  # a loaded SAE can keep training
    assert loaded.n_iter_ == sae.n_iter_ + 1


def test_save_load_unlabeled(tmp_path, binary_data, fast):
    sae = SAE(**fast).fit(binary_data)
    loaded = SAE.load(sae.save(tmp_path / "plain.nc"))
    assert isinstance(loaded.modes_, np.ndarray)
    np.testing.assert_array_equal(loaded.transform(binary_data), sae.transform(binary_data))


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "other.nc"
    xr.Dataset({"a": ("x", [1.0])}).to_netcdf(path)
    with pytest.raises(RetinaCodecError, match="not a saved SAE"):
        SAE.load(path)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda x: np.where(np.arange(x.size).reshape(x.shape) == 7, np.nan, x), "NaN or infinite"),
        (lambda x: np.where(np.arange(x.size).reshape(x.shape) == 7, np.inf, x), "NaN or infinite"),
        (lambda x: x[:, 0], "expected a 2-D array"),
        (lambda x: x[None], "expected a 2-D array"),
        (lambda x: x[:20], "fewer than batch_size"),
        (
            lambda x: xr.DataArray(x[None], dims=("a", "sample", "channel")).transpose("sample", "a", "channel"),
            "'sign' dim",
        ),
        (lambda x: xr.Dataset({"other": (("sample", "channel"), x)}), "no variable 'contribution'"),
        (lambda x: "text", "numeric"),
        (lambda x: np.ones_like(x), "all 600 samples of the input are the same"),
        (lambda x: np.zeros_like(x), "all zeros"),
        (lambda x: x[:1], "1 sample; expected at least 2"),
        (lambda x: x * np.float32(1e30), "standard deviation overflows float32"),
        (lambda x: x.astype(np.float64) * 1e39, "beyond float32's range"),
    ],
)
def test_bad_input_raises(binary_data, fast, make, message):
    with pytest.raises(RetinaCodecError, match=message):
        SAE(**fast).fit(make(binary_data))


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(threshold=1.0), "threshold"),
        (dict(l1_on="atoms"), "l1_on"),
        (dict(n_modes=0), "n_modes"),
        (dict(active_codes="relu"), "active_codes"),
        (dict(lr=-1.0), "lr"),
        (dict(device="tpu"), "device"),
    ],
)
def test_bad_parameters_raise(binary_data, fast, params, message):
    with pytest.raises(RetinaCodecError, match=message):
        SAE(**{**fast, **params}).fit(binary_data)


def test_more_modes_than_fit_in_memory_are_refused_before_allocating(binary_data, fast):
    with pytest.raises(RetinaCodecError, match=r"an SAE of n_modes=1000000000 on 10 features and \d+ samples would"):
        SAE(**{**fast, "n_modes": 10**9}).fit(binary_data)


def test_transform_checks_fit_and_features(binary_data, fast):
    with pytest.raises(NotFittedError) as caught:
        SAE(**fast).transform(binary_data)
    assert isinstance(caught.value, ValueError)
    sae = SAE(**fast).fit(binary_data)
    with pytest.raises(RetinaCodecError, match="9 features; expected 10"):
        sae.transform(binary_data[:, :9])
    with pytest.raises(RetinaCodecError, match="expected \\(sample, 30\\)"):
        sae.inverse_transform(np.zeros((4, 5)))


def test_small_fit_runs_on_one_thread_and_restores_the_setting(binary_data, fast):
    import torch

    torch.set_num_threads(2)
    seen = []
    sae = SAE(**fast)
    period = sae._pass
    sae._pass = lambda x, order: (seen.append(torch.get_num_threads()), period(x, order))[1]
    sae.fit(binary_data)
    assert seen and set(seen) == {1}  # 32 x 10 x 40 multiply-adds per batch: tiny
    assert torch.get_num_threads() == 2
    # a step of many small operations: one thread up to ~1G multiply-adds per batch, torch's setting beyond
    assert SAE(device="cpu")._threads(as_feature_matrix(np.zeros((2, 48)))) == 1
    assert SAE(n_modes=1024, device="cpu")._threads(as_feature_matrix(np.zeros((2, 2048)))) == 1
    assert SAE(device="cpu")._threads(as_feature_matrix(np.zeros((2, 2048)))) is None  # 6144 modes: 2G


def test_a_large_input_is_checked_every_100_steps_and_a_small_one_every_epoch(binary_data, fast):
    # 100 steps or fewer per epoch: one period (loss check, resampling, kept state) per epoch
    small = SAE(**{**fast, "epochs": 3, "early_stopping": False}).fit(binary_data)
    assert (small.n_iter_, len(small.history_)) == (3, 3)
    # 3,001 samples in batches of 8: 376 steps, so 4 periods of 94 steps (752 samples) per epoch
    large = np.tile(binary_data, (8, 1))[:3001]
    sae = SAE(**{**fast, "epochs": 2, "batch_size": 8, "early_stopping": False})
    sizes = []
    period = sae._pass
    sae._pass = lambda x, order: (sizes.append(len(order)), period(x, order))[1]
    sae.fit(large)
    assert (sae.n_iter_, len(sae.history_)) == (2, 8)
    assert sizes == [752, 752, 752, 745] * 2
    # patience counts periods: when only a 100-fold drop counts as progress, the fit stops after 1 + 2
    stopped = SAE(**{**fast, "epochs": 5, "batch_size": 8, "tol": 0.99, "n_iter_no_change": 2}).fit(large)
    assert (stopped.n_iter_, len(stopped.history_)) == (1, 3)


@pytest.mark.slow
def test_default_learning_rate_shrinks_with_width(binary_data, fast):
    sae = SAE(**fast).fit(binary_data)
    assert sae.get_params()["lr"] is None
    assert sae._lr == pytest.approx(0.015)  # capped for 10 features
    wide = np.tile(binary_data, (1, 30))  # 300 features
    assert SAE(**{**fast, "epochs": 1}).fit(wide)._lr == pytest.approx(1.2 / 300)  # beyond 256: 1.2 / features
    assert SAE(**{**fast, "epochs": 1})._learning_rate(256) == pytest.approx(0.075 / 16)  # where the rules meet
    assert SAE(lr=1e-3, **fast).fit(binary_data)._lr == 1e-3


def test_pre_activations_give_the_loadings_and_gradients_reach_only_the_input(binary_data, fast):
    import torch

    sae = SAE(n_modes=8, **fast).fit(binary_data)
    x = torch.as_tensor(binary_data[:20]).requires_grad_()
    before = [None if p.grad is None else p.grad.clone() for p in sae._network.parameters()]
    pre = sae.pre_activations(x)
    codes = sae._network.codes(pre.detach()).numpy()
    np.testing.assert_allclose(codes, sae.transform(binary_data[:20]), atol=1e-5)
    pre[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for p, grad in zip(sae._network.parameters(), before):  # the fit's last gradients, untouched
        assert p.requires_grad and (p.grad is None if grad is None else torch.equal(p.grad, grad))

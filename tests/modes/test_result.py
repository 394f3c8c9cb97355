"""Modes: one type for a mode set however it was made (fitted SAE, modes file, saved SAE, bare
dictionary), each way giving the same dictionary, the same channel weights and what it knows."""

import numpy as np
import pytest
import xarray as xr

import retinacodec as rc
from retinacodec import RetinaCodecError
from retinacodec.io import write_netcdf
from retinacodec.modes.result import Modes
from retinacodec.modes.sae import SAE
from retinacodec.modes.workflow import fit_modes


@pytest.fixture
def fitted(contributions, fast):
    ds = contributions(split=True)
    sae, result = fit_modes(ds, labels="cell_type", variable="activation", stability_fits=0, **fast)
    return ds, sae, result


def test_every_way_of_making_modes_gives_the_same_dictionary_and_weights(tmp_path, fitted):
    ds, sae, result = fitted
    from_sae = Modes.from_sae(sae)
    from_dataset = Modes.from_dataset(result)
    from_file = Modes.read(write_netcdf(result, tmp_path / "modes.nc"))
    from_saved = Modes.read(sae.save(tmp_path / "sae.nc"))
    from_dictionary = Modes.from_dictionary(sae.modes_)
    every = (from_sae, from_dataset, from_file, from_saved, from_dictionary)
    for modes in every:
        np.testing.assert_array_equal(modes.dictionary.values, sae.modes_.values)
        xr.testing.assert_identical(modes.channel_weights().drop_attrs(), every[0].channel_weights().drop_attrs())
        assert modes.layer == "conv1" and modes.variable == "activation" and modes.n_modes == sae.modes_.sizes["mode"]
    assert [modes.has_encoder for modes in every] == [True, False, False, True, False]
    assert [modes.loadings is not None for modes in every] == [False, True, True, False, False]
    np.testing.assert_array_equal(from_saved.transform(ds).values, sae.transform(ds).values)
    np.testing.assert_array_equal(from_file.loadings.values, result["loadings"].values)
    np.testing.assert_array_equal(from_dataset.usage, result["mode_usage"].values)
    for modes in (from_sae, from_dataset, from_saved):
        np.testing.assert_array_equal(modes.dead_modes, sae.dead_modes_)
    assert from_dictionary.dead_modes is None and from_dictionary.usage is None


def test_coerce_converts_once_and_passes_modes_through(fitted):
    _, sae, result = fitted
    modes = Modes.from_dataset(result)
    assert Modes.coerce(modes) is modes
    assert Modes.coerce(sae).sae is sae
    assert Modes.coerce(result).loadings is not None
    assert Modes.coerce(result["modes"]).loadings is None
    assert rc.Modes is Modes and rc.modes.Modes is Modes


def test_a_plain_array_is_numbered_and_records_nothing():
    modes = Modes.coerce(np.array([[1.0, -2.0, 0.0], [0.0, 0.5, 3.0]], dtype=np.float32))
    assert modes.dictionary.dims == ("mode", "channel") and modes.dictionary.dtype == np.float64
    np.testing.assert_array_equal(modes.dictionary["channel"].values, [0, 1, 2])
    np.testing.assert_array_equal(modes.channel_weights().values, [[1.0, 2.0, 0.0], [0.0, 0.5, 3.0]])
    assert (modes.layer, modes.variable, modes.has_encoder) == (None, None, False)


def test_an_sae_fitted_on_a_plain_array_knows_its_variable_from_the_estimator(contributions, fast):
    data = contributions(split=False)["activation"].values
    sae = SAE(variable="activation", **fast).fit(data)
    modes = Modes.from_sae(sae)
    assert modes.variable == "activation" and modes.layer is None and modes.dictionary.dims == ("mode", "channel")
    np.testing.assert_array_equal(modes.transform(data), sae.transform(data))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SAE(), "the SAE is not fitted"),
        (lambda: np.ones(3), "expected a 2-D array \\(mode, channel\\)"),
        (lambda: "modes", "cannot read str as modes"),
        (lambda: xr.DataArray(np.ones((2, 3)), dims=("atom", "channel")), "modes have dims \\('atom', 'channel'\\)"),
        (lambda: xr.Dataset({"loadings": (("sample", "mode"), np.ones((2, 2)))}), "no 'modes' variable"),
    ],
)
def test_what_is_not_modes_is_refused_with_one_clear_error(make, message):
    with pytest.raises(RetinaCodecError, match=message):
        Modes.coerce(make())


def test_loadings_of_new_data_need_an_encoder_and_files_need_modes(tmp_path, fitted):
    ds, _, result = fitted
    with pytest.raises(RetinaCodecError, match="without their SAE"):
        Modes.from_dataset(result).transform(ds)
    other = write_netcdf(xr.DataArray(np.ones(3), dims="x", name="x"), tmp_path / "other.nc")
    with pytest.raises(RetinaCodecError, match="holds no modes; expected a file written by 'retinacodec modes'"):
        Modes.read(other)

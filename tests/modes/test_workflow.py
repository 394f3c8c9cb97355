"""fit_modes: the one call behind ``retinacodec modes``."""

import numpy as np
import pytest
import xarray as xr

from retinacodec import RetinaCodecError
from retinacodec.io import read_netcdf, write_netcdf
from retinacodec.modes.compare import dimensions_for_variance
from retinacodec.modes.workflow import fit_modes


def test_fit_modes_collects_modes_loadings_and_statistics(tmp_path, contributions, fast):
    ds = contributions(split=True)
    sae, result = fit_modes(ds, labels="cell_type", **fast)
    np.testing.assert_array_equal(result["modes"].values, sae.modes_.values)
    np.testing.assert_array_equal(result["loadings"].values, sae.transform(ds).values)
    assert result["loadings"].indexes["sample"].equals(ds.indexes["sample"])
    assert float(result["r2"]) == sae.r2_ and float(result["mean_l0"]) == sae.l0_
    usage = (result["loadings"].values > 0).mean(0)
    np.testing.assert_allclose(result["mode_usage"].values, usage)
    np.testing.assert_array_equal(result["dead_modes"].values.astype(bool), usage == 0)
    net = np.abs(ds["contribution"].sel(sign="pos")) - np.abs(ds["contribution"].sel(sign="neg"))
    assert int(result["n_dimensions_95"]) == dimensions_for_variance(net.values, 0.95)
    assert result["label_correlation"].dims == ("mode", "label")
    assert set(result["label"].values) == {"ON", "OFF"}
    assert result.attrs["model"] == "toy" and "sae_params" in result.attrs
    path = write_netcdf(result, tmp_path / "modes.nc")
    xr.testing.assert_allclose(read_netcdf(path)["loadings"], result["loadings"])


def test_fit_modes_without_labels_and_bad_input(contributions, fast):
    _, result = fit_modes(contributions(split=False), variable="activation", **fast)
    assert "label_correlation" not in result and result["modes"].dims == ("mode", "channel")
    with pytest.raises(RetinaCodecError, match="contributions Dataset"):
        fit_modes(np.ones((10, 3)), **fast)


def test_fit_modes_records_each_modes_stability_across_seeds(contributions, fast):
    from retinacodec.modes import fit_stability, stability
    from retinacodec.modes.sae import SAE

    ds = contributions(split=True)
    sae, result = fit_modes(ds, stability_fits=2, seed=4, **fast)
    others = [SAE(seed=seed, **fast).fit(ds) for seed in (5, 6)]  # the same fits, made independently
    np.testing.assert_allclose(result["stability"].values, fit_stability(sae, others))
    assert result["stability"].dims == ("mode",) and result.attrs["stability_seeds"] == "[5, 6]"
    live = ~sae.dead_modes_
    assert np.isnan(result["stability"].values[~live]).all() and (result["stability"].values[live] > 0).all()
    assert float(result["mean_stability"]) == pytest.approx(np.nanmean(result["stability"].values))
    assert callable(stability)  # the module (seed_stability) does not shadow the function
    _, plain = fit_modes(ds, stability_fits=0, **fast)
    assert "stability" not in plain
    with pytest.raises(RetinaCodecError, match="stability_fits"):
        fit_modes(ds, stability_fits=-1, **fast)


def test_the_modes_command_sets_or_turns_off_the_stability_fits(tmp_path, contributions, capsys):
    from retinacodec.cli import main

    source = write_netcdf(contributions(split=True), tmp_path / "contributions.nc")
    common = [str(source), "--epochs", "5", "--n-modes", "4", "--seed", "3"]
    assert main(["modes", *common, "-o", str(tmp_path / "one.nc"), "--stability-fits", "1"]) == 0
    assert main(["modes", *common, "-o", str(tmp_path / "none.nc"), "--stability-fits", "0"]) == 0
    one, none = read_netcdf(tmp_path / "one.nc"), read_netcdf(tmp_path / "none.nc")
    assert one.attrs["stability_seeds"] == "[4]" and "stability" in one
    assert "stability" not in none and "stability_seeds" not in none.attrs
    np.testing.assert_array_equal(none["modes"].values, one["modes"].values)  # the main fit is the same
    capsys.readouterr()
    assert main(["modes", *common, "-o", str(tmp_path / "bad.nc"), "--stability-fits", "-1"]) == 2
    assert "stability_fits is -1; expected an integer >= 0" in capsys.readouterr().err

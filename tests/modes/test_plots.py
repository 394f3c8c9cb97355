"""Figures of modes and of the contribution-vs-activation statistics."""

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from retinacodec import RetinaCodecError
from retinacodec.modes.compare import pca_dimensions, sign_correlation, sparsity
from retinacodec.modes.sae import SAE
from retinacodec.plots import save_figure
from retinacodec.plots.modes import (
    plot_dimensions,
    plot_mode_labels,
    plot_modes,
    plot_sign_correlation,
    plot_sparsity,
)


def test_plot_modes_split_sign_with_loadings(tmp_path, contributions, fast):
    ds = contributions(split=True)
    sae = SAE(**fast).fit(ds)
    loadings = sae.transform(ds)
    fig = plot_modes(sae, loadings, max_modes=12)
    assert isinstance(fig, Figure)
    heat_maps = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in heat_maps] == [
        "modes: pos contributions (magnitude)",
        "modes: neg contributions (magnitude)",
        "loadings",
    ]
    pos_image = heat_maps[0].images[0].get_array()
    assert pos_image.shape == (min(12, int((loadings > 0).any("sample").sum())), ds.sizes["channel"])
    most_used = int(np.argmax((loadings.values > 0).mean(0)))
    np.testing.assert_allclose(pos_image[0], sae.modes_.sel(sign="pos").isel(mode=most_used))
    assert save_figure(fig, tmp_path / "modes.png").stat().st_size > 0


def test_plot_modes_from_plain_array(tmp_path):
    fig = plot_modes(np.abs(np.random.default_rng(0).standard_normal((5, 7))))
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["modes"]
    with pytest.raises(RetinaCodecError, match="loadings have shape"):
        plot_modes(np.ones((5, 7)), np.ones((3, 4)))


def test_comparison_figures(tmp_path, contributions):
    layers = {"conv1": contributions(seed=1), "conv2": contributions(seed=2)}
    for fig in (
        plot_sparsity(sparsity(layers)),
        plot_dimensions(pca_dimensions(layers)),
        plot_sign_correlation(sign_correlation(layers)),
    ):
        assert isinstance(fig, Figure)
        assert all([t.get_text() for t in ax.get_xticklabels()] == ["conv1", "conv2"] for ax in fig.axes)
    labels = xr.Dataset(
        {
            "max_correlation": (("layer", "variable", "mode"), [[[0.5, 0.1], [0.3, np.nan]]]),
            "n_modes_above": (("layer", "variable"), [[1, 1]]),
        },
        coords={"layer": ["conv1"], "variable": ["contribution", "activation"]},
        attrs={"threshold": 0.2},
    )
    fig = plot_mode_labels(labels)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    np.testing.assert_array_equal(lines["contribution"].get_ydata(), [1])


def test_plot_stability_draws_one_sorted_curve_per_result(tmp_path, contributions, fast):
    from retinacodec.modes.workflow import fit_modes
    from retinacodec.plots.modes import plot_stability

    ds = contributions(split=True)
    results = {name: fit_modes(ds, variable=name, **fast)[1] for name in ("contribution", "activation")}
    fig = plot_stability(results)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2
    for line, result in zip(lines, results.values()):
        live = result["stability"].values[np.isfinite(result["stability"].values)]
        np.testing.assert_allclose(line.get_ydata(), np.sort(live)[::-1])
    save_figure(fig, tmp_path / "stability.png")
    with pytest.raises(RetinaCodecError, match="stability_fits"):
        plot_stability({"plain": fit_modes(ds, stability_fits=0, **fast)[1]})


def test_plot_modes_draws_the_loadings_the_modes_hold(contributions, fast):
    from retinacodec.modes.result import Modes
    from retinacodec.modes.workflow import fit_modes

    _, result = fit_modes(contributions(split=False), variable="activation", stability_fits=0, **fast)
    titles = [ax.get_title() for ax in plot_modes(Modes.from_dataset(result)).axes if ax.images]
    assert titles == ["modes", "loadings"]
    assert [ax.get_title() for ax in plot_modes(result["modes"]).axes if ax.images] == ["modes"]

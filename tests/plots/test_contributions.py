"""The contributions figure shows the numbers of the result it is given."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.errors import RetinaCodecError
from retinacodec.plots import save_figure
from retinacodec.plots.contributions import plot_contributions
from retinacodec.stimuli.base import make_stimulus
from retinacodec.targets import Cell

QUIET = AttributionOptions(progress=False)
"""No progress bar."""


@pytest.fixture(scope="module")
def retina_result(make_cnn):
    model = make_cnn(2, history=4, size=12, amacrine_kernel=3, cell_type=["ON", "OFF"])
    frames = np.random.default_rng(0).uniform(-1, 1, (30, 12, 12))
    return contributions(
        model,
        make_stimulus(frames, kind="white_noise"),
        "amacrine",
        [Cell(0), Cell(1)],
        n_steps=4,
        options=AttributionOptions(split="sign", progress=False),
    )


def test_retina_figure_draws_the_selected_cell_over_time(retina_result, tmp_path):
    fig = plot_contributions(retina_result, {"cell": 1})
    assert isinstance(fig, Figure)
    heat, _, traces, errors = fig.axes[:4]  # then the two colour bars
    one = retina_result.sel(cell=1)
    assert np.allclose(heat.images[0].get_array(), one.contribution.sum("sign").T.values)
    target, rebuilt, _ = traces.lines
    assert np.allclose(target.get_ydata(), one.target_value)
    assert np.allclose(rebuilt.get_ydata(), one.baseline_value + one.contribution.sum(("channel", "sign")))
    assert np.allclose(errors.lines[0].get_ydata(), one.completeness_error)
    assert "cell 1 (OFF)" in fig._suptitle.get_text()
    assert save_figure(fig, tmp_path / "retina.png").stat().st_size > 10_000


def test_image_figure_scatters_contribution_against_activation(tmp_path):
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 36, 4))
    ds = contributions(net, torch.randn(6, 3, 8, 8), "1", "top", n_steps=4, options=QUIET)
    fig = plot_contributions(ds, max_samples=3)
    scatter = fig.axes[0].collections[0].get_offsets()
    assert len(fig.axes) == 4
    assert np.allclose(scatter[:, 0], ds.activation[0]) and np.allclose(scatter[:, 1], ds.contribution[0])
    relative = np.abs(ds.completeness_error) / np.abs(ds.target_value - ds.baseline_value)
    assert np.allclose(fig.axes[3].lines[0].get_ydata(), np.maximum(relative, 1e-16))
    save_figure(fig, tmp_path / "images.png")


def test_bad_inputs_are_retinacodec_errors(retina_result):
    with pytest.raises(RetinaCodecError, match="cannot select by"):
        plot_contributions(retina_result, {"channel": 0})
    with pytest.raises(RetinaCodecError, match="expected the result of retinacodec.contributions"):
        plot_contributions(retina_result[["contribution"]])

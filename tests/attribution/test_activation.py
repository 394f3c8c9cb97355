"""Per-cell activation: each channel's output over the cell's receptive-field window."""

import numpy as np
import pytest
import torch

from retinacodec.attribution.activation import receptive_windows
from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.errors import RetinaCodecError
from retinacodec.models.registry import windows
from retinacodec.targets import Cell, CellType

from .test_retina import stimulus  # noqa: F401  (fixture)

QUIET = AttributionOptions(progress=False)
"""No progress bar."""


def _layer_output(model, stimulus, layer):
    recorded = []
    handle = getattr(model, layer).register_forward_hook(lambda m, i, o: recorded.append(o.detach()))
    with torch.no_grad():
        model(windows(model, stimulus)[0].double())
    handle.remove()
    return recorded[0].numpy()


def test_a_cell_reading_one_pixel_sees_that_pixel(stimulus, small_retina):
    """Readout weights by hand: cell 0 reads amacrine pixel (2, 3) only (of any channel), so its
    activation is each channel's output there; cell 1 reads two pixels equally: their mean."""
    model = small_retina()
    with torch.no_grad():
        weight = model.ganglion[1].weight
        weight.zero_()
        grid = weight.view(3, 5, 8, 8)
        grid[0, 1, 2, 3] = -2.0  # sign and channel of the weight do not matter, only where
        grid[1, 0, 0, 0], grid[1, 4, 7, 7] = 1.0, 1.0
        grid[2] = 0.5
    ds = contributions(
        model,
        stimulus,
        "amacrine",
        [Cell(0), Cell(1), Cell(2)],
        n_steps=2,
        options=AttributionOptions(activation="cell", progress=False),
    )
    output = _layer_output(model, stimulus, "amacrine")  # (time, channel, 8, 8)
    assert np.allclose(ds.activation.sel(cell=0).values, output[:, :, 2, 3])
    assert np.allclose(ds.activation.sel(cell=1).values, (output[:, :, 0, 0] + output[:, :, 7, 7]) / 2)
    assert np.allclose(ds.activation.sel(cell=2).values, output.mean(axis=(2, 3)))
    assert ds.attrs["activation"] == "cell"


def test_bipolar_window_covers_exactly_the_positions_that_reach_the_cell(small_retina):
    """The window's support in the first layer is where a change of the layer's output changes the
    cell's rate (autograd on the network after the layer)."""
    model = small_retina()
    with torch.no_grad():
        model.ganglion[1].weight.view(3, 5, 8, 8)[0].zero_()
        model.ganglion[1].weight.view(3, 5, 8, 8)[0, 2, 1:3, 4] = 1.0
    window = receptive_windows(model, "bipolar", [0], (12, 12))[0]
    bipolar = torch.rand(1, 4, 12, 12, dtype=torch.float64, requires_grad=True)
    rate = model.ganglion(model.amacrine(bipolar))[0, 0]
    (gradient,) = torch.autograd.grad(rate, bipolar)
    reaches = (gradient.abs().sum(dim=(0, 1)) > 0).numpy()
    assert np.array_equal(window > 0, reaches)
    assert np.isclose(window.sum(), 1.0)


def test_cell_activation_depends_on_the_cell_and_split_parts_add_up(stimulus, small_retina):
    model = small_retina()
    cells = [Cell(0), Cell(1), Cell(2)]
    space = contributions(model, stimulus, "bipolar", cells, n_steps=2, options=QUIET)
    per_cell = contributions(
        model,
        stimulus,
        "bipolar",
        cells,
        n_steps=2,
        options=AttributionOptions(split="sign", activation="cell", progress=False),
    )
    by_cell = per_cell.activation.sum("sign").values.reshape(-1, 3, 4)
    assert np.ptp(by_cell, axis=1).max() > 1e-3  # differs across cells at the same time
    summed = space.activation.values.reshape(-1, 3, 4)
    assert np.allclose(np.ptp(summed, axis=1), 0)  # the spatial sum does not
    assert np.allclose(per_cell.contribution.sum("sign"), space.contribution)  # contributions unchanged


def test_cell_activation_needs_cell_targets(stimulus, small_retina):
    with pytest.raises(RetinaCodecError, match="single-cell targets"):
        contributions(
            small_retina(),
            stimulus,
            "bipolar",
            CellType("ON"),
            options=AttributionOptions(activation="cell", progress=False),
        )
    with pytest.raises(RetinaCodecError, match="unknown activation"):
        contributions(
            small_retina(),
            stimulus,
            "bipolar",
            Cell(0),
            options=AttributionOptions(activation="window", progress=False),
        )


def test_factorized_readout_window_is_its_spatial_mask(make_cnn):
    """A Klindt-style readout (the recording models' default): the last layer's window is the
    cell's mask, normalised; an earlier layer's window covers where the cell's rate can change."""
    model = make_cnn(2, readout="factorized").double()
    readout = (
        model.ganglion[0]
        if hasattr(model.ganglion[0], "mask")
        else next(m for m in model.ganglion if hasattr(m, "mask"))
    )
    with torch.no_grad():
        readout.mask.zero_()
        readout.mask[1, 3, 2:5] = torch.tensor([1.0, -2.0, 1.0])
    window = receptive_windows(model, "amacrine", [1], (8, 8))[0]
    expected = np.zeros((8, 8))
    expected[3, 2:5] = [0.25, 0.5, 0.25]
    np.testing.assert_allclose(window, expected)
    bipolar_window = receptive_windows(model, "bipolar", [1], (12, 12))[0]
    bipolar = torch.rand(1, 4, 12, 12, dtype=torch.float64, requires_grad=True)
    (gradient,) = torch.autograd.grad(model.ganglion(model.amacrine(bipolar))[0, 1], bipolar)
    assert np.array_equal(bipolar_window > 0, (gradient.abs().sum(dim=(0, 1)) > 0).numpy())


def test_per_cell_activation_comes_from_the_contributions_own_forward_pass(stimulus, small_retina):
    """No pass of its own: the layer sees as many inputs as for the spatial sum, and the activation
    is the layer's output (recorded independently, by a hook) over each cell's window."""
    model = small_retina()
    cells = [Cell(0), Cell(2)]
    rows, results = {}, {}
    for activation in ("space", "cell"):
        seen = []
        handle = model.amacrine.register_forward_hook(lambda m, i, o: seen.append(o.shape[0]))
        results[activation] = contributions(
            model,
            stimulus,
            "amacrine",
            cells,
            n_steps=3,
            batch_size=9,
            options=AttributionOptions(split="sign", activation=activation, progress=False),
        )
        handle.remove()
        rows[activation] = sum(seen)
    assert rows["cell"] == rows["space"]
    output = _layer_output(model, stimulus, "amacrine")  # (time, channel, 8, 8)
    window = receptive_windows(model, "amacrine", [0, 2], output.shape[-2:])
    expected = np.stack(
        [
            np.einsum("nchw,thw->ntc", np.minimum(output, 0), window),
            np.einsum("nchw,thw->ntc", np.maximum(output, 0), window),
        ],
        axis=-1,
    )
    np.testing.assert_allclose(results["cell"].activation.values, expected.reshape(-1, 5, 2), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(results["cell"].contribution.values, results["space"].contribution.values)

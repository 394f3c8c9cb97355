"""Network control experiments, checked against accuracies and rates known in advance."""

import numpy as np
import pytest
import torch
from torch import nn

from retinacodec.control.experiments import classifier_control, retina_control
from retinacodec.errors import RetinaCodecError
from retinacodec.stimuli import white_noise


def one_channel_per_class():
    """Hidden channel k = ReLU(x_k) + 0.1; logit k = hidden channel k (summed over space)."""
    model = nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(4)[:, :, None, None])
        model[0].bias.fill_(0.1)
    labels = np.array([0, 1, 2, 2, 3, 2, 0, 1])
    x = torch.zeros(len(labels), 4, 3, 3)
    x[np.arange(len(labels)), labels] = 1.0  # each image drives its own class's channel
    return model.eval(), x, labels


def test_classifier_control_accuracies_follow_the_silenced_channels():
    model, x, labels = one_channel_per_class()
    result = classifier_control(
        model, x, labels, "1", {"class channel": [2], "other channel": [0]}, target_class=2, progress=False
    )
    assert result["target_accuracy"].dims == ("selection", "intervention")
    # ablating channel 2: class-2 images fall to the tie of 0.1 logits (argmax 0); others unaffected
    # preserving channel 2: only logit 2 is non-zero, so every image is called class 2
    np.testing.assert_allclose(result["target_accuracy"].sel(selection="class channel"), [1.0, 0.0, 1.0])
    np.testing.assert_allclose(result["off_target_accuracy"].sel(selection="class channel"), [1.0, 1.0, 0.0])
    # ablating channel 0: the two class-0 images tie at 0.1 and argmax picks class 1; preserving it:
    # only class-0 images (logit 1.1 vs 0) survive, and the rest tie at 0 -> argmax 0
    np.testing.assert_allclose(result["target_accuracy"].sel(selection="other channel"), [1.0, 1.0, 0.0])
    np.testing.assert_allclose(result["off_target_accuracy"].sel(selection="other channel"), [1.0, 3 / 5, 2 / 5])
    assert result.attrs["n_target_images"] == 3 and result["n_channels"].values.tolist() == [1, 1]
    with pytest.raises(RetinaCodecError, match="expected images of the target class and of other classes"):
        classifier_control(model, x, labels, "1", {"a": [0]}, target_class=9, progress=False)


def test_retina_control_against_hand_run_networks(make_cnn):
    model = make_cnn(3, history=40, amacrine_channels=4)
    stimulus = white_noise(n_frames=70, size=16, seed=0)
    result = retina_control(model, stimulus, "bipolar", {"one": [1], "all": [0, 1, 2, 3]}, cells=[0, 2], progress=False)
    windows = torch.as_tensor(stimulus.values).unfold(0, 40, 1).permute(0, 3, 1, 2)
    with torch.no_grad():
        hidden = model.bipolar(windows)
        mask = torch.tensor([1.0, 0.0, 1.0, 1.0]).reshape(1, 4, 1, 1)
        reference = model(windows)[:, [0, 2]].numpy()
        without_one = model.ganglion(model.amacrine(hidden * mask))[:, [0, 2]].numpy()
        silent = model.ganglion(model.amacrine(torch.zeros_like(hidden)))[0, [0, 2]].numpy()
    one = result.sel(selection="one")
    np.testing.assert_allclose(
        one["rate_change"].sel(intervention="ablate"), without_one.mean(0) - reference.mean(0), rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(
        one["correlation"].sel(intervention="ablate"),
        [np.corrcoef(without_one[:, c], reference[:, c])[0, 1] for c in range(2)],
        rtol=1e-5,
    )
    everything = result.sel(selection="all")
    np.testing.assert_allclose(everything["mean_rate"].sel(intervention="ablate"), silent, rtol=1e-5)
    assert np.isnan(everything["correlation"].sel(intervention="ablate")).all()  # a constant response
    np.testing.assert_allclose(everything["rate_change"].sel(intervention="preserve"), 0.0, atol=1e-6)
    np.testing.assert_allclose(everything["correlation"].sel(intervention="preserve"), 1.0, rtol=1e-6)
    with pytest.raises(RetinaCodecError, match="cell index 3 is out of range"):
        retina_control(model, stimulus, "bipolar", {"one": [1]}, cells=[3], progress=False)


def test_control_figure_draws_the_result(tmp_path):
    from matplotlib.image import imread

    from retinacodec.plots import save_figure
    from retinacodec.plots.control import plot_control

    model, x, labels = one_channel_per_class()
    result = classifier_control(
        model, x, labels, "1", {"contribution": [2], "activation": [0]}, target_class=2, progress=False
    )
    fig = plot_control(result)
    target_axis, off_axis = fig.axes[:2]
    heights = [patch.get_height() for patch in target_axis.patches]  # selection-major, intervention-minor
    np.testing.assert_allclose(heights, result["target_accuracy"].values.ravel())
    np.testing.assert_allclose([p.get_height() for p in off_axis.patches], result["off_target_accuracy"].values.ravel())
    assert [t.get_text() for t in target_axis.get_xticklabels()] == ["none", "ablate", "preserve"]
    assert imread(save_figure(fig, tmp_path / "control.png")).ndim == 3
    with pytest.raises(RetinaCodecError, match="expected the Dataset of classifier_control"):
        plot_control(result.drop_attrs())

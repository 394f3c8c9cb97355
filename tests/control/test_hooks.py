"""Hooks that zero channels, checked against networks run by hand."""

import numpy as np
import pytest
import torch
from torch import nn

from retinacodec.control.hooks import ablate, preserve
from retinacodec.errors import RetinaCodecError


def conv_net(seed=0):
    torch.manual_seed(seed)
    features = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU())
    head = nn.Sequential(nn.Flatten(), nn.Linear(6 * 6 * 6, 4))
    return nn.Sequential(features, head).eval()


def inputs(n=5):
    return torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def test_ablating_every_channel_before_the_head_gives_the_output_of_a_zero_activation():
    model, x = conv_net(), inputs()
    with torch.no_grad(), ablate(model, "0", range(6)):
        ablated = model(x)
    expected = model[1](torch.zeros(5, 6, 6, 6)).detach()
    np.testing.assert_allclose(ablated.numpy(), expected.numpy(), rtol=1e-6)


def test_ablate_and_preserve_zero_exactly_the_named_channels():
    model, x = conv_net(), inputs()
    with torch.no_grad():
        hidden = model[0](x)
        keep = torch.zeros(1, 6, 1, 1)
        keep[:, [1, 4]] = 1.0
        with ablate(model, "0", [1, 4]):
            ablated = model(x)
        with preserve(model, "0", [1, 4]):
            preserved = model(x)
        with preserve(model, "0", range(6)):
            everything = model(x)
        unperturbed = model(x)
        expected_ablated, expected_preserved = model[1](hidden * (1 - keep)), model[1](hidden * keep)
    np.testing.assert_allclose(ablated.numpy(), expected_ablated.numpy(), rtol=1e-6)
    np.testing.assert_allclose(preserved.numpy(), expected_preserved.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(everything.numpy(), unperturbed.numpy())


def test_hooks_are_removed_after_the_context_even_after_an_error():
    model, x = conv_net(), inputs()
    with torch.no_grad():
        before = model(x)
        with pytest.raises(ZeroDivisionError):
            with ablate(model, "0", [0, 1, 2]):
                assert model[0]._forward_hooks
                1 / 0
        assert not model[0]._forward_hooks
        np.testing.assert_array_equal(model(x).numpy(), before.numpy())
        with pytest.raises(RetinaCodecError, match="channel 6 is out of range; layer '0' has 6 channels"):
            with preserve(model, "0", [6]):
                model(x)
        assert not model[0]._forward_hooks


def test_bad_layer_or_channels_raise():
    model = conv_net()
    with pytest.raises(RetinaCodecError, match="unknown layer 'conv9'"):
        with ablate(model, "conv9", [0]):
            pass
    with pytest.raises(RetinaCodecError, match="non-negative integer"):
        with ablate(model, "0", [-1]):
            pass
    with pytest.raises(RetinaCodecError, match="non-negative integer"):
        with ablate(model, "0", [0.5]):
            pass


def test_fill_replaces_the_silenced_channels_by_their_values():
    model, x = conv_net(), inputs()
    fill = np.arange(6, dtype=float) / 10
    with torch.no_grad():
        features = model[0](x)
    seen = []
    handle = model[1].register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    with torch.no_grad(), ablate(model, "0", [1, 4], fill=fill):
        model(x)
    with torch.no_grad(), preserve(model, "0", [1, 4], fill=fill):
        model(x)
    handle.remove()
    ablated, preserved = seen
    for c in range(6):
        silenced_in_ablate = c in (1, 4)
        torch.testing.assert_close(
            ablated[:, c], torch.full_like(features[:, c], fill[c]) if silenced_in_ablate else features[:, c]
        )
        torch.testing.assert_close(
            preserved[:, c], features[:, c] if silenced_in_ablate else torch.full_like(features[:, c], fill[c])
        )


def test_fill_of_another_length_is_refused():
    model, x = conv_net(), inputs()
    with pytest.raises(RetinaCodecError, match="3 fill values; layer '0' has 6 channels"):
        with torch.no_grad(), ablate(model, "0", [1], fill=[0.0, 1.0, 2.0]):
            model(x)
    with pytest.raises(RetinaCodecError, match="expected finite values"):
        with ablate(model, "0", [1], fill=[[0.0]]):
            pass

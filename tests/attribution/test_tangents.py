"""Forward-mode tangents with the cheaper linear rules equal central finite differences."""
import pytest
import torch
import torch.autograd.forward_ad as forward_ad
from torch import nn

from retinacodec.attribution.tangents import forward_mode

# torch loads its own forward-mode decompositions with the deprecated torch.jit.script
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.script.*:FutureWarning")


def directional_derivative(model: nn.Module, x: torch.Tensor, direction: torch.Tensor) -> tuple:
    with torch.no_grad(), forward_ad.dual_level(), forward_mode(model):
        primal, tangent = forward_ad.unpack_dual(model(forward_ad.make_dual(x, direction)))
    return primal, tangent


def central_difference(model: nn.Module, x: torch.Tensor, direction: torch.Tensor, h: float = 1e-6):
    with torch.no_grad():
        return (model(x + h * direction) - model(x - h * direction)) / (2 * h)


def test_conv_batchnorm_linear_network():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), nn.BatchNorm2d(3), nn.Tanh(),
                        nn.Flatten(), nn.Linear(3 * 25, 4),
                        nn.BatchNorm1d(4)).double()
    with torch.no_grad():
        for bn in (net[1], net[5]):
            bn.running_mean.normal_(), bn.running_var.uniform_(0.5, 2.0), bn.weight.normal_(), bn.bias.normal_()
    net.eval()
    x, direction = torch.randn(3, 2, 5, 5, dtype=torch.float64), torch.randn(3, 2, 5, 5, dtype=torch.float64)
    primal, tangent = directional_derivative(net, x, direction)
    assert torch.allclose(primal, net(x))
    assert torch.allclose(tangent, central_difference(net, x, direction), rtol=1e-6, atol=1e-8)


def test_attention_runs_in_forward_mode_and_is_restored():
    torch.manual_seed(1)
    block = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0,
                                       batch_first=True).double().eval()
    x, direction = torch.randn(2, 5, 8, dtype=torch.float64), torch.randn(2, 5, 8, dtype=torch.float64)
    fast_path = torch.backends.mha.get_fastpath_enabled()
    _, tangent = directional_derivative(block, x, direction)
    assert torch.allclose(tangent, central_difference(block, x, direction), rtol=1e-6, atol=1e-8)
    assert torch.backends.mha.get_fastpath_enabled() == fast_path
    assert not any(module._forward_hooks or module._forward_pre_hooks for module in block.modules())

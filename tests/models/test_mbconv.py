"""EfficientNet-Lite's MBConv block rebuilt stage by stage, against the package's own block."""

import pytest
import torch
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

from retinacodec.errors import RetinaCodecError
from retinacodec.models.mbconv import MBConv


@pytest.fixture(scope="module")
def lite0_blocks():
    torch.manual_seed(0)
    return EfficientNet.from_name("efficientnet-lite0").eval()._blocks


@pytest.mark.parametrize("index", [0, 1, 2, 13])  # no expansion; stride 2; skip; a late block
def test_mbconv_equals_the_package_block(lite0_blocks, index):
    block = lite0_blocks[index]
    rebuilt = MBConv(block)
    x = torch.randn(2, block._block_args.input_filters, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(rebuilt(x), block(x))  # the same modules in the same order: bit for bit
    assert (rebuilt.expand is None) == (index == 0)
    assert rebuilt.skip == (index in (2, 13))


def test_post_relu6_stages_run_once_and_are_non_negative(lite0_blocks):
    rebuilt = MBConv(lite0_blocks[13])
    outputs = []
    for stage in (rebuilt.expand, rebuilt.depthwise):
        stage.register_forward_hook(lambda module, inputs, output: outputs.append(output))
    with torch.no_grad():
        rebuilt(torch.randn(2, 192, 7, 7, generator=torch.Generator().manual_seed(2)))
    assert len(outputs) == 2 and all(float(o.min()) >= 0 and float(o.max()) <= 6 for o in outputs)


def test_mbconv_refuses_other_blocks():
    with pytest.raises(RetinaCodecError, match="expected an EfficientNet-Lite MBConvBlock"):
        MBConv(nn.Conv2d(3, 3, 1))

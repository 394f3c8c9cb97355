"""Shared gradient utilities: the model output of a capture."""

import pytest
import torch

from retinacodec.attribution.gradients import full_output
from retinacodec.errors import RetinaCodecError
from retinacodec.models.adapter import adapt


def test_full_output_is_the_model_output_of_a_full_pass(smooth_convnet, images):
    adapted = adapt(smooth_convnet)
    with torch.no_grad():
        output = full_output(adapted.capture(images, "2"))
        torch.testing.assert_close(output, smooth_convnet(images), rtol=0, atol=0)


def test_full_output_refuses_a_capture_that_stopped_at_its_layer(smooth_convnet, images):
    with torch.no_grad():
        stopped = adapt(smooth_convnet).capture(images, "2", stop=True)
    with pytest.raises(RetinaCodecError, match="stopped at its layer; expected the capture of a full forward pass"):
        full_output(stopped)

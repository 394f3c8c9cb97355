"""The Figure-6 cost benchmark: its record holds the per-image costs and the estimate made from them."""

from __future__ import annotations

import json

import pytest

from retinacodec.bench import figure6


@pytest.mark.slow
def test_the_estimate_is_made_from_the_measured_costs(tmp_path):
    path = tmp_path / "figure6.json"
    assert figure6.main(["--images", "1", "--steps", "1", "--repeats", "1", "--record", str(path)]) == 0
    record = json.loads(path.read_text())
    figures = record["figures"]
    ig, forward = figures["contributions_s_per_image"], figures["forward_s_per_image"]
    assert 0 < forward < ig  # a gradient pass at 8 layers costs more than a forward pass
    expected = (figure6.N_IMAGES * (ig + forward) + figure6.N_CONTROL_FORWARDS * forward) / 3600
    assert figures["estimate_hours"] == pytest.approx(expected)
    assert figures["layers"] == list(figure6.LAYERS) and figure6.N_CONTROL_FORWARDS == 172_800
    assert len(record["rows"]) == 2 and record["rows"][1]["ours"] == f"{expected:.1f} h"
    assert record["command"] == "python -m retinacodec.bench figure6 --images 1 --steps 1 --repeats 1"

"""The codec replication benchmark: pair counts of the full run, the estimate's arithmetic, the
proposal's order of reductions, and a record from figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from retinacodec.bench import codec
from retinacodec.models.adapter import adapt


def test_full_run_pairs_and_their_distinct_ones():
    labels = np.repeat(np.arange(10), 50)  # imagenette's held-out images: 50 per class
    narrow = codec.full_pairs(labels, ["block1", "head"], "block1", 16)
    assert narrow["pairs"] == 3 * 2 * 9 * 20 * 2 * 10  # selections, interventions, pcts, trials, roles, images
    assert narrow["distinct_pairs"] < 0.7 * narrow["pairs"]  # 1, 2 and 5 % of 16 channels are none: shared masks
    wide = codec.full_pairs(labels, ["block1", "head"], "head", 1280)
    assert narrow["distinct_pairs"] < wide["distinct_pairs"] < wide["pairs"]
    assert wide["images"] <= labels.size


def _figures(sae_today: float = 1.0) -> dict:
    layer = {
        "channels": 100,
        "pair_s": 0.01,
        "previous_pair_s": 0.02,
        "capture_s": 0.1,
        "pairs": 1000,
        "distinct_pairs": 800,
        "images": 50,
        "sae_epoch_s_codec": 0.5,
        "sae_epoch_s_today": sae_today,
    }
    reference = {"two_threads": 0.03, "workers": 0.015, "one_thread": 0.06, "one_thread_cpu": 0.03}
    layers = ["block1", "block4", "block7", "block10", "block13", "block16", "block14_depthwise", "head"]
    return {
        "reference": [reference, reference],
        "forward_s": 0.02,
        "contribution_s_activation_trapezoid": 0.3,
        "contribution_s_gausslegendre": 0.25,
        "layers": {name: dict(layer) for name in layers},
    }


def test_estimate_adds_the_steps_by_hand():
    figures = _figures()
    sizes = dict(codec.DEFAULT_SIZES)
    result = codec.estimate(figures, ["block1"], sizes)
    once = 500 * 0.02 + 2000 * 0.3
    sae = 2 * 300 * 0.5
    control = 800 * 0.01 + 50 * 0.1
    assert result["codec"]["once"] == pytest.approx(once)
    assert result["codec"]["total"] == pytest.approx(once + sae + control)
    today_pairs = 10 * 2 * 8 * 2 * (50 + 45) + 3 * 8 * 2 * 200
    today = result["today"]["per_layer"]["block1"]
    assert today["control"] == pytest.approx(today_pairs * 0.02 + 50 * 0.1)
    assert today["sae"] == pytest.approx(2 * 3 * 200 * 1.0)
    slow = codec.slowdowns(figures)
    assert slow == pytest.approx({"two_threads": 2.0, "workers": 1.0, "one_thread": 2.0})
    busy = {**figures, "reference": [*figures["reference"], {**figures["reference"][0], "workers": 0.045}]}
    assert codec.slowdowns(busy)["workers"] == pytest.approx((0.015 + 0.015 + 0.045) / 3 / 0.015)
    quiet = codec.estimate(figures, ["block1"], sizes, slow)
    assert quiet["codec"]["per_layer"]["block1"]["sae"] == pytest.approx(sae / 2)  # one-thread fits
    assert quiet["codec"]["once"] == pytest.approx(once / 2)


def test_proposal_reduces_todays_sizes_then_drops_middle_blocks():
    figures = _figures(sae_today=2.0)
    layers = list(figures["layers"])
    slow = codec.slowdowns(figures)
    roomy = codec.propose(figures, layers, 1e9, slow)
    assert roomy["layers"] == layers and roomy["sizes"] == codec.DEFAULT_SIZES and roomy["fits"]
    tight = codec.propose(figures, layers, 60 * 60, slow)
    assert tight["sizes"]["today_stability_fits"] == 0 and tight["sizes"]["today_sae_epochs"] <= 100
    assert len(tight["layers"]) == 6 and {"block1", "block16", "head"} <= set(tight["layers"])
    assert tight["quiet_s"] > codec.MARGIN * 3600 and not tight["fits"]  # too small a budget, said so


def test_record_from_figures(tmp_path, capsys):
    source = tmp_path / "measured.json"
    measured = {"command": "python -m retinacodec.bench codec --images v --fit-images f", "date": "2026-01-02"}
    measured.update(seconds=300.0, load_average_before=1.5, load_average_after=2.5)
    source.write_text(json.dumps({"figures": _figures(), **measured}))
    out = tmp_path / "codec.json"
    assert codec.main(["--figures", str(source), "--budget-min", "300", "--record", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["bench"] == "codec" and len(record["rows"]) == 3
    assert {k: record[k] for k in measured} == measured  # the measuring run's, not this one's
    assert record["figures"]["proposal"]["fits"] and "proposal" in capsys.readouterr().out


def test_control_cost_on_a_small_network():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    images = torch.randn(6, 3, 8, 8)
    cost = codec.control_cost(adapt(model.eval()), images, np.array([0, 1, 2, 0, 1, 2]), "1", repeats=1)
    assert cost["channels"] == 8
    assert cost["pair_s"] >= 0 and cost["previous_pair_s"] > 0 and cost["capture_s"] > 0

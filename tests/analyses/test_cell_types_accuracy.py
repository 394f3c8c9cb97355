"""analyses/cell_types_accuracy.py: Wilson intervals, per-type shares and the page (on made-up rows)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "analyses" / "cell_types_accuracy.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("cell_types_accuracy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wilson_interval_matches_a_hand_computation(study):
    low, high = study.wilson(8, 10)  # p = 0.8, n = 10, z = 1.96: (0.490, 0.943)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert study.wilson(0, 5)[0] == pytest.approx(0.0, abs=1e-12) and study.wilson(5, 5)[1] == pytest.approx(1.0)


def test_oms_counts_as_correct_when_typed_a_fast_off_cell(study):
    cells = [("oms", "off_transient", 9.0, 0.6), ("oms", "off", 7.0, 0.4), ("on", "on", 5.0, 0.2)]
    rows = [
        {"stimulus": "spatial", "minutes": 5, "true": true, "label": label, "peak_z": z, "biphasic_index": index}
        for true, label, z, index in cells
    ]
    table = {(r["stimulus"], r["minutes"], r["true_type"]): r for r in study.summarise(rows)}
    oms = table[("spatial", 5, "oms")]
    assert (oms["correct"], oms["cells"], oms["share"]) == (1, 2, 0.5)
    assert oms["labels"]["off"] == 1 and table[("spatial", 5, "on")]["share"] == 1.0
    assert table[("full-field", 20, "on")]["cells"] == 0
    record = {"rules_commit": "abc", "seeds": [1], "accuracy": study.summarise(rows), "machine": "m"}
    record["typing_seconds"] = {"spatial 5 min": 2.0}
    assert "| spatial | 5 | oms | 1/2 | 0.50 [0.09, 0.91] | off 1, off_transient 1 | 8.0 | 0.50 |" in study.page(record)

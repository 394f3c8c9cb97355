"""The completeness benchmark on one real image: its table, record and the exact head."""

import json
from pathlib import Path

import pytest

from retinacodec.bench import completeness

SHARED = Path(__file__).resolve().parents[3] / "shared" / "imagenette"
pytestmark = pytest.mark.skipif(not (SHARED / "fit").is_dir(), reason="shared imagenette images not present")


@pytest.mark.slow
def test_one_image_one_rule_gives_every_layer_s_errors_and_a_row(tmp_path, capsys):
    argv = ["--folder", str(SHARED / "fit"), "--images", "1", "--nodes", "1", "--methods", "activation_trapezoid"]
    assert completeness.main([*argv, "--threads", "1", "--record", str(tmp_path / "c.json")]) == 0
    record = json.loads((tmp_path / "c.json").read_text())
    assert list(record["figures"]["layers"]) == [*(f"block{k}" for k in (1, 3, 5, 7, 10, 12, 14, 16)), "head"]
    measured = record["figures"]["table"]["activation_trapezoid"]["1"]
    assert measured["seconds_per_image"] > 0
    # the head feeds pooling and the linear classifier: the trapezoid in its activation is exact
    assert measured["layers"]["head"]["median"] < 1e-4
    assert measured["layers"]["block1"]["median"] > 1e-2  # one step is far from complete below
    (row,) = record["rows"]
    assert "activation_trapezoid at 1 nodes" in row["benchmark"] and row["ours"].startswith("1 nodes does not reach")
    assert row["reference"] == ""  # the reference's 10 steps were not run
    assert "block16" in capsys.readouterr().out

"""Benchmark records (``--record``) and the benchmarks page generated from them
(``analyses/results_benchmarks.py``)."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from retinacodec.bench import virtual_retina
from retinacodec.errors import RetinaCodecError
from retinacodec.io.markdown import section_markers

SCRIPT = Path(__file__).resolve().parents[2] / "analyses" / "results_benchmarks.py"
_spec = importlib.util.spec_from_file_location("results_benchmarks", SCRIPT)
results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(results)
BEGIN, END = section_markers(results.SECTION)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A real, tiny virtual_retina benchmark run written with ``--record``."""
    folder = tmp_path_factory.mktemp("records")
    assert virtual_retina.main(["--frames", "200", "--threads", "1", "--record", str(folder / "vr.json")]) == 0
    return folder


def test_a_recorded_run_holds_its_rows_figures_and_conditions(recorded):
    record = json.loads((recorded / "vr.json").read_text())
    assert record["bench"] == "virtual_retina" and record["cpus"] >= 1
    assert record["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and record["torch"] == torch.__version__
    assert record["command"] == "python -m retinacodec.bench virtual_retina --frames 200 --threads 1"
    (row,) = record["rows"]
    wall = record["figures"]["wall_s"]
    assert row["ratio"] == f"{wall['scipy'] / wall['torch']:.1f}x faster"  # the row is the figures, formatted
    assert row["ours"] == f"torch path {wall['torch']:.2f} s"
    assert record["load_average_before"] >= 0 and record["seconds"] > 0


def test_the_page_table_is_rewritten_from_the_records_and_nothing_else(recorded, tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text(f"# title\nkept above\n{BEGIN}\n| stale | 9.9x |\n{END}\nkept below\n")
    assert results.main(["--records", str(recorded), "--page", str(page)]) == 0
    text = page.read_text()
    record = json.loads((recorded / "vr.json").read_text())
    assert text.startswith("# title\nkept above\n") and text.endswith(f"{END}\nkept below\n")
    assert "9.9x" not in text and record["rows"][0]["ratio"] in text and record["command"] in text
    assert f"| {record['date']}, {record['load_average_before']:.1f} / " in text


def test_only_keeps_the_named_benchmarks_records(recorded, tmp_path, capsys):
    page = tmp_path / "scaling.md"
    page.write_text(f"{BEGIN}\n{END}\n")
    assert results.main(["--records", str(recorded), "--page", str(page), "--only", "virtual_retina"]) == 0
    assert "`virtual_retina`:" in page.read_text()
    assert results.main(["--records", str(recorded), "--page", str(page), "--only", "parallel"]) == 2
    assert "no record of benchmark parallel; the records are of virtual_retina" in capsys.readouterr().err
    assert "`virtual_retina`:" in page.read_text()  # left as it was


def test_bad_records_and_pages_get_one_clear_error(recorded, tmp_path, capsys):
    page = tmp_path / "benchmarks.md"
    page.write_text("no markers\n")
    assert results.main(["--records", str(recorded), "--page", str(page)]) == 2
    assert "does not hold the markers" in capsys.readouterr().err and page.read_text() == "no markers\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RetinaCodecError, match="no benchmark records"):
        results.read_records(empty)
    (empty / "broken.json").write_text('{"bench": "sae"}')
    with pytest.raises(RetinaCodecError, match="is not a benchmark record"):
        results.read_records(empty)


def test_the_sae_records_planted_problems_get_one_row_each():
    def fit(recovery, l0, to_goal_s, fit_s=5.0):
        return {"recovery": recovery, "l0": l0, "to_goal_s": to_goal_s, "fit_s": fit_s}

    problem = {
        "sae": [fit(0.99, 3.0, 0.2), fit(0.97, 4.0, 0.6, fit_s=3.0)],
        "sklearn": {"recovery": 0.9, "l0": 3.5, "to_goal_s": 2.0, "fit_s": 4.0},
        "nmf": {"recovery": 0.5},
    }
    record = {"bench": "sae", "figures": {"problems": {"12/24 k3 s.01": problem}}}
    text = results.sae_problems(record)
    assert "(2 SAE seed(s) each;" in text
    assert text.endswith(
        "| 12/24 k3 s.01 | 0.9800 (0.9700-0.9900) | 3.5 | 0.9000 | 3.5 | 0.5000 | 0.10-0.30 | 0.75-1.25 |"
    )
    # without NMF (the ImageNet-shape problem) and beside a second job
    loaded = {"bench": "sae", "figures": {"problems": {"big": problem | {"nmf": None}}, "second_job": True}}
    assert "each, beside a second job;" in results.sae_problems(loaded)
    assert "| 3.5 | — | 0.10-0.30 |" in results.sae_problems(loaded)
    run = {"rows": [], "date": "d", "load_average_before": 1.0, "load_average_after": 2.0, "cpus": 2}
    run |= {"command": "python -m retinacodec.bench sae", "seconds": 1.0}
    assert text in results.bench_section([record | run])
    assert "12/24" not in results.bench_section([run | {"bench": "parallel"}])  # only with the sae record


def test_the_recording_runs_record_has_one_row_per_white_noise_run_from_its_summary(tmp_path):
    from retinacodec.bench.recording import runs_record, summary_table

    def run(minutes, seconds, cnn):
        return {
            "kind": "white_noise",
            "minutes": minutes,
            "threads": 2,
            "epochs": 6,
            "best_epoch": 3,
            "train_seconds": seconds,
            "train_over_recording": seconds / (60 * minutes),
            "cnn_natural_jitter_r": cnn,
            "cnn_natural_jitter_r_interval": [cnn - 0.1, cnn + 0.1],
            "ln_natural_jitter_r": 0.5,
            "gap_natural_jitter_r": cnn - 0.5,
            "cnn_better_natural_jitter_cells": 3,
            "cnn_natural_jitter_r_per_cell": [cnn] * 4,
            "cnn_white_noise_r": 0.6,
            "ln_white_noise_r": 0.55,
            "load_average_before": [1.5, 1, 1],
            "load_average_after": [2.5, 1, 1],
        }

    for minutes, seconds, cnn in ((20, 900.0, 0.64), (5, 300.0, 0.24)):
        (tmp_path / f"white_noise_{minutes}min").mkdir()
        (tmp_path / f"white_noise_{minutes}min" / "summary.json").write_text(json.dumps(run(minutes, seconds, cnn)))
    record = runs_record(tmp_path, [])
    assert [row["ratio"] for row in record.rows] == ["1.00x its length", "0.75x its length"]  # sorted by length
    assert "CNN r on fresh natural jitter 0.640 [0.540, 0.740]" in record.rows[1]["ours"]
    assert record.measured["load_average_before"] == 1.5 and record.measured["seconds"] == 1200.0
    written = json.loads(record.write(tmp_path / "r.json").read_text())
    assert written["command"] == "python -m retinacodec.bench recording --minutes 5 / 20 (one run each)"
    assert (
        "| 20 min white noise, 2 threads | 6 (3) | 900 s (0.75 x its length) | 0.640 [0.540, 0.740]"
        in summary_table(tmp_path)
    )


def test_speed_ratios_say_faster_slower_or_equal():
    from retinacodec.bench._record import speed_ratio

    assert speed_ratio(6.2, 1.0) == "6.2x faster" and speed_ratio(1.0, 1.3) == "1.3x slower"
    assert speed_ratio(1.25, 1.30) == "0.96x (equal within 5 %)"


def test_a_recording_record_without_runs_is_one_clear_error(tmp_path, capsys):
    from retinacodec.bench import recording

    with pytest.raises(RetinaCodecError, match="no white-noise bench runs"):
        recording.runs_record(tmp_path, [])
    argv = ["--out", str(tmp_path), "--table", str(tmp_path / "t.md"), "--record", str(tmp_path / "r.json")]
    assert recording.main(argv) == 2
    assert "no white-noise bench runs" in capsys.readouterr().err and not (tmp_path / "r.json").exists()


def test_the_resnet_cost_is_recorded_against_a_forward_pass_of_the_same_images():
    from retinacodec.bench._record import Record
    from retinacodec.bench.parallel import _resnet_cost

    record = Record("parallel", ["--resnet-images", "1"])
    _resnet_cost(1, "layer4", 2, record)
    cost = record.figures["resnet50"]
    assert cost["layer"] == "layer4" and cost["n_steps"] == 2 and cost["images"] == 1
    assert cost["contributions_s_per_image"] > cost["forward_s_per_image"] > 0  # IG runs forward passes and more
    (row,) = record.rows
    assert row["ours"] == f"{cost['contributions_s_per_image']:.2f} s per image"
    assert row["ratio"] == f"{cost['contributions_s_per_image'] / cost['forward_s_per_image']:.0f} forward passes' time"

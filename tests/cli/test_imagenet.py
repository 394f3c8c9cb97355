"""``retinacodec imagenet --fit-images``: the control analysis's flags reach its settings."""

from __future__ import annotations

import pytest

from retinacodec.cli import main
from retinacodec.pipelines.imagenet.control import run as control_run


@pytest.mark.parametrize("ablation", ["zero", "mean", None])
def test_ablation_flag_reaches_the_control_settings(monkeypatch, tmp_path, ablation):
    seen = {}

    def fake_run_control(images, fit_images, output_dir, *, settings, **options):
        seen["settings"] = settings
        (tmp_path / "summary.json").write_text('{"per_layer": {}}')  # the CLI prints its completeness lines
        return tmp_path / "report.md"

    monkeypatch.setattr(control_run, "run_control", fake_run_control)
    flag = [] if ablation is None else ["--ablation", ablation]
    assert main(["imagenet", "--images", "a", "--fit-images", "b", *flag, "-o", str(tmp_path / "run")]) == 0
    assert seen["settings"].ablation == (ablation or "zero")


def test_an_unknown_ablation_is_refused(capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(["imagenet", "--images", "a", "--fit-images", "b", "--ablation", "half", "-o", str(tmp_path / "run")])
    assert stop.value.code == 2 and "invalid choice: 'half'" in capsys.readouterr().err

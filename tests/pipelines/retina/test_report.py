"""The demo's report: written from a summary and the step results alone, its numbers those of the
summary."""

import dataclasses
import json
import re

from retinacodec.pipelines.retina import DemoSettings
from retinacodec.pipelines.retina.report import by_kind_text, kinds_text, report
from retinacodec.pipelines.retina.summary import DemoSummary, KindRecovery

FAST = DemoSettings.fast()


def _report(finished, results, summary: DemoSummary) -> str:
    """The report of the finished run from ``summary`` and its step results, with the run's own seconds."""
    manifest = json.loads((finished / "manifest.json").read_text())
    written = (finished / "report.md").read_text()
    seconds = {step: record["seconds"] for step, record in manifest["steps"].items()}
    seconds["total (this run)"] = float(re.search(r"\| total \(this run\) \| (\d+) \|", written)[1])
    figures = {path.stem: path.name for path in sorted(finished.glob("*.png"))}
    return report(results, summary, figures, written.split("\n")[2], seconds, FAST.to_dict())


def test_the_report_is_written_again_from_the_summary_and_the_step_results(finished, results):
    written = (finished / "report.md").read_text()
    summary = DemoSummary.from_json((finished / "summary.json").read_text())
    assert _report(finished, results, summary) == written


def test_the_reports_numbers_are_the_summarys(finished, results):
    summary = DemoSummary.from_json((finished / "summary.json").read_text())
    tested = summary.virtual_retina
    changed = dataclasses.replace(
        summary,
        model_r=0.123,
        virtual_retina=dataclasses.replace(
            tested,
            contribution=dataclasses.replace(tested.contribution, recovery_score=0.5, recovery_ceiling_named=None),
        ),
    )
    text = _report(finished, results, changed)
    assert "| model correlation (mean Pearson r over cells, held-out) | 0.123 |" in text
    assert "| recovery score (virtual retina) | 0.50 |" in text
    assert "| the same hypotheses with the best set of their layer for their pathway (uses the outcomes) | n/a |" in (
        text
    )
    assert "Where the score is lost" not in text  # no named ceiling to compare the score with


def test_recovery_by_kind_reads_the_same_from_the_summary_and_from_its_json(finished):
    text = (finished / "summary.json").read_text()
    numbers, tested = json.loads(text), DemoSummary.from_json(text).virtual_retina
    assert kinds_text(numbers) == by_kind_text(tested.contribution.recovery_by_kind) != "n/a"
    assert kinds_text(numbers, "_activation") == by_kind_text(tested.activation.recovery_by_kind)
    kinds = {"whole set": KindRecovery(6, 0.75, 3), "inhibitory outputs": KindRecovery(1, None, 0)}
    assert by_kind_text(kinds) == "whole set 0.75 (6, 3 confirmed); inhibitory outputs n/a (1, 0 confirmed)"
    assert by_kind_text({}) == "n/a"

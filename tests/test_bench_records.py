"""Benchmark records (``--record``) and the README benchmark table generated from them."""
import json

import pytest

from retinacodec.bench import readme, virtual_retina
from retinacodec.errors import RetinaCodecError
from retinacodec.io.markdown import replace_section, section_markers

BEGIN, END = section_markers(readme.SECTION)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A real, tiny virtual_retina benchmark run written with ``--record``."""
    folder = tmp_path_factory.mktemp("records")
    assert virtual_retina.main(["--frames", "200", "--threads", "1", "--record", str(folder / "vr.json")]) == 0
    return folder


def test_a_recorded_run_holds_its_rows_figures_and_conditions(recorded):
    record = json.loads((recorded / "vr.json").read_text())
    assert record["bench"] == "virtual_retina" and record["cpus"] >= 1
    assert record["command"] == "python -m retinacodec.bench virtual_retina --frames 200 --threads 1"
    (row,) = record["rows"]
    wall = record["figures"]["wall_s"]
    assert row["ratio"] == f"{wall['scipy'] / wall['torch']:.1f}x faster"  # the row is the figures, formatted
    assert row["ours"] == f"torch path {wall['torch']:.2f} s"
    assert record["load_average_before"] >= 0 and record["seconds"] > 0


def test_the_readme_table_is_rewritten_from_the_records_and_nothing_else(recorded, tmp_path):
    page = tmp_path / "README.md"
    page.write_text(f"# title\nkept above\n{BEGIN}\n| stale | 9.9x |\n{END}\nkept below\n")
    assert readme.main(["--records", str(recorded), "--readme", str(page)]) == 0
    text = page.read_text()
    record = json.loads((recorded / "vr.json").read_text())
    assert text.startswith("# title\nkept above\n") and text.endswith(f"{END}\nkept below\n")
    assert "9.9x" not in text and record["rows"][0]["ratio"] in text and record["command"] in text
    assert f"| {record['date']}, {record['load_average_before']:.1f} / " in text


def test_bad_records_and_pages_get_one_clear_error(recorded, tmp_path, capsys):
    page = tmp_path / "README.md"
    page.write_text("no markers\n")
    assert readme.main(["--records", str(recorded), "--readme", str(page)]) == 2
    assert "does not hold the markers" in capsys.readouterr().err and page.read_text() == "no markers\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RetinaCodecError, match="no benchmark records"):
        readme.read_records(empty)
    (empty / "broken.json").write_text('{"bench": "sae"}')
    with pytest.raises(RetinaCodecError, match="is not a benchmark record"):
        readme.read_records(empty)


def test_a_section_is_replaced_between_its_markers_only(tmp_path):
    page = tmp_path / "page.md"
    begin, end = section_markers("demo")
    page.write_text(f"a\n{begin}\nold\n{end}\nb\n{section_markers('other')[0]}\n")
    replace_section(page, "demo", "\nnew\n\n")
    assert page.read_text() == f"a\n{begin}\nnew\n{end}\nb\n{section_markers('other')[0]}\n"
    page.write_text(f"{end}\n{begin}\n")
    with pytest.raises(RetinaCodecError, match="once each, in order"):
        replace_section(page, "demo", "x")
    with pytest.raises(RetinaCodecError, match="cannot read"):
        replace_section(tmp_path / "missing.md", "demo", "x")

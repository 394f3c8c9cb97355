"""Generated sections of a markdown file (retinacodec.io.markdown)."""

import pytest

from retinacodec.errors import RetinaCodecError
from retinacodec.io.markdown import replace_section, section_markers


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

"""Progress bars: drawn on a terminal, quiet in logs and when switched off."""

import io

from retinacodec._progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_draws_on_a_terminal_only_and_never_when_switched_off():
    terminal, log = Terminal(), io.StringIO()
    assert list(progress_bar(range(3), file=terminal, desc="work")) == [0, 1, 2]
    assert "work" in terminal.getvalue() and "3/3" in terminal.getvalue()
    assert list(progress_bar(range(3), file=log, desc="work")) == [0, 1, 2]
    assert log.getvalue() == ""  # off a TTY: no carriage-return frames in the log
    silenced = Terminal()
    assert sum(progress_bar(range(4), file=silenced, progress=False)) == 6
    assert silenced.getvalue() == ""

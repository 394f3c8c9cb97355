"""tests for retinacodec/errors.py: a script's user mistakes are one line and status 2."""

import pytest

from retinacodec.errors import RetinaCodecError, one_line_errors


def test_a_scripts_user_mistake_is_one_line_on_stderr_and_status_2_and_its_result_passes_through(capsys):
    @one_line_errors
    def main(argv=None):
        """The script's docstring."""
        if argv == ["bad"]:
            raise RetinaCodecError("--seeds is 'x'; expected integers")
        print("wrote it")
        return 3 if argv == ["unfinished"] else 0

    assert main(["bad"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "error: --seeds is 'x'; expected integers\n"
    assert main(["fine"]) == 0 and main(["unfinished"]) == 3
    assert capsys.readouterr().out == "wrote it\nwrote it\n"
    assert main.__doc__ == "The script's docstring." and main.__name__ == "main"


def test_a_programming_error_is_not_hidden():
    @one_line_errors
    def main(argv=None):
        raise KeyError("a bug, not a user's mistake")

    with pytest.raises(KeyError):
        main([])


def test_the_wrapped_command_line_takes_the_same_arguments_as_main(capsys):
    @one_line_errors
    def main(argv=("default",), *, dry_run=False):
        raise RetinaCodecError(f"argv {list(argv)}, dry run {dry_run}")

    assert main() == 2 and main(["given"], dry_run=True) == 2 and main(argv=["keyword"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: argv ['default'], dry run False",
        "error: argv ['given'], dry run True",
        "error: argv ['keyword'], dry run False",
    ]

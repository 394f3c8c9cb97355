"""The documentation site: the API reference covers every public name, the CLI page every subcommand."""

import ast
import contextlib
import importlib
import importlib.util
import inspect
import io
import pkgutil
import re
import shlex
from pathlib import Path

import pytest

import retinacodec
from retinacodec.cli import build_parser

DOCS = Path(__file__).resolve().parents[1] / "docs"
API = DOCS / "api"
DIRECTIVE = re.compile(r"^::: (\S+)$", re.M)


def _public_names() -> list[tuple[str, str]]:
    """(package, name) for every name in the ``__all__`` of retinacodec and of each subpackage."""
    walk = pkgutil.walk_packages(retinacodec.__path__, "retinacodec.")
    packages = ["retinacodec"] + [module.name for module in walk if module.ispkg]
    found = []
    for name in packages:
        module = importlib.import_module(name)
        found += [(name, public) for public in getattr(module, "__all__", ())]
    return found


def _resolve(path: str, obj=None, depth: int = 1):
    """The object a dotted path names: at each step the parent's attribute (a package's function) or
    else the submodule of that name (the module behind a function of the same name), whichever
    leads to the whole path."""
    parts = path.split(".")
    if obj is None:
        obj = importlib.import_module(parts[0])
    if depth == len(parts):
        return obj
    candidates = [getattr(obj, parts[depth])] if hasattr(obj, parts[depth]) else []
    try:
        candidates.append(importlib.import_module(".".join(parts[: depth + 1])))
    except ModuleNotFoundError:
        pass
    for candidate in candidates:
        try:
            return _resolve(path, candidate, depth + 1)
        except LookupError:
            continue
    raise LookupError(f"{path} names no object")


def _api_text() -> str:
    return "\n".join(page.read_text() for page in sorted(API.glob("*.md")))


def test_every_public_name_is_documented_in_the_api_reference():
    text = _api_text()
    documented = [_resolve(path) for path in DIRECTIVE.findall(text)]
    names = _public_names()
    assert len(names) > 100  # the walk found the subpackages
    undocumented = [
        f"{package}.{name}"
        for package, name in names
        if not any(getattr(importlib.import_module(package), name) is obj for obj in documented)
    ]
    assert not undocumented, f"no ::: directive in docs/api/ documents {undocumented}"
    unnamed = [f"{package}.{name}" for package, name in names if f"{package}.{name}" not in text]
    assert not unnamed, f"docs/api/ never names {unnamed} where users import them"


def test_every_api_directive_names_an_object():
    for path in DIRECTIVE.findall(_api_text()):
        _resolve(path)  # raises for a stale path
    with pytest.raises(LookupError):
        _resolve("retinacodec.models.no_such_name")


def _subcommands() -> list[str]:
    actions = [action for action in build_parser()._actions if hasattr(action, "choices") and action.choices]
    return list(actions[0].choices)


def test_the_cli_page_shows_every_subcommands_help():
    page = (DOCS / "cli.md").read_text()
    commands = _subcommands()
    assert "demo" in commands and "contributions" in commands
    missing = [command for command in commands if f"<!-- help: {command} -->" not in page]
    assert not missing, f"docs/cli.md has no help placeholder for {missing}"

    spec = importlib.util.spec_from_file_location("cli_help", DOCS / "hooks" / "cli_help.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    rendered = hook.on_page_markdown("a\n<!-- help: demo -->\nb\n<!-- help -->\n")
    assert "<!-- help" not in rendered
    assert "usage: retinacodec demo" in rendered and "--fast" in rendered
    assert "usage: retinacodec [-h] [--version] COMMAND" in rendered
    assert all(len(line) <= int(hook.WIDTH) for line in rendered.splitlines())


def test_sphinx_roles_become_code_spans_and_maths_is_typeset_in_the_api_reference():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("griffe_public", DOCS / "hooks" / "griffe_public.py")
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    text = "See :func:`generate`, :class:`~retinacodec.io.resumable.Workspace` and :mod:`.ig`."
    assert extension.ROLE.sub(extension._code, text) == "See `generate`, `Workspace` and `ig`."
    assert (
        extension.LITERAL_MARKER.sub(":", "means (sample i)::\n\n    R^2 = 1 - ...")
        == "means (sample i):\n\n    R^2 = 1 - ..."
    )
    notes = "With :math:`a_c` the activation,\n\n  .. math:: C = \\sum_c a_c\n           + b\n\nso on."
    assert extension._maths(notes) == (
        "With \\(a_c\\) the activation,\n\n  $$\n  C = \\sum_c a_c\n  + b\n  $$\n\nso on."
    )


PAGES = [DOCS.parent / "README.md", *sorted(DOCS.rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
CODE_SPAN = re.compile(r"`([^`]+)`")


def _documented_functions() -> dict[str, inspect.Signature]:
    """Signature of each function and settings class the examples call, by the name they call it by."""
    from retinacodec.attribution import AttributionOptions, contributions
    from retinacodec.control import (
        CurveSettings,
        classifier_control,
        classifier_control_curves,
        retina_control,
        retina_control_curves,
        target_rankings,
    )
    from retinacodec.hypotheses import HypothesisSettings, generate
    from retinacodec.models import VirtualRetina, train_nwb, train_recording
    from retinacodec.models.training import HeldOut
    from retinacodec.modes import SAE, fit_modes
    from retinacodec.parallel import Execution, run_chunked, run_contributions
    from retinacodec.pipelines.imagenet import run_control, run_imagenet
    from retinacodec.pipelines.retina import Placement
    from retinacodec.pipelines.retina.run import run_demo
    from retinacodec.receptive_fields import ModeSelection, contribution_maps, irf
    from retinacodec.stimuli import EyeMovements, natural_jitter

    functions = [
        AttributionOptions,
        contributions,
        CurveSettings,
        classifier_control,
        classifier_control_curves,
        retina_control,
        retina_control_curves,
        target_rankings,
        HypothesisSettings,
        generate,
        train_nwb,
        train_recording,
        HeldOut,
        SAE,
        fit_modes,
        Execution,
        run_chunked,
        run_contributions,
        run_control,
        run_imagenet,
        Placement,
        run_demo,
        ModeSelection,
        contribution_maps,
        irf,
        EyeMovements,
        natural_jitter,
    ]
    found = {function.__name__: inspect.signature(function) for function in functions}
    respond = inspect.signature(VirtualRetina.respond)
    found["respond"] = respond.replace(parameters=list(respond.parameters.values())[1:])  # without self
    return found


def _call_problems(code: str, signatures: dict[str, inspect.Signature]) -> list[str]:
    """Calls in ``code`` of the documented functions that their signatures refuse (an unknown
    keyword, too many positional arguments); ``...`` among the arguments stands for the others."""
    problems = []
    for node in ast.walk(ast.parse(code)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if name not in signatures:
            continue
        keywords = {keyword.arg: None for keyword in node.keywords if keyword.arg is not None}
        elided = any(isinstance(arg, ast.Constant) and arg.value is Ellipsis for arg in node.args)
        positional = [] if elided else [None] * len(node.args)
        try:
            signatures[name].bind_partial(*positional, **keywords)
        except TypeError as error:
            problems.append(f"{ast.unparse(node)}: {error}")
        if name == "run_contributions":  # its **kwargs are those of contributions
            given = set(keywords) - set(signatures[name].parameters)
            unknown = given - set(signatures["contributions"].parameters)
            problems += [f"{ast.unparse(node)}: contributions has no {key!r}" for key in sorted(unknown)]
    return problems


def _python_examples() -> list[tuple[str, str]]:
    """(where, code) of each Python block of the README and the docs, and each code span that parses
    as a Python expression (``rc.irf(..., modes=sae)``)."""
    found = []
    for page in PAGES:
        text = page.read_text()
        found += [(f"{page.name} block", body) for lang, body in FENCE.findall(text) if lang == "python"]
        for span in CODE_SPAN.findall(FENCE.sub("", text)):
            span = " ".join(span.split())
            try:
                ast.parse(span, mode="eval")
            except SyntaxError:
                continue
            found.append((f"{page.name} span", span))
    return found


def test_the_examples_of_the_readme_and_the_docs_call_the_api_as_it_is():
    signatures = _documented_functions()
    stale = 'rc.contributions(model, x, "amacrine", "top", split="sign"); generate(..., gain=2)'
    assert len(_call_problems(stale, signatures)) == 2  # the check sees keywords that moved
    assert not _call_problems("run_contributions(m, x, 'a', 'top', 'd', execution=e, n_steps=5)", signatures)
    assert _call_problems("run_contributions(m, x, 'a', 'top', 'd', workers=2)", signatures)

    examples = _python_examples()
    assert sum(where.endswith("block") for where, _ in examples) >= 15
    problems = []
    for where, code in examples:
        try:
            problems += [f"{where}: {problem}" for problem in _call_problems(code, signatures)]
        except SyntaxError as error:
            problems.append(f"{where}: does not parse ({error})")
    assert not problems, "\n".join(problems)


def _command_lines() -> list[list[str]]:
    """The arguments of each ``retinacodec`` command in the shell blocks of the README and the docs."""
    commands = []
    for page in PAGES:
        for lang, body in FENCE.findall(page.read_text()):
            if lang != "bash":
                continue
            for line in body.replace("\\\n", " ").splitlines():
                for command in line.split("&&"):
                    words = shlex.split(command, comments=True)
                    if words and Path(words[0]).name == "retinacodec":
                        commands.append(words[1:])
    return commands


def test_the_command_lines_of_the_readme_and_the_docs_parse():
    commands = _command_lines()
    assert ["demo", "-o", "demo_out"] in commands and len(commands) >= 10
    for arguments in commands:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                build_parser().parse_args(arguments)
            except SystemExit as exit_:
                assert exit_.code == 0, f"retinacodec {' '.join(arguments)}: {err.getvalue()}"

"""The documentation site: the API reference covers every public name, the CLI page every subcommand."""

import importlib
import importlib.util
import pkgutil
import re
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

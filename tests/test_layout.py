"""The package's layout rules (DESIGN.md), checked on its source: imports run one way, without
cycles, and functions stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "retinacodec"

RANKS = {
    **dict.fromkeys(
        ["errors", "_validation", "metrics", "device", "targets", "_progress", "_lazy", "_optional", "shipped"], 0
    ),
    "io": 1,  # knows files, never the classes it saves: every stage may read and write through it
    "stimuli": 2,
    "models": 3,
    "attribution": 4,
    "modes": 5,
    "receptive_fields": 6,
    "control": 6,
    "parallel": 6,
    "hypotheses": 7,
    "plots": 8,
    "pipelines": 9,
    "cli": 10,
    "bench": 10,
    "__main__": 10,
}
"""Each stage's place in the flow: a module may import its own stage and those of lower rank."""

MAX_CODE_LINES = 80
MAX_PARAMETERS = 10


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, tuple[Path, ast.Module]]:
    return {_module_name(p): (p, ast.parse(p.read_text())) for p in sorted(PACKAGE.rglob("*.py"))}


def _imported(module: str, path: Path, tree: ast.Module, known: set[str]) -> set[str]:
    """Modules of the package that ``module`` imports anywhere (inside functions too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                name = f"{target}.{alias.name}"
                found.add(name if name in known else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in known and name != module}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    sources = _sources()
    known = set(sources)
    return {name: _imported(name, path, tree, known) for name, (path, tree) in sources.items()}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_stage_has_a_rank(graph):
    unranked = {_stage(m) for m in graph} - set(RANKS) - {""}
    assert not unranked, f"stages without a rank in RANKS: {sorted(unranked)}"


def test_imports_run_one_way(graph):
    upward = [
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if _stage(module) and _stage(target) and RANKS[_stage(target)] > RANKS[_stage(module)]
    ]
    assert not upward, "imports up the stages:\n" + "\n".join(sorted(upward))


def test_no_import_cycles(graph):
    # a package's __init__ importing its own submodules is a parent-child edge, not a cycle
    edges = {m: {t for t in ts if not (m and t.startswith(m + "."))} for m, ts in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef, source_lines: list[str], docstrings: set[int]) -> int:
    """Lines of the body that hold code: the signature, docstring, comments and blank lines aside."""
    return sum(
        1
        for i in range(node.body[0].lineno, node.end_lineno + 1)
        if i not in docstrings and source_lines[i - 1].strip() and not source_lines[i - 1].strip().startswith("#")
    )


def test_functions_are_small():
    too_big = []
    for name, (path, tree) in _sources().items():
        lines = path.read_text().splitlines()
        docstrings = {
            i
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
            and isinstance(node.body[0].value.value, str)
            for i in range(node.body[0].lineno, node.body[0].end_lineno + 1)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = node.args
            n_parameters = len(args.posonlyargs + args.args + args.kwonlyargs) + bool(args.vararg) + bool(args.kwarg)
            n_parameters -= bool(args.args) and args.args[0].arg in ("self", "cls")
            n_code = _code_lines(node, lines, docstrings)
            if n_code > MAX_CODE_LINES or (n_parameters > MAX_PARAMETERS and node.name != "__init__"):
                too_big.append(f"{name}.{node.name}: {n_code} lines of code, {n_parameters} parameters")
    assert not too_big, f"functions over {MAX_CODE_LINES} lines of code or {MAX_PARAMETERS} parameters:\n" + "\n".join(
        too_big
    )

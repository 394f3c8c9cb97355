"""Griffe extension for the API reference: public names where users import them, docstrings in Markdown.

- A package that loads its names lazily (``retinacodec.models``, ``retinacodec.control``, ...; see
  ``retinacodec._lazy``) holds them in its ``__all__`` but not in its source, so static analysis does
  not see them. Each such name becomes an alias of the object it names, read from the package's
  ``lazy_getattr`` map, so that ``::: retinacodec.models.load`` documents
  ``retinacodec.models.registry.load``.
- Docstrings name other objects with Sphinx roles (``:func:`generate```); Markdown shows those as
  code spans. Their maths (``:math:`x``` and ``.. math::`` blocks) becomes ``\\(x\\)`` and ``$$``
  blocks, which the site typesets (``pymdownx.arithmatex`` and MathJax), and a literal block's
  ``text::`` becomes ``text:``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj|const):`(~?)\.?([^`]+)`")
"""A Sphinx cross-reference role; group 1 is ``~`` where only the last name is shown, group 2 the target."""


INLINE_MATH = re.compile(r":math:`([^`]+)`")
"""Inline maths; group 1 is the TeX."""
MATH_BLOCK = re.compile(r"^( *)\.\. math::[ ]*(.*)$")
"""The first line of a maths block; group 1 is its indent, group 2 the TeX on that line."""


def _maths(text: str) -> str:
    """``text`` with its maths in the site's notation: inline roles as ``\\(x\\)``, each block (the
    directive's line and the lines after it up to a blank line) between ``$$`` lines, after a blank
    line."""
    lines, out = text.splitlines(), []
    i = 0
    while i < len(lines):
        block = MATH_BLOCK.match(lines[i])
        if block is None:
            out.append(lines[i])
            i += 1
            continue
        indent, tex = block.group(1), [block.group(2)] if block.group(2) else []
        i += 1
        while i < len(lines) and lines[i].strip():
            tex.append(lines[i].strip())
            i += 1
        if out and out[-1].strip():
            out.append("")
        out += [f"{indent}$$", *(f"{indent}{line}" for line in tex), f"{indent}$$"]
    return INLINE_MATH.sub(lambda m: f"\\({m.group(1)}\\)", "\n".join(out))


LITERAL_MARKER = re.compile(r"(?<=\S)::$", re.M)
"""reStructuredText's ``text::`` before a literal block, which Markdown shows as ``text:``."""


def _code(role: re.Match) -> str:
    """The code span a Sphinx role shows."""
    target = role.group(2)
    return f"`{target.split('.')[-1] if role.group(1) else target}`"


def _lazy_names(module: griffe.Module) -> dict[str, str]:
    """Public name -> defining module, read from the module's ``lazy_getattr(__name__, NAMES, ...)``
    call (``NAMES`` a dict literal, or the name of one assigned in the module)."""
    tree = ast.parse(Path(str(module.filepath)).read_text())
    assigned = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_getattr" and len(node.args) > 1:
            names = node.args[1]
            return ast.literal_eval(assigned[names.id] if isinstance(names, ast.Name) else names)
    return {}


class PublicNames(griffe.Extension):
    """Aliases for lazily loaded public names; Sphinx roles as code spans and maths for MathJax."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for module in _modules(pkg):
            self._add_lazy_names(module)

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = LITERAL_MARKER.sub(":", _maths(ROLE.sub(_code, obj.docstring.value)))

    @staticmethod
    def _add_lazy_names(module: griffe.Module) -> None:
        if "__getattr__" not in module.members:
            return
        for name, source in _lazy_names(module).items():
            if name not in module.members:
                module.set_member(name, griffe.Alias(name, f"{source}.{name}", parent=module))


def _modules(package: griffe.Module) -> list[griffe.Module]:
    """The package and every module below it."""
    found = [package]
    for member in package.modules.values():
        if not member.is_alias:
            found += _modules(member)
    return found

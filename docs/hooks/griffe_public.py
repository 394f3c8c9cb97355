"""Griffe extension for the API reference: public names where users import them, Sphinx roles as code.

- A package that loads its names lazily (``retinacodec.models``, ``retinacodec.control``, ...; see
  ``retinacodec._lazy``) holds them in its ``__all__`` but not in its source, so static analysis does
  not see them. Each such name becomes an alias of the object it names, found by importing it, so that
  ``::: retinacodec.models.load`` documents ``retinacodec.models.registry.load``.
- Docstrings name other objects with Sphinx roles (``:func:`generate```); Markdown shows those as
  code spans.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj|const):`(~?)\.?([^`]+)`")
"""A Sphinx cross-reference role; group 1 is ``~`` where only the last name is shown, group 2 the target."""


def _code(role: re.Match) -> str:
    """The code span a Sphinx role shows."""
    target = role.group(2)
    return f"`{target.split('.')[-1] if role.group(1) else target}`"


def _defining_module(package: griffe.Module, name: str, value: Any) -> str | None:
    """Dotted name of the module that defines ``value`` (the public ``name`` of ``package``)."""
    if inspect.isfunction(value) or inspect.isclass(value):
        return value.__module__
    lazy = package.members.get("_ATTRIBUTES")
    if lazy is not None and not lazy.is_alias and lazy.value is not None:
        return ast.literal_eval(str(lazy.value)).get(name)
    return None


class PublicNames(griffe.Extension):
    """Aliases for lazily loaded public names, and Sphinx roles rewritten as code spans."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for module in _modules(pkg):
            self._add_lazy_names(module)

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_code, obj.docstring.value)

    @staticmethod
    def _add_lazy_names(module: griffe.Module) -> None:
        if "__getattr__" not in module.members:
            return
        runtime = importlib.import_module(module.path)
        for name in [name for name in getattr(runtime, "__all__", ()) if name not in module.members]:
            value = getattr(runtime, name)
            source = _defining_module(module, name, value)
            if source is not None:
                module.set_member(name, griffe.Alias(name, f"{source}.{name}", parent=module))


def _modules(package: griffe.Module) -> list[griffe.Module]:
    """The package and every module below it."""
    found = [package]
    for member in package.modules.values():
        if not member.is_alias:
            found += _modules(member)
    return found

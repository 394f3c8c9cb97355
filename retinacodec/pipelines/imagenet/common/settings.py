"""What the ImageNet analyses' settings share: their JSON-typed form."""

from __future__ import annotations

from typing import Any


def json_ready(value: Any) -> Any:
    """Tuples as lists, recursively (what JSON gives back)."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value

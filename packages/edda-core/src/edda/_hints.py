"""Type hints of user functions, resolved the same with or without ``from __future__ import annotations``."""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

__all__ = ["resolve_hints"]


def resolve_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Type hints of ``func``, resolved even under ``from __future__ import annotations``; unresolvable ones are
    dropped (treated as Any)."""
    try:
        return typing.get_type_hints(func)
    except Exception:
        hints = {}
        for name, annotation in getattr(func, "__annotations__", {}).items():
            if not isinstance(annotation, str):
                hints[name] = annotation
        return hints

"""The process-wide registry of compensation functions, looked up by key when a compensation runs after a restart.

(Workflows are registered in :mod:`edda._workflow`.)
"""

from __future__ import annotations

from typing import Any

_compensations: dict[str, Any] = {}


def compensation_key(func: Any) -> str:
    target = getattr(func, "func", func)  # an Activity wraps its function
    return f"{target.__module__}:{target.__qualname__}"


def register_compensation_function(func: Any) -> str:
    key = compensation_key(func)
    _compensations[key] = func
    return key


def get_compensation_function(key: str) -> Any | None:
    return _compensations.get(key)

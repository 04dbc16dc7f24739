"""Recording exceptions in history and rebuilding them on replay.

A recorded failure must replay as the same exception type the workflow saw the first time, so a workflow that caught
it behaves identically. The type is recorded by module and qualified name and re-imported on replay; the instance
is rebuilt without calling its ``__init__`` (whose signature we cannot know), with the recorded message as its args.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from edda.exceptions import RetryExhaustedError, TerminalError


def error_info(exc: BaseException) -> dict[str, Any]:
    cls = type(exc)
    return {
        "error_type": cls.__name__,
        "error_module": cls.__module__,
        "error_qualname": cls.__qualname__,
        "message": str(exc),
        "terminal": isinstance(exc, TerminalError),
    }


def _import_class(module: str, qualname: str) -> type[BaseException] | None:
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return obj
    return None


def rebuild_error(info: Mapping[str, Any]) -> BaseException:
    """The exception described by :func:`error_info` (falls back to ``TerminalError``/``RuntimeError`` when its
    class cannot be imported, e.g. it was defined inside a function)."""
    message = info.get("message", "")
    if info.get("error_type") == "RetryExhaustedError" and "retry_metadata" in info:
        meta = info["retry_metadata"]
        exc: BaseException = RetryExhaustedError(
            message,
            total_attempts=meta.get("total_attempts", 0),
            total_duration_ms=meta.get("total_duration_ms", 0),
            errors=meta.get("errors", []),
        )
        if info.get("cause"):
            exc.__cause__ = rebuild_error(info["cause"])
        return exc
    cls = _import_class(info.get("error_module", ""), info.get("error_qualname", ""))
    if cls is None:
        cls = TerminalError if info.get("terminal") else RuntimeError
        message = f"{info.get('error_type', 'Error')}: {message}"
    exc = cls.__new__(cls)
    exc.args = (message,)
    return exc

"""Calling user hooks safely: missing methods are skipped, exceptions are logged, never raised."""

from __future__ import annotations

import inspect
import logging
from typing import Any

logger = logging.getLogger("edda.hooks")


async def call_hook(hooks: Any, name: str, *args: Any) -> None:
    if hooks is None:
        return
    method = getattr(hooks, name, None)
    if method is None:
        return
    try:
        result = method(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("Hook %s.%s raised; ignored so the workflow is not affected", type(hooks).__name__, name)

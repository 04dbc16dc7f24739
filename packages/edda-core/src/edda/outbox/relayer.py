"""Seed-compatible import path: ``from edda.outbox.relayer import OutboxRelayer``.

The implementation lives in the ``edda-outbox`` package (``edda_outbox.OutboxRelayer``); this shim forwards to it.
"""

from __future__ import annotations

try:
    from edda_outbox import OutboxRelayer  # pyright: ignore[reportMissingImports]
except ModuleNotFoundError as exc:
    if exc.name != "edda_outbox":  # installed but broken (a dependency of its own is missing): say that instead
        raise
    raise ImportError(
        "OutboxRelayer lives in the edda-outbox package (the outbox relayer), which is not installed. "
        "Install it with: pip install edda-outbox"
    ) from exc

__all__ = ["OutboxRelayer"]

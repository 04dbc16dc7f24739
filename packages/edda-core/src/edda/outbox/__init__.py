"""Seed-compatible import path: ``from edda.outbox import send_event_transactional, OutboxRelayer``.

``OutboxOptions`` configures the relayer that ``EddaApp(outbox_enabled=True, outbox_options=...)`` runs.
``send_event_transactional`` is an alias of :func:`edda.send_event_transactional`. ``OutboxRelayer`` lives in the
``edda-outbox`` package (``edda_outbox.OutboxRelayer``) and is imported on first use, so ``import edda.outbox`` needs
only edda-core; without edda-outbox installed, asking for it raises an ``ImportError`` with the ``pip install`` line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edda._outbox import send_event_transactional
from edda._settings import OutboxOptions

if TYPE_CHECKING:
    from edda_outbox import OutboxRelayer as OutboxRelayer  # pyright: ignore[reportMissingImports]

__all__ = ["OutboxOptions", "send_event_transactional"]


def __getattr__(name: str) -> Any:
    if name == "OutboxRelayer":
        return importlib.import_module("edda.outbox.relayer").OutboxRelayer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Seed-compatible import path: ``from edda.outbox.transactional import send_event_transactional``.

An alias of :func:`edda.send_event_transactional` (canonical: ``from edda import send_event_transactional``).
"""

from __future__ import annotations

from edda._outbox import send_event_transactional

__all__ = ["send_event_transactional"]

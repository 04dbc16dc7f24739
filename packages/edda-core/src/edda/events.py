"""Seed-compatible import path: ``from edda.events import wait_event, send_event, ReceivedEvent`` (Edda 0.1).

Aliases of the names exported by :mod:`edda` (canonical: ``from edda import wait_event``); nothing is defined here.
"""

from __future__ import annotations

from edda._events import EventMetadata, ReceivedEvent, send_event, wait_event
from edda.exceptions import EventTimeoutError

__all__ = ["EventMetadata", "EventTimeoutError", "ReceivedEvent", "send_event", "wait_event"]

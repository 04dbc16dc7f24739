"""Injectable time and id sources.

Everything the engine asks of time (now, waiting) and of randomness (new ids) goes through a :class:`Clock` and an
:class:`IdSource`, so tests can skip time with :class:`edda.testing.FakeClock` and get predictable ids.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "IdSource", "SystemClock", "UuidIdSource", "uuid7"]


@runtime_checkable
class Clock(Protocol):
    """Source of the current time and of waiting."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a fake clock may return at once and advance itself)."""
        ...


@runtime_checkable
class IdSource(Protocol):
    """Source of new unique ids (instance ids, worker ids, event ids)."""

    def new_id(self) -> str:
        """A new unique id string."""
        ...


class SystemClock:
    """The real clock: ``datetime.now(UTC)`` and ``asyncio.sleep``."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): 48-bit millisecond timestamp, then random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


class UuidIdSource:
    """Time-ordered UUIDv7 strings, so ids sort roughly by creation time."""

    def new_id(self) -> str:
        return str(uuid7())

"""Helpers for testing code that uses Edda.

``FakeClock`` skips time (retry backoff, timers) and ``simulate_crash`` drops an app the way a killed process
would: its tasks stop and nothing more is written. The storage conformance kit is :mod:`edda.testing.storage`
(it needs pytest; this module does not).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["FakeClock", "SequentialIds", "simulate_crash"]


class FakeClock:
    """A clock that only moves when told to, or when something sleeps on it.

    ``sleep(s)`` advances the clock by ``s`` at once and records ``s`` in :attr:`sleeps`.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


class SequentialIds:
    """Predictable ids: ``prefix-1``, ``prefix-2``, ..."""

    def __init__(self, prefix: str = "id") -> None:
        self._prefix = prefix
        self._n = 0

    def new_id(self) -> str:
        self._n += 1
        return f"{self._prefix}-{self._n}"


async def simulate_crash(app: Any) -> None:
    """Stop ``app`` as if its process had been killed: every task it runs is cancelled and it writes nothing more.

    Leases it held stay in storage, exactly as a dead process leaves them; a storage the app opened itself (from
    ``db_url``) has its connections closed, as the OS would. (Tests of real process death use SIGKILL; this is the
    in-process approximation.)
    """
    await app._crash()

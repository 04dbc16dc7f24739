"""Calm failure handling for the worker's background loops: capped, jittered backoff and a rate-limited log.

A database that accepts reads but refuses writes (a read-only PostgreSQL after a failover, a full disk) makes every
recovery pass fail at once. Retrying at once spins (measured before this module: 5,564 ERROR tracebacks and 3.7
CPU-seconds in 5 s), and every retry's log line buries the one that matters. So a loop that failed waits
:class:`Backoff` (doubling up to a cap, each delay drawn between its half and its whole so that workers do not retry
in step), and logs through :class:`LogThrottle`: one line per distinct failure per interval, the next one saying how
many like it were not logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = [
    "AUTO_BATCH_MAX",
    "AUTO_BATCH_MIN",
    "Backoff",
    "LogThrottle",
    "PassPacer",
    "cpu_headroom_batch",
    "failure_key",
]

# max_workflows_per_batch="auto": a recovery pass claims between these many instances, by the backlog.
AUTO_BATCH_MIN, AUTO_BATCH_MAX = 10, 100


class Backoff:
    """Delays after consecutive failures: ``base`` seconds doubling up to ``cap``, jittered into ``[d / 2, d]``.

    Args:
        base: the first delay (before jitter).
        cap: the largest delay.
        rng: the source of jitter (a seeded ``random.Random`` in tests).
    """

    def __init__(self, base: float, cap: float, *, rng: random.Random | None = None) -> None:
        self.base = max(base, 0.001)
        self.cap = max(cap, self.base)
        self.failures = 0
        self._rng = rng or random.Random()

    def failed(self) -> float:
        """Count a failure; returns how long to wait before trying again."""
        self.failures += 1
        ceiling = min(self.cap, self.base * 2 ** min(self.failures - 1, 32))
        return self._rng.uniform(ceiling / 2, ceiling)

    def succeeded(self) -> int:
        """Reset after a success; returns how many failures came before it."""
        failures, self.failures = self.failures, 0
        return failures


def failure_key(site: str, exc: BaseException) -> tuple[str, str, str]:
    """What makes two failures "the same" for :class:`LogThrottle`: where, the exception type and its message."""
    return site, type(exc).__name__, str(exc)[:500]


class LogThrottle:
    """Logs each distinct failure at most once per ``interval`` seconds.

    The first occurrence of a key is logged at once; later ones inside the interval are counted, and the first line
    after the interval says how many were not logged.

    Args:
        logger: where the lines go.
        interval: seconds between two lines of the same key.
        monotonic: the time source (``time.monotonic``; only intervals are measured, never dates).
    """

    _MAX_KEYS = 512

    def __init__(
        self, logger: logging.Logger, interval: float = 60.0, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.interval = interval
        self._monotonic = monotonic
        self._seen: dict[tuple[str, ...], tuple[float, int]] = {}  # key -> (last logged at, suppressed since)

    def log(self, level: int, key: tuple[str, ...], message: str, *args: Any, exc_info: Any = None) -> bool:
        """Log ``message % args`` unless ``key`` was logged less than ``interval`` ago. Returns whether it was."""
        now = self._monotonic()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.interval:
            self._seen[key] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            message += f" ({last[1]} more like this in the last {self.interval:g} s were not logged)"
        if len(self._seen) >= self._MAX_KEYS:
            self._forget(now)
        self._seen[key] = (now, 0)
        self.logger.log(level, message, *args, exc_info=exc_info)
        return True

    def _forget(self, now: float) -> None:
        for key, (logged_at, _count) in list(self._seen.items()):
            if now - logged_at >= self.interval:
                del self._seen[key]
        while len(self._seen) >= self._MAX_KEYS:  # all recent: drop the oldest
            del self._seen[min(self._seen, key=lambda k: self._seen[k][0])]


class PassPacer:
    """The pace of a loop whose passes may fail: after a failure, one rate-limited log line and a :class:`Backoff`
    wait; after the first success, one line saying it recovered.

    Args:
        what: the loop's passes, for the log (``"Recovery pass"``).
        backoff: the waits after consecutive failures.
        log: the rate-limited log.
        unavailable: the exception type of an unreachable database, logged as a WARNING without a traceback (any
            other failure is an ERROR with its traceback).
        sleep: how to wait (``asyncio.sleep``).
    """

    def __init__(
        self,
        what: str,
        backoff: Backoff,
        log: LogThrottle,
        unavailable: type[BaseException],
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._what = what
        self.backoff = backoff
        self._log = log
        self._unavailable = unavailable
        self.sleep = sleep

    async def failed(self, exc: Exception) -> None:
        """Log ``exc`` (at most once per interval for the same failure) and wait before the next pass."""
        delay = self.backoff.failed()
        if isinstance(exc, self._unavailable):  # the database's state, not a bug: no traceback
            level, message, exc_info = logging.WARNING, f"{self._what} could not use the database", None
        else:
            level, message, exc_info = logging.ERROR, f"{self._what} failed", exc
        self._log.log(
            level, failure_key(self._what, exc), message + " (next in %.2f s): %s", delay, exc, exc_info=exc_info
        )
        await self.sleep(delay)

    def succeeded(self) -> None:
        """A pass worked: the next failure starts the backoff from the beginning."""
        failures = self.backoff.succeeded()
        if failures:
            self._log.logger.info("%s works again, after %d failed attempt(s)", self._what, failures)


def cpu_headroom_batch() -> int:
    """10 on a saturated machine, up to 100 on an idle one (stdlib only: the 1-minute load average per core)."""
    try:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:  # not available on this platform
        return AUTO_BATCH_MAX
    return int(AUTO_BATCH_MIN + (AUTO_BATCH_MAX - AUTO_BATCH_MIN) * max(0.0, 1.0 - load))

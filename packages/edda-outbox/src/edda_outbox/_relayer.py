"""The outbox relayer: claims committed outbox events and publishes them over HTTP, at least once, in order.

Rationale: delivery is driven by storage claims rather than by an in-memory queue, so any number of relayers
(processes, machines) can share one database, a crashed relayer's claims simply expire, and ordering is a property
of the claim (only the oldest pending event of an instance is claimable) instead of something each relayer must
coordinate. A batch therefore holds at most one event per instance and is sent concurrently.

Delivery is at-least-once: an attempt that timed out may have been processed by the receiver, and is sent again with
the same CloudEvent ``id``. Nothing is ever dropped silently: an event ends ``published``, ``failed`` (rejected by
the receiver, or out of the retries a user limited with ``max_retries``: ``last_error`` says why; it then holds back
its instance's later events until it is re-sent or skipped), ``expired`` (older than ``max_age_hours``) or
``skipped`` (by an operator). By default a transient failure is retried until it succeeds, with exponential backoff
capped at ``backoff_max`` and jittered so that relayers do not retry in step.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx

from edda.clock import Clock, SystemClock
from edda.exceptions import StorageUnavailableError
from edda.storage.records import OutboxEvent
from edda_outbox._encoding import encode_event
from edda_outbox._outcome import Outcome, classify_error, classify_response

__all__ = ["OutboxRelayer"]

logger = logging.getLogger("edda.outbox")


def _check_seconds(**values: float) -> None:
    for name, value in values.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def _check_counts(max_retries: int | None, batch_size: int, max_age_hours: float | None) -> None:
    if max_retries is not None and (
        not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0
    ):
        raise ValueError(f"max_retries must be an int >= 0 or None (retry until published), got {max_retries!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if max_age_hours is not None and (not isinstance(max_age_hours, int | float) or max_age_hours <= 0):
        raise ValueError(f"max_age_hours must be a positive number or None, got {max_age_hours!r}")


class OutboxRelayer:
    """Publishes the transactional outbox's events to ``broker_url`` as CloudEvents.

    ``EddaApp(outbox_enabled=True, broker_url=...)`` runs one for you; construct one yourself to relay from a
    separate process or with other options.

    Args:
        storage: the Edda storage holding the outbox (``app.storage``).
        broker_url: where events are POSTed (a Knative broker, an Edda app, any CloudEvents HTTP receiver).
        poll_interval: seconds between looks at the outbox when nothing wakes the relayer.
        max_retries: retries after the first attempt before a transiently failing event is marked ``failed``
            (so ``max_retries + 1`` attempts in all); ``None`` (default): retry until it is published.
        batch_size: events claimed (and sent concurrently) per pass.
        max_age_hours: events older than this are marked ``expired`` instead of sent (``None``: no limit).
        wake_event: an ``asyncio.Event`` set when outbox rows were committed (the app sets it right after the
            commit), so new events go out at once instead of at the next poll.
        worker_id: this relayer's claim owner id (default: a unique id).
        claim_seconds: how long a claim protects an event from other relayers; must exceed ``timeout``.
        backoff_base: seconds before the first retry; doubled for each further attempt.
        backoff_max: the longest wait between attempts (each wait is drawn between half and all of the doubled
            delay, so relayers that failed together do not retry together).
        timeout: seconds per HTTP request (connect, send and answer).
        client: an ``httpx.AsyncClient`` to send with (auth, proxies, TLS); the relayer does not close it.
        clock: time source (tests).
        hooks: lifecycle hooks (the app's): their ``on_outbox_delivery(event, outcome, error)``, if they have one, is
            called after each outcome is recorded (see :class:`edda.hooks.HooksBase`).

    Attributes:
        counts: outcomes recorded by this relayer since it was made: ``published``, ``retried`` (transient
            failures, each followed by a retry), ``failed`` and ``expired``; read them for metrics.
    """

    def __init__(
        self,
        storage: Any,
        broker_url: str,
        poll_interval: float = 1.0,
        max_retries: int | None = None,
        batch_size: int = 10,
        max_age_hours: float | None = None,
        wake_event: asyncio.Event | None = None,
        *,
        worker_id: str | None = None,
        claim_seconds: float = 30.0,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        hooks: Any = None,
    ) -> None:
        if not isinstance(broker_url, str) or not broker_url.startswith(("http://", "https://")):
            raise ValueError("broker_url must be an http:// or https:// URL (where events are POSTed)")
        _check_seconds(
            poll_interval=poll_interval,
            claim_seconds=claim_seconds,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            timeout=timeout,
        )
        _check_counts(max_retries, batch_size, max_age_hours)
        if claim_seconds <= timeout:
            raise ValueError(
                f"claim_seconds ({claim_seconds}) must exceed timeout ({timeout}): a claim must outlive the request, "
                f"or another relayer could send the same event meanwhile"
            )
        self.storage = storage
        self.broker_url = broker_url
        self.poll_interval = float(poll_interval)
        self.max_retries = max_retries
        self.batch_size = batch_size
        self.max_age = timedelta(hours=max_age_hours) if max_age_hours is not None else None
        self.worker_id = worker_id or f"outbox-{uuid.uuid4()}"
        self.claim_seconds = float(claim_seconds)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.timeout = float(timeout)
        self._wake = wake_event if wake_event is not None else asyncio.Event()
        self._client = client
        self._owns_client = client is None
        self._clock: Clock = clock or SystemClock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._next_due: datetime | None = None
        self._jitter = random.Random()
        self._quiet_until: datetime | None = None  # failed passes are not logged again before this
        self._suppressed = 0
        self.counts: dict[str, int] = {"published": 0, "retried": 0, "failed": 0, "expired": 0}
        self.hooks = hooks

    @property
    def running(self) -> bool:
        """Whether the background loop is running."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start relaying in a background task (idempotent)."""
        if self.running:
            return
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout, follow_redirects=False, headers={"user-agent": "edda-outbox"}
            )
            self._owns_client = True
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"edda-outbox-{self.worker_id}")

    async def stop(self) -> None:
        """Stop gracefully: the batch being sent is finished (and recorded), then the loop ends and the HTTP client
        is closed. Idempotent."""
        task = self._task
        if task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=self.timeout + 5)
            except TimeoutError:  # a storage call hung: give up on it; its claims expire and others resend
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._task = None
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _log_failed_pass(self, exc: Exception) -> None:
        """A failed pass (the database is down, say) is logged once a minute, not at every poll; only an error that
        is not the database being unavailable carries its traceback."""
        now = self._clock.now()
        if self._quiet_until is not None and now < self._quiet_until:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more failed passes not logged)" if self._suppressed else ""
        self._suppressed = 0
        self._quiet_until = now + timedelta(seconds=60)
        detail = not isinstance(exc, StorageUnavailableError)
        logger.error(
            "Relaying outbox events failed: %s: %s; trying again every %s s%s",
            type(exc).__name__, exc, self.poll_interval, more, exc_info=detail,
        )  # fmt: skip

    def wake(self) -> None:
        """Look at the outbox now instead of at the next poll."""
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                claimed = await self.relay_once()
                self._quiet_until = None
            except Exception as exc:
                self._log_failed_pass(exc)
                claimed = 0
            if claimed and not self._stopping:
                continue  # the next events of the same instances may be claimable now
            await self._sleep()

    async def _sleep(self) -> None:
        timeout = self.poll_interval
        if self._next_due is not None:
            timeout = min(timeout, max(0.0, (self._next_due - self._clock.now()).total_seconds()))
            self._next_due = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def relay_once(self) -> int:
        """Claim one batch of due events and send them; returns how many were claimed.

        The background loop calls this; call it directly to relay without starting the loop (the HTTP client is
        then created on first use and closed by :meth:`stop`).
        """
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout, follow_redirects=False, headers={"user-agent": "edda-outbox"}
            )
            self._owns_client = True
        now = self._clock.now()
        events: list[OutboxEvent] = await self.storage.claim_outbox(
            worker_id=self.worker_id,
            now=now,
            claim_expires_at=now + timedelta(seconds=self.claim_seconds),
            limit=self.batch_size,
        )
        if events:
            await asyncio.gather(*(self._relay(event) for event in events))
        return len(events)

    async def _relay(self, event: OutboxEvent) -> None:
        try:
            if self.max_age is not None and self._clock.now() - event.created_at > self.max_age:
                await self._finish(event, "expired", f"older than max_age_hours ({self.max_age})")
                return
            outcome = await self._send(event)
            if outcome.kind == "retry":
                await self._retry(event, outcome)
            else:
                # A published event keeps the error of its last failed attempt, if any (why it took several).
                await self._finish(event, outcome.kind, outcome.error or event.last_error)
        except Exception:  # the storage failed to record the outcome: the claim expires and the event is resent
            logger.exception("Recording the delivery of outbox event %s failed", event.event_id)

    async def _send(self, event: OutboxEvent) -> Outcome:
        try:
            headers, body = encode_event(event)
        except (TypeError, ValueError) as exc:
            return Outcome("failed", f"cannot encode the event: {exc}")
        assert self._client is not None
        try:
            response = await self._client.post(self.broker_url, headers=headers, content=body, timeout=self.timeout)
        except httpx.HTTPError as exc:
            return classify_error(exc)
        return classify_response(response, now=self._clock.now())

    async def _retry(self, event: OutboxEvent, outcome: Outcome) -> None:
        attempts = event.attempts + 1
        error = outcome.error or "transient failure"
        if self.max_retries is not None and attempts > self.max_retries:
            await self._finish(event, "failed", f"gave up after {attempts} attempts; last: {error}")
            return
        delay = self.delay_for(attempts)
        if outcome.retry_after is not None:
            delay = min(self.backoff_max, max(delay, outcome.retry_after))
        due = self._clock.now() + timedelta(seconds=delay)
        held = await self.storage.retry_outbox(
            event.event_id, worker_id=self.worker_id, error=error, next_attempt_at=due
        )
        if not held:
            logger.warning("Lost the claim of outbox event %s before recording a retry", event.event_id)
            return
        self.counts["retried"] += 1
        await self._notify(event, "retried", error)
        log = logger.info if attempts <= 3 else logger.debug  # an outage of hours must not flood the log
        log("Outbox event %s: %s; attempt %d, next in %.2f s", event.event_id, error, attempts, delay)
        if self._next_due is None or due < self._next_due:
            self._next_due = due

    async def _notify(self, event: OutboxEvent, outcome: str, error: str | None) -> None:
        """Tell the hooks (``on_outbox_delivery``) what became of an attempt; a hook that raises is logged only."""
        method = getattr(self.hooks, "on_outbox_delivery", None)
        if method is None:
            return
        try:
            result = method(event, outcome, error)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("Hook %s.on_outbox_delivery raised; ignored", type(self.hooks).__name__)

    def delay_for(self, attempts: int) -> float:
        """Seconds before the next attempt after ``attempts`` failed ones: ``backoff_base`` doubled per attempt,
        capped at ``backoff_max``, drawn between half and all of that."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** min(attempts - 1, 62))
        return self._jitter.uniform(ceiling / 2, ceiling)

    async def _finish(self, event: OutboxEvent, status: str, error: str | None) -> None:
        held = await self.storage.finish_outbox(
            event.event_id, worker_id=self.worker_id, status=status, now=self._clock.now(), error=error
        )
        if not held:
            logger.warning("Lost the claim of outbox event %s before recording it %s", event.event_id, status)
            return
        self.counts[status] += 1
        await self._notify(event, status, error)
        if status != "published":
            logger.warning("Outbox event %s (%s) is %s: %s", event.event_id, event.event_type, status, error)

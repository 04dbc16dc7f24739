"""Instance retention: finished instances and their history are deleted some days after they finished.

``EddaApp(instance_retention_days=N)`` (``None`` by default: keep everything). Every worker runs a pass from its
cleanup loop (at start, then hourly; idempotent, and concurrent passes skip each other's rows). A pass deletes in
batches of :data:`RETENTION_BATCH` instances, one transaction each, so no transaction holds locks or the SQLite writer
for long; it stops after :data:`MAX_BATCHES_PER_PASS` batches and leaves the rest of a backlog to the next pass.
What is deleted, and what is kept (instances with an outbox event still to send), is the storage's
:class:`~edda.storage.protocol.InstanceStore` retention contract. Channel messages are governed separately by
``message_retention_days``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from edda._settings import AppSettings
from edda.clock import Clock
from edda.storage.protocol import Storage

__all__ = ["MAX_BATCHES_PER_PASS", "RETENTION_BATCH", "delete_expired_instances", "retention_cutoff"]

logger = logging.getLogger("edda")

RETENTION_BATCH = 500
MAX_BATCHES_PER_PASS = 100


def retention_cutoff(now: datetime, days: float) -> datetime:
    """Instances that finished before this moment are past a retention period of ``days``."""
    return now - timedelta(days=days)


async def delete_expired_instances(
    storage: Storage,
    settings: AppSettings,
    clock: Clock,
    *,
    batch: int = RETENTION_BATCH,
    max_batches: int = MAX_BATCHES_PER_PASS,
) -> int:
    """One retention pass: delete instances finished more than ``settings.instance_retention_days`` ago, batch by
    batch. Returns how many were deleted. Never raises (a failure is logged; the next pass tries again), except
    ``CancelledError``."""
    days = settings.instance_retention_days
    if days is None:
        return 0
    cutoff = retention_cutoff(clock.now(), days)
    deleted = 0
    try:
        for _ in range(max_batches):
            count = await storage.delete_expired_instances(finished_before=cutoff, limit=batch)
            deleted += count
            if count < batch:
                break
            await asyncio.sleep(0)  # between transactions, let this worker's runs have the database
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        logger.warning(
            "Instance retention pass failed (it runs again within the hour): %s: %s", type(exc).__name__, exc
        )
    if deleted:
        logger.info("Deleted %d instance(s) that finished more than %s day(s) ago, with their history", deleted, days)
    return deleted

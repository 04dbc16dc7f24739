"""Storage backends and the registry that maps database URLs to them.

``EddaApp(db_url=...)`` resolves the URL's scheme (``sqlite``, ``postgresql+asyncpg`` -> ``postgresql``, ...) in this
order: :func:`register` calls made at runtime, the built-in ``memory`` backend, then the ``edda.storage`` entry-point
group (scanned once; only the requested entry point is loaded). A backend is a class (or callable) with
``from_url(url, **options)`` that does no I/O.
"""

from __future__ import annotations

from edda.storage._registry import available_schemes, open_storage, register, resolve_scheme
from edda.storage.memory import InMemoryStorage
from edda.storage.protocol import (
    ChannelStore,
    HistoryBatchReader,
    HistoryStore,
    InstanceStore,
    LeaseStore,
    OutboxStore,
    StepStore,
    Storage,
    Transaction,
    TransactionManager,
    WakeAnnouncer,
    WakeSource,
    WorkerRegistry,
)

__all__ = [
    "ChannelStore",
    "HistoryBatchReader",
    "HistoryStore",
    "InMemoryStorage",
    "InstanceStore",
    "LeaseStore",
    "OutboxStore",
    "StepStore",
    "Storage",
    "Transaction",
    "TransactionManager",
    "WakeAnnouncer",
    "WakeSource",
    "WorkerRegistry",
    "available_schemes",
    "open_storage",
    "register",
    "resolve_scheme",
]

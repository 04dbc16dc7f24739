"""Storage backends and the registry that maps database URLs to them.

``EddaApp(db_url=...)`` resolves the URL's scheme (``sqlite``, ``postgresql+asyncpg`` -> ``postgresql``, ...) in this
order: :func:`register` calls made at runtime, the built-in ``memory`` backend, then the ``edda.storage`` entry-point
group (scanned once; only the requested entry point is loaded). A backend is a class (or callable) with
``from_url(url, **options)`` that does no I/O.
"""

from __future__ import annotations

import importlib as _importlib
from typing import Any as _Any

from edda.storage._registry import available_schemes, open_storage, register, resolve_scheme
from edda.storage.memory import InMemoryStorage
from edda.storage.protocol import (
    ChannelStore,
    ClaimsByWorkflow,
    HistoryBatchReader,
    HistoryStore,
    InstanceBatchReader,
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

StorageProtocol = Storage  # 0.16's name of the storage interface (documented alias)

__all__ = [
    "ChannelStore",
    "ClaimsByWorkflow",
    "HistoryBatchReader",
    "InstanceBatchReader",
    "HistoryStore",
    "InMemoryStorage",
    "InstanceStore",
    "LeaseStore",
    "OutboxStore",
    "StepStore",
    "Storage",
    "StorageProtocol",
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


def __getattr__(name: str) -> _Any:
    """PEP 562: 0.16's ``edda.storage.SQLAlchemyStorage``, from the edda-storage-sql package, on first use."""
    if name == "SQLAlchemyStorage":
        return _importlib.import_module("edda.storage.sqlalchemy_storage").SQLAlchemyStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

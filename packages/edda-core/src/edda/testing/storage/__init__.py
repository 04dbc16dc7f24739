"""The storage conformance kit: the contract every Edda storage backend must meet.

The kit mirrors :mod:`edda.storage.protocol`: one mixin per role, in a module of its own, and
:class:`StorageConformance` combining them all. Subclass it in your backend's tests and provide an async ``storage``
fixture that yields an initialized, empty storage::

    import pytest
    from edda.testing.storage import StorageConformance

    class TestMyStorage(StorageConformance):
        @pytest.fixture
        async def storage(self):
            s = MyStorage.from_url("mydb://...")
            await s.initialize()
            yield s
            await s.close()

To check one role while you write it, subclass its mixin instead (same fixture), e.g.
``class TestMyLeases(LeaseStoreConformance)``:

========================================  ===================================================================
module                                    mixin (role checked)
========================================  ===================================================================
``edda.testing.storage.instances``        :class:`InstanceStoreConformance` (``InstanceStore``)
``edda.testing.storage.history``          :class:`HistoryStoreConformance` (``HistoryStore``)
``edda.testing.storage.steps``            :class:`StepStoreConformance` (``StepStore``: ``commit_step``)
``edda.testing.storage.leases``           :class:`LeaseStoreConformance` (``LeaseStore``)
``edda.testing.storage.channels``         :class:`ChannelStoreConformance` (``ChannelStore``)
``edda.testing.storage.workers``          :class:`WorkerRegistryConformance` (``WorkerRegistry``)
``edda.testing.storage.outbox``           :class:`OutboxStoreConformance` (``OutboxStore``)
``edda.testing.storage.retention``        :class:`InstanceRetentionConformance` (``InstanceStore``: retention)
``edda.testing.storage.transactions``     :class:`TransactionManagerConformance` (``TransactionManager``)
``edda.testing.storage.capabilities``     :class:`OptionalCapabilitiesConformance` (the optional protocols)
``edda.testing.storage.inputs``           :class:`InputConformance` (text refused, or kept exactly, on any database)
========================================  ===================================================================

Most tests use more than their own role (every test creates an instance; most commit a step), so a role's tests
pass once ``create_instance``, ``get_instance``, ``commit_step`` and ``get_history`` work. Tests that need a
capability the backend does not claim (``storage.capabilities``), or an optional protocol it does not implement
(``HistoryBatchReader``, ``WakeSource``, ``WakeAnnouncer``), are skipped with a message saying which.
Requires pytest and pytest-asyncio (``pip install "edda-core[testing]"``); pytest is imported only here.
"""

from __future__ import annotations

import pytest

# Before the mixins are imported: their asserts then show the values compared when a backend fails one.
pytest.register_assert_rewrite(
    *(
        f"edda.testing.storage.{name}"
        for name in (
            "_helpers",
            "capabilities",
            "channels",
            "history",
            "inputs",
            "instances",
            "leases",
            "outbox",
            "retention",
            "steps",
            "transactions",
            "workers",
        )
    )
)

from edda.testing.storage.capabilities import OptionalCapabilitiesConformance  # noqa: E402
from edda.testing.storage.channels import ChannelStoreConformance  # noqa: E402
from edda.testing.storage.history import HistoryStoreConformance  # noqa: E402
from edda.testing.storage.inputs import InputConformance  # noqa: E402
from edda.testing.storage.instances import InstanceStoreConformance  # noqa: E402
from edda.testing.storage.leases import LeaseStoreConformance  # noqa: E402
from edda.testing.storage.outbox import OutboxStoreConformance  # noqa: E402
from edda.testing.storage.retention import InstanceRetentionConformance  # noqa: E402
from edda.testing.storage.steps import StepStoreConformance  # noqa: E402
from edda.testing.storage.transactions import TransactionManagerConformance  # noqa: E402
from edda.testing.storage.workers import WorkerRegistryConformance  # noqa: E402

__all__ = [
    "ChannelStoreConformance",
    "HistoryStoreConformance",
    "InputConformance",
    "InstanceRetentionConformance",
    "InstanceStoreConformance",
    "LeaseStoreConformance",
    "OptionalCapabilitiesConformance",
    "OutboxStoreConformance",
    "StepStoreConformance",
    "StorageConformance",
    "TransactionManagerConformance",
    "WorkerRegistryConformance",
]


@pytest.mark.asyncio
class StorageConformance(
    InstanceStoreConformance,
    HistoryStoreConformance,
    StepStoreConformance,
    LeaseStoreConformance,
    ChannelStoreConformance,
    WorkerRegistryConformance,
    OutboxStoreConformance,
    InstanceRetentionConformance,
    TransactionManagerConformance,
    OptionalCapabilitiesConformance,
    InputConformance,
):
    """Contract tests for a storage backend: every role of :class:`edda.storage.protocol.Storage` and the optional
    capabilities. Subclasses provide the ``storage`` fixture."""

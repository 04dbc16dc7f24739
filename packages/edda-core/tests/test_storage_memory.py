"""The reference storage passes the conformance kit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from edda.storage.memory import InMemoryStorage
from edda.testing.storage import StorageConformance


class TestInMemoryStorage(StorageConformance):
    @pytest.fixture
    async def storage(self) -> AsyncIterator[InMemoryStorage]:
        s = InMemoryStorage.from_url("memory://")
        await s.initialize()
        yield s
        await s.close()


class TestInMemoryStorageWithSmallLimit(StorageConformance):
    """The same contract with a payload limit low enough to exercise the limit test."""

    @pytest.fixture
    async def storage(self) -> AsyncIterator[InMemoryStorage]:
        yield InMemoryStorage(max_payload_bytes=64 * 1024 * 1024)

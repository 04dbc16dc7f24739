"""The storage conformance kit of edda-core, on SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from edda.testing.storage import StorageConformance
from edda_storage_sql import SQLAlchemyStorage


class TestSQLiteConformance(StorageConformance):
    @pytest.fixture
    async def storage(self, sqlite_storage: SQLAlchemyStorage) -> AsyncIterator[SQLAlchemyStorage]:
        yield sqlite_storage


class TestSQLiteInMemoryConformance(StorageConformance):
    @pytest.fixture
    async def storage(self) -> AsyncIterator[SQLAlchemyStorage]:
        storage = SQLAlchemyStorage("sqlite://")
        await storage.initialize()
        yield storage
        await storage.close()


@pytest.mark.postgres
class TestPostgresConformance(StorageConformance):
    @pytest.fixture
    async def storage(self, postgres_storage: SQLAlchemyStorage) -> AsyncIterator[SQLAlchemyStorage]:
        yield postgres_storage


@pytest.mark.mysql
class TestMySQLConformance(StorageConformance):
    @pytest.fixture
    async def storage(self, mysql_storage: SQLAlchemyStorage) -> AsyncIterator[SQLAlchemyStorage]:
        yield mysql_storage

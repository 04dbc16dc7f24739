"""``find_instances`` input filters: exact JSON type semantics on every dialect, bound parameters only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from edda.exceptions import ConfigurationError
from edda.storage.records import InstanceQuery, NewInstance
from edda_storage_sql import SQLAlchemyStorage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS: dict[str, dict[str, Any]] = {
    "flag-true": {"flag": True, "n": 1},
    "flag-one": {"flag": 1, "n": 1.0},
    "float": {"n": 2.5, "name": "Ada"},
    "nested": {"a": {"b": {"c": "deep"}}, "name": "ada", "tags": ["x"], "none": None},
    "array": {"a": [{"b": 1}], "big": 12345678901234567},
}


async def _seed(storage: SQLAlchemyStorage) -> None:
    for i, (iid, data) in enumerate(ROWS.items()):
        await storage.create_instance(
            NewInstance(iid, "wf", data, "w", T0 + timedelta(seconds=i), T0 + timedelta(minutes=1))
        )


async def _ids(storage: SQLAlchemyStorage, *filters: tuple[str, Any]) -> set[str]:
    page = await storage.find_instances(InstanceQuery(input_filters=filters, limit=100))
    return {r.instance_id for r in page.instances}


async def test_type_exact_matching(any_storage: SQLAlchemyStorage) -> None:
    s = any_storage
    await _seed(s)
    assert await _ids(s, ("flag", True)) == {"flag-true"}  # a boolean matches only booleans
    assert await _ids(s, ("flag", 1)) == {"flag-one"}  # and 1 is not True
    assert await _ids(s, ("n", 1)) == {"flag-true", "flag-one"}  # 1 matches 1 and 1.0
    assert await _ids(s, ("n", 2.5)) == {"float"}
    assert await _ids(s, ("n", "1")) == set()
    assert await _ids(s, ("name", "ada")) == {"nested"}  # strings compare exactly (case-sensitive)
    assert await _ids(s, ("a.b.c", "deep")) == {"nested"}
    assert await _ids(s, ("a.0.b", 1)) == set()  # path parts are object keys, never array indexes
    assert await _ids(s, ("none", None)) == {"nested"}  # an explicit null, not a missing key
    assert await _ids(s, ("missing", None)) == set()
    assert await _ids(s, ("tags", "x")) == set()  # an array is not its element
    assert await _ids(s, ("big", 12345678901234567)) == {"array"}
    assert await _ids(s, ("big", 12345678901234568)) == set()
    assert await _ids(s, ("name", "Ada"), ("n", 2.5)) == {"float"}


@pytest.mark.parametrize(
    ("path", "value"),
    [("", 1), ("a..b", 1), ('a"b', 1), ("a\\b", 1), ("a", [1]), ("a", {"b": 1}), ("a", float("nan"))],
)
async def test_unsupported_filters_are_rejected_before_querying(path: str, value: Any) -> None:
    storage = SQLAlchemyStorage("sqlite://")
    await storage.initialize()
    with pytest.raises(ConfigurationError):
        await storage.find_instances(InstanceQuery(input_filters=((path, value),)))
    await storage.close()


async def test_substring_filters_and_paging(any_storage: SQLAlchemyStorage) -> None:
    s = any_storage
    await _seed(s)
    page = await s.find_instances(InstanceQuery(instance_id="FLAG", limit=1))
    assert [r.instance_id for r in page.instances] == ["flag-one"] and page.next_cursor is not None
    page = await s.find_instances(InstanceQuery(instance_id="FLAG", limit=1, cursor=page.next_cursor))
    assert [r.instance_id for r in page.instances] == ["flag-true"] and page.next_cursor is None

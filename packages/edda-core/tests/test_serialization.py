"""Storable values without pickle: JSON, bytes, pydantic by duck typing, dataclasses, enums."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Optional

import pytest

from edda.exceptions import InvalidInputError, SerializationError
from edda.serialization import from_storable, restore, to_storable


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Item:
    sku: str
    qty: int
    when: dt.datetime


def test_plain_values_and_containers() -> None:
    value = {"a": [1, 2.5, None, True], "b": {"c": "ü"}, "t": (1, 2)}
    assert to_storable(value) == {"a": [1, 2.5, None, True], "b": {"c": "ü"}, "t": [1, 2]}


def test_bytes_top_level_and_nested() -> None:
    assert to_storable(b"\x00\xff") == b"\x00\xff"
    nested = to_storable({"blob": b"\x01\x02"})
    assert isinstance(nested["blob"], dict)
    assert from_storable(nested) == {"blob": b"\x01\x02"}


def test_rich_types_round_trip_through_hints() -> None:
    when = dt.datetime(2026, 5, 1, 12, 30, tzinfo=dt.UTC)
    item = Item("X", 2, when)
    stored = to_storable({"item": item, "level": Level.HIGH, "id": uuid.UUID(int=5), "price": Decimal("1.10")})
    assert stored == {
        "item": {"sku": "X", "qty": 2, "when": when.isoformat()},
        "level": 2,
        "id": "00000000-0000-0000-0000-000000000005",
        "price": "1.10",
    }
    assert restore(stored["item"], Item) == item
    assert restore(stored["level"], Level) is Level.HIGH
    assert restore(stored["id"], uuid.UUID) == uuid.UUID(int=5)
    assert restore(stored["price"], Decimal) == Decimal("1.10")
    assert restore([stored["item"]], list[Item]) == [item]
    assert restore({"k": 2}, dict[str, Level]) == {"k": Level.HIGH}
    assert restore(None, Optional[int]) is None  # noqa: UP045
    assert restore(3, int | str) == 3
    assert restore("b", Literal["a", "b"]) == "b"
    assert restore([1, "x"], tuple[int, str]) == (1, "x")


def test_pydantic_models_are_duck_typed() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Order(pydantic.BaseModel):
        order_id: str
        placed: dt.datetime

    placed = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    stored = to_storable(Order(order_id="A", placed=placed))
    assert stored == {"order_id": "A", "placed": "2026-01-02T00:00:00Z"}
    assert restore(stored, Order) == Order(order_id="A", placed=placed)
    with pytest.raises(InvalidInputError, match="not a valid Order"):
        restore({"order_id": 1}, Order)


@pytest.mark.parametrize(
    "bad, message",
    [
        (object(), "value is a builtins.object"),
        ({1: "x"}, "has a key 1 of type int"),
        (float("nan"), "NaN or infinity"),
        ({"ok": [1, {"deep": object()}]}, r"value\['ok'\]\[1\]\['deep'\] is a builtins.object"),
    ],
)
def test_unstorable_values_name_the_path(bad: object, message: str) -> None:
    with pytest.raises(SerializationError, match=message):
        to_storable(bad)


def test_restore_mismatches_are_clear() -> None:
    with pytest.raises(InvalidInputError, match=r"x: expected int, got str 'a'"):
        restore("a", int, path="x")
    with pytest.raises(InvalidInputError, match="not a valid datetime"):
        restore("not a date", dt.datetime)
    with pytest.raises(InvalidInputError, match="unknown field"):
        restore({"sku": "a", "qty": 1, "when": "2026-01-01T00:00:00+00:00", "extra": 1}, Item)

"""The start form generated from type hints, and its validation (no browser: the form's model and its reader)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import Annotated, Any, Literal

import pytest
import viewer_demo_workflows as demo
from pydantic import BaseModel, Field

from edda import WorkflowContext, workflow
from edda_viewer._form_schema import NO_DEFAULT, FieldKind, FormField, form_for, form_for_workflow
from edda_viewer._form_values import read_form


def by_name(fields: tuple[FormField, ...]) -> dict[str, FormField]:
    return {f.name: f for f in fields}


def test_the_nested_model_workflow_gets_groups_lists_choices_and_defaults() -> None:
    fields = by_name(form_for_workflow(demo.viewer_demo_ship))
    assert list(fields) == ["order_id", "customer", "lines", "express", "note"]
    assert fields["order_id"].kind is FieldKind.TEXT and fields["order_id"].required
    customer = by_name(fields["customer"].children)
    assert fields["customer"].kind is FieldKind.GROUP
    assert customer["address"].kind is FieldKind.GROUP
    assert by_name(customer["address"].children)["city"].hint == "the city to ship to"
    assert customer["tier"].kind is FieldKind.CHOICE
    assert customer["tier"].choices == (("STANDARD", "standard"), ("GOLD", "gold"))
    assert customer["tier"].default == "standard"
    lines = fields["lines"]
    assert lines.kind is FieldKind.LIST and lines.item is not None and lines.item.kind is FieldKind.GROUP
    assert by_name(lines.item.children)["qty"].default == 1
    assert fields["express"].kind is FieldKind.BOOLEAN and fields["express"].default is False
    assert fields["note"].kind is FieldKind.TEXT and fields["note"].nullable and not fields["note"].required


class Color(enum.Enum):
    RED = 1
    BLUE = 2


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=lambda: ["a"])


class Node(BaseModel):
    name: str
    children: list[Node] = Field(default_factory=list)


@pytest.mark.parametrize(
    ("annotation", "kind"),
    [
        (int, FieldKind.INTEGER),
        (float, FieldKind.NUMBER),
        (bool, FieldKind.BOOLEAN),
        (str, FieldKind.TEXT),
        (dt.date, FieldKind.TEXT),
        (Color, FieldKind.CHOICE),
        (Literal["a", "b"], FieldKind.CHOICE),
        (Annotated[int, "meta"], FieldKind.INTEGER),
        (int | None, FieldKind.INTEGER),
        (list[int], FieldKind.LIST),
        (tuple[str, ...], FieldKind.LIST),
        (dict[str, int], FieldKind.JSON),
        (Any, FieldKind.JSON),
        (int | str, FieldKind.JSON),
        (Point, FieldKind.GROUP),
        (list[Point], FieldKind.LIST),
    ],
)
def test_each_kind_of_hint_gets_its_widget(annotation: Any, kind: FieldKind) -> None:
    assert form_for("value", annotation).kind is kind


def test_dataclass_defaults_and_factories_prefill_the_form() -> None:
    field = form_for("point", Point)
    children = by_name(field.children)
    assert children["x"].default is NO_DEFAULT and children["x"].required
    assert children["y"].default == 0
    assert children["tags"].default == ["a"]


def test_a_self_referencing_model_stops_nesting_at_a_json_field() -> None:
    field = form_for("tree", Node)
    depth = 0
    while field.kind is not FieldKind.JSON:
        field = by_name(field.children)["children"] if field.kind is FieldKind.GROUP else field.item  # type: ignore[assignment]
        depth += 1
        assert depth < 20
    assert depth > 2  # it did nest before giving up


def test_a_valid_form_gives_the_models_the_workflow_receives() -> None:
    fields = form_for_workflow(demo.viewer_demo_ship)
    raw = {
        "order_id": "ORD-1",
        "customer": {"name": "Ada", "address": {"street": "1 Main St", "city": "Oslo"}, "tier": "gold"},
        "lines": [{"sku": "pen", "qty": 2.0}, {"sku": "ink", "qty": 1.0}],
        "express": True,
        "note": "",
    }
    kwargs, errors = read_form(fields, raw)
    assert errors == {}
    assert kwargs["customer"] == demo.Customer(
        name="Ada", address=demo.Address(street="1 Main St", city="Oslo"), tier=demo.Tier.GOLD
    )
    assert kwargs["lines"] == [demo.Line(sku="pen", qty=2), demo.Line(sku="ink", qty=1)]
    assert kwargs["note"] is None  # an empty optional text is None, not ""
    assert kwargs["express"] is True


def test_errors_name_the_field_they_belong_to() -> None:
    fields = form_for_workflow(demo.viewer_demo_ship)
    raw = {
        "order_id": "ORD-1",
        "customer": {"name": "Ada", "address": {"street": "1 Main St"}, "tier": None},
        "lines": [{"sku": "pen", "qty": 1.5}, {"sku": "ink", "qty": "many"}],
    }
    _, errors = read_form(fields, raw)
    assert errors[("customer", "tier")] == "choose one"
    assert errors[("lines", 0, "qty")] == "1.5 is not a whole number"
    assert errors[("lines", 1, "qty")] == "'many' is not a number"
    raw["customer"] = {"name": "Ada", "address": {"street": "1 Main St", "city": None}, "tier": "gold"}
    raw["lines"] = []
    _, errors = read_form(fields, raw)
    assert errors == {("customer", "address", "city"): "required"}


class Limited(BaseModel):
    qty: int = Field(ge=1)


def test_pydantic_constraints_are_checked_at_their_nested_path() -> None:
    fields = (form_for("order", list[Limited]),)
    kwargs, errors = read_form(fields, {"order": [{"qty": 2.0}, {"qty": 0.0}]})
    assert errors == {("order", 1, "qty"): "Input should be greater than or equal to 1"}
    kwargs, errors = read_form(fields, {"order": [{"qty": 2.0}]})
    assert errors == {} and kwargs == {"order": [Limited(qty=2)]}


@workflow
async def viewer_form_json(
    ctx: WorkflowContext, limits: dict[str, int], when: dt.date, tags: list[str] | None = None
) -> None:
    return None


def test_json_and_dates_are_parsed_and_checked() -> None:
    fields = form_for_workflow(viewer_form_json)
    kwargs, errors = read_form(fields, {"limits": '{"a": 1}', "when": "2025-01-31", "tags": []})
    assert errors == {}
    assert kwargs == {"limits": {"a": 1}, "when": dt.date(2025, 1, 31), "tags": []}
    _, errors = read_form(fields, {"limits": '{"a": 1', "when": "31/01/2025"})
    assert errors[("limits",)].startswith("not valid JSON: Expecting")
    assert "date" in errors[("when",)].lower()
    _, errors = read_form(fields, {"limits": '{"a": "x"}', "when": "2025-01-31"})
    assert list(errors) == [("limits", "a")]
    _, errors = read_form(fields, {"limits": "", "when": "2025-01-31"})
    assert errors[("limits",)] == "enter a JSON value, e.g. {} or []"

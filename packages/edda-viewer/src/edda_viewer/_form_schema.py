"""The start form of a workflow, described from its type hints (no NiceGUI here).

Each parameter becomes a :class:`FormField`: a text, number, switch or choice for scalars; a group of fields for a
pydantic model or a dataclass (nested ones too); a growing list of items for ``list[X]``; a JSON editor for ``dict``
and for anything that has no better widget (``Any``, unions of several types). ``Optional[X]`` is X that may be left
empty; defaults prefill the form.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import inspect
import types
import typing
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from edda import Workflow

__all__ = ["NO_DEFAULT", "FieldKind", "FormField", "form_for", "form_for_workflow"]

MAX_DEPTH = 6


class FieldKind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    GROUP = "group"
    LIST = "list"
    JSON = "json"


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()
"""A field without a default value (the user must fill it in, unless it is optional)."""


@dataclass(frozen=True)
class FormField:
    """One field of a start form.

    Attributes:
        name: the parameter or attribute name (``item`` for a list's items).
        annotation: the type hint the value is validated against.
        nullable: ``Optional[...]``: may be left empty (None).
        default: the prefilled value (already JSON-like: an enum's value, a model's dict), or ``NO_DEFAULT``.
        choices: ``(label, value)`` of an enum or ``Literal``.
        children: the fields of a group (a model or dataclass).
        item: the field of a list's items.
        hint: a short text under the field (a pydantic field's description, or the expected format).
    """

    name: str
    kind: FieldKind
    annotation: Any
    nullable: bool = False
    default: Any = NO_DEFAULT
    choices: tuple[tuple[str, Any], ...] = ()
    children: tuple[FormField, ...] = ()
    item: FormField | None = None
    hint: str | None = None

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT and not self.nullable

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


def form_for_workflow(workflow: Workflow) -> tuple[FormField, ...]:
    """The form of ``workflow``'s parameters (after ``ctx``; ``*args``/``**kwargs`` are left out)."""
    fields = []
    for param in workflow.params:
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        hint = workflow.hints.get(param.name, Any)
        default = NO_DEFAULT if param.default is inspect.Parameter.empty else param.default
        fields.append(form_for(param.name, hint, default))
    return tuple(fields)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """Strip ``Annotated`` and ``Optional``; returns the inner type and whether None is allowed."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        if len(members) == 1:
            inner, _ = _unwrap(members[0])
            return inner, nullable
        return annotation, nullable
    return annotation, annotation is None or annotation is type(None)


def _plain(value: Any) -> Any:
    """A default as the form holds it: enums by value, models and dataclasses as dicts."""
    if isinstance(value, enum.Enum):
        return value.value
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, dt.datetime | dt.date | dt.time | uuid.UUID | Decimal):
        return str(value)
    return value


_TEXT_HINTS: dict[type, str] = {
    dt.datetime: "date and time, e.g. 2025-01-31T09:30:00+00:00",
    dt.date: "date, e.g. 2025-01-31",
    dt.time: "time, e.g. 09:30",
    uuid.UUID: "UUID",
}


def form_for(
    name: str, annotation: Any, default: Any = NO_DEFAULT, *, hint: str | None = None, depth: int = 0
) -> FormField:
    """The field for a value named ``name`` of type ``annotation``."""
    inner, nullable = _unwrap(annotation)
    if default is None:
        nullable = True
    base = {"name": name, "annotation": annotation, "nullable": nullable, "hint": hint}
    value = NO_DEFAULT if default is NO_DEFAULT else _plain(default)
    origin = typing.get_origin(inner)
    if inner is bool:
        return FormField(kind=FieldKind.BOOLEAN, default=value, **base)
    if inner is int:
        return FormField(kind=FieldKind.INTEGER, default=value, **base)
    if inner in (float, Decimal):
        return FormField(kind=FieldKind.NUMBER, default=value, **base)
    if inner is str or inner in _TEXT_HINTS:
        return FormField(kind=FieldKind.TEXT, default=value, **{**base, "hint": hint or _TEXT_HINTS.get(inner)})
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        choices = tuple((str(m.name), m.value) for m in inner)
        return FormField(kind=FieldKind.CHOICE, default=value, choices=choices, **base)
    if origin is typing.Literal:
        choices = tuple((str(v), v) for v in typing.get_args(inner))
        return FormField(kind=FieldKind.CHOICE, default=value, choices=choices, **base)
    if depth < MAX_DEPTH and isinstance(inner, type):
        children = _group_fields(inner, depth)
        if children is not None:
            return FormField(kind=FieldKind.GROUP, default=value, children=children, **base)
    if depth < MAX_DEPTH and (origin in (list, tuple, set, frozenset, Sequence) or inner in (list, tuple, set)):
        args = [a for a in typing.get_args(inner) if a is not Ellipsis]
        if origin is not tuple or len(args) <= 1:
            item = form_for("item", args[0] if args else Any, depth=depth + 1)
            return FormField(kind=FieldKind.LIST, default=value, item=item, **base)
    json_hint = hint or ("a JSON object" if origin in (dict, Mapping) or inner is dict else "JSON")
    return FormField(kind=FieldKind.JSON, default=value, **{**base, "hint": json_hint})


def _group_fields(cls: type, depth: int) -> tuple[FormField, ...] | None:
    """The fields of a pydantic model or a dataclass, or None for any other class."""
    model_fields = getattr(cls, "model_fields", None)
    if isinstance(model_fields, dict) and hasattr(cls, "model_validate"):
        fields = []
        for fname, info in model_fields.items():
            required = info.is_required()
            default = NO_DEFAULT if required else info.get_default(call_default_factory=True)
            fields.append(form_for(fname, info.rebuild_annotation(), default, hint=info.description, depth=depth + 1))
        return tuple(fields)
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        fields = []
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            default = f.default
            if default is dataclasses.MISSING:
                default = f.default_factory() if f.default_factory is not dataclasses.MISSING else NO_DEFAULT
            fields.append(form_for(f.name, hints.get(f.name, Any), default, depth=depth + 1))
        return tuple(fields)
    return None

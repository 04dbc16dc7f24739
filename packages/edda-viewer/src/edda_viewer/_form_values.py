"""Turning what a start form holds into a workflow's input, and saying precisely what is wrong (no NiceGUI here).

The form holds raw values (text, numbers as floats, JSON as text, groups as dicts, lists as lists); :func:`read_form`
converts them and validates each parameter against its type hint with pydantic, so nested models, enums and lists
are checked before anything is stored. Errors are keyed by the path of the field they belong to
(``("customer", "address", "city")``, ``("lines", 0, "qty")``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic.errors import PydanticSchemaGenerationError

from edda_viewer._form_schema import FieldKind, FormField

__all__ = ["FieldPath", "FormErrors", "read_form"]

FieldPath = tuple[str | int, ...]
FormErrors = dict[FieldPath, str]


class _Invalid(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _number(field: FormField, raw: Any) -> int | float | None:
    if raw is None or raw == "":
        if field.nullable:
            return None
        raise _Invalid("a number is required")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise _Invalid(f"{raw!r} is not a number") from None
    if not math.isfinite(number):
        raise _Invalid("the number must be finite")
    if field.kind is FieldKind.INTEGER:
        if not number.is_integer():
            raise _Invalid(f"{raw} is not a whole number")
        return int(number)
    return number


def _json(field: FormField, raw: Any) -> Any:
    text = "" if raw is None else str(raw)
    if not text.strip():
        if field.nullable:
            return None
        raise _Invalid("enter a JSON value, e.g. {} or []")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Invalid(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


def _convert(field: FormField, raw: Any, path: FieldPath, errors: FormErrors) -> Any:
    """The Python value of one field, or None with its error recorded."""
    try:
        kind = field.kind
        if kind in (FieldKind.INTEGER, FieldKind.NUMBER):
            return _number(field, raw)
        if kind is FieldKind.JSON:
            return _json(field, raw)
        if kind is FieldKind.TEXT:
            text = "" if raw is None else str(raw)
            if text == "" and field.nullable:
                return None
            if text == "" and field.required:
                raise _Invalid("required")
            return text
        if kind is FieldKind.BOOLEAN:
            return None if raw is None and field.nullable else bool(raw)
        if kind is FieldKind.CHOICE:
            if raw is None and not field.nullable:
                raise _Invalid("choose one")
            return raw
        if kind is FieldKind.GROUP:
            if raw is None:
                return None
            group = raw if isinstance(raw, Mapping) else {}
            return {c.name: _convert(c, group.get(c.name), (*path, c.name), errors) for c in field.children}
        if kind is FieldKind.LIST:
            assert field.item is not None
            items = raw if isinstance(raw, Sequence) and not isinstance(raw, str) else []
            return [_convert(field.item, item, (*path, i), errors) for i, item in enumerate(items)]
    except _Invalid as exc:
        errors[path] = exc.message
    return None


def _adapter(annotation: Any) -> TypeAdapter[Any] | None:
    try:
        return TypeAdapter(annotation)
    except (PydanticSchemaGenerationError, TypeError):
        return None  # a type pydantic cannot describe: the workflow's own input check still runs at start


def read_form(fields: Sequence[FormField], raw: Mapping[str, Any]) -> tuple[dict[str, Any], FormErrors]:
    """The workflow's keyword arguments from the form's raw values, and the errors by field path.

    Validation uses each parameter's type hint (``TypeAdapter``), so the values returned are the models, enums and
    lists the workflow receives. The arguments are complete only when the errors are empty.
    """
    errors: FormErrors = {}
    kwargs: dict[str, Any] = {}
    for field in fields:
        path: FieldPath = (field.name,)
        before = len(errors)
        value = _convert(field, raw.get(field.name), path, errors)
        if len(errors) > before:
            continue
        adapter = _adapter(field.annotation)
        if adapter is None:
            kwargs[field.name] = value
            continue
        try:
            kwargs[field.name] = adapter.validate_python(value)
        except ValidationError as exc:
            for error in exc.errors():
                where: FieldPath = (*path, *(p for p in error["loc"] if isinstance(p, str | int)))
                errors.setdefault(where, error["msg"])
    return kwargs, errors

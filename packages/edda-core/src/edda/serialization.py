"""Turning Python values into storable data and back, without pickle.

Stored data is either a JSON-compatible value (``None``, ``bool``, ``int``, finite ``float``, ``str``, lists and
``str``-keyed dicts of those) or, at the top level, raw ``bytes`` (kept as bytes in a BLOB column, never base64).

:func:`to_storable` converts what users pass and return: pydantic models (duck-typed through ``model_dump``, so
pydantic is never imported here), dataclasses, enums, ``datetime``/``date``/``time``, ``UUID``, ``Decimal``, tuples
and sets. :func:`restore` converts stored data back to the type named by a type hint (a return annotation or a
parameter annotation), so a pydantic model or an enum comes back as itself on replay.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import math
import types
import typing
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from edda.exceptions import InvalidInputError, SerializationError

__all__ = ["describe_type", "from_storable", "restore", "to_storable"]

_BYTES_TAG = "__edda_bytes__"
_SCALARS = (str, int, bool, type(None))


def to_storable(value: Any, *, path: str = "value") -> Any:
    """Convert ``value`` to JSON-compatible data, or ``bytes`` if it is bytes.

    Raises:
        SerializationError: the value (or something inside it, named by its path) cannot be stored.
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return _to_json(value, path)


def _to_json(value: Any, path: str) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SerializationError(f"{path} is {value!r}; JSON cannot store NaN or infinity. Use None or a string.")
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(
                    f"{path} has a key {key!r} of type {type(key).__name__}; stored dicts need str keys "
                    f"(JSON would silently turn it into a string)."
                )
            out[key] = _to_json(item, f"{path}[{key!r}]")
        return out
    if isinstance(value, list | tuple):
        return [_to_json(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, enum.Enum):
        return _to_json(value.value, path)
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump) and not isinstance(value, type):
        return _to_json(model_dump(mode="json"), path)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name), f"{path}.{f.name}") for f in dataclasses.fields(value)}
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return {_BYTES_TAG: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, set | frozenset):
        items = [_to_json(item, f"{path}[*]") for item in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    raise SerializationError(
        f"{path} is a {type(value).__module__}.{type(value).__qualname__}, which Edda cannot store. Stored values "
        f"must be JSON-compatible (dict with str keys, list, str, int, float, bool, None), bytes, pydantic models, "
        f"dataclasses or enums; convert it to one of those (e.g. a dict) first."
    )


def from_storable(value: Any) -> Any:
    """Undo the nested-bytes tagging of :func:`to_storable` (top-level bytes pass through)."""
    if isinstance(value, dict):
        if len(value) == 1 and _BYTES_TAG in value and isinstance(value[_BYTES_TAG], str):
            return base64.b64decode(value[_BYTES_TAG])
        return {k: from_storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_storable(v) for v in value]
    return value


def describe_type(tp: Any) -> str:
    """A readable name for a type hint."""
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def restore(value: Any, tp: Any, *, path: str = "value") -> Any:
    """Convert stored data ``value`` into the type hint ``tp``.

    Values already of the right type pass through, so this also validates user input before it is stored.

    Raises:
        InvalidInputError: ``value`` cannot be read as ``tp`` (the message names the path and both types).
    """
    if tp is Any or tp is object or (tp is None and value is None):
        return value
    if tp is None or tp is type(None):
        if value is None:
            return None
        raise _mismatch(value, tp, path)
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return restore(value, typing.get_args(tp)[0], path=path)
    if origin is typing.Union or origin is types.UnionType:
        return _restore_union(value, typing.get_args(tp), path)
    if origin is typing.Literal:
        if value in typing.get_args(tp):
            return value
        raise InvalidInputError(f"{path}: expected one of {typing.get_args(tp)!r}, got {value!r}")
    if origin is not None:
        return _restore_generic(value, tp, origin, path)
    if isinstance(tp, typing.TypeVar) or not isinstance(tp, type):
        return value
    return _restore_class(value, tp, path)


def _restore_union(value: Any, members: tuple[Any, ...], path: str) -> Any:
    if value is None and type(None) in members:
        return None
    candidates = [m for m in members if m is not type(None)]
    for member in candidates:  # exact type first, so int stays int in int | float
        if isinstance(member, type) and type(value) is member:
            return value
    errors = []
    for member in candidates:
        try:
            return restore(value, member, path=path)
        except InvalidInputError as exc:
            errors.append(str(exc))
    names = " | ".join(describe_type(m) for m in members)
    raise InvalidInputError(f"{path}: expected {names}, got {type(value).__name__} {_short(value)}")


def _restore_generic(value: Any, tp: Any, origin: Any, path: str) -> Any:
    args = typing.get_args(tp)
    if origin in (list, set, frozenset) or origin in (Sequence, typing.Sequence):
        if not isinstance(value, list | tuple | set | frozenset):
            raise _mismatch(value, tp, path)
        item_tp = args[0] if args else Any
        items = [restore(v, item_tp, path=f"{path}[{i}]") for i, v in enumerate(value)]
        return origin(items) if origin in (set, frozenset) else items
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _mismatch(value, tp, path)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(restore(v, args[0], path=f"{path}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise InvalidInputError(f"{path}: expected {len(args)} items for {describe_type(tp)}, got {len(value)}")
        return tuple(restore(v, a, path=f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=False)))
    if origin in (dict, Mapping, typing.Mapping):
        if not isinstance(value, dict):
            raise _mismatch(value, tp, path)
        val_tp = args[1] if len(args) == 2 else Any
        return {k: restore(v, val_tp, path=f"{path}[{k!r}]") for k, v in value.items()}
    if origin is type:
        return value
    if isinstance(origin, type):
        return _restore_class(value, origin, path)
    return value


def _restore_class(value: Any, tp: type, path: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _mismatch(value, tp, path)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _mismatch(value, tp, path)
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _mismatch(value, tp, path)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _mismatch(value, tp, path)
    if tp is bytes:
        if isinstance(value, bytes | bytearray):
            return bytes(value)
        raise _mismatch(value, tp, path)
    try:
        if isinstance(value, tp):
            return value
    except TypeError:  # TypedDict and non-runtime protocols refuse isinstance(): nothing to convert to
        return value
    validate = getattr(tp, "model_validate", None)
    if callable(validate):  # pydantic v2 model, duck-typed
        try:
            return validate(value)
        except Exception as exc:  # pydantic.ValidationError, without importing pydantic
            raise InvalidInputError(f"{path}: not a valid {tp.__name__}: {exc}") from exc
    if issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError as exc:
            choices = [m.value for m in tp]
            raise InvalidInputError(f"{path}: {value!r} is not a {tp.__name__}; choose one of {choices!r}") from exc
    if dataclasses.is_dataclass(tp):
        return _restore_dataclass(value, tp, path)
    return _restore_scalar_class(value, tp, path)


def _restore_dataclass(value: Any, tp: type, path: str) -> Any:
    if not isinstance(value, dict):
        raise _mismatch(value, tp, path)
    hints = typing.get_type_hints(tp)
    kwargs = {}
    names = {f.name for f in dataclasses.fields(tp) if f.init}
    unknown = set(value) - names
    if unknown:
        raise InvalidInputError(f"{path}: unknown field(s) {sorted(unknown)} for {tp.__name__}")
    for name in names & set(value):
        kwargs[name] = restore(value[name], hints.get(name, Any), path=f"{path}.{name}")
    try:
        return tp(**kwargs)
    except TypeError as exc:
        raise InvalidInputError(f"{path}: cannot build {tp.__name__}: {exc}") from exc


def _restore_scalar_class(value: Any, tp: type, path: str) -> Any:
    try:
        if tp is dt.datetime and isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        if tp is dt.date and isinstance(value, str):
            return dt.date.fromisoformat(value)
        if tp is dt.time and isinstance(value, str):
            return dt.time.fromisoformat(value)
        if tp is uuid.UUID and isinstance(value, str):
            return uuid.UUID(value)
        if tp is Decimal and isinstance(value, str | int | float):
            return Decimal(str(value))
    except ValueError as exc:
        raise InvalidInputError(f"{path}: {value!r} is not a valid {tp.__name__}: {exc}") from exc
    if tp in (dt.datetime, dt.date, dt.time, uuid.UUID, Decimal):
        raise _mismatch(value, tp, path)
    # Other classes (TypedDict, protocols, user classes we cannot build): pass the stored data through unchanged.
    return value


def _mismatch(value: Any, tp: Any, path: str) -> InvalidInputError:
    return InvalidInputError(f"{path}: expected {describe_type(tp)}, got {type(value).__name__} {_short(value)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

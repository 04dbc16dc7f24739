"""The instance list's filters, parsed from what a user types, with messages that say what is wrong."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from edda.storage.records import InstanceStatus

__all__ = ["PAGE_SIZES", "FilterError", "ListFilters", "parse_date", "parse_input_filters", "parse_filters"]

PAGE_SIZES = (10, 25, 50, 100)
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*$")


class FilterError(ValueError):
    """A filter the user typed is malformed.

    Attributes:
        field: which filter (``search``, ``status``, ``date_from``, ``date_to``, ``input``, ``page_size``).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ListFilters:
    """What the instance list shows: every given filter must match.

    ``search`` matches the workflow name or the instance id (case-insensitive substring).
    """

    search: str = ""
    status: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    input_filters: tuple[tuple[str, str | int | float | bool], ...] = ()
    page_size: int = 25


def parse_date(text: str, *, field: str, end_of_day: bool = False) -> datetime | None:
    """``YYYY-MM-DD`` (the whole day, UTC) or an ISO 8601 date-time (UTC if it names no zone); empty is None.

    Raises:
        FilterError: not a date.
    """
    text = text.strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.min, tzinfo=UTC)
            return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FilterError(field, f"{text!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _scalar(text: str) -> str | int | float | bool:
    """JSON numbers, true/false and quoted strings are read as JSON; anything else is the text itself."""
    try:
        value: Any = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str | int | float | bool) else text


def parse_input_filters(text: str) -> tuple[tuple[str, str | int | float | bool], ...]:
    """``customer.id=C-4; amount=42`` (one ``path=value`` pair per line or separated by ``;``).

    Raises:
        FilterError: a pair without ``=`` or with a path that is not dotted identifiers.
    """
    pairs: list[tuple[str, str | int | float | bool]] = []
    for chunk in re.split(r"[;\n]", text):
        chunk = chunk.strip()
        if not chunk:
            continue
        path, sep, value = chunk.partition("=")
        path = path.strip()
        if not sep:
            raise FilterError("input", f"{chunk!r} is not a filter: write path=value, e.g. customer.id=C-4")
        if not _PATH.match(path):
            raise FilterError(
                "input", f"{path!r} is not an input path: use dotted names such as order_id or customer.address.city"
            )
        pairs.append((path, _scalar(value.strip())))
    return tuple(pairs)


def parse_filters(
    *,
    search: str = "",
    status: str | None = None,
    date_from: str = "",
    date_to: str = "",
    input_text: str = "",
    page_size: int = 25,
) -> ListFilters:
    """The list's filters from the form's fields.

    Raises:
        FilterError: a field is malformed; ``field`` names it and the message says how to fix it.
    """
    if status and status not in set(InstanceStatus):
        raise FilterError("status", f"{status!r} is not a status; use one of {', '.join(InstanceStatus)}")
    if page_size not in PAGE_SIZES:
        raise FilterError("page_size", f"page size must be one of {', '.join(map(str, PAGE_SIZES))}")
    after = parse_date(date_from, field="date_from")
    before = parse_date(date_to, field="date_to", end_of_day=True)
    if after is not None and before is not None and after > before:
        raise FilterError("date_to", "the 'to' date is before the 'from' date")
    return ListFilters(
        search=search.strip(),
        status=status or None,
        started_after=after,
        started_before=before,
        input_filters=parse_input_filters(input_text),
        page_size=page_size,
    )

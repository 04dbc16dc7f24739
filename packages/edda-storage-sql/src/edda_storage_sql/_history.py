"""History reads: one instance's iteration, or the current history of many instances in one query.

Statement generators like the other operations (see :mod:`._sql`); history is written only by the unit of work
(:mod:`._commit`).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from functools import lru_cache
from typing import Any

from edda.storage.records import HistoryEvent
from edda_storage_sql._dialects import Dialect
from edda_storage_sql._rows import HISTORY_COLUMNS, history_from_row
from edda_storage_sql._sql import Op, Query, Sql, Statement

__all__ = ["get_histories", "get_history"]

Steps = Generator[Statement, Any, Any]

_HISTORY_CURRENT = Sql(
    f"SELECT {HISTORY_COLUMNS} FROM edda_history WHERE instance_id = :instance_id AND iteration = "
    "(SELECT iteration FROM edda_instances WHERE instance_id = :instance_id) ORDER BY seq"
)
_HISTORY_ITERATION = Sql(
    f"SELECT {HISTORY_COLUMNS} FROM edda_history WHERE instance_id = :instance_id AND iteration = :iteration "
    "ORDER BY seq"
)
_MYSQL_CHUNK = 500


def get_history(d: Dialect, instance_id: str, iteration: int | None) -> Op[list[HistoryEvent]]:
    if iteration is None:
        sql, params = _HISTORY_CURRENT, {"instance_id": instance_id}
    else:
        sql, params = _HISTORY_ITERATION, {"instance_id": instance_id, "iteration": int(iteration)}

    def steps() -> Steps:
        rows = yield Query(sql, params)
        return [history_from_row(r, d) for r in rows]

    return Op(steps(), autocommit=True)


@lru_cache(maxsize=64)
def _histories_sql(count: int) -> Sql:
    ids = ", ".join(f":id{i}" for i in range(count))
    return Sql(
        f"SELECT {HISTORY_COLUMNS} FROM edda_history WHERE (instance_id, iteration) IN "
        f"(SELECT instance_id, iteration FROM edda_instances WHERE instance_id IN ({ids})) ORDER BY instance_id, seq"
    )


def get_histories(d: Dialect, instance_ids: Sequence[str]) -> Op[dict[str, list[HistoryEvent]]]:
    """The current history of several instances in one query (in chunks of ``_MYSQL_CHUNK`` ids)."""
    ids = list(dict.fromkeys(instance_ids))

    def steps() -> Steps:
        found: dict[str, list[HistoryEvent]] = {}
        for start in range(0, len(ids), _MYSQL_CHUNK):
            chunk = ids[start : start + _MYSQL_CHUNK]
            rows = yield Query(_histories_sql(len(chunk)), {f"id{i}": iid for i, iid in enumerate(chunk)})
            for row in rows:
                event = history_from_row(row, d)
                found.setdefault(event.instance_id, []).append(event)
        return found

    return Op(steps(), autocommit=True)

"""Replay recorded histories against the workflow code as it is now, to find the instances a deploy would strand.

Nothing is executed and nothing is written. Use it from CI (``edda replay`` does the same from a terminal)::

    from edda.replay import replay_instances, replay_export

    report = await replay_instances(app.storage, finished_sample=100)
    assert report.ok, report.problems

    # golden histories, exported with `edda history ID --json > tests/histories/case.json`
    result = await replay_export(json.loads(Path("tests/histories/case.json").read_text()))
    assert result.ok, result.detail

See docs/versioning.md.
"""

from __future__ import annotations

from edda._replay import (
    HISTORY_FORMAT,
    ReplayReport,
    ReplayResult,
    load_history_export,
    replay_export,
    replay_history,
    replay_instances,
)

__all__ = [
    "HISTORY_FORMAT",
    "ReplayReport",
    "ReplayResult",
    "load_history_export",
    "replay_export",
    "replay_history",
    "replay_instances",
]

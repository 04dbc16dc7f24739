"""The execution-flow diagram of an instance: Mermaid source from :mod:`edda_viewer.visualizer`.

A failure to draw must not take the page down: it is logged and the page says the diagram is unavailable.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from edda import Workflow
from edda.storage.records import HistoryEvent, InstanceRecord
from edda_viewer.visualizer import hybrid_diagram

__all__ = ["diagram_source"]

logger = logging.getLogger("edda_viewer")


def diagram_source(workflow: Workflow | None, record: InstanceRecord, history: Sequence[HistoryEvent]) -> str | None:
    """Mermaid flowchart source merging ``workflow``'s code (when imported here) with ``history``, or None if it
    cannot be drawn."""
    try:
        return hybrid_diagram(workflow, history, status=record.status, wait=record.wait, name=record.workflow_name)
    except Exception:
        logger.exception("Drawing the diagram of instance %s (%s) failed", record.instance_id, record.workflow_name)
        return None

"""Workflow diagrams: the structure of a workflow's code, and that structure with an instance's history laid over it.

Pure standard library and ``edda``: importable without the viewer's UI. ::

    from edda_viewer.visualizer import analyze_workflow, render_mermaid, hybrid_diagram

    print(render_mermaid(analyze_workflow(order_workflow)))          # the code
    history = await app.storage.get_history(instance_id)
    print(hybrid_diagram(order_workflow, history, status="failed"))  # the code plus what one instance did
"""

from __future__ import annotations

from edda_viewer.visualizer._analyze import WorkflowSourceError, analyze_workflow
from edda_viewer.visualizer._escape import escape_mermaid_label
from edda_viewer.visualizer._hybrid import hybrid_diagram
from edda_viewer.visualizer._legacy import MermaidGenerator, WorkflowAnalyzer
from edda_viewer.visualizer._mermaid import DEFAULT_CLASS_DEFS, render_mermaid
from edda_viewer.visualizer._nodes import (
    Arm,
    Branch,
    Break,
    Case,
    Continue,
    Handler,
    Loop,
    Match,
    Node,
    Parallel,
    Raise,
    Return,
    Step,
    StepKind,
    Transaction,
    Try,
    WorkflowGraph,
)

__all__ = [
    "DEFAULT_CLASS_DEFS",
    "Arm",
    "Branch",
    "Break",
    "Case",
    "Continue",
    "Handler",
    "Loop",
    "Match",
    "MermaidGenerator",
    "Node",
    "Parallel",
    "Raise",
    "Return",
    "Step",
    "StepKind",
    "Transaction",
    "Try",
    "WorkflowAnalyzer",
    "WorkflowGraph",
    "WorkflowSourceError",
    "analyze_workflow",
    "escape_mermaid_label",
    "hybrid_diagram",
    "render_mermaid",
]

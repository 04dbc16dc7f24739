"""Seed-compatible import path: ``from edda.context import WorkflowContext``.

An alias of :class:`edda.WorkflowContext` (canonical: ``from edda import WorkflowContext``); nothing is defined here.
"""

from __future__ import annotations

from edda._context import WorkflowContext

__all__ = ["WorkflowContext"]

"""Seed-compatible import path: ``from edda.workflow import workflow, Workflow, RecurException, get_all_workflows``.

Aliases of the names exported by :mod:`edda` (canonical: ``from edda import workflow``); nothing is defined here.
The module shares its name with the decorator: ``edda.workflow`` is the decorator and ``import edda.workflow`` still
gives this module (``edda/__init__.py`` loads it before binding the decorator).

Edda 0.16's ``set_replay_engine`` has no equivalent; asking for it raises an ``ImportError`` that says why.
"""

from __future__ import annotations

from edda._aliases import module_getattr
from edda._run import RecurException
from edda._workflow import Workflow, get_all_workflows, saga, workflow

__all__ = ["RecurException", "Workflow", "get_all_workflows", "saga", "workflow"]

__getattr__ = module_getattr(__name__)

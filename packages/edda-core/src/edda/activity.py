"""Seed-compatible import path: ``from edda.activity import activity, Activity``.

Aliases of :func:`edda.activity` and :class:`edda.Activity` (canonical: ``from edda import activity``); nothing is
defined here. The module shares its name with the decorator: ``edda.activity`` is the decorator and
``import edda.activity`` still gives this module (``edda/__init__.py`` loads it before binding the decorator).
"""

from __future__ import annotations

from edda._activity import Activity, activity

__all__ = ["Activity", "activity"]

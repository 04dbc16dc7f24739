"""Seed-compatible import path: ``from edda.app import EddaApp``.

An alias of :class:`edda.EddaApp` (canonical: ``from edda import EddaApp``); nothing is defined here.
"""

from __future__ import annotations

from edda._app import EddaApp

__all__ = ["EddaApp"]

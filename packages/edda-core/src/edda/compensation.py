"""Seed-compatible import path: ``from edda.compensation import compensation, on_failure, register_compensation``.

Aliases of the names exported by :mod:`edda` (canonical: ``from edda import compensation``); nothing is defined
here. The module shares its name with the decorator: ``edda.compensation`` is the decorator and
``import edda.compensation`` still gives this module (``edda/__init__.py`` loads it before binding the decorator).

Edda 0.16's ``CompensationAction``, ``execute_compensations`` and ``clear_compensations`` have no equivalent (the
engine runs compensations itself); asking for them raises an ``ImportError`` that says so.
"""

from __future__ import annotations

from edda._aliases import module_getattr
from edda._compensation import compensation, on_failure, register_compensation

__all__ = ["compensation", "on_failure", "register_compensation"]

__getattr__ = module_getattr(__name__)

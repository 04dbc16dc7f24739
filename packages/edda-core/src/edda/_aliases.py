"""What the seed-compatible alias modules share: the messages for 0.16 names that have no equivalent here.

An alias module (``edda.app``, ``edda.workflow``, ``edda.channels``, ...) re-exports names from their canonical home
and defines nothing of its own. A name that Edda 0.16 had in one of those modules but that has no counterpart here
(``edda.compensation.execute_compensations``, ``edda.workflow.set_replay_engine``, ...) is answered by the module's
PEP 562 ``__getattr__`` with an ``ImportError`` that says what replaced it.

Why ``ImportError`` and not ``AttributeError``: ``from edda.workflow import set_replay_engine`` turns an
``AttributeError`` raised by ``__getattr__`` into its own generic "cannot import name" and drops the message; an
``ImportError`` reaches the user as written. Only the names listed here raise it; any other missing attribute is a
plain ``AttributeError``, so ``hasattr`` and ``getattr(module, name, default)`` behave as usual for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["REPLACED", "module_getattr", "replaced"]

REPLACED: dict[str, dict[str, str]] = {
    "edda": {
        "SQLiteStorage": (
            'there is no SQLiteStorage class; give EddaApp the URL (EddaApp(db_url="sqlite:///saga.db")), or build '
            'the storage with SQLAlchemyStorage("sqlite:///saga.db") from edda_storage_sql '
            '(pip install "edda-storage-sql[sqlite]") and pass it as EddaApp(storage=...)'
        ),
    },
    "edda.workflow": {
        "set_replay_engine": (
            "EddaApp wires its own engine when it initializes; there is no module-level engine to set. Remove the call"
        ),
        "recur": (
            "recur is a method of the workflow's context: `await ctx.recur(**new_input)` (WorkflowContext.recur); "
            "it raises edda.RecurException, which the engine handles"
        ),
    },
    "edda.compensation": {
        "CompensationAction": (
            "registered compensations are steps in the workflow's history, not objects; register one with "
            "`await register_compensation(ctx, func, ...)`, or decorate the activity with `@on_failure(func)`"
        ),
        "execute_compensations": (
            "the engine runs the registered compensations itself, newest first, when the workflow fails or is "
            "cancelled; nothing needs to call them"
        ),
        "clear_compensations": (
            "a workflow that completes drops its registered compensations; nothing needs to clear them"
        ),
    },
    "edda.channels": {
        "WaitForChannelMessageException": (
            "a waiting workflow is suspended by an internal signal that workflow code never sees (it is not an "
            "Exception, so `except Exception` does not catch it); a timed-out wait raises edda.EventTimeoutError "
            "(wait_event) or edda.ReceiveTimeoutError (receive)"
        ),
        "WaitForTimerException": (
            "sleep() and sleep_until() suspend the workflow with an internal signal that workflow code never sees; "
            "there is nothing to catch"
        ),
        "get_channel_stats": (
            "it was a placeholder in Edda 0.16 (it always returned zero counts); there is no channel statistics API"
        ),
    },
}


def replaced(module: str, name: str) -> NoReturn:
    """Raise the ``ImportError`` for ``module.name``, a 0.16 name that has no equivalent here."""
    raise ImportError(f"cannot import {name!r} from {module!r}: {REPLACED[module][name]}.", name=module)


def module_getattr(module: str) -> Callable[[str], Any]:
    """A PEP 562 ``__getattr__`` for ``module`` that explains its entries in :data:`REPLACED`."""
    gone = REPLACED.get(module, {})

    def __getattr__(name: str) -> Any:
        if name in gone:
            replaced(module, name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__

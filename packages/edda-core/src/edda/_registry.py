"""Process-wide registries of workflows and compensations, looked up by name when an instance resumes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edda._workflow import Workflow

_workflows: dict[str, Workflow] = {}
_compensations: dict[str, Any] = {}


def register_workflow(wf: Workflow) -> None:
    # A later definition under the same name replaces the earlier one: redeploying new code is exactly that.
    _workflows[wf.name] = wf


def get_workflow(name: str) -> Workflow | None:
    return _workflows.get(name)


def all_workflows() -> dict[str, Workflow]:
    return dict(_workflows)


def compensation_key(func: Any) -> str:
    target = getattr(func, "func", func)  # an Activity wraps its function
    return f"{target.__module__}:{target.__qualname__}"


def register_compensation_function(func: Any) -> str:
    key = compensation_key(func)
    _compensations[key] = func
    return key


def get_compensation_function(key: str) -> Any | None:
    return _compensations.get(key)

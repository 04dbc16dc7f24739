"""``@scenario("id", ...)`` collects a harness module's scenarios into its ``SCENARIOS`` dict."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Scenario = Callable[[Any], Awaitable[None]]


def registry() -> tuple[dict[str, Scenario], Callable[..., Callable[[Scenario], Scenario]]]:
    scenarios: dict[str, Scenario] = {}

    def scenario(*ids: str) -> Callable[[Scenario], Scenario]:
        def add(fn: Scenario) -> Scenario:
            for ident in ids:
                assert ident not in scenarios, ident
                scenarios[ident] = fn
            return fn

        return add

    return scenarios, scenario

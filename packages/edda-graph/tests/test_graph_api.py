"""The public names, the seed's import path, and the forms of graph DurableGraph accepts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic_graph import BaseNode, End, GraphBuilder, GraphRunContext, StepContext

import edda_graph
from edda import EddaApp, WorkflowContext, WorkflowFailedError, workflow
from edda_graph import DurableGraph, Sleep, WaitForEvent

from .conftest import wait_status


def test_the_public_names_are_exactly_these() -> None:
    assert sorted(edda_graph.__all__) == [
        "DurableGraph",
        "DurableGraphContext",
        "GraphExecutionError",
        "ReceivedEvent",
        "Sleep",
        "WaitForEvent",
    ]


def test_the_seed_import_path_is_the_same_api() -> None:
    from edda.integrations import graph

    for name in edda_graph.__all__:
        assert getattr(graph, name) is getattr(edda_graph, name)
    assert sorted(graph.__all__) == sorted(edda_graph.__all__)


def test_without_the_package_the_seed_path_names_the_pip_line() -> None:
    code = """
        import sys
        sys.modules["edda_graph"] = None  # as if edda-graph were not installed
        try:
            from edda.integrations.graph import DurableGraph
        except ImportError as exc:
            print(exc)
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "pip install edda-graph" in proc.stdout


def test_importing_edda_does_not_import_pydantic_graph() -> None:
    code = (
        "import sys, edda; print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic_graph', 'edda_graph')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@dataclass
class MyState:
    number: int


@dataclass
class Increment(BaseNode[MyState]):
    async def run(self, ctx: GraphRunContext[MyState]) -> Check42:
        ctx.state.number += 1
        return Check42()


@dataclass
class Check42(BaseNode[MyState, None, int]):
    async def run(self, ctx: GraphRunContext[MyState]) -> Increment | End[int]:
        if ctx.state.number == 42:
            return Increment()
        return End(ctx.state.number)


def built_graph() -> object:
    g = GraphBuilder(state_type=MyState, output_type=int)
    g.add(g.node(Increment), g.node(Check42))
    g.add(g.edge_from(g.start_node).to(Increment))
    return g.build()


builder_graph = DurableGraph(built_graph())


@workflow
async def never_42(ctx: WorkflowContext, number: int) -> int:
    return await builder_graph.run(ctx, Increment(), state=MyState(number=number))


async def test_a_graph_built_from_base_nodes_runs_durably(app: EddaApp) -> None:
    assert set(builder_graph.node_classes) == {Increment, Check42}

    assert await app.wait_for_result(await never_42.start(number=41), timeout=60) == 43  # 42 is never the end
    assert await app.wait_for_result(await never_42.start(number=1), timeout=60) == 2


def test_a_builder_graph_with_function_steps_is_refused() -> None:
    g = GraphBuilder(state_type=MyState, output_type=int)

    @g.step
    async def double(ctx: StepContext[MyState, None, None]) -> int:
        return ctx.state.number * 2

    g.add(g.edge_from(g.start_node).to(double), g.edge_from(double).to(g.end_node))
    with pytest.raises(ValueError, match=r"builder steps or joins \(double\)"):
        DurableGraph(g.build())


def test_two_node_classes_with_one_id_are_refused() -> None:
    def other() -> type[BaseNode[MyState]]:
        @dataclass
        class Increment(BaseNode[MyState]):
            async def run(self, ctx: GraphRunContext[MyState]) -> End[int]:
                return End(0)

        return Increment

    with pytest.raises(ValueError, match="Two node classes share the node id 'Increment'"):
        DurableGraph([Increment, other()])


async def test_markers_are_only_carried_out_by_durable_graph() -> None:
    marker = Sleep(1, Increment())
    with pytest.raises(RuntimeError, match="carried out by edda_graph.DurableGraph"):
        await marker.run(GraphRunContext(state=None, deps=None))
    assert WaitForEvent("x", Increment()).timeout_seconds is None


def versioned_graph(second: type[BaseNode[None, None, str]]) -> Any:
    """An Edda workflow named ``evolving`` whose first node waits, then hands over to ``second``."""

    @dataclass
    class First(BaseNode[None, None, str]):
        async def run(self, ctx: GraphRunContext[None, None]) -> WaitForEvent:
            return WaitForEvent("evolving.go", second())

    graph = DurableGraph([First, second])

    async def evolving(ctx: WorkflowContext) -> str:
        return await graph.run(ctx, First(), state=None)

    return workflow(evolving)


async def test_a_recorded_node_that_is_gone_is_a_graph_execution_error(app: EddaApp) -> None:
    @dataclass
    class Second(BaseNode[None, None, str]):
        async def run(self, ctx: GraphRunContext[None, None]) -> End[str]:
            return End("second")

    @dataclass
    class Replacement(BaseNode[None, None, str]):
        async def run(self, ctx: GraphRunContext[None, None]) -> End[str]:
            return End("replacement")

    iid = await versioned_graph(Second).start()
    await wait_status(app, iid, "waiting_for_event")

    versioned_graph(Replacement)  # "deploy" new code under the same workflow name: Second is gone
    await app.handle_cloudevent({"specversion": "1.0", "type": "evolving.go", "source": "t", "id": "e1", "data": {}})

    with pytest.raises(WorkflowFailedError, match=r"GraphExecutionError.*'First'.*cannot be loaded.*'Second'"):
        await app.wait_for_result(iid, timeout=60)

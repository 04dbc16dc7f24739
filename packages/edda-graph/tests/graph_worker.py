"""A worker process for the SIGKILL test: a pydantic-graph graph whose three nodes each ask the LLM stand-in.

    python graph_worker.py DB_URL INSTANCE_ID LLM_BASE_URL

Starts the Edda workflow under INSTANCE_ID, or, if it exists (a killed worker started it), lets recovery take it
over on the same SQLite file; prints the JSON result.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field

from pydantic_graph import BaseNode, End

from edda import EddaApp, WorkflowContext, workflow
from edda_graph import DurableGraph, DurableGraphContext
from tests.integration.llm_standin import ask_llm

LLM = sys.argv[3] if len(sys.argv) > 3 else ""  # the stand-in's base URL


@dataclass
class Essay:
    topic: str
    answers: list[str] = field(default_factory=list)


@dataclass
class Outline(BaseNode[Essay, None, list[str]]):
    async def run(self, ctx: DurableGraphContext[Essay, None]) -> Draft:
        ctx.state.answers.append(await asyncio.to_thread(ask_llm, LLM, f"outline {ctx.state.topic}"))
        return Draft()


@dataclass
class Draft(BaseNode[Essay, None, list[str]]):
    async def run(self, ctx: DurableGraphContext[Essay, None]) -> Polish:
        ctx.state.answers.append(await asyncio.to_thread(ask_llm, LLM, f"draft from [{ctx.state.answers[-1]}]"))
        return Polish(words=len(ctx.state.answers[-1].split()))


@dataclass
class Polish(BaseNode[Essay, None, list[str]]):
    words: int

    async def run(self, ctx: DurableGraphContext[Essay, None]) -> End[list[str]]:
        prompt = f"polish {ctx.state.topic} ({self.words} words): [{ctx.state.answers[-1]}]"
        ctx.state.answers.append(await asyncio.to_thread(ask_llm, LLM, prompt))
        return End(ctx.state.answers)


graph = DurableGraph([Outline, Draft, Polish])


@workflow
async def essay(ctx: WorkflowContext, topic: str) -> list[str]:
    return await graph.run(ctx, Outline(), state=Essay(topic=topic))


async def main(db_url: str, instance_id: str) -> None:
    async with EddaApp(service_name="graph-crash", db_url=db_url, lease_timeout_seconds=2) as app:
        if await app.get_instance(instance_id) is None:
            await essay.start(instance_id=instance_id, topic="durability")
        result = await app.wait_for_result(instance_id, timeout=120)
        print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))

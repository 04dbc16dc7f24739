# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 20 (line 324), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

from edda import workflow, activity, WorkflowContext

@activity
async def research_topic(ctx: WorkflowContext, topic: str) -> dict:
    """Call LLM to research a topic (may take minutes)"""
    result = await llm_client.generate(f"Research: {topic}")
    return {"research": result}

@activity
async def analyze_research(ctx: WorkflowContext, research: str) -> dict:
    """Analyze research results with another LLM call"""
    analysis = await llm_client.generate(f"Analyze: {research}")
    return {"analysis": analysis}

@activity
async def synthesize_report(ctx: WorkflowContext, analysis: str) -> dict:
    """Create final report"""
    report = await llm_client.generate(f"Report: {analysis}")
    return {"report": report}

@workflow
async def ai_research_workflow(ctx: WorkflowContext, topic: str):
    """Multi-step AI research workflow with automatic crash recovery"""
    # Step 1: Research (may take 2-3 minutes)
    research = await research_topic(ctx, topic)
    # Step 2: Analyze (if crash happens here, Step 1 won't re-run)
    analysis = await analyze_research(ctx, research["research"])
    # Step 3: Synthesize
    report = await synthesize_report(ctx, analysis["analysis"])
    return report

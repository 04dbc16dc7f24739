"""Seed-compatible import paths for the integrations, each a shim over its own package (installing one never pulls
in another one's dependencies); without the package, importing the shim raises an ``ImportError`` with its
``pip install`` line:

- ``edda.integrations.mcp``: the Model Context Protocol server (``edda-mcp``);
- ``edda.integrations.opentelemetry``: tracing and metrics hooks (``edda-opentelemetry``);
- ``edda.integrations.mirascope``: durable LLM calls (``edda-mirascope``);
- ``edda.integrations.llamaindex``: LlamaIndex workflows, step by step (``edda-llamaindex``);
- ``edda.integrations.graph``: pydantic-graph graphs, node by node (``edda-graph``).
"""

"""edda-mcp: durable workflows as Model Context Protocol tools, on the official MCP Python SDK.

    from edda import WorkflowContext, activity
    from edda_mcp import EddaMCPServer

    server = EddaMCPServer(name="Order Service", db_url="sqlite:///orders.db")

    @server.durable_tool(description="Process customer order")
    async def process_order(ctx: WorkflowContext, order_id: str) -> dict:
        ...

    application = server.asgi_app()      # uvicorn module:application  (MCP at /mcp, CloudEvents at /)

Each durable tool ``X`` becomes the MCP tools ``X`` (start), ``X_status``, ``X_result`` and ``X_cancel``.
The seed-compatible path ``edda.integrations.mcp.EddaMCPServer`` is the same class.
"""

from __future__ import annotations

from edda_mcp._auth import PredicateTokenVerifier, TokenCheck
from edda_mcp._server import EddaMCPServer

__version__ = "1.0.0"

__all__ = ["EddaMCPServer", "PredicateTokenVerifier", "TokenCheck"]

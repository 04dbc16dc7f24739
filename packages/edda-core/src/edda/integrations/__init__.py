"""Seed-compatible import paths for integrations: ``edda.integrations.mcp`` (the MCP server, from ``edda-mcp``)."""

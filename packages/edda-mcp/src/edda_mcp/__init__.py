"""Edda MCP server: durable workflows as Model Context Protocol tools."""

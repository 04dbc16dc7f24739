"""Seed-compatible import path: ``from edda.integrations.mcp import EddaMCPServer``.

The implementation lives in the ``edda-mcp`` package (``edda_mcp.EddaMCPServer``); this shim forwards to it.
"""

from __future__ import annotations

try:
    from edda_mcp import EddaMCPServer  # pyright: ignore[reportMissingImports]
except ModuleNotFoundError as exc:
    if exc.name != "edda_mcp":  # installed but broken (a dependency of its own is missing): say that instead
        raise
    raise ImportError(
        "EddaMCPServer lives in the edda-mcp package (the Model Context Protocol server), which is not installed. "
        "Install it with: pip install edda-mcp"
    ) from exc

__all__ = ["EddaMCPServer"]

"""Seed-compatible import path: ``from edda.wsgi import create_wsgi_app``.

The implementation lives in the ``edda-asgi`` package (``edda_asgi``); this shim forwards to it.
"""

from __future__ import annotations

try:
    from edda_asgi import create_wsgi_app  # pyright: ignore[reportMissingImports]
except ModuleNotFoundError as exc:  # pragma: no cover - exercised by a subprocess test without the package
    if exc.name != "edda_asgi":  # installed but broken (a dependency of its own is missing): say that instead
        raise
    raise ImportError(
        "create_wsgi_app lives in the edda-asgi package (the HTTP transport), which is not installed. "
        "Install it with: pip install edda-asgi"
    ) from exc

__all__ = ["create_wsgi_app"]

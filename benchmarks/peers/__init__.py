"""Peer adapters: each module runs inside the peer's own virtualenv as ``python -m benchmarks.peers.<name>``."""

from __future__ import annotations

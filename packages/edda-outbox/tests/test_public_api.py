"""The public surface of edda_outbox, and the error when the app needs it but it is missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import edda_outbox


def test_all_is_exactly_the_public_names() -> None:
    assert sorted(edda_outbox.__all__) == ["OutboxRelayer", "encode_event"]
    public = {n for n in vars(edda_outbox) if not n.startswith("_")} - {"annotations"}
    assert public == set(edda_outbox.__all__)


def test_outbox_enabled_without_edda_outbox_names_the_install_line() -> None:
    code = """
        import asyncio, sys
        sys.modules["edda_outbox"] = None  # as if edda-outbox were not installed
        from edda import EddaApp

        async def main():
            await EddaApp(db_url="memory://", outbox_enabled=True, broker_url="http://127.0.0.1:1/").initialize()

        asyncio.run(main())
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "pip install edda-outbox" in proc.stderr

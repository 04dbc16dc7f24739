"""Run one extracted seed example through its harness, in this fresh interpreter.

    python -m tests.seed_examples.harnesses.run EXAMPLE_ID

(test_seed_examples.py does this with the working directory and environment described in ``_support.py``.) The
example's entry in manifest.json names its harness module; that module's ``SCENARIOS[EXAMPLE_ID]`` is an async
function of a :class:`~tests.seed_examples.harnesses._support.Run` that runs the example and checks what it did.
"""

from __future__ import annotations

import asyncio
import faulthandler
import importlib
import json
import os
import sys
from pathlib import Path

from tests.seed_examples.harnesses._support import Run, redirect_postgresql

HERE = Path(__file__).resolve().parents[1]


def main(example_id: str) -> int:
    manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    entry = next(e for e in manifest["examples"] if e["id"] == example_id)
    module = importlib.import_module(f"tests.seed_examples.harnesses.{entry['harness']}")
    scenario = module.SCENARIOS[example_id]
    run = Run(
        example_id=example_id,
        path=HERE / entry["file"],
        backend=os.environ.get("EDDA_SEED_BACKEND", "sqlite"),
        db_url=os.environ.get("EDDA_SEED_DB_URL", "sqlite:///harness.db"),
    )
    redirect_postgresql(run)
    asyncio.run(scenario(run))
    if not run.checks:
        print(f"{example_id}: the harness checked nothing", file=sys.stderr)
        return 3
    # The example's program must also end: if a thread it left running (an app never shut down, say) keeps the
    # interpreter alive, say so with every thread's stack instead of hanging until the test's timeout.
    print(f"{example_id}: checks done; the process should exit now", file=sys.stderr, flush=True)
    faulthandler.dump_traceback_later(15, exit=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))

"""0.16's names in edda.storage keep working: StorageProtocol (the interface) and SQLAlchemyStorage (lazily)."""

from __future__ import annotations

import subprocess
import sys

from edda.storage import Storage, StorageProtocol


def test_storage_protocol_is_the_storage_interface() -> None:
    assert StorageProtocol is Storage


def test_sqlalchemy_storage_resolves_lazily_from_the_sql_package() -> None:
    code = (
        "import sys, edda.storage as s\n"
        "assert 'edda_storage_sql' not in sys.modules\n"  # importing edda.storage does not load the SQL package
        "from edda.storage import SQLAlchemyStorage\n"
        "import edda_storage_sql\n"
        "assert SQLAlchemyStorage is edda_storage_sql.SQLAlchemyStorage\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr

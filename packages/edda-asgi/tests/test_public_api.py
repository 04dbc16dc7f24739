"""The public surface: exported names, the seed's import paths, and the errors when edda-asgi is missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import edda_asgi


def test_all_is_exactly_the_public_names() -> None:
    assert sorted(edda_asgi.__all__) == ["EddaASGIApp", "create_asgi_app", "create_wsgi_app"]
    public = {n for n in vars(edda_asgi) if not n.startswith("_")} - {"annotations"}
    assert public == set(edda_asgi.__all__)


def test_seed_import_path_is_the_same_function() -> None:
    from edda.wsgi import create_wsgi_app

    assert create_wsgi_app is edda_asgi.create_wsgi_app


def run_without_edda_asgi(code: str) -> subprocess.CompletedProcess[str]:
    prelude = "import sys\nsys.modules['edda_asgi'] = None  # as if edda-asgi were not installed\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )


def test_missing_package_error_names_the_install_line() -> None:
    proc = run_without_edda_asgi("from edda.wsgi import create_wsgi_app")
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "pip install edda-asgi" in proc.stderr


def test_serving_an_edda_app_without_edda_asgi_names_the_install_line() -> None:
    proc = run_without_edda_asgi(
        """
        import asyncio
        from edda import EddaApp

        async def main():
            await EddaApp(db_url="memory://")({"type": "http"}, None, None)

        asyncio.run(main())
        """
    )
    assert proc.returncode != 0 and "pip install edda-asgi" in proc.stderr

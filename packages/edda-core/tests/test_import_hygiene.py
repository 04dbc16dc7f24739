"""`import edda` loads only the standard library; the public surface is exactly what __all__ says."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types

import edda


def test_import_edda_loads_only_the_standard_library() -> None:
    code = textwrap.dedent("""
        import json, sys
        before = set(sys.modules)
        import edda, edda.storage, edda.testing, edda.retry, edda.hooks, edda.exceptions, edda.serialization
        loaded = sorted(set(sys.modules) - before)
        print(json.dumps(loaded))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    stdlib = sys.stdlib_module_names
    foreign = sorted({m.split(".")[0] for m in loaded} - set(stdlib) - {"edda"})
    assert "edda" in {m.split(".")[0] for m in loaded}
    assert foreign == [], f"import edda loaded non-stdlib modules: {foreign}"


def test_public_names_are_exactly_all() -> None:
    # Submodules become attributes once anything imports them (edda.wsgi, edda.testing, ...); they are not
    # part of the star-export surface.
    public = {name for name in dir(edda) if not name.startswith("_")}
    modules = {name for name in public if isinstance(getattr(edda, name), types.ModuleType)}
    assert public - modules - {"annotations"} == set(edda.__all__)
    for name in edda.__all__:
        assert getattr(edda, name) is not None

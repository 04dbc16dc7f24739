"""Every package's metadata agrees: one version, exact pins between first-party packages, the same project URLs and
license, and a README whose links work on PyPI (absolute URLs only: PyPI cannot resolve a path into the repo)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.packaging._venvs import FIRST_PARTY, PACKAGES, ROOT, VERSION

REPOSITORY = "https://github.com/edda-framework/edda"
PUBLISHED = Version("0.16.2")  # the last edda-framework release of the single-package era, on PyPI


def project(package: Path) -> dict[str, Any]:
    return tomllib.loads((package / "pyproject.toml").read_text())["project"]


def requirements(meta: dict[str, Any]) -> list[Requirement]:
    reqs = [Requirement(r) for r in meta.get("dependencies", [])]
    for extra in meta.get("optional-dependencies", {}).values():
        reqs += [Requirement(r) for r in extra]
    return reqs


@pytest.fixture(params=PACKAGES, ids=lambda p: p.name)
def package(request: pytest.FixtureRequest) -> Path:
    return request.param


def test_the_workspace_has_the_expected_packages() -> None:
    assert {"edda-core", "edda-storage-sql", "edda-asgi", "edda-outbox", "edda-framework"} <= FIRST_PARTY


def dunder_versions(package: Path) -> dict[str, list[str]]:
    """``__version__`` assignments in the package's top-level ``__init__.py`` files, by import name."""
    return {
        init.parent.name: re.findall(r'^__version__ = "([^"]+)"$', init.read_text(), re.MULTILINE)
        for init in sorted((package / "src").glob("*/__init__.py"))
    }


def test_one_version_for_every_package_and_its_dunder_version(package: Path) -> None:
    assert project(package)["version"] == VERSION
    assert Version(VERSION) > PUBLISHED
    for import_name, versions in dunder_versions(package).items():
        assert versions in ([], [VERSION]), f"{import_name}.__version__ is {versions}, the distribution is {VERSION}"


def test_edda_dunder_version() -> None:
    assert dunder_versions(ROOT / "packages/edda-core") == {"edda": [VERSION]}


def test_first_party_requirements_pin_the_exact_version(package: Path) -> None:
    for req in requirements(project(package)):
        if canonicalize_name(req.name) in FIRST_PARTY:
            assert str(req.specifier) == f"=={VERSION}", f"{package.name}: {req}"


def test_the_workspace_root_knows_every_package() -> None:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert set(root["tool"]["uv"]["sources"]) >= FIRST_PARTY
    dev = {canonicalize_name(Requirement(r).name) for r in root["dependency-groups"]["dev"]}
    assert dev >= FIRST_PARTY


def test_license_urls_and_readme(package: Path) -> None:
    meta = project(package)
    assert meta["license"] == "MIT"
    assert meta["readme"] == "README.md" and (package / "README.md").is_file()
    urls = meta["urls"]
    assert urls["Repository"] == REPOSITORY
    assert urls["Homepage"] == REPOSITORY
    assert urls["Documentation"].startswith(REPOSITORY + "/")
    assert urls["Issues"] == REPOSITORY + "/issues"
    assert all(url.startswith("https://") for url in urls.values())


def test_the_license_file() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 The Edda authors" in text


def test_edda_framework_forwards_the_seed_extras() -> None:
    meta = project(ROOT / "packages/edda-framework")
    deps: dict[str, Requirement] = {
        canonicalize_name(Requirement(r).name): Requirement(r) for r in meta["dependencies"]
    }
    assert set(deps) == {"edda-core", "edda-storage-sql", "edda-asgi", "edda-outbox"}
    assert deps["edda-storage-sql"].extras == {"sqlite"}
    extras = {name: [Requirement(r) for r in reqs] for name, reqs in meta["optional-dependencies"].items()}
    expected = {"postgresql": {"postgresql"}, "postgres-notify": {"postgresql"}, "mysql": {"mysql"}}
    integrations = {"viewer", "mcp", "opentelemetry", "mirascope", "llamaindex", "graph"}
    assert set(extras) == set(expected) | integrations
    for name in integrations:  # one package per integration, so installing one never pulls in another's deps
        assert [(r.name, r.extras) for r in extras[name]] == [(f"edda-{name}", set())]
    for name, storage_extras in expected.items():
        assert [(r.name, r.extras) for r in extras[name]] == [("edda-storage-sql", storage_extras)]
    storage = project(ROOT / "packages/edda-storage-sql")["optional-dependencies"]
    assert {"sqlite", "postgresql", "mysql"} <= set(storage)


# -- links in package READMEs -----------------------------------------------------------------------------------

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")
_LINK_TARGETS = (
    re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]*)"),  # [text](target), ![alt](target)
    re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S*?)>?(?:\s|$)", re.MULTILINE),  # [ref]: target
    re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']*)["']""", re.IGNORECASE),  # HTML
)
_ABSOLUTE = re.compile(r"^(https?|mailto):", re.IGNORECASE)


def relative_links(markdown: str) -> list[str]:
    """Link targets that are not absolute URLs (paths, ``#anchors``): they break on PyPI."""
    text = _CODE.sub("", _FENCE.sub("", markdown))
    return [t for pattern in _LINK_TARGETS for t in pattern.findall(text) if not _ABSOLUTE.match(t)]


def test_relative_links_are_found() -> None:
    sample = """
[docs](../../docs/index.md) [ok](https://example.org/x) ![logo](img/logo.png) [top](#install)
[ref]: ./CHANGES.md
<a href="docs/x.md">x</a> <img src="https://example.org/i.png">
`[not a link](in/code.md)`
```python
[also not](fenced/code.md)
```
"""
    assert sorted(relative_links(sample)) == sorted(
        ["../../docs/index.md", "img/logo.png", "#install", "./CHANGES.md", "docs/x.md"]
    )


def test_package_readmes_have_only_absolute_links(package: Path) -> None:
    assert relative_links((package / "README.md").read_text()) == []


# -- one integration never pulls in another one's dependencies ---------------------------------------------------

INTEGRATIONS = {  # package -> the third-party distribution that is the reason it exists
    "edda-viewer": "nicegui",
    "edda-mcp": "mcp",
    "edda-opentelemetry": "opentelemetry-sdk",
    "edda-mirascope": "mirascope",
    "edda-llamaindex": "llama-index-workflows",
    "edda-graph": "pydantic-graph",
}


def lock_closure(name: str) -> set[str]:
    """Every distribution ``name`` needs, by the resolution recorded in uv.lock (all extras of its dependencies)."""
    packages = {p["name"]: p for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        entry = packages[current]
        deps = list(entry.get("dependencies", []))
        for extra in {e for d in deps for e in d.get("extra", [])}:
            deps += entry.get("optional-dependencies", {}).get(extra, [])
        todo += [d["name"] for d in deps]
    return seen


@pytest.mark.parametrize("integration", sorted(INTEGRATIONS))
def test_an_integration_pulls_in_no_other_integration(integration: str) -> None:
    closure = lock_closure(integration)
    assert INTEGRATIONS[integration] in closure  # the closure is read right
    others = {pkg: dist for pkg, dist in INTEGRATIONS.items() if pkg != integration}
    assert not set(others) & closure, f"{integration} pulls in {set(others) & closure}"
    assert not set(others.values()) & closure, f"{integration} pulls in {set(others.values()) & closure}"

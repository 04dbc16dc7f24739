"""Extract every code example of the seed documents into tests/seed_examples/examples/ and write manifest.json.

    uv run python tests/seed_examples/extract.py

The seeds live in ``<repo>/../shared/seeds`` (override with EDDA_SEEDS_DIR). Each code block found there (see
``_readers.py`` for how blocks are found in each seed's shape, ``_layout.py`` for how a flattened block gets its
line breaks and indentation back) becomes one file, ``<seed prefix>_<NN>_<slug>.<ext>``, whose header names the
seed file and block. Blocks that are the same example apart from whitespace are written once; the manifest lists
where else they appear. What each example needs to run (its harness, its databases, or why it cannot run yet)
comes from ``catalog.py``; an example that catalog does not know fails the tests until someone decides.

``test_seed_examples.py`` runs the extraction again in memory and fails when the result differs from what is
committed, so a seed that gains, loses or changes an example is noticed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tests.seed_examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.seed_examples import catalog, layout_hints
from tests.seed_examples._classify import free_names, is_program, slug, top_level_await
from tests.seed_examples._layout import LayoutError, check, restore, signature
from tests.seed_examples._readers import RawBlock, read_seed

__all__ = ["HERE", "Example", "build", "seeds_dir"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLES = HERE / "examples"
MANIFEST = HERE / "manifest.json"
_EXT = {"python": "py", "bash": "sh", "json": "json.txt", "mermaid": "mmd.txt", "text": "txt"}
_KIND = {"bash": "shell", "json": "non-python", "mermaid": "non-python", "text": "non-python"}


def seeds_dir() -> Path:
    return Path(os.environ.get("EDDA_SEEDS_DIR") or ROOT.parent / "shared" / "seeds")


@dataclass
class Example:
    block: RawBlock
    source: str  # normalised text
    sig: str
    layout: str  # as-written | restored
    also_in: list[RawBlock]

    @property
    def prefix(self) -> str:
        return self.block.source.split("_", 1)[0]


def layout_key(block: RawBlock) -> str:
    """How layout_hints.py names a block: a hash of its text without whitespace."""
    return hashlib.sha256(signature("".join(c.text for c in block.chunks)).encode()).hexdigest()[:12]


def _restore(block: RawBlock) -> tuple[str, str]:
    if block.lang != "python":
        return "\n".join(c.text for c in block.chunks).strip("\n") + "\n", "as-written"
    key = layout_key(block)
    try:
        text = restore(block.chunks, layout_hints.HINTS.get(key))
        check(block.chunks, text, lang=block.lang)
    except LayoutError as exc:
        raise LayoutError(
            f"{block.source} block {block.index} (line {block.line}, layout key {key}): {exc}; "
            "add or fix its entry in tests/seed_examples/layout_hints.py"
        ) from exc
    exact = len(block.chunks) == 1 and block.chunks[0].mode == "indented"
    return text, "as-written" if exact else "restored"


def _slug(ex: Example) -> str:
    if ex.block.lang == "python":
        return slug(ex.source)
    first = next((line for line in ex.source.splitlines() if line.strip() and not line.startswith("#")), "")
    words = re.findall(r"[A-Za-z0-9]+", first.removeprefix("$ "))[:3]
    return "_".join(w.lower() for w in words) or ex.block.lang


def _examples() -> list[Example]:
    seeds = sorted(p for p in seeds_dir().iterdir() if p.is_file() and p.name != "README.md")
    if not seeds:
        raise FileNotFoundError(f"no seed documents in {seeds_dir()}")
    groups: dict[tuple[str, str], list[tuple[RawBlock, str, str]]] = {}
    for path in seeds:
        for block in read_seed(path):
            text, layout = _restore(block)
            key = (block.lang if block.lang == "python" else "other", signature(text))
            groups.setdefault(key, []).append((block, text, layout))
    examples = []
    for (_, sig), members in groups.items():
        # the canonical copy: one whose layout is the seed's own, else the first in file order
        canonical = min(members, key=lambda m: (m[2] != "as-written", m[0].source, m[0].index))
        others = [m[0] for m in members if m is not canonical]
        examples.append(Example(canonical[0], canonical[1], sig, canonical[2], others))
    examples.sort(key=lambda e: (e.block.source, e.block.index))
    return examples


def _header(ex: Example, ident: str) -> str:
    b = ex.block
    lines = [
        f"Extracted from the seed {b.source}, code block {b.index} (line {b.line}), by tests/seed_examples/extract.py.",
        "Do not edit: run extract.py again when the seeds change.",
    ]
    if ex.also_in:
        lines.append("Also in: " + ", ".join(f"{o.source} block {o.index}" for o in ex.also_in) + ".")
    if ex.layout != "as-written":
        lines.append("The seed lost this block's layout; only line breaks and indentation were restored.")
    if b.lang == "python":
        return "".join(f"# {line}\n" for line in lines) + "# ruff: noqa\n# fmt: off\n\n"
    return "".join(f"# {line}\n" for line in lines) + "\n"


def build() -> tuple[dict, dict[str, str]]:
    """The manifest and the example files (path relative to this directory -> content), computed from the seeds."""
    examples = _examples()
    entries = []
    files: dict[str, str] = {}
    per_seed: dict[str, int] = {}
    seen_ids: set[str] = set()
    for ex in examples:
        ident = f"{ex.prefix}_{ex.block.index:02d}_{_slug(ex)}"
        assert ident not in seen_ids, ident
        seen_ids.add(ident)
        kind = _KIND.get(ex.block.lang) or ("program" if is_program(ex.source) else "fragment")
        decision = catalog.EXAMPLES.get(ident, {})
        entry = {
            "id": ident,
            "file": f"examples/{ident}.{_EXT[ex.block.lang]}",
            "source": ex.block.source,
            "block": ex.block.index,
            "line": ex.block.line,
            "also_in": [f"{o.source}#{o.index}" for o in ex.also_in],
            "lang": ex.block.lang,
            "kind": kind,
            "layout": ex.layout if ex.layout == "as-written" else f"{ex.layout} (layout key {layout_key(ex.block)})",
            "sha256": hashlib.sha256(ex.source.encode()).hexdigest(),
        }
        if ex.block.lang == "python":
            entry["needs"] = free_names(ex.source)
            entry["top_level_await"] = top_level_await(ex.source)
            names_postgres = "postgresql://" in ex.source
            entry["backends"] = ["sqlite", "postgresql"] if names_postgres else ["sqlite"]
            entry["harness"] = decision.get("harness", "unassigned")
            entry["status"] = decision.get("status", "unassigned: add this example to catalog.py")
            entry["requires"] = list(decision.get("requires", ()))
        else:
            entry["status"] = decision.get("status", "recorded")
            if "output_of" in decision:
                entry["output_of"] = decision["output_of"]
        entries.append(entry)
        files[entry["file"]] = _header(ex, ident) + ex.source
        for b in [ex.block, *ex.also_in]:
            per_seed[b.source] = per_seed.get(b.source, 0) + 1
    unknown = set(catalog.EXAMPLES) - seen_ids
    manifest = {
        "about": "Generated by tests/seed_examples/extract.py from the seed documents; do not edit.",
        "blocks_per_seed": dict(sorted(per_seed.items())),
        "examples": entries,
        "catalog_entries_without_example": sorted(unknown),
    }
    return manifest, files


def render_manifest(manifest: dict) -> str:
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    manifest, files = build()
    EXAMPLES.mkdir(exist_ok=True)
    for stale in EXAMPLES.iterdir():
        if f"examples/{stale.name}" not in files:
            stale.unlink()
    for rel, content in files.items():
        (HERE / rel).write_text(content, encoding="utf-8")
    MANIFEST.write_text(render_manifest(manifest), encoding="utf-8")
    counts: dict[str, int] = {}
    for e in manifest["examples"]:
        counts[e["kind"]] = counts.get(e["kind"], 0) + 1
    print(f"{len(manifest['examples'])} examples ({counts}) from {manifest['blocks_per_seed']}")
    unassigned = [e["id"] for e in manifest["examples"] if e["status"].startswith("unassigned")]
    if unassigned:
        print("not in catalog.py yet: " + ", ".join(unassigned))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

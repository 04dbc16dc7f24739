"""Depths that the layout rules in _layout.py cannot decide, for blocks whose indentation the seed lost.

Keyed by the block's layout key (a hash of its text without whitespace, shown in manifest.json and in extract.py's
error message); each entry maps a line (stripped) to its depth, 0 being the left margin. A hint can only move a line
left or right: extract.py checks that the result is still the seed's text once whitespace is removed, and fails on a
hint that matches no line. Add one only where the text itself leaves no doubt: the rules keep a line in the block
above it, so a ``return`` that follows a loop or an ``if`` needs one.
"""

from __future__ import annotations

HINTS: dict[str, dict[str, int]] = {
    # 004 "Deterministic Conditions": the return follows the if/else, it is not part of the else branch
    "789aa1f1ccb8": {'return {"status": payment["status"]}': 1},
    # 004 "Loops in Workflows": the return follows the loop (inside it, only one item would be processed)
    "eaec0a80ccca": {'return {"processed": len(results)}': 1},
    # 004 "Common Methods": the activity returns whether or not it is replaying
    "ba39a32be2fc": {'return {"step": step, "param": param}': 1},
}

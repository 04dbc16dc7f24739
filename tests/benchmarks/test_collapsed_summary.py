"""The py-spy profile summary (benchmarks/profiles/collapsed_summary.py) counts samples per process and per frame."""

from __future__ import annotations

from benchmarks.profiles.collapsed_summary import summarize

RAW = [
    'process 11:"python -m benchmarks.scaleworker";thread (0x1);run (asyncio/runners.py:44);'
    "commit_step (edda_storage_sql/_storage.py:308);encode (site-packages/edda_storage_sql/_commit.py:12) 30\n",
    'process 11:"python -m benchmarks.scaleworker";thread (0x1);run (asyncio/runners.py:44);'
    "replay (edda/_engine.py:56) 10\n",
    'process 13:"python -m benchmarks run";process 12:"python -m benchmarks.scaleworker";thread (0x1);run (asyncio/runners.py:44);'
    "replay (edda/_engine.py:60) 20\n",
    'process 13:"python -m benchmarks run";thread (0x1);main (benchmarks/cli.py:3) 40\n',
    "a line that is not a sample\n",
]


def test_samples_per_process_and_per_frame() -> None:
    text = summarize(RAW, match="scaleworker", top=5)
    assert text.startswith("60 samples in 2 process(es) matching 'scaleworker'")
    assert "     40  process 11" in text and "     20  process 12" in text and "process 13" not in text
    inclusive, own = text.split("self (share")
    assert "100.0 %  run (asyncio/runners.py)" in inclusive
    assert " 50.0 %  replay (edda/_engine.py)" in inclusive  # lines 56 and 60 are one function
    assert " 50.0 %  commit_step (edda_storage_sql/_storage.py)" in inclusive
    assert " 50.0 %  replay (edda/_engine.py)" in own and " 50.0 %  encode (edda_storage_sql/_commit.py)" in own
    assert "run (asyncio" not in own


def test_every_process_without_a_match() -> None:
    assert summarize(RAW, match=None, top=3).startswith("100 samples in 3 process(es)\n")


def test_stacks_within_and_without_a_frame() -> None:
    text = summarize(RAW, match=None, top=5, within="replay", without=())
    assert text.startswith("30 samples in 2 process(es), in replay\n")
    text = summarize(RAW, match=None, top=5, within="run (", without=("commit_step",))
    assert text.startswith("30 samples in 2 process(es), in run (, not in commit_step\n")

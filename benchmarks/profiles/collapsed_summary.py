"""Summarize a py-spy ``--format raw`` profile (collapsed stacks) as text: where each process spent its CPU.

    py-spy record --subprocesses --rate 200 --format raw -o w9.raw -- \\
        uv run python -m benchmarks run --workloads W9 --variant "4 processes" --runs 1 --db postgres
    uv run python -m benchmarks.profiles.collapsed_summary w9.raw [--top 25] [--match edda_workloads]
        [--within "Worker._run_task"] [--without "EddaScale.setup"]

py-spy samples only threads that are running (not idle, unless ``--idle``), so a process's samples ÷ the rate is the
CPU time it used. For each process whose command line matches ``--match`` (all by default), and for those processes
together (or only the stacks through a frame, ``--within``, or not through one, ``--without``): samples, and the
functions with the most samples, inclusive (the function or what it called) and self (the
function's own code). Frames are ``function (file)``, as py-spy writes them, without line numbers.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _frame(raw: str) -> str:
    match = _FRAME.match(raw.strip())
    if match is None:
        return raw.strip()
    path = match.group("file")
    for marker in ("site-packages/", "/src/", "/benchmarks/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match.group('func')} ({path})"


def summarize(
    lines: list[str], *, match: str | None, top: int, within: str | None = None, without: tuple[str, ...] = ()
) -> str:
    processes: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        # With --subprocesses a stack starts with the chain of processes down to the one sampled.
        chain = [f for f in frames if f.startswith("process ")]
        process = chain[-1] if chain else "?"
        if match is not None and match not in process:
            continue
        names = [_frame(f) for f in frames if not f.startswith(("thread (", "process "))]
        if within is not None and not any(name.startswith(within) for name in names):
            continue
        if any(name.startswith(prefix) for name in names for prefix in without):
            continue
        count = int(count_text)
        processes[process] += count
        total += count
        for name in set(names):
            inclusive[name] += count
        if names:
            own[names[-1]] += count
    scope = (f" matching {match!r}" if match else "") + (f", in {within}" if within else "")
    scope += "".join(f", not in {prefix}" for prefix in without)
    out = [f"{total} samples in {len(processes)} process(es){scope}"]
    for process, count in processes.most_common():
        out.append(f"  {count:7d}  {process[:150]}")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        out.append(f"\nTop {top} functions, {title} (share of the samples above):")
        for name, count in counter.most_common(top):
            out.append(f"  {100 * count / max(total, 1):5.1f} %  {name}")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default=None, help="only processes whose command line contains this")
    parser.add_argument("--within", default=None, help="only stacks with a frame whose name starts with this")
    parser.add_argument("--without", action="append", default=[], help="drop stacks with a frame starting so")
    args = parser.parse_args()
    lines = args.raw.read_text().splitlines()
    text = summarize(lines, match=args.match, top=args.top, within=args.within, without=tuple(args.without))
    print(text, end="")


if __name__ == "__main__":
    main()

"""Child side of runner probes, and readers of ``/proc`` (stdlib only).

A probe asks the runner, between two phases of a measurement, to look at what the child cannot see itself from any
system's virtualenv: the database's size, PostgreSQL's WAL written for this database and its commits since the last
probe, the CPU time of the child's process group and of the database server, the bytes the process group wrote to
storage (see :mod:`benchmarks.probing` for the runner side). The child waits for the answer, so nothing it times
runs while the runner looks. Outside the runner (a child started by hand) a probe answers ``{}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class _Sender(Protocol):
    def send(self, event: str, **fields: Any) -> None: ...

    async def read_line(self) -> str: ...


_channel: _Sender | None = None


def install(channel: _Sender) -> None:
    """Route probes through the child's protocol channel (called by :func:`benchmarks.harness.run_child`)."""
    global _channel
    _channel = channel


async def probe(label: str, *, wal: bool = False) -> dict[str, Any]:
    """Ask the runner to take a snapshot now; returns ``{"db_bytes": ..., "delta": {...}}`` (``delta``: the change
    since the previous probe of this child, absent at the first), or ``{}`` when not run by the runner. ``wal``:
    also count PostgreSQL's commits and WAL bytes of this database since the previous probe (slow on long ranges)."""
    if _channel is None:
        return {}
    _channel.send("probe", label=label, wal=wal)
    line = await _channel.read_line()
    if not line:
        return {}
    reply = json.loads(line)
    return reply if isinstance(reply, dict) else {}


def delta(reply: dict[str, Any], key: str) -> float | None:
    """A number from a probe reply's ``delta``, or ``None`` if the runner could not measure it."""
    value = reply.get("delta", {}).get(key)
    return float(value) if isinstance(value, int | float) else None


def vm_kib(field: str, pid: int | str = "self") -> int | None:
    """A ``Vm*`` line of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``...) in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int | str) -> float | None:
    """User + system CPU time of one process (all its threads), from ``/proc/<pid>/stat``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def io_write_bytes(pid: int | str) -> int | None:
    """Bytes the process caused to be written to storage (``write_bytes`` of ``/proc/<pid>/io``)."""
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def process_group(pgid: int) -> list[int]:
    """Pids of the live processes of process group ``pgid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


def processes_named(names: tuple[str, ...]) -> list[int]:
    """Pids whose command name (``/proc/<pid>/comm``) is one of ``names``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in names:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def machine_cpu() -> tuple[float, float]:
    """``(busy, total)`` CPU seconds of the whole machine since boot, summed over its cores (``/proc/stat``)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS

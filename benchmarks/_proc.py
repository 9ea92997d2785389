"""Another process's CPU time and RSS, read from /proc (proc(5)); for benchmarks that run PAAs."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_seconds", "cpu_split", "rss_bytes", "wakeups"]

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process so far, in seconds; the split is sampled at clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far, in seconds (all its threads)."""
    return sum(cpu_split(pid))


def wakeups(pid: int) -> int:
    """Voluntary context switches of all a process's threads so far: how often it slept."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except FileNotFoundError:  # a thread that just ended
            continue
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


def rss_bytes(pid: int) -> int:
    """Resident set size in octets (VmRSS of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")

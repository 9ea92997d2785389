"""benchmarks._proc: another process's CPU split and sleeps, read from /proc (by counting)."""

from __future__ import annotations

import os
import time

import pytest

from benchmarks._proc import cpu_seconds, cpu_split, wakeups
from benchmarks.udp_floor import servers
from tests.realcomponents import linux_only


@linux_only
def test_sleeps_are_counted_as_voluntary_switches() -> None:
    """Each sleep is one voluntary context switch of this process (or more, never fewer)."""
    before = wakeups(os.getpid())
    for _ in range(20):
        time.sleep(0.001)
    assert wakeups(os.getpid()) - before >= 20


@linux_only
def test_cpu_split_adds_up_to_cpu_seconds() -> None:
    """utime + stime is the CPU time (read twice, so within a few clock ticks)."""
    sum(i * i for i in range(200_000))  # some user time to see
    user, system = cpu_split(os.getpid())
    assert user > 0 and system >= 0
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert cpu_seconds(os.getpid()) == pytest.approx(user + system, abs=5 * tick)


@linux_only
@pytest.mark.udp
@pytest.mark.parametrize("kind", servers())  # uvloop's row where the `fast` extra is installed
def test_udp_floor_servers_sleep_once_per_datagram(kind: str) -> None:
    """Ping-pong with a think time: each echo server waits for every datagram, so it sleeps about
    once for each (the floor is a cost per wake-up, as at one PaC). Without the think time the
    next datagram is often queued before the server looks again."""
    from benchmarks.udp_floor import measure

    result = measure(kind, datagrams=300, think=0.0003, warmup=20)
    assert 0.9 <= result["sleeps_per_datagram"] <= 1.5

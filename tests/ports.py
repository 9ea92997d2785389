"""Loopback UDP ports for tests that hand a port to another process (check, release, bind)."""

from __future__ import annotations

import functools
import random
import socket
import subprocess
from collections.abc import Collection

import pytest

__all__ = ["free_udp_ports", "tshark_udp_ports"]


def free_udp_ports(n: int = 1, *, avoid: Collection[int] = ()) -> int:
    """The first of ``n`` consecutive UDP ports in 20000-32767 free on 127.0.0.1 right now.

    Below the kernel's ephemeral range (32768-60999): a port taken with bind(0) and released
    can be handed to any other socket that binds port 0 (load generators and parallel test runs
    bind thousands on loopback) before the process the test starts binds it. One such foreign
    PaC put its PANA exchange into a capture under this run's port. No port of the block is in
    ``avoid``.
    """
    rng = random.SystemRandom()
    for _ in range(50):
        base = rng.randint(20000, 32767 - n + 1)
        if any(port in avoid for port in range(base, base + n)):
            continue
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    pytest.fail(f"no block of {n} free UDP ports found")


@functools.cache
def tshark_udp_ports(tshark: str) -> frozenset[int]:
    """The UDP ports tshark hands to a dissector by number (``tshark -G decodes``).

    tshark tries those before its heuristic dissectors, PANA's among them: a datagram on UDP
    27960 is QUAKE3 to it, and its one-line summary then shows no port numbers. A capture test
    whose ports or probe port fell on one (22 of 20000-32767 in tshark 4.0) failed every time.
    """
    out = subprocess.run(
        [tshark, "-G", "decodes"], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    ports = set()
    for line in out.splitlines():
        table, _, rest = line.partition("\t")
        value = rest.partition("\t")[0]
        if table == "udp.port" and value.isdigit():
            ports.add(int(value))
    return frozenset(ports)

"""Loopback UDP ports for tests that hand a port to another process (check, release, bind)."""

from __future__ import annotations

import random
import socket

import pytest

__all__ = ["free_udp_ports"]


def free_udp_ports(n: int = 1) -> int:
    """The first of ``n`` consecutive UDP ports in 20000-32767 free on 127.0.0.1 right now.

    Below the kernel's ephemeral range (32768-60999): a port taken with bind(0) and released
    can be handed to any other socket that binds port 0 (load generators and parallel test runs
    bind thousands on loopback) before the process the test starts binds it. One such foreign
    PaC put its PANA exchange into a capture under this run's port.
    """
    rng = random.SystemRandom()
    for _ in range(50):
        base = rng.randint(20000, 32767 - n + 1)
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

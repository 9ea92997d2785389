"""The one randomness source of the EAP layer: an ``Rng`` callable and the system default."""

from __future__ import annotations

import secrets
from collections.abc import Callable

__all__ = ["Rng", "system_rng"]

Rng = Callable[[int], bytes]
"""Randomness source: rng(n) returns n random octets; tests pass a seeded one."""


def system_rng(n: int) -> bytes:
    """``n`` octets from the operating system's CSPRNG (secrets.token_bytes)."""
    return secrets.token_bytes(n)

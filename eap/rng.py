"""The one randomness type of the stack and its default source (the OS CSPRNG via ``secrets``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

__all__ = ["Rng", "system_rng"]

Rng = Callable[[int], bytes]
"""``rng(n)`` returns ``n`` random octets; tests pass a seeded source for determinism."""

system_rng: Rng = secrets.token_bytes
"""The default: the operating system's CSPRNG (``secrets.token_bytes``)."""

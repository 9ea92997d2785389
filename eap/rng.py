"""The one randomness type of the stack and its default source (the OS CSPRNG via ``secrets``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

__all__ = ["Rng", "system_rng"]

Rng = Callable[[int], bytes]
"""``rng(n)`` returns ``n`` random octets; tests pass a seeded source for determinism."""

system_rng: Rng = secrets.SystemRandom().randbytes
"""The default: the operating system's CSPRNG (``os.urandom``). ``secrets.token_bytes(n)`` is
this same method behind one more Python frame; the PAA draws 8 times per authentication."""

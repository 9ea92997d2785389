"""Key material that never prints: Secret and KeyMaterial (MSK/EMSK, RFC 5247)."""

from __future__ import annotations

import hmac
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["DerivedCache", "KeyMaterial", "Secret"]

T = TypeVar("T")


class Secret:
    """Key bytes that never print. Call reveal() only where the bytes are used.

    Weak references are allowed, so a method can cache what it derives from a long-term key for
    exactly as long as the key object lives (EAP-PSK's AK/KDK, RFC 4764 s3.1).
    """

    __slots__ = ("__weakref__", "_b")

    def __init__(self, value: bytes) -> None:
        self._b = bytes(value)

    def reveal(self) -> bytes:
        """The key bytes; call only where they are used."""
        return self._b

    def __len__(self) -> int:
        return len(self._b)

    def __repr__(self) -> str:
        return f"Secret(<{len(self._b)} bytes>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._b, other._b)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret cannot be pickled")


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """Keys exported by a key-generating EAP method (RFC 5247 s1.2)."""

    msk: Secret
    emsk: Secret | None = None
    session_id: bytes = b""
    """EAP Session-Id (RFC 5247 Appendix A); not secret."""


class DerivedCache(Generic[T]):
    """What was derived from a Secret, kept exactly as long as that Secret object lives.

    Keyed by the Secret's identity and weakly referenced, so an entry never outlives its key
    (a user table, a peer's configuration, a RADIUS shared secret); at most ``size`` entries,
    the oldest going first. Its repr shows the count only.
    """

    __slots__ = ("_entries", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[int, tuple[weakref.ref[Secret], T]] = {}

    def get(self, secret: Secret, derive: Callable[[Secret], T]) -> T:
        """``derive(secret)``, computed once per Secret object while it lives."""
        key = id(secret)
        entries = self._entries
        entry = entries.get(key)
        if entry is not None and entry[0]() is secret:
            return entry[1]
        value = derive(secret)

        def forget(ref: weakref.ref[Secret]) -> None:
            current = entries.get(key)
            if current is not None and current[0] is ref:
                del entries[key]

        while len(entries) >= self.size:
            entries.pop(next(iter(entries)), None)
        entries[key] = (weakref.ref(secret, forget), value)
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"DerivedCache(<{len(self._entries)} of {self.size}>)"

"""Key material that never prints: Secret and KeyMaterial (MSK/EMSK, RFC 5247)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

__all__ = ["KeyMaterial", "Secret"]


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

"""The method interface for both sides of every EAP method (RFC 4137 s4.4, s5.4)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import ClassVar, Protocol

from ..keys import KeyMaterial
from ..rng import Rng

__all__ = ["AuthMethod", "AuthStep", "Decision", "MethodStep", "PeerMethod", "Rng"]


class Decision(Enum):
    """The peer method's decision (RFC 4137 s4.1.1 methodState/decision)."""

    FAIL = "FAIL"
    COND_SUCC = "COND_SUCC"
    UNCOND_SUCC = "UNCOND_SUCC"


@dataclass(frozen=True, slots=True)
class MethodStep:
    """Peer side: Type-Data to send back, or None to discard the request silently."""

    response: bytes | None
    done: bool = False
    decision: Decision = Decision.FAIL


class PeerMethod(Protocol):
    """Peer side of an EAP method; one instance per conversation."""

    method_type: ClassVar[int]

    def process(self, type_data: bytes, identifier: int) -> MethodStep:
        """Handle one request's Type-Data (after the EAP type octet).

        ``identifier`` is the request's EAP Identifier, which the response repeats; methods that
        protect the EAP header (EAP-PSK's EAX channel, RFC 4764 s3.3) need it.
        """
        ...

    def keys(self) -> KeyMaterial | None:
        """MSK/EMSK once derived, else None."""
        ...


@dataclass(frozen=True, slots=True)
class AuthStep:
    """Server side: the next request's Type-Data, or the method's end.

    ``discard`` means the response failed the method's check (RFC 4137 s5.4 m.check) and is
    ignored; the previous request stays outstanding.
    """

    request: bytes | None = None
    done: bool = False
    success: bool = False
    discard: bool = False


class AuthMethod(Protocol):
    """Server (authenticator) side of an EAP method; one instance per conversation."""

    method_type: ClassVar[int]

    def initial_request(self, identifier: int) -> bytes:
        """Type-Data of the method's first request, sent with Identifier ``identifier``."""
        ...

    def process(self, type_data: bytes, identifier: int, next_identifier: int) -> AuthStep:
        """Handle one response's Type-Data (after the EAP type octet).

        ``identifier`` is the response's EAP Identifier; ``next_identifier`` is the one the next
        request (``AuthStep.request``) will carry.
        """
        ...

    def keys(self) -> KeyMaterial | None:
        """MSK/EMSK once derived and successful, else None."""
        ...

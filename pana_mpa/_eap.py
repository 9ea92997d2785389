"""The EAP contract a PANA session relies on (docs/contracts.md "eap"), as Protocols.

``eap.peer.EapPeer`` and ``eap.authenticator.EapAuthenticator`` fit them structurally, and so do
test doubles; the session layer never inspects an EAP object beyond these members.
"""

from __future__ import annotations

from typing import Protocol

from eap.keys import KeyMaterial

__all__ = [
    "KEY_GENERATING_METHODS",
    "AuthOutputLike",
    "EapPeerLike",
    "EapResultLike",
    "EapServerLike",
    "PeerOutputLike",
    "authorized_lifetime",
]


KEY_GENERATING_METHODS: frozenset[int] = frozenset(
    {
        13,  # EAP-TLS (RFC 5216)
        18,  # EAP-SIM (RFC 4186)
        21,  # EAP-TTLS (RFC 5281)
        23,  # EAP-AKA (RFC 4187)
        25,  # PEAP
        43,  # EAP-FAST (RFC 4851)
        47,  # EAP-PSK (RFC 4764)
        48,  # EAP-SAKE (RFC 4763)
        49,  # EAP-IKEv2 (RFC 5106)
        50,  # EAP-AKA' (RFC 5448)
        51,  # EAP-GPSK (RFC 5433)
        52,  # EAP-pwd (RFC 5931)
        53,  # EAP-EKE (RFC 6124)
        55,  # TEAP (RFC 7170)
    }
)
"""EAP method types that export an MSK (RFC 5247 s1.2): a session using one must have a key."""


class EapResultLike(Protocol):
    """eap.peer.EapResult: how an EAP conversation ended."""

    @property
    def success(self) -> bool: ...
    @property
    def keys(self) -> KeyMaterial | None: ...
    @property
    def method_type(self) -> int | None: ...


class PeerOutputLike(Protocol):
    """eap.peer.PeerOutput."""

    @property
    def response(self) -> bytes | None: ...
    @property
    def result(self) -> EapResultLike | None: ...


class AuthOutputLike(Protocol):
    """eap.authenticator.AuthOutput."""

    @property
    def packet(self) -> bytes | None: ...
    @property
    def result(self) -> EapResultLike | None: ...
    @property
    def pending(self) -> bool: ...


def authorized_lifetime(out: AuthOutputLike) -> int | None:
    """The AAA server's limit on the session lifetime in a success output (None: no limit).

    ``AuthOutput.session_lifetime`` (eap.authenticator) is optional: an output without it has no
    limit. A limit that is not a whole number of seconds, or is negative, fails closed as 0 (no
    service); one above the Unsigned32 range (RFC 5191 s8.8) is no tighter than any configuration.
    """
    value = getattr(out, "session_lifetime", None)
    if value is None:
        return None
    if type(value) is not int or value < 0:
        return 0
    return min(value, 0xFFFFFFFF)


class EapPeerLike(Protocol):
    """eap.peer.EapPeer as a PaC session uses it."""

    def receive(self, packet: bytes) -> PeerOutputLike: ...
    def restart(self) -> None: ...
    def alt_reject(self) -> EapResultLike:
        """RFC 4137 altReject: PANA ended the conversation in failure (RFC 5609 s5.6)."""
        ...


class EapServerLike(Protocol):
    """eap.authenticator.EapServer as a PAA session uses it."""

    def start(self) -> AuthOutputLike: ...
    def receive(self, packet: bytes) -> AuthOutputLike: ...

"""Events a PANA session reports to its owner (frozen dataclasses, drained with next_event())."""

from __future__ import annotations

from dataclasses import dataclass

from eap.keys import Secret

from .address import Address

__all__ = [
    "Authenticated",
    "AuthenticationFailed",
    "PanaEvent",
    "PeerAddressChanged",
    "PingAnswered",
    "PreAuthSwitched",
    "Reauthenticated",
    "SessionStarted",
    "SessionTerminated",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PanaEvent:
    """Base class: every event names its PANA session."""

    session_id: int
    """Session Identifier (RFC 5191 s6.2); 0 before the PAA assigned one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStarted(PanaEvent):
    """The initial PAR/PAN exchange completed (RFC 5191 s4.1)."""

    peer: Address
    """The peer's address."""
    prf_algorithm: int | None
    """Negotiated PRF-Algorithm, None when no PANA SA was negotiated."""
    integrity_algorithm: int | None
    """Negotiated Integrity-Algorithm, None when no PANA SA was negotiated."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Authenticated(PanaEvent):
    """Authentication and authorization succeeded: the session is OPEN (RFC 5191 s4.1)."""

    key_id: int | None
    """Key-Id of the PANA SA; None for a method without MSK (no SA, no AUTH)."""
    lifetime: float
    """Session-Lifetime in seconds granted by the PAA."""
    msk: Secret | None
    """The EAP MSK (for lower-layer keys, RFC 5807); None without a key-generating method."""
    prf_algorithm: int | None
    """Negotiated PRF-Algorithm (None without SA)."""
    integrity_algorithm: int | None
    """Negotiated Integrity-Algorithm (None without SA)."""
    peer: Address
    """The peer's address."""
    identity: bytes | None = None
    """Peer identity from EAP-Response/Identity, when the PAA saw one."""
    ip_reconfiguration: bool = False
    """PaC: the PAA set I, so reconfigure the IP address now (RFC 5191 s4.1, s6.2)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reauthenticated(PanaEvent):
    """A re-authentication succeeded; the new key replaces the old one (RFC 5191 s4.3)."""

    key_id: int | None
    """Key-Id of the new PANA SA (None without MSK)."""
    lifetime: float
    """New Session-Lifetime in seconds."""
    msk: Secret | None
    """The new MSK; None without a key-generating method."""
    by_peer: bool
    """True when the peer started the re-authentication."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationFailed(PanaEvent):
    """Authentication or authorization failed; the session ends (RFC 5191 s4.1, s8.7)."""

    result_code: int
    """Result-Code: 1 PANA_AUTHENTICATION_REJECTED, 2 PANA_AUTHORIZATION_REJECTED."""
    identity: bytes | None = None
    """At the PAA: the peer identity from EAP-Response/Identity, when it saw one."""
    reason: str = ""
    """Why, when this end decided it: at the PAA "EAP failure (PSK)", "not authorized: ..." (e.g.
    a key-generating method but no PANA SA); else ""."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PingAnswered(PanaEvent):
    """A PNR[P] we sent was answered (RFC 5191 s4.2)."""

    round_trip: float
    """Seconds between the first transmission and the answer."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionTerminated(PanaEvent):
    """The session is gone (RFC 5191 s4.4, s5.7, s9)."""

    cause: int | None
    """Termination-Cause of the PTR (int: unknown values are kept); None: no PTR was involved."""
    by_peer: bool
    """True when the peer sent the PTR."""
    reason: str
    """Why: "termination", "lifetime", "retransmissions", "failed", "authentication", "eap"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerAddressChanged(PanaEvent):
    """A valid message arrived from a new PaC address; the session now uses it (RFC 5191 s5.6)."""

    old: Address
    """Previous address."""
    new: Address
    """New address."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PreAuthSwitched(PanaEvent):
    """A pre-authentication session became the serving session (RFC 5873 s3, the MPA switch)."""

    peer: Address
    """At the PAA: the PaC's address after the switch (RFC 5191 s5.6); at the PaC: the PAA's."""

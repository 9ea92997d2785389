"""PacConfig and PaaConfig: frozen, validated session settings (timers, algorithms, lifetime)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from . import crypto
from ._avps import EncryptionAlgorithm, IntegrityAlgorithm, PrfAlgorithm
from .errors import UsageError
from .extension import PanaExtension
from .retransmit import PCI_TIMERS, REQ_TIMERS, TimerParameters

__all__ = [
    "DEFAULT_INTEGRITY_ALGORITHMS",
    "DEFAULT_PRF_ALGORITHMS",
    "SESSION_BYTES",
    "PaaConfig",
    "PacConfig",
    "SessionSettings",
]

logger = logging.getLogger(__name__)

DEFAULT_PRF_ALGORITHMS: tuple[int, ...] = (
    PrfAlgorithm.PRF_HMAC_SHA2_256,
    PrfAlgorithm.PRF_HMAC_SHA1,
)
"""Preference order: HMAC-SHA2-256 (B-route profile), then mandatory HMAC-SHA1 (RFC 5191 s8.6)."""
DEFAULT_INTEGRITY_ALGORITHMS: tuple[int, ...] = (
    IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128,
    IntegrityAlgorithm.AUTH_HMAC_SHA1_160,
)
"""Preference order: HMAC-SHA2-256-128, then mandatory HMAC-SHA1-160 (RFC 5191 s8.3)."""

SESSION_BYTES = 4096
"""What one open EAP-PSK session may cost the PAA, bytes (benchmarks/bench_paa_core.py measures
about 2 KiB, see docs/benchmarks.md); the default session limit is session_memory over this."""


class SessionSettings(Protocol):
    """What the shared core reads of PacConfig and PaaConfig (both fit it structurally)."""

    @property
    def request_timers(self) -> TimerParameters: ...
    @property
    def failed_session_timeout(self) -> float: ...
    @property
    def failed_session_max(self) -> float | None: ...
    @property
    def reauth_fraction(self) -> float | None: ...
    @property
    def nonce_length(self) -> int | None: ...
    @property
    def auth_label(self) -> bytes: ...
    @property
    def key_log(self) -> TextIO | None: ...
    @property
    def extension(self) -> PanaExtension | None: ...


def _check_common(
    prf: tuple[int, ...],
    integrity: tuple[int, ...],
    nonce_length: int | None,
    failed: float,
    encryption: tuple[int, ...] = (),
    failed_max: float | None = None,
) -> None:
    for alg in encryption:
        if alg != EncryptionAlgorithm.AES128_CTR:
            raise UsageError(f"unsupported Encryption-Algorithm {alg}")
    for alg in prf:
        if alg not in crypto.SUPPORTED_PRF:
            raise UsageError(f"unsupported PRF-Algorithm {alg}")
    for alg in integrity:
        if alg not in crypto.SUPPORTED_INTEGRITY:
            raise UsageError(f"unsupported Integrity-Algorithm {alg}")
    if bool(prf) != bool(integrity):
        raise UsageError("PRF and Integrity algorithm lists must both be empty or both non-empty")
    if nonce_length is not None and not 8 <= nonce_length <= 256:
        raise UsageError("nonce_length must be within 8..256 octets (RFC 5191 s8.5)")
    if failed <= 0:
        raise UsageError("failed_session_timeout must be positive")
    if failed_max is not None and failed_max < failed:
        raise UsageError("failed_session_max must be None or at least failed_session_timeout")


@dataclass(frozen=True, kw_only=True)
class PacConfig:
    """Settings of a PaC session (RFC 5191, RFC 5609 PaC machine)."""

    prf_algorithms: tuple[int, ...] = DEFAULT_PRF_ALGORITHMS
    """PRF-Algorithm values the PaC accepts, most preferred first; empty: never build a PANA SA."""
    integrity_algorithms: tuple[int, ...] = DEFAULT_INTEGRITY_ALGORITHMS
    """Integrity-Algorithm values the PaC accepts, most preferred first."""
    nonce_length: int | None = None
    """Nonce octets (8..256); None: the PRF's output size (20 for SHA-1, 32 for SHA-256)."""
    pci_timers: TimerParameters = PCI_TIMERS
    """PCI_IRT/MRT/MRC/MRD (RFC 5191 s9)."""
    request_timers: TimerParameters = REQ_TIMERS
    """REQ_IRT/MRT/MRC/MRD (RFC 5191 s9)."""
    failed_session_timeout: float = 120.0
    """FAILED_SESS_TIMEOUT: give up an unfinished (re-)authentication after this long (RFC 5609)."""
    failed_session_max: float | None = None
    """Opt-in: count FAILED_SESS_TIMEOUT from the peer's last valid message, up to this long in all.

    None (default): the timer runs from the start of the (re-)authentication (RFC 5609). A number:
    every valid, in-sequence message from the peer restarts it, so an authentication that still
    progresses on a lossy link is not cut, but none lasts longer than this (docs/robustness.md).
    """
    reauth_fraction: float | None = None
    """Start re-authentication (PNR[A]) at this fraction of Session-Lifetime; None: never."""
    encryption_algorithms: tuple[int, ...] = (EncryptionAlgorithm.AES128_CTR,)
    """Encryption-Algorithm values the PaC accepts (RFC 6786); empty: never encrypt AVPs."""
    auth_label: bytes = crypto.AUTH_LABEL
    """PANA_AUTH_KEY label; change only to talk to a known-buggy peer (CPANA uses b"IETF")."""
    key_log: TextIO | None = field(default=None, repr=False)
    """Opt-in: write PANA_AUTH_KEYs here for interop debugging (never in production)."""
    pre_authentication: bool = False
    """Pre-authenticate with a candidate PAA (RFC 5873): E on every message until switch()."""
    extension: PanaExtension | None = field(default=None, repr=False)
    """Hooks that add AVPs and observe accepted messages (MPA uses them)."""
    max_message_size: int = 8192
    """Longest PANA message accepted, octets; longer datagrams are dropped before decoding."""
    max_avps: int = 40
    """Most AVPs decoded in one message; more is a drop, found before any AVP is decoded."""

    def __post_init__(self) -> None:
        _check_common(
            self.prf_algorithms,
            self.integrity_algorithms,
            self.nonce_length,
            self.failed_session_timeout,
            self.encryption_algorithms,
            self.failed_session_max,
        )
        if self.reauth_fraction is not None and not 0 < self.reauth_fraction < 1:
            raise UsageError("reauth_fraction must be within (0, 1)")
        if self.max_message_size < 16 or self.max_avps < 1:
            raise UsageError("max_message_size must be >= 16 and max_avps >= 1")
        if self.pre_authentication and not self.prf_algorithms:
            raise UsageError("pre-authentication needs a PANA SA (RFC 5873 s3)")


@dataclass(frozen=True, kw_only=True)
class PaaConfig:
    """Settings of a PAA (RFC 5191, RFC 5609 PAA machine)."""

    prf_algorithms: tuple[int, ...] = DEFAULT_PRF_ALGORITHMS
    """PRF-Algorithm values offered in PAR[S], most preferred first; empty: no PANA SA."""
    integrity_algorithms: tuple[int, ...] = DEFAULT_INTEGRITY_ALGORITHMS
    """Integrity-Algorithm values offered in PAR[S], most preferred first."""
    nonce_length: int | None = None
    """Nonce octets (8..256); None: the PRF's output size."""
    session_lifetime: int = 3600
    """Session-Lifetime granted in PAR[C], seconds (RFC 5191 s8.8); the most: an AAA server's
    authorized lifetime (``AuthOutput.session_lifetime``, RADIUS Session-Timeout) lowers it."""
    require_key: bool = False
    """Authorize only sessions with a PANA SA: MSK-less methods get Result-Code 2 (RFC 5609)."""
    optimized_init: bool = False
    """Piggyback the first EAP request on PAR[S] (RFC 5191 s4.1); PAR[S] is then retransmitted."""
    request_timers: TimerParameters = REQ_TIMERS
    """REQ_IRT/MRT/MRC/MRD (RFC 5191 s9)."""
    failed_session_timeout: float = 120.0
    """Give up an unfinished (re-)authentication after this long (RFC 5609 FAILED_SESS_TIMEOUT)."""
    failed_session_max: float | None = None
    """Opt-in: count FAILED_SESS_TIMEOUT from the peer's last valid message, up to this long in all.

    None (default): the timer runs from the start of the (re-)authentication (RFC 5609). A number:
    every valid, in-sequence message from the peer restarts it, so an authentication that still
    progresses on a lossy link is not cut, but none lasts longer than this (docs/robustness.md).
    """
    reauth_fraction: float | None = None
    """Start PAA re-authentication at this fraction of the lifetime (RFC 5191 erratum 3397)."""
    key_id_start: int | None = None
    """First Key-Id; None: random (OpenPANA style). Each new key adds 1 (RFC 5191 s8.4)."""
    authorize: Callable[[int, bytes | None], bool] | None = field(default=None, repr=False)
    """Policy hook (session_id, identity) -> allowed; False yields Result-Code 2 (s8.7)."""
    encryption_algorithms: tuple[int, ...] = ()
    """Encryption-Algorithm values offered in PAR[S] (RFC 6786); empty (default): no encryption."""
    auth_label: bytes = crypto.AUTH_LABEL
    """PANA_AUTH_KEY label; change only to talk to a known-buggy peer."""
    ip_reconfiguration: bool = False
    """Set I on the PARs of the authentication phase: the PaC should get a new IP address."""
    pci_rate_limit: float | None = None
    """PCIs per second the PAA answers, all sources together (token bucket; RFC 5191 s4.1)."""
    pci_source_rate: float | None = 10.0
    """PCIs per second answered per PaC IP address (burst ``pci_source_burst``); None: no limit.

    A PCI is answered without state, but each answer is a PAR[S] several times its size: the
    limit keeps the PAA from being a reflector toward one spoofed victim."""
    pci_source_burst: int = 64
    """PCIs one PaC address may send at once before ``pci_source_rate`` applies."""
    pci_source_table: int = 64
    """PaC addresses whose PCI rate is tracked, least recently seen forgotten first: to push one
    victim out an attacker must send this many PCIs from other addresses in between."""
    stateless_pci: bool = True
    """Answer a PCI without state (RFC 5191 s4.1; cookie Session-Id and sequence number). False:
    a session from the PCI on, its Session-Id and sequence number from ``rng`` (the optimized
    start always works that way; replays of captures need it)."""
    pci_cookie_rotation: float = 30.0
    """Seconds between new secrets for the Session-Id/sequence cookie of a PAR[S] answering a
    PCI; a PAN[S] is accepted for one to two rotations (RFC 5191 s4.1 stateless PAA)."""
    max_half_open: int = 10_000
    """Sessions still authenticating; beyond it PCIs go unanswered and PAN[S] are refused."""
    unanswered_timeout: float = 30.0
    """A session whose PaC never answered its PAR[S] (PAA-initiated, optimized start) ends
    after this many seconds, not FAILED_SESS_TIMEOUT."""
    max_message_size: int = 8192
    """Longest PANA message accepted, octets; longer datagrams are dropped before decoding
    (RFC 5191 relies on EAP and IP fragmentation, s5.1)."""
    max_avps: int = 40
    """Most AVPs decoded in one message; more is a drop, found before any AVP is decoded."""
    relays: tuple[str, ...] = ()
    """IP addresses of the PANA relays (PREs, RFC 6345) whose PRY messages are accepted; a PRY
    from any other address is discarded."""
    closed_linger: float = 240.0
    """Seconds a closed session still answers a repeat of its last request (lost PTA, s4.4)."""
    max_sessions: int | None = None
    """Refuse new sessions beyond this many (PCI flood, RFC 5191 s4.1); None: derived from
    ``session_memory`` (see ``session_limit``)."""
    session_memory: int = 1 << 30
    """Bytes of session state the PAA may hold when ``max_sessions`` is None: the limit is
    ``session_memory // SESSION_BYTES`` (1 GiB: 262,144 sessions)."""
    key_log: TextIO | None = field(default=None, repr=False)
    """Opt-in: write PANA_AUTH_KEYs here for interop debugging (never in production)."""
    pre_authentication: bool = False
    """Accept pre-authentication (PCI with E, RFC 5873); otherwise the E bit is ignored."""
    extension: PanaExtension | None = field(default=None, repr=False)
    """Hooks that add AVPs and observe accepted messages (MPA uses them)."""
    worker_bits: int = 0
    """Top Session-Id bits that name the worker (SO_REUSEPORT steering, pana_mpa.aio.workers)."""
    worker_index: int = 0
    """This PAA's worker number, put in the top ``worker_bits`` bits of its Session-Ids."""

    def __post_init__(self) -> None:
        _check_common(
            self.prf_algorithms,
            self.integrity_algorithms,
            self.nonce_length,
            self.failed_session_timeout,
            self.encryption_algorithms,
            self.failed_session_max,
        )
        if not 0 <= self.worker_bits <= 16 or not 0 <= self.worker_index < 1 << self.worker_bits:
            raise UsageError("worker_index must fit in worker_bits (0..16) bits")
        if not 0 < self.session_lifetime <= 0xFFFFFFFF:
            raise UsageError("session_lifetime must be a positive Unsigned32")
        if self.reauth_fraction is not None and not 0 < self.reauth_fraction < 1:
            raise UsageError("reauth_fraction must be within (0, 1)")
        if self.key_id_start is not None and not 0 <= self.key_id_start <= 0xFFFFFFFF:
            raise UsageError("key_id_start must be an Unsigned32")
        if self.pci_rate_limit is not None and self.pci_rate_limit <= 0:
            raise UsageError("pci_rate_limit must be positive (or None)")
        if self.max_sessions is not None and self.max_sessions < 1:
            raise UsageError("max_sessions must be positive (or None: derived from memory)")
        if self.session_memory < SESSION_BYTES:
            raise UsageError(f"session_memory must allow one session ({SESSION_BYTES} bytes)")
        if self.pci_source_rate is not None and self.pci_source_rate <= 0:
            raise UsageError("pci_source_rate must be positive (or None)")
        if self.pci_source_burst < 1 or self.pci_source_table < 1:
            raise UsageError("pci_source_burst and pci_source_table must be positive")
        if self.pci_cookie_rotation <= 0 or self.unanswered_timeout <= 0:
            raise UsageError("pci_cookie_rotation and unanswered_timeout must be positive")
        if self.max_half_open < 1:
            raise UsageError("max_half_open must be positive")
        if self.max_message_size < 16 or self.max_avps < 1:
            raise UsageError("max_message_size must be >= 16 and max_avps >= 1")
        for relay in self.relays:
            try:
                ipaddress.ip_address(relay)
            except ValueError:
                raise UsageError(f"relay {relay!r} is not an IP address") from None

    @property
    def session_limit(self) -> int:
        """Open sessions the PAA accepts: ``max_sessions``, else ``session_memory`` / 4 KiB."""
        if self.max_sessions is not None:
            return self.max_sessions
        return self.session_memory // SESSION_BYTES

"""PaaServer: the sans-IO PANA authentication agent serving many PaCs (RFC 5191, RFC 5609 PAA)."""

from __future__ import annotations

import heapq
import hmac
import ipaddress
import logging
import struct
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eap.rng import Rng, system_rng
from pana_codecs import (
    Avp,
    CodecError,
    PanaMessage,
    decode_pana,
    encode_pana,
)
from pana_codecs._fast import frozen_maker
from pana_codecs.pana import peek_header

from ._avps import TerminationCause
from ._eap import AuthOutputLike, EapResultLike, EapServerLike
from ._message import (
    F_E,
    F_I,
    F_R,
    F_S,
    PAR_PAN,
    PCI,
    PRY,
    Drop,
    Rx,
    check_avp_placement,
    check_head,
)
from ._paa_session import PaaSession, offer_avps
from .address import Address
from .config import SESSION_BYTES, PaaConfig
from .errors import UsageError
from .events import PanaEvent
from .flow import describe
from .relay import unwrap_relay, wrap_relay
from .state import PaaState
from .trace import NULL_TRACE, Trace, is_enabled
from .users import User, user_table

__all__ = ["PaaServer", "PaaSession", "User", "user_table"]

_SESSIONLESS_MAX_AVPS = 16
"""AVP cap of a PAN[S] for no session (also inside a PRY): its algorithms, EAP, MPA's AVPs."""
_PCI_MAX_AVPS = 8
"""AVP cap of a PCI (also inside a PRY): it carries a few AVPs at most (RFC 5191 s4.1; MPA adds
two), and every PCI is answered, so its decode is the dearest part of the work (issue 9)."""
_PRY_MAX_AVPS = 4
"""AVP cap of a PRY: PaC-Information and Relayed-Message (RFC 6345 s7), and room for two more;
the relayed message inside has its own cap (issue 9: a PRY costs two decodes)."""

logger = logging.getLogger(__name__)

_COOKIE_SLOTS = 4
"""Session-Ids a PCI's cookie may take (the first not in use): a PaC that restarts while its old
session still lives gets a fresh one, and a collision with another session costs nothing."""
_COOKIE_LABEL = b"pana-mpa PCI cookie v1"
_UNSOLICITED_TRACE_BUDGET = 20
"""Datagrams outside any session traced one by one per second; the rest are only counted."""


class _PassThroughEap:
    """The EAP server of a pass-through session: every step waits for the AAA server."""

    def start(self) -> AuthOutputLike:
        return _PENDING

    def receive(self, packet: bytes) -> AuthOutputLike:
        return _PENDING


@dataclass(frozen=True, slots=True)
class _Pending:
    packet: bytes | None = None
    result: EapResultLike | None = None
    pending: bool = True


_PENDING = _Pending()


class _Lingering:
    """What an ended session keeps while it lingers: its last request and the answer (s4.4)."""

    __slots__ = ("last_answer", "last_request", "relay", "until")

    def __init__(
        self,
        last_request: bytes | None,
        last_answer: bytes | None,
        relay: Address | None,
        until: float,
    ) -> None:
        self.last_request = last_request
        self.last_answer = last_answer
        self.relay = relay
        self.until = until


_message = frozen_maker(PanaMessage)
"""PanaMessage(type, flags, session_id, seq, avps) without the frozen dataclass's setattr calls."""

_Head = tuple[int, int, int, int]
"""(type, flags, session_id, seq) of a PANA header, as ``pana_codecs.pana.peek_header`` gives."""
_SID_SEQ = struct.Struct("!II")
"""Session Identifier and Sequence Number, header octets 8-15 (RFC 5191 s6.2)."""

_SHRINK_MIN = 64
"""Tables are rebuilt once they hold under a quarter of their peak (and the peak was >= this)."""


class PaaServer:
    """A PAA serving many PaCs: demultiplexes datagrams to PaaSessions, one timer (RFC 5191).

    With ``eap_factory`` each session runs a standalone EAP server; without it the PAA is an EAP
    pass-through authenticator (RFC 5191 s2): the caller takes work from ``pending_aaa()``, asks
    the AAA server and hands the answer back with ``aaa_answer()``.
    """

    def __init__(
        self,
        config: PaaConfig,
        *,
        eap_factory: Callable[[], EapServerLike] | None = None,
        rng: Rng = system_rng,
        trace: Trace = NULL_TRACE,
    ) -> None:
        self._config = config
        self._eap_factory: Callable[[], EapServerLike] = eap_factory or _PassThroughEap
        self.pass_through = eap_factory is None
        self._rng = rng
        self._trace = trace
        self._tracing = is_enabled(trace)
        self._session_limit = config.session_limit
        self._limit_warned = False
        self._sessions: dict[int, PaaSession] = {}
        self._closed: dict[int, _Lingering] = {}
        """Recently closed sessions, kept until the deadline to answer repeated requests."""
        self._table_peak = 0
        """Most entries the session tables held since they were last rebuilt (shrinking)."""
        self.collect_passes = 0
        """Collection passes over touched sessions so far (one per datagram; tests count them)."""
        self._now = 0.0
        # only sessions touched by a call are collected; deadlines live in a heap with lazy
        # deletion, so each call costs O(log n) however many PaCs the PAA serves
        self._touched: set[int] = set()
        self._timers: list[tuple[float, int]] = []
        self._linger_heap: list[tuple[float, int]] = []
        self._aaa_work: list[tuple[int, bytes | None]] = []
        rate = config.pci_rate_limit
        self._pci_tokens = max(1.0, rate) if rate is not None else 0.0
        self._pci_refill_at = 0.0
        self._by_addr: dict[Address, int] = {}
        self._outbox: list[tuple[bytes, Address]] = []
        self._events: deque[PanaEvent] = deque()
        self.closed = False
        # stateless PCI (RFC 5191 s4.1): PAR[S] carries a Session-Id and sequence number derived
        # from the PaC's address with a rotating secret; a session starts with a valid PAN[S]
        self._cookie_secrets: list[tuple[float, bytes]] = []
        """(start, secret), newest first: the current secret and the one before it."""
        self._par_start_templates: dict[int, bytes] = {}
        """PAR[S] octets with Session-Id and sequence number 0, per header flags (_par_start)."""
        self._cookie_key_list: list[bytes] = []
        """The secrets of ``_cookie_secrets`` alone, as ``_cookie_keys`` returns them."""
        self._sources: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """PCI token bucket per PaC IP address: (tokens, last refill)."""
        self._half_open: set[int] = set()
        """Sessions still authenticating (created, not yet opened)."""
        self._drop_window = float("-inf")
        self._drop_traced = 0
        self._drop_suppressed = 0
        self._relays = frozenset(ipaddress.ip_address(r) for r in config.relays)
        self._relay_hosts = frozenset(config.relays)
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "pci_answered",
                "pci_rate_limited",
                "pci_half_open_full",
                "pan_start_adopted",
                "pan_start_unknown",
                "relay_refused",
            ),
            0,
        )
        """What the stateless start did with PCIs, PAN[S] and PRYs (flood figures)."""

    # ---- sessions ------------------------------------------------------------------------------

    def session(self, session_id: int) -> PaaSession:
        """The live session with this id (KeyError if none); drive it through PaaServer methods."""
        session = self._sessions[session_id]
        self._touched.add(session_id)  # whatever the caller does to it is collected next time
        return session

    def __iter__(self) -> Iterator[PaaSession]:
        return iter(list(self._sessions.values()))

    def __len__(self) -> int:
        return len(self._sessions)

    def _new_session(self, addr: Address, now: float) -> PaaSession:
        if len(self._sessions) >= self._session_limit:
            if not self._limit_warned:
                self._limit_warned = True
                logger.warning(
                    "paa session limit reached: %d open sessions (PaaConfig.max_sessions, or "
                    "session_memory / %d bytes per session); new sessions are refused",
                    self._session_limit,
                    SESSION_BYTES,
                )
            raise Drop("session limit reached")
        while True:
            sid = self._steer(int.from_bytes(self._rng(4), "big"))
            if sid != 0 and sid not in self._sessions:
                break
        session = PaaSession(
            self._config,
            session_id=sid,
            peer=addr,
            eap_factory=self._eap_factory,
            rng=self._rng,
            trace=self._trace,
        )
        self._sessions[sid] = session
        self._touched.add(sid)
        self._by_addr[addr] = sid
        size = len(self._sessions) + len(self._closed)
        if size > self._table_peak:
            self._table_peak = size
        logger.info("paa new session %#x for %s", sid, addr)
        return session

    def _steer(self, raw: int) -> int:
        """Put worker_index in the top worker_bits bits of a 32-bit Session-Id (SO_REUSEPORT
        workers: pana_mpa.aio.workers steers each datagram by these bits)."""
        bits = self._config.worker_bits
        if not bits:
            return raw
        low = 32 - bits
        return (self._config.worker_index << low) | (raw & ((1 << low) - 1))

    def initiate(self, addr: Address, now: float) -> int:
        """Start a PAA-initiated session toward ``addr`` (PAC_FOUND, RFC 5191 s4.1); its id."""
        try:
            session = self._new_session(addr, now)
        except Drop as exc:
            raise UsageError(f"{exc}: {self._session_limit} open sessions (PaaConfig.max_sessions,"
                             f" or session_memory / {SESSION_BYTES} bytes)") from None  # fmt: skip
        session.paa_initiated = True
        self._half_open.add(session.session_id)
        session.start(now)
        self._collect(now)
        return session.session_id

    def _live(self, session_id: int) -> PaaSession:
        session = self._sessions.get(session_id)
        if session is None or session.closed:
            raise UsageError(f"no live session {session_id:#x}")
        self._touched.add(session_id)
        return session

    def ping(self, session_id: int, now: float, avps: Sequence[Avp] = ()) -> None:
        """Send PNR[P] on an OPEN session (RFC 5191 s4.2), carrying ``avps`` if given."""
        self._live(session_id).ping(now, avps)
        self._collect(now)

    def reauthenticate(self, session_id: int, now: float) -> None:
        """Start PAA-initiated re-authentication of an OPEN session (RFC 5191 s4.3)."""
        self._live(session_id).reauthenticate(now)
        self._collect(now)

    def terminate(
        self, session_id: int, now: float, cause: int = TerminationCause.ADMINISTRATIVE
    ) -> None:
        """Send PTR with ``cause`` (4 ADMINISTRATIVE, 8 SESSION_TIMEOUT) on an OPEN session."""
        self._live(session_id).terminate(now, cause)
        self._collect(now)

    def aaa_answer(self, session_id: int, output: AuthOutputLike, now: float) -> None:
        """Hand a pass-through AAA result (eap.aaa.passthrough exchange()) back to its session.

        An answer for a session that ended meanwhile (timeout, termination) is dropped and traced:
        the AAA round trip raced the session, nobody misused the API.
        """
        session = self._sessions.get(session_id)
        if session is None or session.closed:
            if self._tracing:
                self._trace.event(now, "aaa_answer_dropped", sid=session_id, reason="session gone")
            return
        self._live(session_id).aaa_answer(output, now)
        self._collect(now)

    def pending_aaa(self) -> list[tuple[int, bytes | None]]:
        """Take the queued AAA work: (session id, EAP response to forward, or None to start)."""
        self._collect()
        work, self._aaa_work = self._aaa_work, []
        return work

    # ---- sans-IO surface -----------------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """Process one UDP payload from ``addr``; invalid messages are dropped and traced."""
        try:
            head = self._peek(data)
            relay: Address | None = None
            if head[0] == PRY:
                if not self._is_relay(addr[0]):
                    self.counters["relay_refused"] += 1
                    raise Drop("PANA-Relay from an address that is not a configured relay")
                # RFC 6345 s4: the PaC is identified by PaC-Information (+ the PRE's address)
                try:
                    pac_addr, inner = unwrap_relay(self._decode(data, head))
                except (ValueError, CodecError) as exc:
                    raise Drop(f"PANA-Relay: {exc}") from None
                try:
                    head = self._peek(inner)
                except Drop as exc:
                    raise Drop(f"PANA-Relay: {exc}") from None
                relay, addr, data = addr, pac_addr, inner
            mtype, flags, sid, seq = head
            check_head(mtype, flags, sid, seq)
            verified = False
            session: PaaSession | None = None
            if mtype != PCI:
                # whose message, and the session's own checks, before any AVP is decoded (issue 9)
                session = self._sessions.get(sid)
                if session is not None:
                    if session.relay != relay:
                        raise Drop("message of a relayed session outside its relay (or vice versa)")
                    screened = session.screened(mtype, flags, seq, data, addr, now)
                    if screened is None:
                        return
                    verified = screened
                elif not self._stateless_start(mtype, flags):
                    self._to_lingering(sid, data, addr, relay, now)
                    return
                else:
                    self._check_cookie(head, addr, relay, now)
            msg = self._decode(data, head, session is not None)
            rx = Rx(msg, data, addr, verified)
            if mtype == PCI:
                self._on_pci(rx, now, relay)
                return
            check_avp_placement(msg.avps)
            if session is None:
                self._adopt(rx, now, relay)
            else:
                self._touched.add(sid)
                session.receive(rx, now)
        except Drop as exc:
            logger.debug("paa dropped %d octets from %s: %s", len(data), addr, exc)
            self._trace_unsolicited(
                now, "message_dropped", role="paa", reason=str(exc), size=len(data)
            )
        except Exception as exc:  # a peer's datagram never raises out of the PAA (issue 9)
            logger.exception("paa: internal error on %d octets from %s; dropped", len(data), addr)
            reason = f"internal error: {type(exc).__name__}"
            if self._tracing:
                self._trace.event(now, "message_dropped", role="paa", reason=reason, size=len(data))
        finally:
            self._collect(now)

    def _to_lingering(
        self, sid: int, raw: bytes, addr: Address, relay: Address | None, now: float
    ) -> None:
        """A closed session answers an exact repeat of its last request (lost PTA, s4.4)."""
        entry = self._closed.get(sid)
        if entry is None or entry.until <= now:
            raise Drop(f"unknown session {sid:#x}")
        if entry.relay != relay:
            raise Drop("message of a relayed session outside its relay (or vice versa)")
        if entry.last_answer is None or raw != entry.last_request:
            logger.debug("paa sid=%#x dropped %d octets from %s: session closed", sid,
                         len(raw), addr)  # fmt: skip
            if self._tracing:
                self._trace.event(now, "message_dropped", sid=sid, role="paa",
                                  reason="session closed", size=len(raw))  # fmt: skip
            return
        self._outbox.append(self._wrap(entry.relay, entry.last_answer, addr))
        if self._tracing:
            self._trace.event(now, "duplicate_answered", sid=sid, closed=True)

    def _trace_unsolicited(self, now: float, name: str, **fields: Any) -> None:
        """Trace what anyone can cause (drops, PAR[S] for PCIs): the first few per second, then
        only a count, so the trace does not grow with junk (issue 9): beyond
        ``_UNSOLICITED_TRACE_BUDGET`` a second they are summed up in one ``unsolicited_suppressed``.
        """
        if not self._tracing:
            return
        if now >= self._drop_window + 1.0:
            if self._drop_suppressed:
                self._trace.event(now, "unsolicited_suppressed", role="paa",
                                  count=self._drop_suppressed, since=self._drop_window)  # fmt: skip
            self._drop_window, self._drop_traced, self._drop_suppressed = now, 0, 0
        if self._drop_traced < _UNSOLICITED_TRACE_BUDGET:
            self._drop_traced += 1
            self._trace.event(now, name, **fields)
        else:
            self._drop_suppressed += 1

    def _peek(self, data: bytes) -> _Head:
        """Header checks before any AVP is decoded: size, length, and whose message it is.

        A datagram for no session (other than a PCI, a PRY and a PAN[S] that may answer a
        cookie) is dropped here, so junk costs a header's work, not its AVPs' (issue 9).
        """
        try:
            head = peek_header(data)
        except CodecError as exc:
            raise Drop(f"malformed: {exc}") from None
        mtype, flags, sid, _ = head
        limit = self._config.max_message_size
        size = len(data)
        if mtype in (PCI, PRY):
            if size > limit:
                raise Drop(f"message of {size} octets exceeds {limit}")
            return head
        if sid in self._sessions:
            if size > limit:
                raise Drop(f"message of {size} octets exceeds {limit}")
            return head
        if sid in self._closed:
            if size > limit:
                raise Drop(f"message of {size} octets exceeds the limit")
            return head
        pan_start = mtype == PAR_PAN and not flags & F_R and flags & F_S
        if not pan_start or self._config.optimized_init:
            raise Drop(f"unknown session {sid:#x}")
        return head

    def _decode(self, data: bytes, head: _Head, in_session: bool = False) -> PanaMessage:
        """Decode under the AVP cap of the message's kind (issue 9)."""
        cap = self._config.max_avps
        mtype = head[0]
        if mtype == PRY:
            cap = min(cap, _PRY_MAX_AVPS)
        elif mtype == PCI:
            cap = min(cap, _PCI_MAX_AVPS)
        elif not in_session:
            cap = min(cap, _SESSIONLESS_MAX_AVPS)  # PCI, PAN[S]: before any session
        try:
            return decode_pana(data, max_avps=cap)
        except CodecError as exc:
            raise Drop(f"malformed: {exc}") from None

    def _is_relay(self, host: str) -> bool:
        """A configured PANA relay (RFC 6345): only they may send PRY."""
        if not self._relays:
            return False
        if host in self._relay_hosts:
            return True  # as configured: no need to parse it (each PRY asks)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip in self._relays

    @staticmethod
    def _wrap(relay: Address | None, data: bytes, dst: Address) -> tuple[bytes, Address]:
        if relay is not None:
            # every PAA message of a relayed session goes inside a PRY (RFC 6345 s4)
            return wrap_relay(dst, data), relay
        return data, dst

    # ---- stateless start (RFC 5191 s4.1) ---------------------------------------------------------

    def _stateless_start(self, mtype: int, flags: int) -> bool:
        """A PAN[S] for no live session: it may answer a PAR[S] sent without state."""
        return (
            mtype == PAR_PAN
            and not flags & F_R
            and bool(flags & F_S)
            and self._config.stateless_pci
            and not self._config.optimized_init
        )

    def _cookie_keys(self, now: float) -> list[bytes]:
        """Secrets a cookie may be made with: the current one (rotated when due), then the last."""
        rotation = self._config.pci_cookie_rotation
        secrets = self._cookie_secrets
        if (
            secrets
            and now < secrets[0][0] + rotation
            and (len(secrets) == 1 or secrets[1][0] > now - 2 * rotation)
        ):
            return self._cookie_key_list  # nothing to rotate or to forget (the common case)
        if not secrets or now >= secrets[0][0] + rotation:
            secrets.insert(0, (now, self._rng(32)))
        # a PAN[S] answers within one rotation of its PAR[S]: the previous secret, no older
        self._cookie_secrets = secrets = [
            (start, key)
            for i, (start, key) in enumerate(secrets)
            if i == 0 or start > now - 2 * rotation
        ][:2]
        self._cookie_key_list = [key for _, key in secrets]
        return self._cookie_key_list

    def _cookie(
        self, key: bytes, slot: int, addr: Address, relay: Address | None, e: bool
    ) -> tuple[int, int]:
        """Session-Id and initial sequence number for a PCI from ``addr`` (SYN-cookie style)."""
        via = f"{relay[0]}|{relay[1]}" if relay else "|0"
        where = f"{slot}|{addr[0]}|{addr[1]}|{via}|{int(e)}"
        digest = hmac.digest(key, _COOKIE_LABEL + where.encode(), "sha256")
        # this worker's bits in the Session-Id, so its PAN[S] comes back here (aio.workers)
        sid = self._steer(int.from_bytes(digest[:4], "big")) or 1  # 0 is the PCI's (s6.2)
        return sid, int.from_bytes(digest[4:8], "big")

    def _par_start(self, sid: int, seq: int, pre_auth: bool) -> bytes:
        """The PAR[S] answering a PCI, rebuilt byte for byte from its cookie (it is I_PAR)."""
        cfg = self._config
        flags = F_R | F_S
        if cfg.ip_reconfiguration:
            flags |= F_I
        if pre_auth:
            flags |= F_E
        # Without an extension the PAR[S] differs only in Session Identifier and Sequence Number
        # (header octets 8-15, RFC 5191 s6.2): it is encoded once per flag combination, then
        # those two fields are patched in (two PAR[S] builds per authentication, issue 10).
        extension = cfg.extension
        template = self._par_start_templates.get(flags) if extension is None else None
        if template is None:
            avps = offer_avps(cfg)
            if extension is not None:
                avps += extension.outgoing_avps(sid, PAR_PAN, flags, tuple(avps), None)
                return encode_pana(_message(PAR_PAN, flags, sid, seq, tuple(avps)))
            template = encode_pana(_message(PAR_PAN, flags, 0, 0, tuple(avps)))
            self._par_start_templates[flags] = template
        return template[:8] + _SID_SEQ.pack(sid, seq) + template[16:]

    def _on_pci(self, rx: Rx, now: float, relay: Address | None = None) -> None:
        cfg = self._config
        sid = self._by_addr.get(rx.addr)
        existing = self._sessions.get(sid) if sid is not None else None
        if existing is not None and existing.paa_initiated and existing.state is PaaState.INITIAL:
            # a PCI crossing our unsolicited PAR[S] is discarded (RFC 5191 s4.1)
            raise Drop("PCI crossing a PAA-initiated PAR[S]")
        in_progress = (
            existing is not None
            and not existing.closed
            and not existing.authenticated
            and existing.relay == relay
        )
        if len(self._half_open) >= cfg.max_half_open:
            self.counters["pci_half_open_full"] += 1
            raise Drop("half-open session cap reached")
        try:
            self._take_pci_token(now)
            self._take_source_token(rx.addr[0], now)
        except Drop:
            self.counters["pci_rate_limited"] += 1
            raise
        pre_auth = bool(rx.msg.flags & F_E) and cfg.pre_authentication
        if cfg.optimized_init or not cfg.stateless_pci:
            self._stateful_start(rx, now, relay, pre_auth)  # the EAP request in PAR[S] needs state
            return
        key = self._cookie_keys(now)[0]
        for slot in range(_COOKIE_SLOTS):
            sid, seq = self._cookie(key, slot, rx.addr, relay, pre_auth)
            if sid not in self._sessions and sid not in self._closed:
                break
        else:
            raise Drop("no free Session-Id for this PCI")
        if cfg.extension is not None:
            # MPA: the MN's capability and MAC come with the PCI (RFC 6252 s7.3.1)
            cfg.extension.received(sid, rx.msg, rx.addr, now)
        data = self._par_start(sid, seq, pre_auth)
        self.counters["pci_answered"] += 1
        if in_progress and existing is not None:
            # The PaC still sends PCIs, so it missed our first PAR: send it again now, and also a
            # fresh PAR[S] in case the PaC restarted (it then drops the PAR, takes the PAR[S],
            # and its PAN[S] ends the old session): no lock-out either way (issue 9)
            self._touched.add(existing.session_id)
            existing.resend_outstanding(now)
        # not optimized: no EAP-Payload and no retransmission; the PaC's PCI retransmission
        # recovers a lost PAR[S] (RFC 5191 s4.1, s9), and a PAN[S] with this Session-Id and
        # sequence number proves the PaC saw it
        self._outbox.append((wrap_relay(rx.addr, data), relay) if relay else (data, rx.addr))
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("paa answered a PCI from %s: PAR[S] sid=%#x (no state)", rx.addr, sid)
        if self._tracing:
            msg = decode_pana(data)
            self._trace_unsolicited(now, "message_sent", sid=sid, role="paa", message=describe(msg),
                                    seq=seq, size=len(data), avps=[a.code for a in msg.avps],
                                    note="request")  # fmt: skip

    def _check_cookie(self, head: _Head, addr: Address, relay: Address | None, now: float) -> None:
        """Drop a PAN[S] for no session unless it answers one of our cookies (before decoding)."""
        _, flags, sid, seq = head
        pre_auth = bool(flags & F_E) and self._config.pre_authentication
        found = any(
            self._cookie(key, slot, addr, relay, pre_auth) == (sid, seq)
            for key in self._cookie_keys(now)
            for slot in range(_COOKIE_SLOTS)
        )
        if not found:
            self.counters["pan_start_unknown"] += 1
            raise Drop(f"unknown session {sid:#x} (PAN[S] answers no PAR[S] of ours)")

    def _adopt(self, rx: Rx, now: float, relay: Address | None) -> None:
        """A PAN[S] for no session whose cookie ``_check_cookie`` accepted: start the session."""
        cfg = self._config
        msg = rx.msg
        pre_auth = bool(msg.flags & F_E) and cfg.pre_authentication
        if len(self._half_open) >= cfg.max_half_open:
            raise Drop("half-open session cap reached")
        if len(self._sessions) >= self._session_limit:
            raise Drop("session limit reached")
        session = PaaSession(
            cfg,
            session_id=msg.session_id,
            peer=rx.addr,
            eap_factory=self._eap_factory,
            rng=self._rng,
            trace=self._trace,
        )
        session.relay = relay
        session.pre_auth = pre_auth
        session.adopt_par_start(self._par_start(msg.session_id, msg.seq, pre_auth), msg.seq, now)
        session.receive(rx, now)
        if session.closed or session.state is PaaState.INITIAL:
            return  # the PAN[S] was not acceptable (traced by the session): still no state
        sid = session.session_id
        self.counters["pan_start_adopted"] += 1
        self._sessions[sid] = session
        size = len(self._sessions) + len(self._closed)
        if size > self._table_peak:
            self._table_peak = size
        self._touched.add(sid)
        self._half_open.add(sid)
        self._closed.pop(sid, None)
        old = self._by_addr.get(rx.addr)
        previous = self._sessions.get(old) if old is not None else None
        if previous is not None and not previous.authenticated and not previous.closed:
            # the PaC started over from the same address and port (a reboot, a fixed port
            # 716): its unfinished session is abandoned, and it authenticates at once
            previous.abandon(now, "the PaC started a new session")
            self._touched.add(previous.session_id)
        self._by_addr[rx.addr] = sid
        logger.info("paa new session %#x for %s", sid, rx.addr)

    def _stateful_start(self, rx: Rx, now: float, relay: Address | None, pre_auth: bool) -> None:
        """Optimized start (EAP request in PAR[S], RFC 5191 s4.1): a session from the PCI on."""
        sid = self._by_addr.get(rx.addr)
        existing = self._sessions.get(sid) if sid is not None else None
        if existing is not None and not existing.closed and existing.state is PaaState.INITIAL:
            self._touched.add(existing.session_id)
            existing.resend_par_start(now)  # the PaC lost our PAR[S] and retransmits its PCI
            return
        session = self._new_session(rx.addr, now)
        session.relay = relay
        session.pre_auth = pre_auth
        self._half_open.add(session.session_id)
        if self._config.extension is not None:
            self._config.extension.received(session.session_id, rx.msg, rx.addr, now)
        session.start(now)

    def _take_source_token(self, host: str, now: float) -> None:
        """Per-PaC-address token bucket for PCIs: the PAA is no reflector toward one victim."""
        cfg = self._config
        rate = cfg.pci_source_rate
        if rate is None:
            return
        burst = float(cfg.pci_source_burst)
        tokens, at = self._sources.pop(host, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - at) * rate)
        allowed = tokens >= 1.0
        self._sources[host] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._sources) > cfg.pci_source_table:
            self._sources.popitem(last=False)
        if not allowed:
            raise Drop("PCI rate limit for this address")

    def _take_pci_token(self, now: float) -> None:
        """Token bucket for PCIs that would create state (RFC 5191 s4.1 rate limiting)."""
        rate = self._config.pci_rate_limit
        if rate is None:
            return
        burst = max(1.0, rate)
        elapsed = max(0.0, now - self._pci_refill_at)
        self._pci_tokens = min(burst, self._pci_tokens + elapsed * rate)
        self._pci_refill_at = now
        if self._pci_tokens < 1.0:
            raise Drop("PCI rate limit")
        self._pci_tokens -= 1.0

    def handle_timer(self, now: float) -> None:
        """Fire every session deadline that is due; forget sessions whose linger ended."""
        due: set[int] = set()
        timers = self._timers
        while timers and timers[0][0] <= now:
            deadline, sid = heapq.heappop(timers)
            session = self._sessions.get(sid)
            if session is None:
                continue
            if session.timer_pushed == deadline:
                session.timer_pushed = None  # its heap entry is gone
                self._touched.add(sid)  # collected below: its deadline goes back in the heap
            current = session.get_timer()
            if current is not None and current <= now:
                due.add(sid)
        for sid in sorted(due):
            self._sessions[sid].handle_timer(now)
            self._touched.add(sid)
        self._collect(now)
        self._expire_lingering(now)

    def get_timer(self) -> float | None:
        """Earliest deadline over all sessions and the lingering ones, or None."""
        if self._touched:
            self._collect()
        timers = self._timers
        best: float | None = None
        while timers:
            deadline, sid = timers[0]
            session = self._sessions.get(sid)
            # every session is collected now, so timer_pushed is its get_timer(): no call needed
            if session is not None and session.timer_pushed == deadline:
                best = deadline
                break
            heapq.heappop(timers)  # stale: the session moved its deadline or is gone
        linger = self._linger_heap
        while linger and self._closed.get(linger[0][1], _GONE).until != linger[0][0]:
            heapq.heappop(linger)  # the session id was reused and closed again, or expired
        if linger and (best is None or linger[0][0] < best):
            best = linger[0][0]
        return best

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """Datagrams queued by every session since the last call."""
        if self._touched:
            self._collect(now)
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> PanaEvent | None:
        """The oldest unread event of any session, or None."""
        if self._touched:
            self._collect()
        return self._events.popleft() if self._events else None

    def _collect(self, now: float | None = None) -> None:
        """One pass over the sessions touched since the last pass: outputs, timers, closing."""
        if now is not None and now > self._now:
            self._now = now
            if self._linger_heap and self._linger_heap[0][0] <= now:
                self._expire_lingering(now)
        if not self._touched:
            return
        self.collect_passes += 1
        touched = self._touched
        if len(touched) == 1:
            sid = touched.pop()  # the common case: the one session a datagram went to
            session = self._sessions.get(sid)
            if session is not None:
                self._collect_one(sid, session)
        else:
            self._touched = set()
            for sid in sorted(touched):
                session = self._sessions.get(sid)
                if session is not None:
                    self._collect_one(sid, session)

    def _collect_one(self, sid: int, session: PaaSession) -> None:
        outbox, events = session.take_output()
        if outbox is not None:
            relay = session.relay
            if relay is None:
                self._outbox.extend(outbox)
            else:
                self._outbox.extend(self._wrap(relay, data, dst) for data, dst in outbox)
        if events is not None:
            self._events.extend(events)
        if session.aaa_queue is not None:
            self._aaa_work.extend((sid, packet) for packet in session.aaa_queue)
            session.aaa_queue = None
        if session.address_changed is not None:
            old, new = session.address_changed
            session.address_changed = None
            if self._by_addr.get(old) == sid:
                del self._by_addr[old]
            self._by_addr[new] = sid
        if sid in self._half_open and (session.closed or session.authenticated):
            self._half_open.discard(sid)
        if session.closed:
            self._retire(sid, session)
        elif (deadline := session.get_timer()) != session.timer_pushed:
            session.timer_pushed = deadline  # get_timer() trusts it for the heap's top entry
            if deadline is not None:
                heapq.heappush(self._timers, (deadline, sid))
                if len(self._timers) > 2 * len(self._sessions) + 64:
                    self._rebuild_timers()  # only a push makes the heap grow

    def _retire(self, sid: int, session: PaaSession) -> None:
        """A session closed: keep only what answering a repeat needs, for closed_linger."""
        del self._sessions[sid]
        if self._by_addr.get(session.peer) == sid:
            del self._by_addr[session.peer]
        linger = self._config.closed_linger
        if linger > 0:
            until = self._now + linger
            last_request, last_answer = session.last_exchange()
            self._closed[sid] = _Lingering(last_request, last_answer, session.relay, until)
            heapq.heappush(self._linger_heap, (until, sid))
        self._maybe_shrink()
        if len(self._timers) > 2 * len(self._sessions) + 64:
            self._rebuild_timers()  # the heap holds its entries, stale now

    def _rebuild_timers(self) -> None:
        """Lazy deletion leaves stale heap entries behind; rebuild so memory stays O(sessions)."""
        timers = []
        for sid, session in self._sessions.items():
            deadline = session.get_timer()
            session.timer_pushed = deadline
            if deadline is not None:
                timers.append((deadline, sid))
        heapq.heapify(timers)
        self._timers = timers

    def _expire_lingering(self, now: float) -> None:
        linger = self._linger_heap
        while linger and linger[0][0] <= now:
            until, sid = heapq.heappop(linger)
            entry = self._closed.get(sid)
            if entry is not None and entry.until == until:
                del self._closed[sid]
        self._maybe_shrink()

    def _maybe_shrink(self) -> None:
        """Rebuild the dict tables once mostly empty: a dict never gives back its slots."""
        size = len(self._sessions) + len(self._closed)
        if self._table_peak < _SHRINK_MIN or 4 * size > self._table_peak:
            return
        self._sessions = dict(self._sessions.items())
        self._closed = dict(self._closed.items())
        self._by_addr = dict(self._by_addr.items())
        self._table_peak = size


_GONE = _Lingering(None, None, None, -1.0)

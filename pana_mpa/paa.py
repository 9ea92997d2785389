"""PaaSession and PaaServer: the sans-IO PANA authentication agent (RFC 5191, RFC 5609 PAA)."""

from __future__ import annotations

import heapq
import logging
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.gpsk import GpskServer
from eap.methods.md5 import Md5Server
from eap.methods.psk import PskServer
from eap.rng import system_rng
from pana_codecs import (
    Avp,
    CodecError,
    EapCode,
    EapType,
    MessageFlags,
    MessageType,
    decode_eap,
    decode_pana,
)

from ._avps import AvpCode, ResultCode, TerminationCause, u32_avp
from ._session import (
    Address,
    AuthOutputLike,
    EapResultLike,
    EapServerLike,
    Input,
    Rng,
    SessionCore,
    _Drop,
    _Rx,
)
from .config import PaaConfig
from .errors import UsageError
from .events import (
    AuthenticationFailed,
    PanaEvent,
    PeerAddressChanged,
    SessionStarted,
)
from .relay import unwrap_relay, wrap_relay
from .state import PAA_TABLE, PaaState
from .trace import NULL_TRACE, Trace

__all__ = ["PaaServer", "PaaSession", "User", "user_table"]

logger = logging.getLogger(__name__)

_U32_MOD = 1 << 32


class PaaSession(SessionCore):
    """One PaC's session at the PAA; created and driven by PaaServer."""

    role = "paa"
    _table = PAA_TABLE
    _closed_state = PaaState.CLOSED

    def __init__(
        self,
        config: PaaConfig,
        *,
        session_id: int,
        peer: Address,
        eap_factory: Callable[[], EapServerLike],
        rng: Rng,
        trace: Trace,
    ) -> None:
        super().__init__(
            rng=rng,
            trace=trace,
            request_timers=config.request_timers,
            failed_session_timeout=config.failed_session_timeout,
            auth_label=config.auth_label,
            key_log=config.key_log,
            extension=config.extension,
        )
        self._config = config
        self._eap_factory = eap_factory
        self._eap: EapServerLike = eap_factory()
        self.session_id = session_id
        self.peer = peer
        self.state = PaaState.INITIAL
        self._eap_packet: bytes | None = None
        self._eap_msk: Secret | None = None
        self._result_code = ResultCode.PANA_SUCCESS
        self._opened = False
        self._reauth_by_peer = False
        self._pending = False
        self.identity: bytes | None = None
        self.address_changed: tuple[Address, Address] | None = None
        self.paa_initiated = False
        """Started by PaaServer.initiate() (PAC_FOUND) rather than by a PCI."""
        self.relay: Address | None = None
        """The PRE's address for a relayed session (RFC 6345 s4), else None."""
        self.aaa_queue: list[bytes | None] = []
        """Pass-through: EAP responses (None: start) waiting to go to the AAA server."""

    # ---- helpers -------------------------------------------------------------------------------

    def _i_flag(self) -> int:
        """I on the PAA's PARs of the authentication phase when configured (RFC 5191 s6.2)."""
        return MessageFlags.I if self._config.ip_reconfiguration and not self._opened else 0

    def _offer_avps(self) -> list[Avp]:
        cfg = self._config
        avps = [u32_avp(AvpCode.PRF_ALGORITHM, a) for a in cfg.prf_algorithms]
        avps += [u32_avp(AvpCode.INTEGRITY_ALGORITHM, a) for a in cfg.integrity_algorithms]
        if cfg.prf_algorithms:
            # RFC 6786 s4: offered in the initial PAR only
            avps += [u32_avp(AvpCode.ENCRYPTION_ALGORITHM, a) for a in cfg.encryption_algorithms]
        return avps

    def _eap_input(self, now: float, out: AuthOutputLike) -> Input | None:
        """Turn the authenticator's answer into EAP_REQUEST/SUCCESS/FAILURE/DISCARD (RFC 5609)."""
        if out.pending:
            # pass-through: the AAA server answers later through PaaServer.aaa_answer()
            self._pending = True
            return None
        self._pending = False
        if out.result is not None:
            self._eap_packet = out.packet
            if not out.result.success:
                return Input.EAP_FAILURE
            keys = out.result.keys
            self._eap_msk = keys.msk if keys is not None else None
            return Input.EAP_SUCCESS if self._authorize() else Input.EAP_SUCCESS_UNAUTHORIZED
        if out.packet is None:
            return Input.EAP_DISCARD
        self._eap_packet = out.packet
        return Input.EAP_REQUEST

    def _authorize(self) -> bool:
        """Authorize() of RFC 5609: policy hook, and an SA when the PAA requires one."""
        has_sa = self._eap_msk is not None and self.prf_algorithm is not None
        if (self._config.require_key or self.pre_auth) and not has_sa:
            # pre-authentication needs a PANA SA (RFC 5873 s3)
            return False
        hook = self._config.authorize
        return hook is None or bool(hook(self.session_id, self.identity))

    def _forward(self, now: float, rx: _Rx) -> Input | None:
        avp = rx.msg.avp(AvpCode.EAP_PAYLOAD)
        if avp is None:
            raise _Drop("no EAP-Payload")
        self._note_identity(avp.value)
        out = self._eap.receive(avp.value)
        inp = self._eap_input(now, out)
        if self._pending:
            self.aaa_queue.append(avp.value)
        return inp

    def _note_identity(self, packet: bytes) -> None:
        try:
            eap = decode_eap(packet)
        except CodecError:
            return
        if eap.code == EapCode.RESPONSE and eap.type == EapType.IDENTITY:
            self.identity = eap.type_data

    def _restart_eap(self, now: float) -> Input | None:
        self._eap = self._eap_factory()
        out = self._eap.start()
        inp = self._eap_input(now, out)
        if self._pending:
            self.aaa_queue.append(None)
        return inp

    def aaa_answer(self, output: AuthOutputLike, now: float) -> None:
        """Resume a pending pass-through EAP step with the AAA server's answer."""
        if not self._pending:
            raise UsageError(f"session {self.session_id:#x} has no pending EAP step")
        inp = self._eap_input(now, output)
        if inp is None:
            return
        try:
            self._fire(inp, now, None)
        except _Drop as exc:
            self._dropped(now, f"AAA answer: {exc}", 0, self.peer)

    # ---- receive -------------------------------------------------------------------------------

    def receive(self, rx: _Rx, now: float) -> None:
        """Process one message of this session (PaaServer has routed it here)."""
        try:
            if self.closed:
                if self._repeat_after_close(rx.raw, rx.addr, now):
                    return
                raise _Drop("session closed")
            if self._pending and rx.msg.avp(AvpCode.EAP_PAYLOAD) is not None:
                raise _Drop("EAP step pending at the AAA server")
            old = self.peer
            self._process(rx, now)
            if rx.addr != old:
                # any valid message from a new address moves the session there (RFC 5191 s5.6)
                self.peer = rx.addr
                self.address_changed = (old, rx.addr)
                self._events.append(
                    PeerAddressChanged(session_id=self.session_id, old=old, new=rx.addr)
                )
        except _Drop as exc:
            self._dropped(now, str(exc), len(rx.raw), rx.addr)

    def _classify(self, rx: _Rx) -> Input:
        msg = rx.msg
        if msg.type == MessageType.PANA_AUTH:
            has_eap = msg.avp(AvpCode.EAP_PAYLOAD) is not None
            if msg.is_request:
                if msg.flags & (MessageFlags.S | MessageFlags.C):
                    raise _Drop("PAR[S]/PAR[C] from a PaC")
                if not has_eap:
                    raise _Drop("PAR without EAP-Payload")
                return Input.RX_PAR
            if msg.has(MessageFlags.S):
                if has_eap:
                    return Input.RX_PAN_START_EAP
                if self._config.optimized_init:
                    return Input.RX_PAN_START_EMPTY_OPTIMIZED
                return Input.RX_PAN_START
            if msg.has(MessageFlags.C):
                return Input.RX_PAN_COMPLETE
            return Input.RX_PAN_EAP if has_eap else Input.RX_PAN
        if msg.type == MessageType.PANA_NOTIFICATION:
            ping = msg.has(MessageFlags.P)
            if msg.is_request:
                return Input.RX_PNR_PING if ping else Input.RX_PNR_REAUTH
            return Input.RX_PNA_PING if ping else Input.RX_PNA_REAUTH
        return Input.RX_PTR if msg.is_request else Input.RX_PTA

    # ---- local requests ------------------------------------------------------------------------

    def request(self, inp: Input, now: float, what: str) -> None:
        """Run a local request (start, ping, re-auth, terminate); UsageError when not allowed."""
        if self.closed or not self._can(inp):
            raise UsageError(f"cannot {what} session {self.session_id:#x} in {self.state.name}")
        self._fire_local(inp, now)

    def set_termination_cause(self, cause: int) -> None:
        """Termination-Cause of the next PTR this PAA sends."""
        self._term_cause = cause

    # ---- actions (RFC 5609 s6) -----------------------------------------------------------------

    def _send_par_start(self, now: float, avps: list[Avp], *, retransmit: bool) -> None:
        self._i_par = self._send_request(
            now, MessageType.PANA_AUTH, MessageFlags.S | self._i_flag(), avps, retransmit=retransmit
        )
        self._set_session_timer(now, self._failed_timeout, "failed")

    def resend_par_start(self, now: float) -> None:
        """Answer a retransmitted PCI with the same PAR[S] (the PaC lost it, RFC 5191 s4.1)."""
        out = self._outstanding
        if out is not None and out.type == MessageType.PANA_AUTH and out.data == self._i_par:
            self._outbox.append((out.data, self.peer))
            self._trace.event(now, "par_start_resent", sid=self.session_id)

    def _a_send_par_start(self, now: float, rx: _Rx | None) -> Input | None:
        # not optimized: no EAP-Payload; answering a PCI, no retransmission timer (stateless
        # PAA, s4.1: the PaC's PCI retransmission recovers a lost PAR[S]); an unsolicited PAR[S]
        # of a PAA-initiated session is retransmitted (pana-wire s8.1)
        self._send_par_start(now, self._offer_avps(), retransmit=self.paa_initiated)
        return None

    def _a_eap_start(self, now: float, rx: _Rx | None) -> Input | None:
        self._set_session_timer(now, self._failed_timeout, "failed")
        return self._restart_eap(now)

    def _a_send_par_start_eap(self, now: float, rx: _Rx | None) -> Input | None:
        assert self._eap_packet is not None
        avps = [*self._offer_avps(), Avp(AvpCode.EAP_PAYLOAD, self._eap_packet)]
        self._send_par_start(now, avps, retransmit=True)
        return None

    def _accept_start(self, now: float, rx: _Rx) -> None:
        msg = rx.msg
        prfs = [self._u32(a) for a in msg.all_avps(AvpCode.PRF_ALGORITHM)]
        integs = [self._u32(a) for a in msg.all_avps(AvpCode.INTEGRITY_ALGORITHM)]
        if self._config.prf_algorithms:
            if len(prfs) != 1 or len(integs) != 1:
                raise _Drop("PAN[S] must choose one PRF and one Integrity algorithm")
            if prfs[0] not in self._config.prf_algorithms:
                raise _Drop(f"PAN[S] chose PRF {prfs[0]}, which was not offered")
            if integs[0] not in self._config.integrity_algorithms:
                raise _Drop(f"PAN[S] chose integrity {integs[0]}, which was not offered")
            self.prf_algorithm, self.integrity_algorithm = prfs[0], integs[0]
            encs = [self._u32(a) for a in msg.all_avps(AvpCode.ENCRYPTION_ALGORITHM)]
            if len(encs) > 1 or (encs and encs[0] not in self._config.encryption_algorithms):
                raise _Drop("PAN[S] chose an Encryption-Algorithm that was not offered")
            self.encryption_algorithm = encs[0] if encs else None
        self._i_pan = rx.raw
        self._nonce_sent = self._nonce_received = False
        self._events.append(
            SessionStarted(
                session_id=self.session_id,
                peer=self.peer,
                prf_algorithm=self.prf_algorithm,
                integrity_algorithm=self.integrity_algorithm,
            )
        )

    def _a_accept_pan_start(self, now: float, rx: _Rx | None) -> Input | None:
        assert rx is not None
        self._accept_start(now, rx)
        self._set_session_timer(now, self._failed_timeout, "failed")
        return self._restart_eap(now)

    def _a_accept_pan_start_eap(self, now: float, rx: _Rx | None) -> Input | None:
        assert rx is not None
        self._accept_start(now, rx)
        return self._forward(now, rx)

    def _a_accept_pan_start_empty(self, now: float, rx: _Rx | None) -> Input | None:
        assert rx is not None
        self._accept_start(now, rx)
        return None

    def _a_send_par_eap(self, now: float, rx: _Rx | None) -> Input | None:
        assert self._eap_packet is not None
        avps = [*self._own_nonce_avp(pac=False), Avp(AvpCode.EAP_PAYLOAD, self._eap_packet)]
        self._send_request(now, MessageType.PANA_AUTH, self._i_flag(), avps)
        return None

    def _a_forward_eap(self, now: float, rx: _Rx | None) -> Input | None:
        assert rx is not None
        self._take_nonce(rx, from_paa=False)
        return self._forward(now, rx)

    def _a_send_pan_forward_eap(self, now: float, rx: _Rx | None) -> Input | None:
        assert rx is not None
        self._outstanding = None
        self._take_nonce(rx, from_paa=False)
        self._send_answer(now, rx, 0, [])
        return self._forward(now, rx)

    def _final_avps(self, result: ResultCode) -> list[Avp]:
        avps = [u32_avp(AvpCode.RESULT_CODE, result)]
        if self._eap_packet is not None:
            avps.append(Avp(AvpCode.EAP_PAYLOAD, self._eap_packet))
        msk = self._eap_msk if result != ResultCode.PANA_AUTHENTICATION_REJECTED else None
        if msk is not None and self.prf_algorithm is not None:
            # a new MSK: new Key-Id, and this PAR[C] is already protected by the new key (s5.3)
            if self.key_id is None:
                start = self._config.key_id_start
                key_id = start if start is not None else int.from_bytes(self._rng(4), "big")
            else:
                key_id = (self.key_id + 1) % _U32_MOD
            key = self._derive_key(msk, key_id)
            self._key, self.key_id, self.msk = key, key_id, msk
            self._install_encryption()
            avps.append(u32_avp(AvpCode.KEY_ID, key_id))
        elif result == ResultCode.PANA_SUCCESS:
            self.msk = msk
        if result == ResultCode.PANA_SUCCESS:
            avps.append(u32_avp(AvpCode.SESSION_LIFETIME, self._config.session_lifetime))
        return avps

    def _a_send_par_complete_success(self, now: float, rx: _Rx | None) -> Input | None:
        self._result_code = ResultCode.PANA_SUCCESS
        avps = self._final_avps(ResultCode.PANA_SUCCESS)
        self._send_request(now, MessageType.PANA_AUTH, MessageFlags.C | self._i_flag(), avps)
        return None

    def _reject(self, now: float, code: ResultCode) -> None:
        self._result_code = code
        avps = self._final_avps(code)
        self._send_request(now, MessageType.PANA_AUTH, MessageFlags.C | self._i_flag(), avps)
        self._session_deadline = None
        self._events.append(AuthenticationFailed(session_id=self.session_id, result_code=code))
        logger.info("paa sid=%#x rejected, Result-Code %d", self.session_id, code)

    def _a_send_par_complete_reject(self, now: float, rx: _Rx | None) -> Input | None:
        self._reject(now, ResultCode.PANA_AUTHORIZATION_REJECTED)
        return None

    def _a_send_par_complete_fail(self, now: float, rx: _Rx | None) -> Input | None:
        self._reject(now, ResultCode.PANA_AUTHENTICATION_REJECTED)
        return None

    def _check_key_id_echo(self, rx: _Rx) -> None:
        echo = rx.msg.avp(AvpCode.KEY_ID)
        if self._key is not None and (echo is None or self._u32(echo) != self.key_id):
            raise _Drop("PAN[C] does not echo the Key-Id")

    def _a_open_session(self, now: float, rx: _Rx | None) -> Input | None:
        assert rx is not None
        self._check_key_id_echo(rx)
        self.lifetime = float(self._config.session_lifetime)
        self._session_opened(now, identity=self.identity)
        logger.info("paa sid=%#x open, key id %s", self.session_id, self.key_id)
        return None

    def _a_disconnect_rejected(self, now: float, rx: _Rx | None) -> Input | None:
        # s4.1: after an authorization failure the session ends after the PAN[C], no PTR
        self._terminated(now, cause=None, by_peer=False, reason="authentication")
        return None

    def _begin_reauth(self, now: float) -> None:
        self._nonce_sent = self._nonce_received = False
        self._eap_msk = None
        self._eap_packet = None
        self._set_failed_timer_within_lifetime(now)
        self._reauth_deadline = None

    def _a_send_pna_reauth(self, now: float, rx: _Rx | None) -> Input | None:
        assert rx is not None
        self._outstanding = None  # a PNR[A] while our PNR[P] is outstanding (RFC 5609 s6.8)
        self._reauth_by_peer = True
        self._begin_reauth(now)
        self._send_answer(now, rx, MessageFlags.A, [])
        return self._restart_eap(now)

    def _a_eap_restart_reauth(self, now: float, rx: _Rx | None) -> Input | None:
        self._reauth_by_peer = False
        self._begin_reauth(now)
        return self._restart_eap(now)


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
        self._sessions: dict[int, PaaSession] = {}
        self._closed: dict[int, tuple[PaaSession, float]] = {}
        """Recently closed sessions, kept until the deadline to answer repeated requests."""
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
        if len(self._sessions) >= self._config.max_sessions:
            raise _Drop("session limit reached")
        while True:
            sid = int.from_bytes(self._rng(4), "big")
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
        logger.info("paa new session %#x for %s", sid, addr)
        return session

    def _start(self, session: PaaSession, now: float) -> None:
        inp = Input.START_OPTIMIZED if self._config.optimized_init else Input.START
        session.request(inp, now, "start")

    def initiate(self, addr: Address, now: float) -> int:
        """Start a PAA-initiated session toward ``addr`` (PAC_FOUND, RFC 5191 s4.1); its id."""
        try:
            session = self._new_session(addr, now)
        except _Drop as exc:
            raise UsageError(str(exc)) from None
        session.paa_initiated = True
        self._start(session, now)
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
        session = self._live(session_id)
        if not session._can(Input.PING):
            raise UsageError(f"cannot ping session {session_id:#x} in {session.state.name}")
        session._notify_avps = tuple(avps)
        session.request(Input.PING, now, "ping")
        self._collect(now)

    def reauthenticate(self, session_id: int, now: float) -> None:
        """Start PAA-initiated re-authentication of an OPEN session (RFC 5191 s4.3)."""
        self._live(session_id).request(Input.REAUTH, now, "re-authenticate")
        self._collect(now)

    def terminate(
        self, session_id: int, now: float, cause: int = TerminationCause.ADMINISTRATIVE
    ) -> None:
        """Send PTR with ``cause`` (4 ADMINISTRATIVE, 8 SESSION_TIMEOUT) on an OPEN session."""
        session = self._live(session_id)
        if not session._can(Input.TERMINATE):
            raise UsageError(f"cannot terminate session {session_id:#x} in {session.state.name}")
        session.set_termination_cause(cause)
        session.request(Input.TERMINATE, now, "terminate")
        self._collect(now)

    def aaa_answer(self, session_id: int, output: AuthOutputLike, now: float) -> None:
        """Hand a pass-through AAA result (eap.aaa.passthrough exchange()) back to its session.

        An answer for a session that ended meanwhile (timeout, termination) is dropped and traced:
        the AAA round trip raced the session, nobody misused the API.
        """
        session = self._sessions.get(session_id)
        if session is None or session.closed:
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
            try:
                msg = decode_pana(data)
            except CodecError as exc:
                raise _Drop(f"malformed: {exc}") from None
            relay: Address | None = None
            if msg.type == MessageType.PANA_RELAY:
                # RFC 6345 s4: the PaC is identified by PaC-Information (+ the PRE's address)
                try:
                    pac_addr, inner = unwrap_relay(msg)
                    msg = decode_pana(inner)
                except (ValueError, CodecError) as exc:
                    raise _Drop(f"PANA-Relay: {exc}") from None
                relay, addr, data = addr, pac_addr, inner
            SessionCore.check_header(msg)
            rx = _Rx(msg, data, addr)
            if msg.type == MessageType.PANA_CLIENT_INITIATION:
                self._on_pci(rx, now, relay)
            else:
                session = self._sessions.get(msg.session_id)
                if session is None:
                    lingering = self._closed.get(msg.session_id)
                    if lingering is None or lingering[1] <= now:
                        raise _Drop(f"unknown session {msg.session_id:#x}")
                    session = lingering[0]
                self._touched.add(msg.session_id)
                if session.relay != relay:
                    raise _Drop("message of a relayed session outside its relay (or vice versa)")
                session.receive(rx, now)
        except _Drop as exc:
            logger.debug("paa dropped %d octets from %s: %s", len(data), addr, exc)
            self._trace.event(now, "message_dropped", role="paa", reason=str(exc), size=len(data))
        self._collect(now)

    @staticmethod
    def _wrap(session: PaaSession, data: bytes, dst: Address) -> tuple[bytes, Address]:
        if session.relay is not None:
            # every PAA message of a relayed session goes inside a PRY (RFC 6345 s4)
            return wrap_relay(dst, data), session.relay
        return data, dst

    def _on_pci(self, rx: _Rx, now: float, relay: Address | None = None) -> None:
        sid = self._by_addr.get(rx.addr)
        existing = self._sessions.get(sid) if sid is not None else None
        if existing is not None and not existing.closed:
            self._touched.add(existing.session_id)
            if existing.state is PaaState.INITIAL:
                if existing.paa_initiated:
                    # a PCI crossing our unsolicited PAR[S] is discarded (RFC 5191 s4.1)
                    raise _Drop("PCI crossing a PAA-initiated PAR[S]")
                existing.resend_par_start(now)  # the PaC lost our PAR[S] and retransmits its PCI
                return
            if existing.state not in (PaaState.OPEN, PaaState.WAIT_PNA_PING, PaaState.SESS_TERM):
                # a PCI after the initial exchange (or crossing our PAR[S]) is invalid (s5.5)
                raise _Drop("PCI for a session in progress")
        self._take_pci_token(now)
        session = self._new_session(rx.addr, now)
        session.relay = relay
        if rx.msg.flags & MessageFlags.E and self._config.pre_authentication:
            session.pre_auth = True  # RFC 5873 s3; a PAA without support ignores the E bit
        if self._config.extension is not None:
            self._config.extension.received(session.session_id, rx.msg, rx.addr, now)
        self._start(session, now)

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
            raise _Drop("PCI rate limit")
        self._pci_tokens -= 1.0

    def handle_timer(self, now: float) -> None:
        """Fire every session deadline that is due."""
        due: set[int] = set()
        while self._timers and self._timers[0][0] <= now:
            _, sid = heapq.heappop(self._timers)
            session = self._sessions.get(sid)
            deadline = session.get_timer() if session is not None else None
            if deadline is not None and deadline <= now:
                due.add(sid)
        for sid in sorted(due):
            self._sessions[sid].handle_timer(now)
            self._touched.add(sid)
        self._collect(now)

    def get_timer(self) -> float | None:
        """Earliest deadline over all sessions, or None."""
        while self._timers:
            deadline, sid = self._timers[0]
            session = self._sessions.get(sid)
            if session is not None and session.get_timer() == deadline:
                return deadline
            heapq.heappop(self._timers)  # stale: the session moved its deadline or is gone
        return None

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """Datagrams queued by every session since the last call."""
        self._collect(now)
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> PanaEvent | None:
        """The oldest unread event of any session, or None."""
        self._collect()
        return self._events.popleft() if self._events else None

    def _collect(self, now: float | None = None) -> None:
        if now is not None:
            self._now = max(self._now, now)
        touched, self._touched = self._touched, set()
        for sid in sorted(touched):
            session = self._sessions.get(sid)
            if session is None:
                lingering = self._closed.get(sid)
                if lingering is not None:
                    for data, dst in lingering[0].datagrams_to_send(0.0):
                        self._outbox.append(self._wrap(lingering[0], data, dst))
                continue
            for data, dst in session.datagrams_to_send(0.0):
                self._outbox.append(self._wrap(session, data, dst))
            while (event := session.next_event()) is not None:
                self._events.append(event)
            if session.aaa_queue:
                self._aaa_work.extend((sid, packet) for packet in session.aaa_queue)
                session.aaa_queue.clear()
            if session.address_changed is not None:
                old, new = session.address_changed
                session.address_changed = None
                if self._by_addr.get(old) == sid:
                    del self._by_addr[old]
                self._by_addr[new] = sid
            if session.closed:
                del self._sessions[sid]
                if self._by_addr.get(session.peer) == sid:
                    del self._by_addr[session.peer]
                if self._config.closed_linger > 0:
                    until = self._now + self._config.closed_linger
                    self._closed[sid] = (session, until)
                    heapq.heappush(self._linger_heap, (until, sid))
            elif (deadline := session.get_timer()) is not None:
                heapq.heappush(self._timers, (deadline, sid))
        if len(self._timers) > 4 * len(self._sessions) + 64:
            # lazy deletion leaves stale entries behind; rebuild so memory stays O(sessions)
            self._timers = [
                (t, sid) for sid, s in self._sessions.items() if (t := s.get_timer()) is not None
            ]
            heapq.heapify(self._timers)
        while self._linger_heap and self._linger_heap[0][0] <= self._now:
            until, sid = heapq.heappop(self._linger_heap)
            entry = self._closed.get(sid)
            if entry is not None and entry[1] == until:
                del self._closed[sid]


@dataclass(frozen=True, slots=True)
class User:
    """One entry of a standalone PAA's user table: EAP method name and long-term secret."""

    method: str
    """"psk" (RFC 4764), "gpsk" (RFC 5433) or "md5" (RFC 3748 s5.4, no MSK)."""
    secret: Secret
    """PSK (16 octets for EAP-PSK, >= 16 for EAP-GPSK) or MD5 password."""


_USER_METHODS = ("psk", "gpsk", "md5")


def user_table(
    users: Mapping[bytes, User], *, server_id: bytes = b"pana-mpa", rng: Rng = system_rng
) -> Callable[[], EapServerLike]:
    """An eap_factory for PaaServer: a standalone EapAuthenticator over an identity table.

    Each identity gets the method its entry names; unknown identities are offered EAP-PSK
    with no key, which fails (RFC 4764 s5.1: no enumeration of valid identities).
    """
    for identity, user in users.items():
        if user.method not in _USER_METHODS:
            raise UsageError(f"user {identity!r}: unknown method {user.method!r}")

    def lookup_for(method: str) -> Callable[[bytes], Secret | None]:
        def lookup(identity: bytes) -> Secret | None:
            user = users.get(identity)
            return user.secret if user is not None and user.method == method else None

        return lookup

    def policy(identity: bytes) -> list[Callable[[], Any]]:
        user = users.get(identity)
        method = user.method if user is not None else "psk"
        if method == "gpsk":
            return [lambda: GpskServer(server_id, lookup_for("gpsk"), rng=rng)]
        if method == "md5":
            secret = user.secret if user is not None else None
            return [lambda: Md5Server(secret, rng=rng)]
        return [lambda: PskServer(server_id, lookup_for("psk"), rng=rng)]

    def factory() -> EapServerLike:
        return EapAuthenticator(methods=policy, rng=rng)

    return factory

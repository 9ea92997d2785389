"""PaaSession: one PaC's session at the PAA (RFC 5191, RFC 5609 PAA state machine).

PaaServer (pana_mpa.paa) creates and drives these. What it uses is this module's interface to
the server: ``receive(rx, now)``, ``start``/``ping``/``reauthenticate``/``terminate``,
``resend_par_start``, ``aaa_answer``, ``take_output()`` (its drain), ``last_exchange()`` (what
a closed session keeps while it lingers), ``get_timer()``, and the attributes ``relay``,
``paa_initiated``, ``aaa_queue``, ``address_changed`` and ``timer_pushed`` (the server's heap
bookkeeping); the server never touches anything else.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence

from eap.keys import Secret
from eap.rng import Rng
from pana_codecs import (
    Avp,
    CodecError,
    EapCode,
    EapType,
    decode_eap,
)
from pana_codecs._fast import frozen_maker

from ._actions import SessionActions
from ._avps import AvpCode, ResultCode, u32_avp
from ._eap import KEY_GENERATING_METHODS, AuthOutputLike, EapServerLike, authorized_lifetime
from ._message import (
    F_A,
    F_C,
    F_I,
    F_P,
    F_R,
    F_S,
    PAR_PAN,
    PNR_PNA,
    U32_MOD,
    Drop,
    Outstanding,
    Role,
    Rx,
    constant_u32_avp,
)
from .address import Address
from .config import PaaConfig
from .errors import UsageError
from .events import AuthenticationFailed, PanaEvent, PeerAddressChanged, SessionStarted
from .state import PAA_TABLE, Input, PaaState
from .trace import Trace

__all__ = ["PaaSession", "offer_avps"]

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=16)
def _offer(
    prf: tuple[int, ...], integrity: tuple[int, ...], encr: tuple[int, ...]
) -> tuple[Avp, ...]:
    """The algorithm AVPs of PAR[S], built once per configuration (Avps are immutable)."""
    avps = [constant_u32_avp(AvpCode.PRF_ALGORITHM, a) for a in prf]
    avps += [constant_u32_avp(AvpCode.INTEGRITY_ALGORITHM, a) for a in integrity]
    if prf:
        # RFC 6786 s4: offered in the initial PAR only
        avps += [constant_u32_avp(AvpCode.ENCRYPTION_ALGORITHM, a) for a in encr]
    return tuple(avps)


def offer_avps(config: PaaConfig) -> list[Avp]:
    """PRF, Integrity and Encryption algorithms offered in a PAR[S] (RFC 5191 s4.1, RFC 6786 s4)."""
    return list(_offer(config.prf_algorithms, config.integrity_algorithms,
                       config.encryption_algorithms))  # fmt: skip


_PRF = int(AvpCode.PRF_ALGORITHM)
_INTEGRITY = int(AvpCode.INTEGRITY_ALGORITHM)
_ENCRYPTION = int(AvpCode.ENCRYPTION_ALGORITHM)
_avp = frozen_maker(Avp)
"""Avp(code, value) without the frozen dataclass's setattr calls (an EAP-Payload per PAR)."""
_session_started = frozen_maker(SessionStarted)
"""SessionStarted(...) without the frozen dataclass's setattr calls (every authentication)."""

# Enum members used per message, as module names: an Enum class attribute goes through
# EnumType.__getattr__'s slow lookup hook (issue 10).
_EAP_DISCARD = Input.EAP_DISCARD
_EAP_FAILURE = Input.EAP_FAILURE
_EAP_PAYLOAD = AvpCode.EAP_PAYLOAD
_EAP_REQUEST = Input.EAP_REQUEST
_EAP_SUCCESS = Input.EAP_SUCCESS
_EAP_SUCCESS_UNAUTHORIZED = Input.EAP_SUCCESS_UNAUTHORIZED
_KEY_ID = AvpCode.KEY_ID
_PANA_AUTHENTICATION_REJECTED = ResultCode.PANA_AUTHENTICATION_REJECTED
_PANA_AUTHORIZATION_REJECTED = ResultCode.PANA_AUTHORIZATION_REJECTED
_PANA_SUCCESS = ResultCode.PANA_SUCCESS
_PING = Input.PING
_REAUTH = Input.REAUTH
_RESULT_CODE = AvpCode.RESULT_CODE
_RX_PAN = Input.RX_PAN
_RX_PAN_COMPLETE = Input.RX_PAN_COMPLETE
_RX_PAN_EAP = Input.RX_PAN_EAP
_RX_PAN_START = Input.RX_PAN_START
_RX_PAN_START_EAP = Input.RX_PAN_START_EAP
_RX_PAN_START_EMPTY_OPTIMIZED = Input.RX_PAN_START_EMPTY_OPTIMIZED
_RX_PAR = Input.RX_PAR
_RX_PNA_PING = Input.RX_PNA_PING
_RX_PNA_REAUTH = Input.RX_PNA_REAUTH
_RX_PNR_PING = Input.RX_PNR_PING
_RX_PNR_REAUTH = Input.RX_PNR_REAUTH
_RX_PTA = Input.RX_PTA
_RX_PTR = Input.RX_PTR
_SESSION_LIFETIME = AvpCode.SESSION_LIFETIME
_START = Input.START
_START_OPTIMIZED = Input.START_OPTIMIZED
_TERMINATE = Input.TERMINATE


class PaaSession(SessionActions[PaaConfig]):
    """One PaC's session at the PAA; created and driven by PaaServer."""

    __slots__ = (
        "_aaa_lifetime",
        "_eap",
        "_eap_factory",
        "_eap_failure",
        "_eap_method",
        "_eap_msk",
        "_eap_packet",
        "_pending",
        "_refusal",
        "_result_code",
        "aaa_queue",
        "address_changed",
        "identity",
        "paa_initiated",
        "relay",
        "timer_pushed",
    )

    role = Role.PAA
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
        super().__init__(config, rng=rng, trace=trace)
        self._eap_factory = eap_factory
        self._eap: EapServerLike | None = None
        """The EAP server of the conversation in progress; made on first use, dropped at success."""
        self.session_id = session_id
        self.peer = peer
        self.state = PaaState.INITIAL
        self._eap_packet: bytes | None = None
        self._eap_msk: Secret | None = None
        self._eap_method: int | None = None
        self._aaa_lifetime: int | None = None
        """Seconds of service the AAA server authorized in this conversation's success, if any."""
        self._refusal = ""
        self._result_code = _PANA_SUCCESS
        self._eap_failure = "EAP failure"
        self._opened = False
        self._reauth_by_peer = False
        self._pending = False
        self.identity: bytes | None = None
        self.address_changed: tuple[Address, Address] | None = None
        self.paa_initiated = False
        """Started by PaaServer.initiate() (PAC_FOUND) rather than by a PCI."""
        self.relay: Address | None = None
        """The PRE's address for a relayed session (RFC 6345 s4), else None."""
        self.aaa_queue: list[bytes | None] | None = None
        """Pass-through: EAP responses (None: start) waiting to go to the AAA server."""
        self.timer_pushed: float | None = None
        """PaaServer's bookkeeping: the deadline it last put in its timer heap for us."""

    # ---- helpers -------------------------------------------------------------------------------

    def _i_flag(self) -> int:
        """I on the PAA's PARs of the authentication phase when configured (RFC 5191 s6.2)."""
        return F_I if self._config.ip_reconfiguration and not self._opened else 0

    def _offer_avps(self) -> list[Avp]:
        cfg = self._config
        return list(_offer(cfg.prf_algorithms, cfg.integrity_algorithms, cfg.encryption_algorithms))

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
                self._eap_failure = _failure_text(out.result.method_type)
                return _EAP_FAILURE
            keys = out.result.keys
            self._eap_msk = keys.msk if keys is not None else None
            self._eap_method = out.result.method_type
            self._aaa_lifetime = authorized_lifetime(out)
            return _EAP_SUCCESS if self._authorize() else _EAP_SUCCESS_UNAUTHORIZED
        if out.packet is None:
            return _EAP_DISCARD
        self._eap_packet = out.packet
        return _EAP_REQUEST

    def _authorize(self) -> bool:
        """Authorize() of RFC 5609: policy hook, and an SA when one is required.

        An SA is required when configured (``require_key``), for pre-authentication (RFC 5873
        s3), and whenever the EAP method is key-generating and a PANA SA was negotiated: a
        key-generating method that delivered no MSK (an AAA Access-Accept without usable
        MS-MPPE keys) must not open a keyless session (issue 9: keyless downgrade).
        """
        self._refusal = ""
        if self._aaa_lifetime == 0:
            # RFC 2865 s5.27: Session-Timeout is the most seconds of service; 0 grants none, and
            # a Session-Lifetime of 0 (RFC 5191 s8.8) is a session expired at birth. Opening it
            # with the configured lifetime would give more than the AAA server authorized.
            self._refusal = "the AAA server authorized 0 seconds of service (Session-Timeout 0)"
            logger.warning("paa sid=%#x: %s", self.session_id, self._refusal)
            return False
        has_sa = self._eap_msk is not None and self.prf_algorithm is not None
        method = self._eap_method
        if not has_sa:
            if (
                self._eap_msk is None
                and method in KEY_GENERATING_METHODS
                and self.prf_algorithm is not None
            ):
                self._refusal = (
                    f"EAP method {method} is key-generating but no MSK reached the PAA "
                    "(AAA accept without usable keys?): refusing a keyless session"
                )
            elif self._config.require_key:
                self._refusal = "a PANA SA is required but the EAP method produced no MSK"
            elif self.pre_auth:
                self._refusal = "pre-authentication needs a PANA SA (RFC 5873 s3)"
            if self._refusal:
                logger.warning("paa sid=%#x: %s", self.session_id, self._refusal)
                return False
        hook = self._config.authorize
        if hook is not None and not hook(self.session_id, self.identity):
            self._refusal = "refused by the authorize hook"
            return False
        return True

    def _forward(self, now: float, rx: Rx) -> Input | None:
        avp = rx.msg.avp(_EAP_PAYLOAD)
        if avp is None:
            raise Drop("no EAP-Payload")
        self._note_identity(avp.value)
        if self._eap is None:
            self._eap = self._eap_factory()
        out = self._eap.receive(avp.value)
        inp = self._eap_input(now, out)
        if self._pending:
            self._queue_aaa(avp.value)
        return inp

    def _queue_aaa(self, packet: bytes | None) -> None:
        if self.aaa_queue is None:
            self.aaa_queue = [packet]
        else:
            self.aaa_queue.append(packet)

    def _note_identity(self, packet: bytes) -> None:
        if packet[:1] != b"\x02" or packet[4:5] != b"\x01":
            return  # not an EAP-Response/Identity: no need to decode it
        try:
            eap = decode_eap(packet)
        except CodecError:
            return
        if eap.code == EapCode.RESPONSE and eap.type == EapType.IDENTITY:
            self.identity = eap.type_data

    def _restart_eap(self, now: float) -> Input | None:
        self._aaa_lifetime = None  # a new conversation: only its own success may set a limit
        self._eap = self._eap_factory()
        out = self._eap.start()
        inp = self._eap_input(now, out)
        if self._pending:
            self._queue_aaa(None)
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
        except Drop as exc:
            self._dropped(now, f"AAA answer: {exc}", 0, self.peer)

    # ---- receive -------------------------------------------------------------------------------

    def receive(self, rx: Rx, now: float) -> None:
        """Process one message of this session (PaaServer has routed it here)."""
        try:
            if self.closed:
                if self._repeat_after_close(rx.raw, rx.addr, now):
                    return
                raise Drop("session closed")
            if self._pending and rx.msg.avp(_EAP_PAYLOAD) is not None:
                raise Drop("EAP step pending at the AAA server")
            old = self.peer
            fresh = self._process(rx, now)
            if fresh and rx.msg.flags & F_R and rx.addr != old:
                # RFC 5191 s5.6: a valid message from a new address moves the session there. Only
                # a fresh, in-sequence request counts (its AUTH verified when a key exists): a
                # replayed request is answered from the cache but moves nothing, and an answer
                # only proves the peer saw our request, not where it is (issue 9: hijack by replay)
                self.peer = rx.addr
                self.address_changed = (old, rx.addr)
                self._event(PeerAddressChanged(session_id=self.session_id, old=old, new=rx.addr))
        except Drop as exc:
            self._dropped(now, str(exc), len(rx.raw), rx.addr)

    def _classify(self, rx: Rx) -> Input:
        msg = rx.msg
        if msg.type == PAR_PAN:
            has_eap = msg.avp(_EAP_PAYLOAD) is not None
            if msg.flags & F_R:
                if msg.flags & (F_S | F_C):
                    raise Drop("PAR[S]/PAR[C] from a PaC")
                if not has_eap:
                    raise Drop("PAR without EAP-Payload")
                return _RX_PAR
            if msg.flags & F_S:
                if has_eap:
                    return _RX_PAN_START_EAP
                if self._config.optimized_init:
                    return _RX_PAN_START_EMPTY_OPTIMIZED
                return _RX_PAN_START
            if msg.flags & F_C:
                return _RX_PAN_COMPLETE
            return _RX_PAN_EAP if has_eap else _RX_PAN
        if msg.type == PNR_PNA:
            ping = msg.flags & F_P
            if msg.flags & F_R:
                return _RX_PNR_PING if ping else _RX_PNR_REAUTH
            return _RX_PNA_PING if ping else _RX_PNA_REAUTH
        return _RX_PTR if msg.flags & F_R else _RX_PTA

    # ---- local requests ------------------------------------------------------------------------

    def _request(self, inp: Input, now: float, what: str) -> None:
        """Run a local request; UsageError when the state has no row for it."""
        if self.closed or not self.can(inp):
            raise UsageError(f"cannot {what} session {self.session_id:#x} in {self.state.name}")
        self._fire_local(inp, now)

    def start(self, now: float) -> None:
        """Send the PAR[S] (or start EAP for an optimized PAR[S]) of a new session (s4.1)."""
        inp = _START_OPTIMIZED if self._config.optimized_init else _START
        self._request(inp, now, "start")

    def ping(self, now: float, avps: Sequence[Avp] = ()) -> None:
        """Send PNR[P] (RFC 5191 s4.2) carrying ``avps``; UsageError unless OPEN."""
        if self.closed or not self.can(_PING):
            raise UsageError(f"cannot ping session {self.session_id:#x} in {self.state.name}")
        self._notify_avps = tuple(avps)
        self._request(_PING, now, "ping")

    def reauthenticate(self, now: float) -> None:
        """Start PAA-initiated re-authentication (RFC 5191 s4.3); UsageError unless OPEN."""
        self._request(_REAUTH, now, "re-authenticate")

    def terminate(self, now: float, cause: int) -> None:
        """Send PTR with Termination-Cause ``cause`` (RFC 5191 s4.4); UsageError unless OPEN."""
        if self.closed or not self.can(_TERMINATE):
            raise UsageError(f"cannot terminate session {self.session_id:#x} in {self.state.name}")
        self._term_cause = cause
        self._request(_TERMINATE, now, "terminate")

    # ---- actions (RFC 5609 s6) -----------------------------------------------------------------

    def _send_par_start(self, now: float, avps: list[Avp], *, retransmit: bool) -> None:
        self._i_par = self._send_request(
            now, PAR_PAN, F_S | self._i_flag(), avps, retransmit=retransmit
        )
        # a PaC that never answers its PAR[S] holds the session only briefly (issue 9)
        unanswered = min(self._failed_timeout, self._config.unanswered_timeout)
        self._set_session_timer(now, unanswered, "failed")

    @property
    def authenticated(self) -> bool:
        """True once the session was opened (it is no longer half-open)."""
        return self._opened

    def adopt_par_start(self, i_par: bytes, seq: int, now: float) -> None:
        """Take over the PAR[S] the server sent without state for a PCI (RFC 5191 s4.1).

        The session then waits in INITIAL for that PAR[S]'s PAN[S], as if it had sent it.
        """
        self._i_par = i_par
        self._seq_out = (seq + 1) % U32_MOD
        self._outstanding = Outstanding(PAR_PAN, seq, i_par, now, None)
        self._set_session_timer(now, self._failed_timeout, "failed")

    def abandon(self, now: float, why: str) -> None:
        """End an unfinished session at once and silently (the PaC started a new one)."""
        if self.closed:
            return
        logger.info("paa sid=%#x abandoned: %s", self.session_id, why)
        self._terminated(now, cause=None, by_peer=True, reason="failed")
        self.state = PaaState.CLOSED
        self._close()

    def resend_outstanding(self, now: float) -> None:
        """Send the outstanding request again now (its PaC retransmits PCIs: it missed it)."""
        out = self._outstanding
        if out is not None and out.rtx is not None:
            self._out(out.data, self.peer)
            if self._tracing:
                self._trace_sink.event(now, "request_resent", sid=self.session_id, seq=out.seq)

    def resend_par_start(self, now: float) -> None:
        """Answer a retransmitted PCI with the same PAR[S] (the PaC lost it, RFC 5191 s4.1)."""
        out = self._outstanding
        if out is not None and out.type == PAR_PAN and out.data == self._i_par:
            self._out(out.data, self.peer)
            if self._tracing:
                self._trace_sink.event(now, "par_start_resent", sid=self.session_id)

    def _a_send_par_start(self, now: float, rx: Rx | None) -> Input | None:
        # not optimized: no EAP-Payload; answering a PCI, no retransmission timer (stateless
        # PAA, s4.1: the PaC's PCI retransmission recovers a lost PAR[S]); an unsolicited PAR[S]
        # of a PAA-initiated session is retransmitted (pana-wire s8.1)
        self._send_par_start(now, self._offer_avps(), retransmit=self.paa_initiated)
        return None

    def _a_eap_start(self, now: float, rx: Rx | None) -> Input | None:
        self._set_session_timer(now, self._failed_timeout, "failed")
        return self._restart_eap(now)

    def _a_send_par_start_eap(self, now: float, rx: Rx | None) -> Input | None:
        assert self._eap_packet is not None
        avps = [*self._offer_avps(), _avp(_EAP_PAYLOAD, self._eap_packet)]
        self._send_par_start(now, avps, retransmit=True)
        return None

    def _accept_start(self, now: float, rx: Rx) -> None:
        found: dict[int, list[Avp]] = {_PRF: [], _INTEGRITY: [], _ENCRYPTION: []}
        for avp in rx.msg.avps:  # one pass for the three algorithm AVPs
            if avp.vendor_id is None and avp.code in found:
                found[avp.code].append(avp)
        prfs = [self._u32(a) for a in found[_PRF]]
        integs = [self._u32(a) for a in found[_INTEGRITY]]
        if self._config.prf_algorithms:
            if len(prfs) != 1 or len(integs) != 1:
                raise Drop("PAN[S] must choose one PRF and one Integrity algorithm")
            if prfs[0] not in self._config.prf_algorithms:
                raise Drop(f"PAN[S] chose PRF {prfs[0]}, which was not offered")
            if integs[0] not in self._config.integrity_algorithms:
                raise Drop(f"PAN[S] chose integrity {integs[0]}, which was not offered")
            self.prf_algorithm, self.integrity_algorithm = prfs[0], integs[0]
            encs = [self._u32(a) for a in found[_ENCRYPTION]]
            if len(encs) > 1 or (encs and encs[0] not in self._config.encryption_algorithms):
                raise Drop("PAN[S] chose an Encryption-Algorithm that was not offered")
            self.encryption_algorithm = encs[0] if encs else None
        self._i_pan = rx.raw
        self._nonce_sent = self._nonce_received = False
        self._set_session_timer(now, self._failed_timeout, "failed")  # the PaC answered
        self._event(
            _session_started(
                session_id=self.session_id,
                peer=self.peer,
                prf_algorithm=self.prf_algorithm,
                integrity_algorithm=self.integrity_algorithm,
            )
        )

    def _a_accept_pan_start(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        self._accept_start(now, rx)  # sets FAILED_SESS_TIMEOUT too
        return self._restart_eap(now)

    def _a_accept_pan_start_eap(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        self._accept_start(now, rx)
        return self._forward(now, rx)

    def _a_accept_pan_start_empty(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        self._accept_start(now, rx)
        return None

    def _a_send_par_eap(self, now: float, rx: Rx | None) -> Input | None:
        assert self._eap_packet is not None
        avps = [*self._own_nonce_avp(pac=False), _avp(_EAP_PAYLOAD, self._eap_packet)]
        self._send_request(now, PAR_PAN, self._i_flag(), avps)
        return None

    def _a_forward_eap(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        self._take_nonce(rx, from_paa=False)
        return self._forward(now, rx)

    def _a_send_pan_forward_eap(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        self._outstanding = None
        self._take_nonce(rx, from_paa=False)
        self._send_answer(now, rx, 0, [])
        return self._forward(now, rx)

    def _final_avps(self, result: ResultCode) -> list[Avp]:
        avps = [constant_u32_avp(_RESULT_CODE, result)]
        if self._eap_packet is not None:
            avps.append(_avp(_EAP_PAYLOAD, self._eap_packet))
        msk = self._eap_msk if result != _PANA_AUTHENTICATION_REJECTED else None
        if msk is not None and self.prf_algorithm is not None:
            # a new MSK: new Key-Id, and this PAR[C] is already protected by the new key (s5.3)
            if self.key_id is None:
                start = self._config.key_id_start
                key_id = start if start is not None else int.from_bytes(self._rng(4), "big")
            else:
                key_id = (self.key_id + 1) % U32_MOD
            key = self._derive_key(msk, key_id)
            self._key, self.key_id, self.msk = key, key_id, msk
            self._install_encryption()
            avps.append(u32_avp(_KEY_ID, key_id))
        elif result == _PANA_SUCCESS:
            self.msk = msk
        if result == _PANA_SUCCESS:
            lifetime = self._granted_lifetime()
            if lifetime == self._config.session_lifetime:
                avps.append(constant_u32_avp(_SESSION_LIFETIME, lifetime))
            else:  # per session (from the AAA server): not for the shared AVP cache
                avps.append(u32_avp(_SESSION_LIFETIME, lifetime))
        return avps

    def _granted_lifetime(self) -> int:
        """Session-Lifetime of this (re-)authentication: the configured one, never more than the
        AAA server authorized (RFC 5191 s5.7: bounded by the authorization lifetime)."""
        limit = self._aaa_lifetime
        configured = self._config.session_lifetime
        return configured if limit is None or limit >= configured else limit

    def _a_send_par_complete_success(self, now: float, rx: Rx | None) -> Input | None:
        self._result_code = _PANA_SUCCESS
        avps = self._final_avps(_PANA_SUCCESS)
        self._send_request(now, PAR_PAN, F_C | self._i_flag(), avps)
        return None

    def _reject(self, now: float, code: ResultCode, reason: str) -> None:
        self._result_code = code
        avps = self._final_avps(code)
        self._send_request(now, PAR_PAN, F_C | self._i_flag(), avps)
        self._session_deadline = None
        self._event(
            AuthenticationFailed(
                session_id=self.session_id, result_code=code, identity=self.identity, reason=reason
            )
        )
        logger.info("paa sid=%#x rejected, Result-Code %d: %s", self.session_id, code, reason)

    def _a_send_par_complete_reject(self, now: float, rx: Rx | None) -> Input | None:
        reason = f"not authorized: {self._refusal or 'refused'}"
        self._reject(now, _PANA_AUTHORIZATION_REJECTED, reason)
        return None

    def _a_send_par_complete_fail(self, now: float, rx: Rx | None) -> Input | None:
        self._reject(now, _PANA_AUTHENTICATION_REJECTED, self._eap_failure)
        return None

    def _check_key_id_echo(self, rx: Rx) -> None:
        echo = rx.msg.avp(_KEY_ID)
        if self._key is not None and (echo is None or self._u32(echo) != self.key_id):
            raise Drop("PAN[C] does not echo the Key-Id")

    def _a_open_session(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        self._check_key_id_echo(rx)
        self.lifetime = float(self._granted_lifetime())
        self._session_opened(now, identity=self.identity)
        logger.info("paa sid=%#x open, key id %s", self.session_id, self.key_id)
        self._forget_authentication()
        return None

    def take_output(self) -> tuple[list[tuple[bytes, Address]] | None, list[PanaEvent] | None]:
        """PaaServer's drain: the queued datagrams and events (None: none), all at once."""
        outbox, events = self._outbox, self._events
        self._outbox = self._events = None
        return outbox, events

    def last_exchange(self) -> tuple[bytes | None, bytes | None]:
        """The last request answered and its answer: all a closed session needs while it
        lingers (a lost PTA, RFC 5191 s4.4)."""
        return self._last_request, self._last_answer

    def _forget_authentication(self) -> None:
        """Drop what only the finished (re-)authentication needed: the EAP authenticator and
        its method state, the EAP packet, the MSK copy and the nonces (issue 10: memory).

        A re-authentication starts a new EAP conversation and exchanges new nonces (s4.3).
        """
        self._eap = None
        self._eap_packet = None
        self._eap_msk = None
        self._pac_nonce = self._paa_nonce = None

    def _a_disconnect_rejected(self, now: float, rx: Rx | None) -> Input | None:
        # s4.1: after an authorization failure the session ends after the PAN[C], no PTR
        self._terminated(now, cause=None, by_peer=False, reason="authentication")
        return None

    def _begin_reauth(self, now: float) -> None:
        self._nonce_sent = self._nonce_received = False
        self._eap_msk = None
        self._eap_packet = None
        self._set_failed_timer_within_lifetime(now)
        self._reauth_deadline = None

    def _a_send_pna_reauth(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        self._outstanding = None  # a PNR[A] while our PNR[P] is outstanding (RFC 5609 s6.8)
        self._reauth_by_peer = True
        self._begin_reauth(now)
        self._send_answer(now, rx, F_A, [])
        return self._restart_eap(now)

    def _a_eap_restart_reauth(self, now: float, rx: Rx | None) -> Input | None:
        self._reauth_by_peer = False
        self._begin_reauth(now)
        return self._restart_eap(now)


def _failure_text(method_type: int | None) -> str:
    """ "EAP failure (PSK)": the reason an AuthenticationFailed gives, with the method's name."""
    if method_type is None:
        return "EAP failure"
    try:
        return f"EAP failure ({EapType(method_type).name})"
    except ValueError:
        return f"EAP failure (method {method_type})"

"""Shared core of PaC and PAA sessions: sequence numbers, answer cache, AUTH, timers (s5)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from enum import Enum
from typing import Any, ClassVar, Generic, TypeVar

from eap.keys import Secret
from eap.rng import Rng
from pana_codecs import Avp, CodecError, PanaMessage, decode_pana
from pana_codecs import encode_pana as _encode_pana
from pana_codecs._fast import frozen_maker

from . import crypto
from ._avps import AvpCode, avp_u32
from ._message import (
    F_E,
    F_P,
    F_R,
    PCI,
    PNR_PNA,
    U32_MOD,
    Drop,
    Outstanding,
    Role,
    Rx,
    decrypt_avps,
    encrypt_avps,
    zero_auth_avp,
)
from .address import Address
from .config import SessionSettings
from .events import (
    PanaEvent,
    PreAuthSwitched,
)
from .flow import describe
from .retransmit import Retransmitter, TimerParameters
from .state import Action, Input
from .trace import Trace, is_enabled

__all__ = ["SessionCore", "SessionSettings"]

logger = logging.getLogger(__name__)


ConfigT = TypeVar("ConfigT", bound=SessionSettings)

_message = frozen_maker(PanaMessage)
"""PanaMessage(type, flags, session_id, seq, avps) without the frozen dataclass's setattr calls."""
_AUTH = AvpCode.AUTH  # an Enum class attribute goes through EnumType.__getattr__'s slow hook

ActionMethod = Callable[[Any, float, Rx | None], Input | None]
"""An unbound ``_a_<action>(self, now, rx)``: may return a follow-up input."""


def _action_method(cls: type, action: Action) -> ActionMethod:
    """The method a table row runs; a table naming an action without one fails at import."""
    name = "_a_" + action.value
    for base in cls.__mro__:
        method: ActionMethod | None = base.__dict__.get(name)
        if method is not None:
            return method
    raise TypeError(f"{cls.__name__} has no method for action {action.name}")


class SessionCore(Generic[ConfigT]):
    """State shared by PacSession and PaaSession; subclasses provide the table and the actions.

    A subclass sets ``role`` (its end of PANA), ``_table`` (its RFC 5609 machine in state.py)
    and ``_closed_state``, and defines one ``_a_<action>`` method per Action its table names.
    """

    role: ClassVar[Role]
    _defers: ClassVar[bool] = False
    """True when the subclass overrides the PaC-only hooks ``_skip_sequence_check``,
    ``_may_defer_auth`` and ``_auth_deferred``; otherwise the pipeline does not call them."""
    _table: ClassVar[Mapping[tuple[Any, Input], tuple[Action, Any]]]
    _closed_state: ClassVar[Enum]
    _rows: ClassVar[Mapping[tuple[Any, Input], tuple[ActionMethod, Action, Any]]]
    """``_table`` compiled once per class: each Action resolved to its ``_a_<action>`` method."""

    __slots__ = (
        "_answered_at", "_answering", "_config", "_events", "_extension", "_failed_limit",
        "_failed_timeout", "_i_pan", "_i_par", "_key", "_last_answer", "_last_request",
        "_nonce_received", "_nonce_sent", "_notify_avps", "_outbox", "_outstanding", "_paa_nonce",
        "_pac_nonce", "_pending_encr", "_reauth_deadline", "_rng", "_rx_encr", "_seq_in",
        "_seq_out", "_session_deadline", "_session_timer_kind", "_switching", "_term_cause",
        "_trace_sink", "_tracing", "_tx_encr", "closed", "encryption_algorithm",
        "integrity_algorithm", "key_id", "lifetime", "msk", "peer", "pre_auth", "prf_algorithm",
        "session_id", "state",
    )  # fmt: skip

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_table" in cls.__dict__:
            cls._rows = {
                key: (_action_method(cls, action), action, nxt)
                for key, (action, nxt) in cls._table.items()
            }

    def __init__(self, config: ConfigT, *, rng: Rng, trace: Trace) -> None:
        self._config = config
        self._rng = rng
        self._extension = config.extension
        self.pre_auth = False
        """RFC 5873: the session is a pre-authentication (E flag) until the switch."""
        self._answering: PanaMessage | None = None
        self._notify_avps: tuple[Avp, ...] = ()
        self._trace_sink = trace
        self._tracing = is_enabled(trace)
        self._failed_timeout = config.failed_session_timeout
        self._failed_limit: float | None = None
        """With failed_session_max: the latest the failed timer may be pushed to by progress."""
        self.session_id = 0
        self.peer: Address = ("", 0)
        self.state: Enum = self._closed_state
        self.closed = False
        # sequence numbers (s5.2): next outgoing request, next expected incoming request
        self._seq_out: int | None = None
        self._seq_in: int | None = None
        self._outstanding: Outstanding | None = None
        self._last_request: bytes | None = None
        self._last_answer: bytes | None = None
        # timers
        self._session_deadline: float | None = None
        self._session_timer_kind = ""
        self._reauth_deadline: float | None = None
        self.lifetime: float = 0.0
        # PANA SA (s5.3)
        self.prf_algorithm: int | None = None
        self.integrity_algorithm: int | None = None
        self._i_par = b""
        self._i_pan = b""
        self._pac_nonce: bytes | None = None
        self._paa_nonce: bytes | None = None
        self._nonce_sent = False
        self._nonce_received = False
        self._key: Secret | None = None
        self.key_id: int | None = None
        self.msk: Secret | None = None
        self._term_cause: int | None = None
        # RFC 6786 AVP encryption: negotiated algorithm, keys per direction, keys of a new Key-Id
        self.encryption_algorithm: int | None = None
        self._tx_encr: Secret | None = None
        self._rx_encr: Secret | None = None
        self._pending_encr: tuple[Secret, Secret] | None = None
        # made on first use and dropped once drained: an idle session holds no empty lists
        self._outbox: list[tuple[bytes, Address]] | None = None
        self._events: list[PanaEvent] | None = None
        self._answered_at = 0.0
        """When the request just answered was first sent (for PingAnswered.round_trip)."""
        self._switching = False
        """PaC: a switch PNR[P] (RFC 5873) is outstanding."""

    @property
    def _trace(self) -> Trace:
        return self._trace_sink

    @_trace.setter
    def _trace(self, trace: Trace) -> None:
        self._trace_sink = trace
        self._tracing = is_enabled(trace)

    # ---- outputs -------------------------------------------------------------------------------

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """Datagrams queued since the last call, with their destinations."""
        out = self._outbox
        if out is None:
            return []
        self._outbox = None
        return out

    def next_event(self) -> PanaEvent | None:
        """The oldest unread event, or None."""
        events = self._events
        if not events:
            return None
        event = events.pop(0)
        if not events:
            self._events = None
        return event

    def _out(self, data: bytes, addr: Address) -> None:
        """Queue a datagram for datagrams_to_send()."""
        if self._outbox is None:
            self._outbox = [(data, addr)]
        else:
            self._outbox.append((data, addr))

    def _event(self, event: PanaEvent) -> None:
        """Queue an event for next_event()."""
        if self._events is None:
            self._events = [event]
        else:
            self._events.append(event)

    def get_timer(self) -> float | None:
        """Earliest absolute deadline (retransmission, session or re-auth timer), or None."""
        if self.closed:
            return None
        best = self._session_deadline
        reauth = self._reauth_deadline
        if reauth is not None and (best is None or reauth < best):
            best = reauth
        out = self._outstanding
        if out is not None and out.rtx is not None:
            rtx = out.rtx.deadline
            if best is None or rtx < best:
                best = rtx
        return best

    @property
    def has_key(self) -> bool:
        """True when a PANA SA (PANA_AUTH_KEY) protects the session."""
        return self._key is not None

    # ---- timers --------------------------------------------------------------------------------

    def handle_timer(self, now: float) -> None:
        """Fire every deadline that is due at ``now``."""
        if self.closed:
            return
        out = self._outstanding
        if out is not None and out.rtx is not None and now >= out.rtx.deadline:
            if out.rtx.backoff(now):
                self._fire_local(Input.RTX_TIMEOUT, now)
            else:
                self._fire_local(Input.RTX_EXHAUSTED, now)
        if self._is_closed():
            return
        if self._session_deadline is not None and now >= self._session_deadline:
            self._fire_local(Input.SESS_TIMEOUT, now)
        if self._is_closed():
            return
        if self._reauth_deadline is not None and now >= self._reauth_deadline:
            self._reauth_deadline = None
            if (self.state, Input.REAUTH) in self._table and self._outstanding is None:
                self._fire_local(Input.REAUTH, now)
            else:
                self._reauth_deadline = now + 1.0  # busy (ping outstanding): try again shortly

    def _set_failed_timer_within_lifetime(self, now: float) -> None:
        """Re-authentication: FAILED_SESS_TIMEOUT, but never past the session lifetime (s5.7)."""
        failed = now + self._failed_timeout
        deadline = self._session_deadline
        if deadline is None or failed < deadline:
            self._set_session_timer(now, self._failed_timeout, "failed")
            if self._failed_limit is not None and deadline is not None:
                self._failed_limit = min(self._failed_limit, deadline)  # never past the lifetime

    def _is_closed(self) -> bool:
        return self.closed

    def _set_session_timer(self, now: float, seconds: float | None, kind: str) -> None:
        self._session_deadline = None if seconds is None else now + seconds
        self._session_timer_kind = kind
        most = self._config.failed_session_max
        self._failed_limit = now + most if kind == "failed" and most is not None else None

    def _progress(self, now: float) -> None:
        """A valid message from the peer: with failed_session_max, restart FAILED_SESS_TIMEOUT.

        RFC 5609 s4 gives FAILED_SESS_TIMEOUT to detect a (re-)authentication that has stalled
        and itself restarts the session timer as the phase advances (SessionTimerReStart on
        Rx:PAR[S], Rx:PNA[A], Rx:PAN[S]); each exchange stays bounded by REQ_MRC (RFC 5191 s9)
        and the whole phase by failed_session_max, so a phase that progresses is not cut.
        """
        limit = self._failed_limit
        if limit is not None and self._session_timer_kind == "failed" and not self.closed:
            self._session_deadline = min(now + self._failed_timeout, limit)

    # ---- running the table ---------------------------------------------------------------------

    def _fire_local(self, inp: Input, now: float) -> None:
        try:
            self._fire(inp, now, None)
        except Drop as exc:  # a local step found nothing to do
            if self._tracing:
                self._trace_sink.event(
                    now, "input_ignored", sid=self.session_id, input=inp.name, reason=str(exc)
                )

    def can(self, inp: Input) -> bool:
        """True when ``inp`` has a row in the current state (a local request is allowed)."""
        return (self.state, inp) in self._table

    def _fire(self, inp: Input | None, now: float, rx: Rx | None) -> None:
        """Run rows until no follow-up input remains; on Drop restore the state and re-raise."""
        saved = self.state
        rows = self._rows
        try:
            while inp is not None:
                row = rows.get((self.state, inp))
                if row is None:
                    raise Drop(f"{inp.name} not expected in {self.state.name}")
                method, action, nxt = row
                follow = method(self, now, rx)
                if self._tracing:
                    self._trace_transition(now, inp, action, nxt)
                self.state = nxt
                inp = follow
        except Drop:
            self.state = saved
            raise
        if self.state is self._closed_state and not self.closed:
            self._close()

    def _trace_transition(self, now: float, inp: Input, action: Action, nxt: Enum) -> None:
        self._trace_sink.event(
            now,
            "transition",
            sid=self.session_id,
            role=self.role.value,
            old=self.state.name,
            input=inp.name,
            action=action.name,
            new=nxt.name,
        )

    def _close(self) -> None:
        self.closed = True
        self._outstanding = None
        self._session_deadline = None
        self._reauth_deadline = None
        self._key = None
        self._tx_encr = self._rx_encr = self._pending_encr = None
        logger.info("%s session %#x closed", self.role, self.session_id)

    # ---- sending -------------------------------------------------------------------------------

    def _install_encryption(self) -> None:
        """Switch to the encryption keys of the Key-Id just installed (RFC 6786 s3)."""
        if self._pending_encr is None:
            return
        pac_key, paa_key = self._pending_encr
        self._pending_encr = None
        if self.role is Role.PAC:
            self._tx_encr, self._rx_encr = pac_key, paa_key
        else:
            self._tx_encr, self._rx_encr = paa_key, pac_key

    def _encrypt_avps(self, seq: int, avps: list[Avp]) -> list[Avp]:
        """Hide AVPs of policy X in an Encryption-Encap once keys exist (RFC 6786 s5-6)."""
        if self._tx_encr is None or self.key_id is None:
            return avps
        return encrypt_avps(
            self._tx_encr, key_id=self.key_id, session_id=self.session_id, seq=seq, avps=avps
        )

    @staticmethod
    def _decrypt(rx: Rx, key: Secret | None, key_id: int | None) -> None:
        """Replace an Encryption-Encap AVP by the AVPs it carries (RFC 6786 s5), after AUTH."""
        avps = decrypt_avps(rx.msg, key, key_id)
        if avps is not rx.msg.avps:
            rx.msg = replace(rx.msg, avps=avps)

    def _encode(self, mtype: int, flags: int, seq: int, avps: list[Avp]) -> bytes:
        if self.pre_auth:
            flags |= F_E  # RFC 5873 s3: every message of a pre-auth session
        if self._extension is not None:
            extra = self._extension.outgoing_avps(
                self.session_id, mtype, flags, tuple(avps), self._answering
            )
            avps = [*avps, *extra]
        if self._tx_encr is not None:
            avps = self._encrypt_avps(seq, avps)
        key, alg = self._key, self.integrity_algorithm
        if key is None or alg is None:
            return _encode_pana(_message(mtype, flags, self.session_id, seq, tuple(avps)))
        # AUTH is the last AVP and covers the whole message with its value zeroed (s5.4).
        auth = zero_auth_avp(alg)
        raw = _encode_pana(_message(mtype, flags, self.session_id, seq, (*avps, auth)))
        return crypto.sign_message(alg, key, raw)

    def _emit(self, now: float, data: bytes, what: str, to: Address | None = None) -> None:
        self._out(data, to or self.peer)
        tracing = self._tracing
        if not tracing and not logger.isEnabledFor(logging.DEBUG):
            return
        msg = decode_pana(data)
        name = describe(msg)
        if tracing:
            self._trace.event(
                now,
                "message_sent",
                sid=self.session_id,
                role=self.role.value,
                message=name,
                seq=msg.seq,
                size=len(data),
                avps=[a.code for a in msg.avps],
                note=what,
            )
        logger.debug("%s sid=%#x sent %s seq=%#x", self.role, self.session_id, name, msg.seq)

    def _send_request(
        self,
        now: float,
        mtype: int,
        flags: int,
        avps: list[Avp],
        *,
        retransmit: bool = True,
        timers: TimerParameters | None = None,
    ) -> bytes:
        if self._seq_out is None:
            # initial sequence number is random (RFC 5191 s5.2)
            self._seq_out = int.from_bytes(self._rng(4), "big")
        seq = self._seq_out
        self._seq_out = (seq + 1) % U32_MOD
        data = self._encode(mtype, flags | F_R, seq, avps)
        rtx = (
            Retransmitter(timers or self._config.request_timers, self._rng, now)
            if retransmit
            else None
        )
        self._outstanding = Outstanding(mtype, seq, data, now, rtx)
        self._emit(now, data, "request")
        return data

    def _send_answer(self, now: float, rx: Rx, flags: int, avps: list[Avp]) -> bytes:
        self._answering = rx.msg
        try:
            data = self._encode(rx.msg.type, flags & ~F_R, rx.msg.seq, avps)
        finally:
            self._answering = None
        # the answer cache (s5.2): a duplicate of this request gets these very bytes again
        self._last_request = rx.raw
        self._last_answer = data
        # answers go to where the request came from (RFC 5191 s6.1)
        self._emit(now, data, "answer", rx.addr)
        return data

    # ---- receiving -----------------------------------------------------------------------------

    @staticmethod
    def _u32(avp: Avp) -> int:
        try:
            return avp_u32(avp)
        except ValueError as exc:
            raise Drop(str(exc)) from None

    def _decode(self, data: bytes) -> PanaMessage:
        try:
            msg = decode_pana(data, max_avps=getattr(self._config, "max_avps", 64))
        except CodecError as exc:
            raise Drop(f"malformed: {exc}") from None
        return msg

    def _check_sequence(self, rx: Rx, *, skip: bool = False) -> bool:
        """Sequence number rules of s5.2; True when the message is a duplicate already answered."""
        msg = rx.msg
        if msg.flags & F_R:
            if self._last_request is not None and rx.raw == self._last_request:
                return True
            if skip or self._seq_in is None:
                return False
            if msg.seq != self._seq_in:
                raise Drop(f"request sequence number {msg.seq:#x}, expected {self._seq_in:#x}")
            return False
        out = self._outstanding
        if out is None or out.type != msg.type or out.seq != msg.seq:
            raise Drop("answer matches no outstanding request")
        return False

    def _check_auth(self, rx: Rx, *, deferred: bool = False) -> None:
        """AUTH rules of s5.3/s11.1: with a key every message carries a valid AUTH."""
        last = rx.msg.avps[-1] if rx.msg.avps else None
        has_auth = last is not None and last.code == _AUTH and last.vendor_id is None
        if deferred:
            return
        if self._key is None or self.integrity_algorithm is None:
            if has_auth:
                raise Drop("AUTH AVP but no PANA SA")
            return
        if not has_auth:
            raise Drop("AUTH AVP missing")
        if not rx.auth_verified and not crypto.verify_auth(
            self.integrity_algorithm, self._key, rx.raw
        ):
            raise Drop("AUTH does not verify")

    def screened(
        self, mtype: int, flags: int, seq: int, raw: bytes, addr: Address, now: float
    ) -> bool | None:
        """``screen`` with a drop traced as this session's drops are; None when dropped."""
        try:
            return self.screen(mtype, flags, seq, raw)
        except Drop as exc:
            self._dropped(now, str(exc), len(raw), addr)
            return None

    def screen(self, mtype: int, flags: int, seq: int, raw: bytes) -> bool:
        """The checks of the receive pipeline that the raw octets allow, before any AVP is
        decoded (issue 9: bounded work per datagram); raises Drop as the pipeline would.

        In the pipeline's order: closed session, sequence number (or the outstanding request
        an answer must match), the E flag, then AUTH, verified over the raw message when it
        ends in an AUTH of the SA's length (s5.4). True when the AUTH verified: the pipeline
        need not compute it again. A duplicate of the last request, and messages whose AUTH
        the pipeline may defer or has to explain (missing, misplaced), go on to be decoded.
        """
        last_request = self._last_request
        if last_request is not None and raw == last_request and flags & F_R:
            return False  # answered from the cache (or after close) by the pipeline
        if self.closed:
            raise Drop("session closed")
        if flags & F_R:
            seq_in = self._seq_in
            if (
                seq_in is not None
                and seq != seq_in
                and not (self._defers and self._skip_sequence_check(flags))
            ):
                raise Drop(f"request sequence number {seq:#x}, expected {seq_in:#x}")
        else:
            out = self._outstanding
            if out is None or out.type != mtype or out.seq != seq:
                raise Drop("answer matches no outstanding request")
        if flags & F_E or self.pre_auth:
            self._check_pre_auth_flag(mtype, flags)
        key, alg = self._key, self.integrity_algorithm
        if key is None or alg is None or (self._defers and self._may_defer_auth(mtype, flags)):
            return False
        if crypto.auth_slot(alg, raw) is None:
            return False  # no AUTH at the end: the pipeline says what is wrong
        if not crypto.verify_auth(alg, key, raw):
            raise Drop("AUTH does not verify")
        return True

    def _repeat_after_close(self, data: bytes, addr: Address, now: float) -> bool:
        """A closed session still answers an exact repeat of its last request (lost PTA, s4.4)."""
        if self._last_request is None or self._last_answer is None or data != self._last_request:
            return False
        self._out(self._last_answer, addr)
        if self._tracing:
            self._trace_sink.event(now, "duplicate_answered", sid=self.session_id, closed=True)
        return True

    def _resend_answer(self, now: float, rx: Rx) -> None:
        assert self._last_answer is not None
        self._out(self._last_answer, rx.addr)
        if self._tracing:
            self._trace_sink.event(now, "duplicate_answered", sid=self.session_id, seq=rx.msg.seq)

    def _accepted(self, rx: Rx) -> None:
        """Bookkeeping after a request was processed: the next expected sequence number."""
        if rx.msg.flags & F_R and rx.msg.type != PCI:
            self._seq_in = (rx.msg.seq + 1) % U32_MOD

    def _dropped(self, now: float, reason: str, size: int, addr: Address) -> None:
        logger.debug("%s sid=%#x dropped %d octets from %s: %s", self.role, self.session_id, size,
                     addr, reason)  # fmt: skip
        if not self._tracing:
            return
        self._trace_sink.event(
            now,
            "message_dropped",
            sid=self.session_id,
            role=self.role.value,
            reason=reason,
            size=size,
        )

    # ---- the receive pipeline ------------------------------------------------------------------

    def _classify(self, rx: Rx) -> Input:
        raise NotImplementedError

    def _auth_deferred(self, rx: Rx) -> bool:
        return False

    def _skip_sequence_check(self, flags: int) -> bool:
        return False

    def _may_defer_auth(self, mtype: int, flags: int) -> bool:
        """Whether ``_auth_deferred`` may hold for a message of this type and these flags."""
        return False

    def _process(self, rx: Rx, now: float) -> bool:
        """Validate one decoded message of this session and run its row (s5.2, s5.5).

        True when ``rx`` was processed as a new message; False for a duplicate request that was
        only answered from the cache (it must change nothing, not even the peer's address).
        """
        msg = rx.msg
        defers = self._defers  # the PAA has no such hooks: their calls are skipped
        if self._check_sequence(rx, skip=defers and self._skip_sequence_check(msg.flags)):
            self._resend_answer(now, rx)
            return False
        switching = False
        if msg.flags & F_E or self.pre_auth:
            switching = self._check_pre_auth_flag(msg.type, msg.flags)
        deferred = defers and self._auth_deferred(rx)
        self._check_auth(rx, deferred=deferred)
        if not deferred:
            avps = decrypt_avps(msg, self._rx_encr, self.key_id)
            if avps is not msg.avps:
                rx.msg = replace(msg, avps=avps)
        inp = self._classify(rx)
        snapshot = (
            self._outstanding,
            len(self._outbox or ()),
            len(self._events or ()),
            self._seq_out,
            self._last_request,
            self._last_answer,
        )
        if not rx.msg.flags & F_R:
            assert self._outstanding is not None
            self._answered_at = self._outstanding.sent_at
            self._outstanding = None  # a valid answer ends the retransmission (RtxTimerStop)
        if switching:
            self.pre_auth = False  # the answer to the switching PNR already has E clear
        try:
            self._fire(inp, now, rx)
        except Drop:
            self.pre_auth = self.pre_auth or switching
            out, n_out, n_ev, seq_out, last_req, last_ans = snapshot
            self._outstanding = out
            if self._outbox is not None:
                del self._outbox[n_out:]
            if self._events is not None:
                del self._events[n_ev:]
            self._seq_out, self._last_request, self._last_answer = seq_out, last_req, last_ans
            raise
        self._accepted(rx)
        if self._failed_limit is not None:
            self._progress(now)
        if switching:
            self._event(PreAuthSwitched(session_id=self.session_id, peer=rx.addr))
            if self._tracing:
                self._trace_sink.event(
                    now, "pre_auth_switched", sid=self.session_id, role=self.role.value
                )
            logger.info("%s sid=%#x: pre-authentication session is now serving (RFC 5873)",
                        self.role, self.session_id)  # fmt: skip
        if self._extension is not None:
            self._extension.received(self.session_id, rx.msg, rx.addr, now)
        return True

    def _check_pre_auth_flag(self, mtype: int, flags: int) -> bool:
        """RFC 5873 s3 E-flag rules; True for the PaC's switching PNR[P] (E clear)."""
        has_e = bool(flags & F_E)
        if self.pre_auth and not has_e:
            switch = (
                self.role is Role.PAA
                and mtype == PNR_PNA
                and flags & F_R
                and flags & F_P
                and self._key is not None
            )
            if not switch:
                raise Drop("E flag missing on a pre-authentication session (RFC 5873)")
            return True
        if has_e and not self.pre_auth:
            raise Drop("E flag on a session that is not a pre-authentication (RFC 5873)")
        return False

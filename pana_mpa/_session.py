"""Shared core of PaC and PAA sessions: sequence numbers, answer cache, AUTH, timers (s5)."""

from __future__ import annotations

import logging
import struct
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Protocol

from eap.keys import KeyMaterial, Secret
from eap.rng import Rng
from pana_codecs import Avp, CodecError, MessageFlags, MessageType, PanaMessage, decode_pana
from pana_codecs import encode_pana as _encode_pana

from . import crypto
from ._avps import AvpCode, TerminationCause, avp_u32, u32_avp
from .events import (
    Authenticated,
    PanaEvent,
    PingAnswered,
    PreAuthSwitched,
    Reauthenticated,
    SessionTerminated,
)
from .extension import PanaExtension
from .retransmit import Retransmitter, TimerParameters
from .state import Action, Input
from .trace import NULL_TRACE, Trace

__all__ = [
    "Address",
    "EapPeerLike",
    "EapServerLike",
    "Input",
    "Rng",
]

logger = logging.getLogger(__name__)

Address = tuple[str, int]
"""(host, port) of a UDP peer."""

_U32_MOD = 1 << 32
# RFC 6786 s6.1: AVPs we put inside Encryption-Encap once keys exist (policy X), and AVPs that
# must never be there (policy N)
_ENCRYPTED_CODES = frozenset({AvpCode.SESSION_LIFETIME, AvpCode.TERMINATION_CAUSE})
_NEVER_ENCRYPTED = frozenset(
    {
        AvpCode.AUTH,
        AvpCode.INTEGRITY_ALGORITHM,
        AvpCode.KEY_ID,
        AvpCode.NONCE,
        AvpCode.PRF_ALGORITHM,
        AvpCode.RESULT_CODE,
        AvpCode.PAC_INFORMATION,
        AvpCode.RELAYED_MESSAGE,
        AvpCode.ENCRYPTION_ENCAP,
        AvpCode.ENCRYPTION_ALGORITHM,
    }
)
_SEQ_TYPES = (
    MessageType.PANA_AUTH,
    MessageType.PANA_TERMINATION,
    MessageType.PANA_NOTIFICATION,
)


# --- The EAP contract (docs/contracts.md "eap"), structurally: eap.peer / eap.authenticator fit it.


class EapResultLike(Protocol):
    """eap.peer.EapResult: how an EAP conversation ended."""

    @property
    def success(self) -> bool: ...
    @property
    def keys(self) -> KeyMaterial | None: ...


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


class EapPeerLike(Protocol):
    """eap.peer.EapPeer as a PaC session uses it."""

    def receive(self, packet: bytes) -> PeerOutputLike: ...
    def restart(self) -> None: ...


class EapServerLike(Protocol):
    """eap.authenticator.EapServer as a PAA session uses it."""

    def start(self) -> AuthOutputLike: ...
    def receive(self, packet: bytes) -> AuthOutputLike: ...


class _Drop(Exception):
    """Silently discard the message being processed (RFC 5191 s5.5); caught at the entry point."""


@dataclass(slots=True)
class _Outstanding:
    """The single outstanding request (or PCI) and its retransmission timer."""

    type: int
    seq: int
    data: bytes
    sent_at: float
    rtx: Retransmitter | None


@dataclass(slots=True)
class _Rx:
    """A received message being processed."""

    msg: PanaMessage
    raw: bytes
    addr: Address


_FLAG_LETTERS = (("S", 0x4000), ("C", 0x2000), ("A", 0x1000), ("P", 0x0800), ("I", 0x0400),
                 ("E", 0x0200))  # fmt: skip


def describe(msg: PanaMessage) -> str:
    """Short name of a message for logs and traces, e.g. "PAR[SC]" (RFC 5191 s7 abbreviations)."""
    names = {1: ("PCI", "PCI"), 2: ("PAR", "PAN"), 3: ("PTR", "PTA"), 4: ("PNR", "PNA"),
             5: ("PRY", "PRY")}  # fmt: skip
    pair = names.get(msg.type, (f"type{msg.type}", f"type{msg.type}"))
    flags = int(msg.flags)
    base = pair[0] if flags & 0x8000 else pair[1]
    letters = "".join(n for n, f in _FLAG_LETTERS if flags & f)
    return f"{base}[{letters}]" if letters else base


class SessionCore:
    """State shared by PacSession and PaaSession; subclasses provide the table and the actions."""

    role: str = "?"
    _table: Mapping[tuple[Any, Input], tuple[Action, Any]]
    _closed_state: Enum

    def __init__(
        self,
        *,
        rng: Rng,
        trace: Trace,
        request_timers: TimerParameters,
        failed_session_timeout: float,
        auth_label: bytes,
        key_log: Any,
        extension: PanaExtension | None = None,
    ) -> None:
        self._rng = rng
        self._extension = extension
        self.pre_auth = False
        """RFC 5873: the session is a pre-authentication (E flag) until the switch."""
        self._answering: PanaMessage | None = None
        self._notify_avps: tuple[Avp, ...] = ()
        self._trace = trace
        self._request_timers = request_timers
        self._failed_timeout = failed_session_timeout
        self._auth_label = auth_label
        self._key_log = key_log
        self.session_id = 0
        self.peer: Address = ("", 0)
        self.state: Enum = self._closed_state
        self.closed = False
        # sequence numbers (s5.2): next outgoing request, next expected incoming request
        self._seq_out: int | None = None
        self._seq_in: int | None = None
        self._outstanding: _Outstanding | None = None
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
        self._outbox: list[tuple[bytes, Address]] = []
        self._events: deque[PanaEvent] = deque()
        self._answered_at = 0.0
        """When the request just answered was first sent (for PingAnswered.round_trip)."""
        self._switching = False
        """PaC: a switch PNR[P] (RFC 5873) is outstanding."""
        self._config: Any = None

    # ---- outputs -------------------------------------------------------------------------------

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """Datagrams queued since the last call, with their destinations."""
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> PanaEvent | None:
        """The oldest unread event, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """Earliest absolute deadline (retransmission, session or re-auth timer), or None."""
        if self.closed:
            return None
        times = [self._session_deadline, self._reauth_deadline]
        if self._outstanding is not None and self._outstanding.rtx is not None:
            times.append(self._outstanding.rtx.deadline)
        live = [t for t in times if t is not None]
        return min(live) if live else None

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

    def _is_closed(self) -> bool:
        return self.closed

    def _set_session_timer(self, now: float, seconds: float | None, kind: str) -> None:
        self._session_deadline = None if seconds is None else now + seconds
        self._session_timer_kind = kind

    # ---- running the table ---------------------------------------------------------------------

    def _fire_local(self, inp: Input, now: float) -> None:
        try:
            self._fire(inp, now, None)
        except _Drop as exc:  # a local step found nothing to do
            self._trace.event(
                now, "input_ignored", sid=self.session_id, input=inp.name, reason=str(exc)
            )

    def _can(self, inp: Input) -> bool:
        return (self.state, inp) in self._table

    def _fire(self, inp: Input | None, now: float, rx: _Rx | None) -> None:
        """Run rows until no follow-up input remains; on _Drop restore the state and re-raise."""
        saved = self.state
        try:
            while inp is not None:
                row = self._table.get((self.state, inp))
                if row is None:
                    raise _Drop(f"{inp.name} not expected in {self.state.name}")
                action, nxt = row
                method: Callable[[float, _Rx | None], Input | None] = getattr(
                    self, "_a_" + action.value
                )
                follow = method(now, rx)
                self._trace.event(
                    now,
                    "transition",
                    sid=self.session_id,
                    role=self.role,
                    old=self.state.name,
                    input=inp.name,
                    action=action.name,
                    new=nxt.name,
                )
                self.state = nxt
                inp = follow
        except _Drop:
            self.state = saved
            raise
        if self.state is self._closed_state and not self.closed:
            self._close()

    def _close(self) -> None:
        self.closed = True
        self._outstanding = None
        self._session_deadline = None
        self._reauth_deadline = None
        self._key = None
        self._tx_encr = self._rx_encr = self._pending_encr = None
        logger.info("%s session %#x closed", self.role, self.session_id)

    # ---- sending -------------------------------------------------------------------------------

    role_is_pac = False

    def _install_encryption(self) -> None:
        """Switch to the encryption keys of the Key-Id just installed (RFC 6786 s3)."""
        if self._pending_encr is None:
            return
        pac_key, paa_key = self._pending_encr
        self._pending_encr = None
        if self.role_is_pac:
            self._tx_encr, self._rx_encr = pac_key, paa_key
        else:
            self._tx_encr, self._rx_encr = paa_key, pac_key

    def _encrypt_avps(self, seq: int, avps: list[Avp]) -> list[Avp]:
        """Move AVPs of policy X that we protect into one Encryption-Encap (RFC 6786 s5-6)."""
        if self._tx_encr is None or self.key_id is None:
            return avps
        inner = [a for a in avps if a.code in _ENCRYPTED_CODES and a.vendor_id is None]
        if not inner:
            return avps
        plain = _encode_pana(PanaMessage(0, 0, 0, 0, tuple(inner)))[16:]
        cipher = crypto.aes128_ctr(
            self._tx_encr, key_id=self.key_id, session_id=self.session_id, seq=seq, data=plain
        )
        out: list[Avp] = []
        for avp in avps:
            if avp in inner:
                if avp is inner[0]:
                    out.append(Avp(AvpCode.ENCRYPTION_ENCAP, cipher))
                continue
            out.append(avp)
        return out

    def _decrypt(self, rx: _Rx, key: Secret | None, key_id: int | None) -> None:
        """Replace an Encryption-Encap AVP by the AVPs it carries (RFC 6786 s5), after AUTH."""
        encaps = rx.msg.all_avps(AvpCode.ENCRYPTION_ENCAP)
        if not encaps:
            return
        if len(encaps) > 1:
            raise _Drop("more than one Encryption-Encap AVP")
        if key is None or key_id is None:
            raise _Drop("Encryption-Encap but no encryption key")
        plain = crypto.aes128_ctr(
            key, key_id=key_id, session_id=rx.msg.session_id, seq=rx.msg.seq, data=encaps[0].value
        )
        header = struct.pack("!HHHHII", 0, 16 + len(plain), 0, 1, 0, 0)
        try:
            inner = decode_pana(header + plain).avps
        except CodecError as exc:
            raise _Drop(f"Encryption-Encap does not decrypt to AVPs: {exc.reason}") from None
        if any(a.code in _NEVER_ENCRYPTED and a.vendor_id is None for a in inner):
            raise _Drop("Encryption-Encap carries an AVP that must stay in the clear")
        avps: list[Avp] = []
        for avp in rx.msg.avps:
            avps.extend(inner if avp is encaps[0] else (avp,))
        rx.msg = replace(rx.msg, avps=tuple(avps))

    def _encode(self, mtype: int, flags: int, seq: int, avps: list[Avp]) -> bytes:
        if self.pre_auth:
            flags |= MessageFlags.E  # RFC 5873 s3: every message of a pre-auth session
        if self._extension is not None:
            extra = self._extension.outgoing_avps(
                self.session_id, mtype, flags, tuple(avps), self._answering
            )
            avps = [*avps, *extra]
        avps = self._encrypt_avps(seq, avps)
        key, alg = self._key, self.integrity_algorithm
        if key is None or alg is None:
            return _encode_pana(PanaMessage(mtype, flags, self.session_id, seq, tuple(avps)))
        # AUTH is the last AVP and covers the whole message with its value zeroed (s5.4).
        auth = Avp(AvpCode.AUTH, bytes(crypto.auth_length(alg)))
        raw = _encode_pana(PanaMessage(mtype, flags, self.session_id, seq, (*avps, auth)))
        return crypto.sign_message(alg, key, raw)

    def _emit(self, now: float, data: bytes, what: str, to: Address | None = None) -> None:
        self._outbox.append((data, to or self.peer))
        tracing = self._trace is not NULL_TRACE
        if not tracing and not logger.isEnabledFor(logging.DEBUG):
            return
        msg = decode_pana(data)
        name = describe(msg)
        if tracing:
            self._trace.event(
                now,
                "message_sent",
                sid=self.session_id,
                role=self.role,
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
        self._seq_out = (seq + 1) % _U32_MOD
        data = self._encode(mtype, flags | MessageFlags.R, seq, avps)
        rtx = Retransmitter(timers or self._request_timers, self._rng, now) if retransmit else None
        self._outstanding = _Outstanding(mtype, seq, data, now, rtx)
        self._emit(now, data, "request")
        return data

    def _send_answer(self, now: float, rx: _Rx, flags: int, avps: list[Avp]) -> bytes:
        self._answering = rx.msg
        try:
            data = self._encode(rx.msg.type, flags & ~MessageFlags.R, rx.msg.seq, avps)
        finally:
            self._answering = None
        # the answer cache (s5.2): a duplicate of this request gets these very bytes again
        self._last_request = rx.raw
        self._last_answer = data
        # answers go to where the request came from (RFC 5191 s6.1)
        self._emit(now, data, "answer", rx.addr)
        return data

    def _a_retransmit(self, now: float, rx: _Rx | None) -> Input | None:
        out = self._outstanding
        if out is None:  # pragma: no cover - only fired with an outstanding message
            return None
        self._outbox.append((out.data, self.peer))
        count = out.rtx.count if out.rtx else 0
        self._trace.event(now, "retransmit", sid=self.session_id, seq=out.seq, count=count)
        return None

    def _a_none(self, now: float, rx: _Rx | None) -> Input | None:
        return None

    def _a_disconnect_rtx(self, now: float, rx: _Rx | None) -> Input | None:
        # s9: request retransmission exhausted -> end the session at once, no PTR
        self._terminated(now, cause=None, by_peer=False, reason="retransmissions")
        return None

    def _a_disconnect_timeout(self, now: float, rx: _Rx | None) -> Input | None:
        reason = "lifetime" if self._session_timer_kind == "lifetime" else "failed"
        self._terminated(now, cause=None, by_peer=False, reason=reason)
        return None

    def _a_disconnect_eap(self, now: float, rx: _Rx | None) -> Input | None:
        self._terminated(now, cause=None, by_peer=False, reason="eap")
        return None

    def _terminated(self, now: float, *, cause: int | None, by_peer: bool, reason: str) -> None:
        self._events.append(
            SessionTerminated(
                session_id=self.session_id, cause=cause, by_peer=by_peer, reason=reason
            )
        )
        self._trace.event(
            now, "session_terminated", sid=self.session_id, role=self.role, cause=cause,
            by_peer=by_peer, reason=reason,
        )  # fmt: skip

    # ---- ping and termination, common to both roles (RFC 5191 s4.2, s4.4) --------------------

    def _a_send_pna_ping(self, now: float, rx: _Rx | None) -> Input | None:
        assert rx is not None
        self._send_answer(now, rx, MessageFlags.P, [])
        return None

    def _a_send_pnr_ping(self, now: float, rx: _Rx | None) -> Input | None:
        avps, self._notify_avps = list(self._notify_avps), ()
        self._send_request(now, MessageType.PANA_NOTIFICATION, MessageFlags.P, avps)
        return None

    def _a_ping_answered(self, now: float, rx: _Rx | None) -> Input | None:
        sent = self._answered_at
        self._events.append(PingAnswered(session_id=self.session_id, round_trip=now - sent))
        if self._switching and rx is not None:
            self._switching = False
            self._events.append(PreAuthSwitched(session_id=self.session_id, peer=rx.addr))
        return None

    def _a_send_ptr(self, now: float, rx: _Rx | None) -> Input | None:
        cause = self._term_cause if self._term_cause is not None else TerminationCause.LOGOUT
        self._send_request(
            now, MessageType.PANA_TERMINATION, 0, [u32_avp(AvpCode.TERMINATION_CAUSE, cause)]
        )
        self._session_deadline = None
        self._reauth_deadline = None
        return None

    def _a_send_pta_disconnect(self, now: float, rx: _Rx | None) -> Input | None:
        assert rx is not None
        cause_avp = rx.msg.avp(AvpCode.TERMINATION_CAUSE)
        if cause_avp is None:
            raise _Drop("PTR without Termination-Cause")
        cause = self._u32(cause_avp)
        if cause == 0x10000:
            # OpenPANA sends 1 (LOGOUT) in the wrong byte order; accept it and say so
            logger.info("sid=%#x: Termination-Cause 65536 (OpenPANA byte-order bug) read as 1",
                        self.session_id)  # fmt: skip
        self._outstanding = None
        self._send_answer(now, rx, 0, [])
        self._terminated(now, cause=cause, by_peer=True, reason="termination")
        return None

    def _a_disconnect_terminated(self, now: float, rx: _Rx | None) -> Input | None:
        self._terminated(now, cause=self._term_cause, by_peer=False, reason="termination")
        return None

    # ---- receiving -----------------------------------------------------------------------------

    @staticmethod
    def _u32(avp: Avp) -> int:
        try:
            return avp_u32(avp)
        except ValueError as exc:
            raise _Drop(str(exc)) from None

    def _decode(self, data: bytes) -> PanaMessage:
        try:
            msg = decode_pana(data)
        except CodecError as exc:
            raise _Drop(f"malformed: {exc}") from None
        return msg

    @staticmethod
    def check_header(msg: PanaMessage) -> None:
        """Header and AVP-placement checks of RFC 5191 s5.5/s6 that need no session state."""
        flags = msg.flags
        if msg.type == MessageType.PANA_CLIENT_INITIATION:
            if flags & MessageFlags.R or msg.session_id != 0 or msg.seq != 0:
                raise _Drop("PCI must have R clear, Session Identifier 0 and Sequence Number 0")
            return
        if msg.type not in _SEQ_TYPES:
            raise _Drop(f"unsupported message type {msg.type}")
        if flags & MessageFlags.S and flags & MessageFlags.C:
            raise _Drop("S and C both set")
        if msg.type != MessageType.PANA_AUTH and flags & (MessageFlags.S | MessageFlags.C):
            raise _Drop("S/C flag outside PAR/PAN")
        if msg.type == MessageType.PANA_NOTIFICATION:
            a, p = bool(flags & MessageFlags.A), bool(flags & MessageFlags.P)
            if a == p:
                raise _Drop("PNR/PNA needs exactly one of the A and P flags")
        elif flags & (MessageFlags.A | MessageFlags.P):
            raise _Drop("A/P flag outside PNR/PNA")
        auths = [
            i for i, a in enumerate(msg.avps) if a.code == AvpCode.AUTH and a.vendor_id is None
        ]
        if len(auths) > 1 or (auths and auths[0] != len(msg.avps) - 1):
            raise _Drop("AUTH AVP must be the last AVP, once")
        for code in (AvpCode.NONCE,):
            nonce = msg.avp(code)
            if nonce is not None and not 8 <= len(nonce.value) <= 256:
                raise _Drop("Nonce length outside 8..256")

    def _check_sequence(self, rx: _Rx, *, skip: bool = False) -> bool:
        """Sequence number rules of s5.2; True when the message is a duplicate already answered."""
        msg = rx.msg
        if msg.is_request:
            if self._last_request is not None and rx.raw == self._last_request:
                return True
            if skip or self._seq_in is None:
                return False
            if msg.seq != self._seq_in:
                raise _Drop(f"request sequence number {msg.seq:#x}, expected {self._seq_in:#x}")
            return False
        out = self._outstanding
        if out is None or out.type != msg.type or out.seq != msg.seq:
            raise _Drop("answer matches no outstanding request")
        return False

    def _check_auth(self, rx: _Rx, *, deferred: bool = False) -> None:
        """AUTH rules of s5.3/s11.1: with a key every message carries a valid AUTH."""
        last = rx.msg.avps[-1] if rx.msg.avps else None
        has_auth = last is not None and last.code == AvpCode.AUTH and last.vendor_id is None
        if deferred:
            return
        if self._key is None or self.integrity_algorithm is None:
            if has_auth:
                raise _Drop("AUTH AVP but no PANA SA")
            return
        if not has_auth:
            raise _Drop("AUTH AVP missing")
        if not crypto.verify_auth(self.integrity_algorithm, self._key, rx.raw):
            raise _Drop("AUTH does not verify")

    def _repeat_after_close(self, data: bytes, addr: Address, now: float) -> bool:
        """A closed session still answers an exact repeat of its last request (lost PTA, s4.4)."""
        if self._last_request is None or self._last_answer is None or data != self._last_request:
            return False
        self._outbox.append((self._last_answer, addr))
        self._trace.event(now, "duplicate_answered", sid=self.session_id, closed=True)
        return True

    def _resend_answer(self, now: float, rx: _Rx) -> None:
        assert self._last_answer is not None
        self._outbox.append((self._last_answer, rx.addr))
        self._trace.event(now, "duplicate_answered", sid=self.session_id, seq=rx.msg.seq)

    def _accepted(self, rx: _Rx) -> None:
        """Bookkeeping after a request was processed: the next expected sequence number."""
        if rx.msg.is_request and rx.msg.type != MessageType.PANA_CLIENT_INITIATION:
            self._seq_in = (rx.msg.seq + 1) % _U32_MOD

    def _dropped(self, now: float, reason: str, size: int, addr: Address) -> None:
        logger.debug("%s sid=%#x dropped %d octets from %s: %s", self.role, self.session_id, size,
                     addr, reason)  # fmt: skip
        self._trace.event(
            now, "message_dropped", sid=self.session_id, role=self.role, reason=reason, size=size
        )

    # ---- the session opens (RFC 5191 s4.1) or a re-authentication completes (s4.3) -------------

    _opened = False
    _reauth_by_peer = False

    def _session_opened(self, now: float, **extra: Any) -> None:
        """Arm the lifetime and re-auth timers; report Authenticated once, then Reauthenticated."""
        self._set_session_timer(now, self.lifetime, "lifetime")
        fraction = self._config.reauth_fraction
        self._reauth_deadline = None if fraction is None else now + fraction * self.lifetime
        if self._opened:
            self._events.append(
                Reauthenticated(
                    session_id=self.session_id,
                    key_id=self.key_id,
                    lifetime=self.lifetime,
                    msk=self.msk,
                    by_peer=self._reauth_by_peer,
                )
            )
            return
        self._opened = True
        self._events.append(
            Authenticated(
                session_id=self.session_id,
                key_id=self.key_id,
                lifetime=self.lifetime,
                msk=self.msk,
                prf_algorithm=self.prf_algorithm if self._key else None,
                integrity_algorithm=self.integrity_algorithm if self._key else None,
                peer=self.peer,
                **extra,
            )
        )

    # ---- keys ----------------------------------------------------------------------------------

    def _nonce_length(self) -> int:
        configured: int | None = getattr(self._config, "nonce_length", None)
        if configured is not None:
            return configured
        if self.prf_algorithm is None:
            return 20
        return crypto.default_nonce_length(self.prf_algorithm)

    def _derive_key(self, msk: Secret, key_id: int) -> Secret | None:
        """PANA_AUTH_KEY for ``key_id`` from the current nonces; None when no SA was negotiated."""
        if self.prf_algorithm is None or self.integrity_algorithm is None:
            return None
        if self._pac_nonce is None or self._paa_nonce is None:
            raise _Drop("no nonces exchanged: cannot derive PANA_AUTH_KEY")
        if self._pac_nonce == self._paa_nonce:
            # OpenPANA sends the same nonce in both directions; the derivation still works
            logger.debug("sid=%#x: PaC and PAA nonces are identical", self.session_id)
        key = crypto.pana_auth_key(
            self.prf_algorithm,
            self.integrity_algorithm,
            msk,
            i_par=self._i_par,
            i_pan=self._i_pan,
            pac_nonce=self._pac_nonce,
            paa_nonce=self._paa_nonce,
            key_id=key_id,
            label=self._auth_label,
        )
        if self.encryption_algorithm is not None:
            self._pending_encr = crypto.encryption_keys(
                self.prf_algorithm,
                msk,
                i_par=self._i_par,
                i_pan=self._i_pan,
                pac_nonce=self._pac_nonce,
                paa_nonce=self._paa_nonce,
                key_id=key_id,
            )
        if self._key_log is not None:
            # opt-in interop debugging only (STYLE 2.9)
            self._key_log.write(
                f"PANA_AUTH_KEY {self.session_id:08x} {key_id:08x} {key.reveal().hex()}\n"
            )
        return key

    def _take_nonce(self, rx: _Rx, *, from_paa: bool) -> None:
        """Store the peer's Nonce from the first PAR/PAN of an (re-)authentication (s4.1, s4.3)."""
        if self._nonce_received:
            return
        avp = rx.msg.avp(AvpCode.NONCE)
        if avp is None:
            if self.prf_algorithm is not None:
                raise _Drop("first PAR/PAN of the authentication lacks a Nonce")
            return
        if from_paa:
            self._paa_nonce = avp.value
        else:
            self._pac_nonce = avp.value
        self._nonce_received = True

    def _own_nonce_avp(self, *, pac: bool) -> list[Avp]:
        if self._nonce_sent:
            return []
        nonce = self._rng(self._nonce_length())
        if pac:
            self._pac_nonce = nonce
        else:
            self._paa_nonce = nonce
        self._nonce_sent = True
        return [Avp(AvpCode.NONCE, nonce)]

    # ---- the receive pipeline ------------------------------------------------------------------

    def _classify(self, rx: _Rx) -> Input:
        raise NotImplementedError

    def _auth_deferred(self, rx: _Rx) -> bool:
        return False

    def _skip_sequence_check(self, rx: _Rx) -> bool:
        return False

    def _process(self, rx: _Rx, now: float) -> None:
        """Validate one decoded message of this session and run its row (s5.2, s5.5)."""
        if self._check_sequence(rx, skip=self._skip_sequence_check(rx)):
            self._resend_answer(now, rx)
            return
        switching = self._check_pre_auth_flag(rx)
        deferred = self._auth_deferred(rx)
        self._check_auth(rx, deferred=deferred)
        if not deferred:
            self._decrypt(rx, self._rx_encr, self.key_id)
        inp = self._classify(rx)
        snapshot = (
            self._outstanding,
            len(self._outbox),
            len(self._events),
            self._seq_out,
            self._last_request,
            self._last_answer,
        )
        if not rx.msg.is_request:
            assert self._outstanding is not None
            self._answered_at = self._outstanding.sent_at
            self._outstanding = None  # a valid answer ends the retransmission (RtxTimerStop)
        if switching:
            self.pre_auth = False  # the answer to the switching PNR already has E clear
        try:
            self._fire(inp, now, rx)
        except _Drop:
            self.pre_auth = self.pre_auth or switching
            out, n_out, n_ev, seq_out, last_req, last_ans = snapshot
            self._outstanding = out
            del self._outbox[n_out:]
            while len(self._events) > n_ev:
                self._events.pop()
            self._seq_out, self._last_request, self._last_answer = seq_out, last_req, last_ans
            raise
        self._accepted(rx)
        if switching:
            self._events.append(PreAuthSwitched(session_id=self.session_id, peer=rx.addr))
            self._trace.event(now, "pre_auth_switched", sid=self.session_id, role=self.role)
            logger.info("%s sid=%#x: pre-authentication session is now serving (RFC 5873)",
                        self.role, self.session_id)  # fmt: skip
        if self._extension is not None:
            self._extension.received(self.session_id, rx.msg, rx.addr, now)

    def _check_pre_auth_flag(self, rx: _Rx) -> bool:
        """RFC 5873 s3 E-flag rules; True when ``rx`` is the PaC's switching PNR[P] (E clear)."""
        has_e = bool(rx.msg.flags & MessageFlags.E)
        if self.pre_auth and not has_e:
            msg = rx.msg
            switch = (
                self.role == "paa"
                and msg.type == MessageType.PANA_NOTIFICATION
                and msg.is_request
                and msg.has(MessageFlags.P)
                and self._key is not None
            )
            if not switch:
                raise _Drop("E flag missing on a pre-authentication session (RFC 5873)")
            return True
        if has_e and not self.pre_auth:
            raise _Drop("E flag on a session that is not a pre-authentication (RFC 5873)")
        return False

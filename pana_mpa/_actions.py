"""Actions both RFC 5609 machines share: ping, termination, disconnects, the session opening."""

from __future__ import annotations

import logging
from typing import Any

from pana_codecs._fast import frozen_maker

from ._avps import AvpCode, TerminationCause
from ._keys import SessionKeys
from ._message import F_P, PNR_PNA, PTR_PTA, Drop, Rx, constant_u32_avp
from ._session import ConfigT
from .events import (
    Authenticated,
    PingAnswered,
    PreAuthSwitched,
    Reauthenticated,
    SessionTerminated,
)
from .state import Input

__all__ = ["SessionActions"]

logger = logging.getLogger(__name__)

# the events of every authentication, built without the frozen dataclass's setattr calls
_authenticated = frozen_maker(Authenticated)
_terminated = frozen_maker(SessionTerminated)


class SessionActions(SessionKeys[ConfigT]):
    """The ``_a_<action>`` methods common to PacSession and PaaSession (RFC 5609 s5-s6)."""

    __slots__ = ("_opened", "_reauth_by_peer")
    _opened: bool
    """Authenticated once: the next opening is a re-authentication."""
    _reauth_by_peer: bool
    """The re-authentication in progress was asked for by the peer."""

    # ---- retransmission and disconnects (RFC 5191 s9, RFC 5609) -------------------------------

    def _a_retransmit(self, now: float, rx: Rx | None) -> Input | None:
        out = self._outstanding
        if out is None:  # pragma: no cover - only fired with an outstanding message
            return None
        self._out(out.data, self.peer)
        count = out.rtx.count if out.rtx else 0
        if self._tracing:
            self._trace_sink.event(now, "retransmit", sid=self.session_id, seq=out.seq, count=count)
        return None

    def _a_none(self, now: float, rx: Rx | None) -> Input | None:
        return None

    def _a_disconnect_rtx(self, now: float, rx: Rx | None) -> Input | None:
        # s9: request retransmission exhausted -> end the session at once, no PTR
        self._terminated(now, cause=None, by_peer=False, reason="retransmissions")
        return None

    def _a_disconnect_timeout(self, now: float, rx: Rx | None) -> Input | None:
        reason = "lifetime" if self._session_timer_kind == "lifetime" else "failed"
        self._terminated(now, cause=None, by_peer=False, reason=reason)
        return None

    def _a_disconnect_eap(self, now: float, rx: Rx | None) -> Input | None:
        self._terminated(now, cause=None, by_peer=False, reason="eap")
        return None

    def _terminated(self, now: float, *, cause: int | None, by_peer: bool, reason: str) -> None:
        self._event(
            _terminated(session_id=self.session_id, cause=cause, by_peer=by_peer, reason=reason)
        )
        if not self._tracing:
            return
        self._trace_sink.event(
            now, "session_terminated", sid=self.session_id, role=self.role.value, cause=cause,
            by_peer=by_peer, reason=reason,
        )  # fmt: skip

    # ---- ping and termination, common to both roles (RFC 5191 s4.2, s4.4) --------------------

    def _a_send_pna_ping(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        self._send_answer(now, rx, F_P, [])
        return None

    def _a_send_pnr_ping(self, now: float, rx: Rx | None) -> Input | None:
        avps, self._notify_avps = list(self._notify_avps), ()
        self._send_request(now, PNR_PNA, F_P, avps)
        return None

    def _a_ping_answered(self, now: float, rx: Rx | None) -> Input | None:
        sent = self._answered_at
        self._event(PingAnswered(session_id=self.session_id, round_trip=now - sent))
        if self._switching and rx is not None:
            self._switching = False
            self._event(PreAuthSwitched(session_id=self.session_id, peer=rx.addr))
        return None

    def _a_send_ptr(self, now: float, rx: Rx | None) -> Input | None:
        cause = self._term_cause if self._term_cause is not None else TerminationCause.LOGOUT
        self._send_request(now, PTR_PTA, 0, [constant_u32_avp(AvpCode.TERMINATION_CAUSE, cause)])
        self._session_deadline = None
        self._reauth_deadline = None
        return None

    def _a_send_pta_disconnect(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        cause_avp = rx.msg.avp(AvpCode.TERMINATION_CAUSE)
        if cause_avp is None:
            raise Drop("PTR without Termination-Cause")
        cause = self._u32(cause_avp)
        if cause == 0x10000:
            # OpenPANA sends 1 (LOGOUT) in the wrong byte order; accept it and say so
            logger.info("sid=%#x: Termination-Cause 65536 (OpenPANA byte-order bug) read as 1",
                        self.session_id)  # fmt: skip
        self._outstanding = None
        self._send_answer(now, rx, 0, [])
        self._terminated(now, cause=cause, by_peer=True, reason="termination")
        return None

    def _a_disconnect_terminated(self, now: float, rx: Rx | None) -> Input | None:
        self._terminated(now, cause=self._term_cause, by_peer=False, reason="termination")
        return None

    # ---- the session opens (RFC 5191 s4.1) or a re-authentication completes (s4.3) -------------

    def _session_opened(self, now: float, **extra: Any) -> None:
        """Arm the lifetime and re-auth timers; report Authenticated once, then Reauthenticated."""
        self._set_session_timer(now, self.lifetime, "lifetime")
        fraction = self._config.reauth_fraction
        self._reauth_deadline = None if fraction is None else now + fraction * self.lifetime
        if self._opened:
            self._event(
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
        self._event(
            _authenticated(
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

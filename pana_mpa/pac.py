"""PacSession: the sans-IO PANA client (RFC 5191, RFC 5609 PaC state machine)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from enum import IntEnum

from eap.keys import Secret
from eap.rng import Rng, system_rng
from pana_codecs import Avp, CodecError, EapCode, MessageType, peek_pana

from . import crypto
from ._actions import SessionActions
from ._avps import (
    AvpCode,
    IntegrityAlgorithm,
    PrfAlgorithm,
    ResultCode,
    TerminationCause,
    u32_avp,
)
from ._eap import EapPeerLike, EapResultLike
from ._message import (
    F_A,
    F_C,
    F_I,
    F_P,
    F_R,
    F_S,
    PAR_PAN,
    PCI,
    PNR_PNA,
    Drop,
    Outstanding,
    Role,
    Rx,
    check_avp_placement,
    check_head,
)
from .address import Address
from .config import PacConfig
from .errors import UsageError
from .events import AuthenticationFailed, SessionStarted
from .retransmit import Retransmitter
from .state import PAC_TABLE, Input, PacState
from .trace import NULL_TRACE, Trace

__all__ = ["PacSession"]

logger = logging.getLogger(__name__)

_EAP_SUCCESS = bytes((EapCode.SUCCESS,))
_EAP_FAILURE = bytes((EapCode.FAILURE,))


def _same_address(a: Address, b: Address) -> bool:
    """Same UDP port and the same IP, whatever the text form (IPv4-mapped IPv6 included)."""
    if a[1] != b[1]:
        return False
    if a[0] == b[0]:
        return True
    try:
        x, y = ipaddress.ip_address(a[0]), ipaddress.ip_address(b[0])
    except ValueError:
        return False
    if isinstance(x, ipaddress.IPv6Address) and x.ipv4_mapped is not None:
        x = x.ipv4_mapped
    if isinstance(y, ipaddress.IPv6Address) and y.ipv4_mapped is not None:
        y = y.ipv4_mapped
    return x == y


def _names(enum: type[IntEnum], values: Sequence[int]) -> str:
    """Algorithm numbers as names where known, for messages (unknown ones stay numbers)."""
    known = {int(m) for m in enum}
    return ", ".join(enum(v).name if v in known else str(v) for v in values) or "none"


class PacSession(SessionActions[PacConfig]):
    """PANA client session (RFC 5191). No sockets, no clock, no hidden randomness."""

    __slots__ = (
        "_eap",
        "_eap_response",
        "_eap_result",
        "_new_key",
        "_new_key_id",
        "_refusal",
        "_result_code",
        "_start_avps",
        "declined",
        "ip_reconfiguration",
    )

    role = Role.PAC
    _defers = True  # _skip_sequence_check, _may_defer_auth, _auth_deferred below
    _table = PAC_TABLE
    _closed_state = PacState.CLOSED

    def __init__(
        self,
        config: PacConfig,
        *,
        paa: Address,
        eap: EapPeerLike,
        rng: Rng = system_rng,
        trace: Trace = NULL_TRACE,
    ) -> None:
        super().__init__(config, rng=rng, trace=trace)
        self.pre_auth = config.pre_authentication
        self._eap = eap
        self.peer = _paa_address(paa)
        self.state = PacState.INITIAL
        self._eap_response: bytes | None = None
        self._eap_result: EapResultLike | None = None
        self._result_code: int = ResultCode.PANA_SUCCESS
        self._new_key: Secret | None = None
        self._new_key_id: int | None = None
        self._opened = False
        self._reauth_by_peer = False
        self._start_avps: list[Avp] = []
        self.ip_reconfiguration = False
        """The PAA asked for IP reconfiguration (I flag) during authentication."""
        self._refusal = ""
        """Why this PaC refuses the PAR[C] being processed (keyless downgrade), else ""."""
        self.declined: str | None = None
        """Why the PaC last declined a PAR[S] (dropped silently, RFC 5191 s4.1); None if never."""

    # ---- caller requests -----------------------------------------------------------------------

    def _request(self, inp: Input, now: float, what: str) -> None:
        if self.closed or not self.can(inp):
            raise UsageError(f"cannot {what} in state {self.state.name}")
        self._fire_local(inp, now)

    def start(self, now: float) -> None:
        """Send a PCI to start a PaC-initiated session (RFC 5191 s4.1)."""
        if self._outstanding is not None or self.session_id:
            raise UsageError("cannot start: the session is already starting")
        self._request(Input.START, now, "start")

    def ping(self, now: float, avps: Sequence[Avp] = ()) -> None:
        """Send PNR[P] (RFC 5191 s4.2), carrying ``avps`` if given; only when OPEN."""
        if self.closed or not self.can(Input.PING):
            raise UsageError(f"cannot ping in state {self.state.name}")
        self._notify_avps = tuple(avps)
        self._fire_local(Input.PING, now)

    def switch(self, now: float, avps: Sequence[Avp] = ()) -> None:
        """Make this pre-authentication session the serving one: PNR[P] with E clear (RFC 5873).

        Call it after moving to the candidate network, so the PNR comes from the new address
        (RFC 5191 s5.6); the session, its key and sequence numbers continue.
        """
        if not self.pre_auth:
            raise UsageError("switch() is only for a pre-authentication session")
        if self.closed or not self.can(Input.PING):
            raise UsageError(f"cannot switch in state {self.state.name}")
        self.pre_auth = False
        self._switching = True  # PreAuthSwitched follows the PNA[P] (PING_ANSWERED)
        self._notify_avps = tuple(avps)
        self._fire_local(Input.PING, now)

    def reauthenticate(self, now: float) -> None:
        """Ask the PAA for re-authentication with PNR[A] (RFC 5191 s4.3); only when OPEN."""
        self._request(Input.REAUTH, now, "re-authenticate")

    def terminate(self, now: float, cause: int = TerminationCause.LOGOUT) -> None:
        """Send PTR with ``cause`` (RFC 5191 s4.4); only when OPEN."""
        if not 0 <= cause <= 0xFFFFFFFF:
            raise UsageError("Termination-Cause must be an Unsigned32")
        if self.closed or not self.can(Input.TERMINATE):
            raise UsageError(f"cannot terminate in state {self.state.name}")
        self._term_cause = cause
        self._fire_local(Input.TERMINATE, now)

    # ---- input ---------------------------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """Process one UDP payload from ``addr``; invalid messages are dropped and traced."""
        try:
            if self.closed:
                if self._repeat_after_close(data, addr, now):
                    return
                raise Drop("session closed")
            if not _same_address(addr, self.peer):
                # RFC 5191 s6.1: the PAA answers from the address and port we talk to
                raise Drop("not from the PAA")
            verified = self._peek(data)
            msg = self._decode(data)
            check_avp_placement(msg.avps)
            par_start = bool(msg.type == PAR_PAN and msg.flags & F_R and msg.flags & F_S)
            if par_start and msg.session_id != self.session_id and self._pci_outstanding():
                self._start_over(now, msg.session_id)
            starting = self.state is PacState.INITIAL and par_start
            if not starting and msg.session_id != self.session_id:
                raise Drop(f"unknown session {msg.session_id:#x}")
            self._process(Rx(msg, data, addr, verified), now)
        except Drop as exc:
            self._dropped(now, str(exc), len(data), addr)
        except Exception as exc:  # a peer's datagram never raises out of a session (issue 9)
            logger.exception("pac sid=%#x: internal error on %d octets from %s; dropped",
                             self.session_id, len(data), addr)  # fmt: skip
            self._dropped(now, f"internal error: {type(exc).__name__}", len(data), addr)

    def _peek(self, data: bytes) -> bool:
        """Checks before any AVP is decoded (issue 9): size, header, session, ``screen``.

        True when ``screen`` verified the AUTH of a message of our session.
        """
        if len(data) > self._config.max_message_size:
            raise Drop(f"message of {len(data)} octets exceeds {self._config.max_message_size}")
        try:
            head = peek_pana(data)
        except CodecError as exc:
            raise Drop(f"malformed: {exc}") from None
        mtype, flags, sid = head.type, head.flags, head.session_id
        if mtype == PCI:
            raise Drop("PCI received by a PaC")
        check_head(mtype, flags, sid, head.seq)
        if sid == self.session_id:
            return self.screen(mtype, flags, head.seq, data)
        # another session's PAR[S]: only before the second PAR, when the PAA may start over
        # (RFC 5191 s5.5); anything else of another session is not ours
        par_start = mtype == PAR_PAN and flags & F_S and flags & F_R
        if not par_start or not (self.state is PacState.INITIAL or self._pci_outstanding()):
            raise Drop(f"unknown session {sid:#x}")
        return False

    def _pci_outstanding(self) -> bool:
        """Still retransmitting the PCI: no non-initial PAR accepted yet (RFC 5191 s4.1)."""
        out = self._outstanding
        return out is not None and out.type == MessageType.PANA_CLIENT_INITIATION

    def _start_over(self, now: float, new_sid: int) -> None:
        """A PAR[S] with another Session-Id before the second PAR: the PAA started over.

        A stateless PAA answers each PCI anew (its cookie secret rotates, a PAN[S] was lost, the
        PAA restarted); until a non-initial PAR was accepted a new initial PAR is valid (RFC 5191
        s5.5), so the PaC follows it instead of waiting out FAILED_SESS_TIMEOUT.
        """
        if self.state is PacState.INITIAL and not self.session_id:
            return
        logger.info("pac: PAR[S] for session %#x replaces %#x (PAA started over)",
                    new_sid, self.session_id)  # fmt: skip
        self._trace.event(now, "start_over", sid=self.session_id, new_sid=new_sid)
        self.state = PacState.INITIAL
        self.session_id = 0
        self._seq_in = None
        self._last_request = self._last_answer = None
        self._eap_response = None
        self._eap_result = None

    def _skip_sequence_check(self, flags: int) -> bool:
        # the initial PAR is not checked; it sets the expected sequence number (s5.2)
        return self.state is PacState.INITIAL and bool(flags & F_S)

    def _may_defer_auth(self, mtype: int, flags: int) -> bool:
        return mtype == PAR_PAN and bool(flags & F_R) and bool(flags & F_C)

    def _auth_deferred(self, rx: Rx) -> bool:
        # A PAR[C] with a new Key-Id is protected by the key it announces, which exists only
        # once EAP has produced the MSK (RFC 5191 s5.3); FORWARD_EAP_RESULT verifies it.
        msg = rx.msg
        if msg.type != PAR_PAN or not msg.flags & F_R or not msg.flags & F_C:
            return False
        key_id = msg.avp(AvpCode.KEY_ID)
        return key_id is not None and (self.key_id is None or self._u32(key_id) != self.key_id)

    def _classify(self, rx: Rx) -> Input:
        msg = rx.msg
        if msg.type == PAR_PAN:
            if not msg.flags & F_R:
                return Input.RX_PAN
            if msg.flags & F_I and not self._opened:
                self.ip_reconfiguration = True  # I: only in the authentication phase (s6.2)
            if msg.flags & F_S:
                if msg.avp(AvpCode.EAP_PAYLOAD) is not None:
                    return Input.RX_PAR_START_EAP
                return Input.RX_PAR_START
            if msg.flags & F_C:
                rc = msg.avp(AvpCode.RESULT_CODE)
                if rc is None:
                    raise Drop("PAR[C] without Result-Code")
                if self._u32(rc) == ResultCode.PANA_SUCCESS:
                    return Input.RX_PAR_COMPLETE_SUCCESS
                return Input.RX_PAR_COMPLETE_FAIL
            eap = msg.avp(AvpCode.EAP_PAYLOAD)
            if eap is None:
                raise Drop("PAR without EAP-Payload")
            if eap.value[:1] in (_EAP_SUCCESS, _EAP_FAILURE):
                # The EAP result travels only in the final PAR[C] with its Result-Code (RFC 5191
                # s4.1, s4.3): a PAR without C carrying it is invalid (s5.5) and is discarded
                # before the EAP peer sees it, e.g. a spoofed EAP-Failure (issue 9).
                raise Drop("EAP Success/Failure in a PAR without the C flag")
            return Input.RX_PAR
        if msg.type == PNR_PNA:
            ping = msg.flags & F_P
            if msg.flags & F_R:
                return Input.RX_PNR_PING if ping else Input.RX_PNR_REAUTH
            return Input.RX_PNA_PING if ping else Input.RX_PNA_REAUTH
        return Input.RX_PTR if msg.flags & F_R else Input.RX_PTA

    # ---- EAP -----------------------------------------------------------------------------------

    def _feed_eap(self, rx: Rx) -> Input:
        """Hand the EAP-Payload to the EAP peer (TxEAP) and turn its answer into an input."""
        avp = rx.msg.avp(AvpCode.EAP_PAYLOAD)
        if avp is None:
            raise Drop("no EAP-Payload")
        out = self._eap.receive(avp.value)
        if out.result is not None:
            self._eap_result = out.result
            return Input.EAP_SUCCESS if out.result.success else Input.EAP_FAILURE
        if out.response is None:
            return Input.EAP_DISCARD
        self._eap_response = out.response
        return Input.EAP_RESPONSE

    def _negotiate(self, rx: Rx) -> list[Avp]:
        """Pick one PRF and one Integrity algorithm from the PAR[S] offer (RFC 5191 s4.1)."""
        msg = rx.msg
        offered_prf = [self._u32(a) for a in msg.all_avps(AvpCode.PRF_ALGORITHM)]
        offered_int = [self._u32(a) for a in msg.all_avps(AvpCode.INTEGRITY_ALGORITHM)]
        if not offered_prf and not offered_int:
            self.prf_algorithm = self.integrity_algorithm = None
            return []
        extra: list[Avp] = []
        offered_enc = [self._u32(a) for a in msg.all_avps(AvpCode.ENCRYPTION_ALGORITHM)]
        enc = next((a for a in self._config.encryption_algorithms if a in offered_enc), None)
        self.encryption_algorithm = enc
        if enc is not None:
            # RFC 6786 s4: the PaC returns exactly one Encryption-Algorithm in PAN[S]
            extra.append(u32_avp(AvpCode.ENCRYPTION_ALGORITHM, enc))
        prf = next((a for a in self._config.prf_algorithms if a in offered_prf), None)
        integ = next((a for a in self._config.integrity_algorithms if a in offered_int), None)
        if prf is None or integ is None:
            # The PaC does not want this session: no answer on the wire (s4.1). A PAR[S] is
            # unprotected, so the session stays open for a genuine one; `declined` tells why.
            self.declined = (f"no acceptable algorithms in PAR[S] (PAA offers PRF "
                             f"{_names(PrfAlgorithm, offered_prf)}, integrity "
                             f"{_names(IntegrityAlgorithm, offered_int)})")  # fmt: skip
            raise Drop(self.declined)
        self.prf_algorithm, self.integrity_algorithm = prf, integ
        return [
            u32_avp(AvpCode.PRF_ALGORITHM, prf),
            u32_avp(AvpCode.INTEGRITY_ALGORITHM, integ),
            *extra,
        ]

    def _begin_session(self, now: float, rx: Rx) -> list[Avp]:
        avps = self._negotiate(rx)
        self.session_id = rx.msg.session_id
        self._i_par = rx.raw
        self._eap.restart()
        self._nonce_sent = self._nonce_received = False
        self._set_session_timer(now, self._failed_timeout, "failed")
        return avps

    def _started(self, now: float, rx: Rx, data: bytes) -> None:
        self._i_pan = data
        self._event(
            SessionStarted(
                session_id=self.session_id,
                peer=self.peer,
                prf_algorithm=self.prf_algorithm,
                integrity_algorithm=self.integrity_algorithm,
            )
        )

    # ---- actions (RFC 5609 s5) -----------------------------------------------------------------

    def _a_send_pci(self, now: float, rx: Rx | None) -> Input | None:
        data = self._encode(PCI, 0, 0, [])
        # PCI: PCI_* timers (RFC 5191 s9), retransmitted until the second PAR arrives (s4.1)
        rtx = Retransmitter(self._config.pci_timers, self._rng, now)
        self._outstanding = Outstanding(PCI, 0, data, now, rtx)
        self._emit(now, data, "PCI")
        self._set_session_timer(now, self._failed_timeout, "failed")
        return None

    def _a_send_pan_start(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        avps = self._begin_session(now, rx)
        data = self._send_answer(now, rx, F_S, avps)
        self._started(now, rx, data)
        return None

    def _a_forward_eap_start(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        self._start_avps = self._begin_session(now, rx)
        return self._feed_eap(rx)

    def _a_send_pan_start_eap(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None and self._eap_response is not None
        avps = [*self._start_avps, Avp(AvpCode.EAP_PAYLOAD, self._eap_response)]
        data = self._send_answer(now, rx, F_S, avps)
        self._started(now, rx, data)
        return None

    def _a_forward_eap(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        if self._outstanding is not None and self._outstanding.type == PCI:
            self._outstanding = None  # the second PAR ends PCI retransmission (s4.1)
        self._take_nonce(rx, from_paa=True)
        return self._feed_eap(rx)

    def _a_send_pan_eap(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None and self._eap_response is not None
        avps = [*self._own_nonce_avp(pac=True), Avp(AvpCode.EAP_PAYLOAD, self._eap_response)]
        self._send_answer(now, rx, 0, avps)
        return None

    def _a_send_pan_disconnect(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        self._send_answer(now, rx, 0, self._own_nonce_avp(pac=True))
        self._terminated(now, cause=None, by_peer=False, reason="eap")
        return None

    def _a_forward_eap_result(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        msg = rx.msg
        rc = msg.avp(AvpCode.RESULT_CODE)
        assert rc is not None  # _classify checked it
        # a peer's number stays an int: Result-Codes we do not know are failures (RFC 5191 s8.7)
        self._result_code = self._u32(rc)
        rejected = self._result_code != ResultCode.PANA_SUCCESS
        key_avp = msg.avp(AvpCode.KEY_ID)
        eap_avp = msg.avp(AvpCode.EAP_PAYLOAD)
        # Verify before commit: the AUTH of a PAR[C] with a new Key-Id needs the MSK of an EAP
        # Success (RFC 5191 s5.3), so a PAR[C] whose EAP payload the peer would not take as a
        # success cannot be authenticated: discard it before the EAP peer concludes anything
        # (issue 9: a spoofed PAR[C] with a made-up Key-Id and an EAP-Failure).
        if (
            key_avp is not None
            and self._auth_deferred(rx)
            and self._eap_result is None
            and (eap_avp is None or self._eap_outcome(eap_avp.value) is not True)
        ):
            raise Drop("PAR[C] with a new Key-Id but no EAP Success to derive its key from")
        if eap_avp is not None:
            inp = self._feed_eap(rx)
            if inp not in (Input.EAP_SUCCESS, Input.EAP_FAILURE):
                if self._eap_result is None and rejected and self._success_indicated():
                    # RFC 3748 s4.2: after success indications in both directions the peer
                    # must discard a Failure; this PAR[C] is unprotected (it has no Key-Id), so
                    # its Result-Code must not end the session either (issue 9: spoofed
                    # EAP-Failure); the genuine PAR[C] still can.
                    raise Drop("PAR[C] rejects after the EAP method indicated success")
                if self._eap_result is None and rejected:
                    # The EAP peer discarded the payload (an AAA reject's EAP-Failure with an
                    # Identifier it does not match): the PANA Result-Code decides (RFC 5609
                    # s5.6 alt_reject()), so the session ends now, not at the failed timer.
                    inp = self._alt_reject()
                elif self._eap_result is None:
                    raise Drop("PAR[C] whose EAP-Payload is not EAP Success/Failure")
                else:
                    inp = Input.EAP_SUCCESS if self._eap_result.success else Input.EAP_FAILURE
        elif self._eap_result is not None:
            inp = Input.EAP_SUCCESS if self._eap_result.success else Input.EAP_FAILURE
        else:
            inp = self._alt_reject()  # no EAP result to wait for (RFC 5609 s5.6)
        self._new_key = None
        self._new_key_id = None
        keys = self._eap_result.keys if self._eap_result and self._eap_result.success else None
        if key_avp is not None and self._auth_deferred(rx):
            if keys is None or self.prf_algorithm is None or self.integrity_algorithm is None:
                raise Drop("PAR[C] announces a Key-Id but there is no MSK/SA for it")
            key_id = self._u32(key_avp)
            key = self._derive_key(keys.msk, key_id)
            assert key is not None
            if not crypto.verify_auth(self.integrity_algorithm, key, rx.raw):
                raise Drop("AUTH of PAR[C] does not verify with the new key")
            self._new_key, self._new_key_id = key, key_id
            if self._pending_encr is not None:
                # the PAR[C] may already hide Session-Lifetime under the new keys (RFC 6786 s5)
                self._decrypt(rx, self._pending_encr[1], key_id)
                msg = rx.msg
        if self._result_code == ResultCode.PANA_SUCCESS:
            lifetime = msg.avp(AvpCode.SESSION_LIFETIME)
            if lifetime is None:
                raise Drop("PAR[C] with PANA_SUCCESS lacks Session-Lifetime")
            self.lifetime = float(self._u32(lifetime))
        self._refusal = ""
        if (
            inp is Input.EAP_SUCCESS
            and self._result_code == ResultCode.PANA_SUCCESS
            and keys is not None
            and self._key is None
            and self._new_key is None
            and self._config.prf_algorithms
        ):
            # The method made an MSK, so this session must have a PANA SA: PAR[S] is not
            # protected, and an on-path attacker who strips its algorithms or the PAR[C]'s Key-Id
            # and AUTH would otherwise get a keyless session accepted (issue 9: keyless downgrade)
            self._refusal = (
                "the EAP method produced an MSK but the PAR[C] carries no Key-Id (no PANA SA "
                "negotiated, or removed on the way): refusing a keyless session"
            )
            logger.warning("pac sid=%#x: %s", self.session_id, self._refusal)
            return Input.EAP_FAILURE
        return inp

    def _eap_outcome(self, packet: bytes) -> bool | None:
        """The EAP peer's verdict on a Success/Failure without committing it (True if unknown)."""
        outcome = getattr(self._eap, "final_outcome", None)
        return True if outcome is None else outcome(packet)

    def _success_indicated(self) -> bool:
        """The EAP method exchanged protected success indications (RFC 3748 s4.2)."""
        return bool(getattr(self._eap, "success_indicated", False))

    def _alt_reject(self) -> Input:
        """Lower-layer failure for the EAP peer (RFC 4137 altReject, RFC 5609 alt_reject())."""
        self._eap_result = self._eap.alt_reject()
        return Input.EAP_FAILURE

    def _complete_avps(self) -> list[Avp]:
        if self._new_key is None or self._new_key_id is None:
            return []
        # the PAN[C] echoes the Key-Id and is protected by the new key (s4.1, s5.3)
        self._key, self.key_id = self._new_key, self._new_key_id
        self._install_encryption()
        if self._eap_result is not None and self._eap_result.keys is not None:
            self.msk = self._eap_result.keys.msk
        return [u32_avp(AvpCode.KEY_ID, self._new_key_id)]

    def _a_send_pan_complete_open(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        self._outstanding = None
        self._send_answer(now, rx, F_C, self._complete_avps())
        result = self._eap_result
        if self._new_key is None and result is not None and result.keys is None:
            # a method without MSK: no SA and no AUTH (RFC 5191 s5.3)
            self._key, self.key_id = None, None
        self.msk = result.keys.msk if result is not None and result.keys is not None else None
        self._session_opened(now, ip_reconfiguration=self.ip_reconfiguration)
        logger.info("pac sid=%#x authenticated, key id %s, lifetime %s", self.session_id,
                    self.key_id, self.lifetime)  # fmt: skip
        return None

    def _a_send_pan_complete_close(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        if self._refusal:
            # our own decision on a message we do not trust: no PAN[C] acknowledges it
            self._event(
                AuthenticationFailed(
                    session_id=self.session_id,
                    result_code=ResultCode.PANA_AUTHORIZATION_REJECTED,
                    reason=self._refusal,
                )
            )
            self._terminated(now, cause=None, by_peer=False, reason="authentication")
            return None
        self._send_answer(now, rx, F_C, self._complete_avps())
        code = self._result_code
        if code == ResultCode.PANA_SUCCESS:
            code = ResultCode.PANA_AUTHENTICATION_REJECTED  # PAA said success, EAP said failure
        self._event(AuthenticationFailed(session_id=self.session_id, result_code=code))
        self._terminated(now, cause=None, by_peer=True, reason="authentication")
        return None

    def _a_disconnect_eap(self, now: float, rx: Rx | None) -> Input | None:
        self._event(
            AuthenticationFailed(
                session_id=self.session_id, result_code=ResultCode.PANA_AUTHENTICATION_REJECTED
            )
        )
        return super()._a_disconnect_eap(now, rx)

    def _a_send_pnr_reauth(self, now: float, rx: Rx | None) -> Input | None:
        self._reauth_deadline = None
        self._send_request(now, PNR_PNA, F_A, [])
        return None

    def _restart_auth(self, now: float) -> None:
        self._eap.restart()
        self._eap_result = None
        self._nonce_sent = self._nonce_received = False
        self._set_failed_timer_within_lifetime(now)
        self._reauth_deadline = None

    def _a_reauth_accepted(self, now: float, rx: Rx | None) -> Input | None:
        self._reauth_by_peer = False
        self._restart_auth(now)
        return None

    def _a_forward_eap_reauth(self, now: float, rx: Rx | None) -> Input | None:
        assert rx is not None
        self._outstanding = None  # a PAR while our PNR[P] is outstanding (RFC 5609 s5.8)
        self._reauth_by_peer = True
        self._restart_auth(now)
        return self._a_forward_eap(now, rx)


def _paa_address(paa: object) -> Address:
    """The PAA's address, checked now: (IP literal, port); names are resolved by the caller."""
    hint = "e.g. ('192.0.2.1', 716); resolve host names first (socket.getaddrinfo)"
    if not (isinstance(paa, tuple) and len(paa) == 2):
        raise UsageError(f"PacSession: paa must be a (host, port) tuple, {hint}; got {paa!r}")
    host, port = paa
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"PacSession: paa host {host!r} is not an IP address, {hint}") from None
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port <= 65535:
        raise UsageError(f"PacSession: paa port {port!r} is not a UDP port (1-65535)")
    return (str(host), port)

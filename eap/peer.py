"""EAP peer (RFC 3748, RFC 4137 s4): request bytes in, response bytes and result out; no timers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from pana_codecs.eap import EapCode, EapPacket, decode_eap, encode_eap
from pana_codecs.errors import CodecError

from .keys import KeyMaterial
from .methods.base import Decision, PeerMethod
from .methods.identity import (
    TYPE_EXPANDED,
    TYPE_IDENTITY,
    TYPE_NAK,
    TYPE_NOTIFICATION,
    build_expanded_nak,
    build_nak,
)

__all__ = ["EapPeer", "EapResult", "PeerOutput"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EapResult:
    """How an EAP conversation ended (RFC 4137 eapSuccess/eapFail and eapKeyData)."""

    success: bool
    keys: KeyMaterial | None
    """MSK/EMSK; None on failure or for a method without keys (MD5)."""
    method_type: int | None
    """The authentication method that ran, None if none was selected."""


@dataclass(frozen=True, slots=True)
class PeerOutput:
    """What EapPeer.receive() produced: a response to send and/or the final result."""

    response: bytes | None
    """EAP packet to send back; None means nothing (a discard, or Success/Failure)."""
    result: EapResult | None
    """Set when an EAP Success or Failure was accepted."""


class _MethodState(Enum):
    """RFC 4137 s4.1.1 methodState."""

    NONE = "NONE"
    INIT = "INIT"
    CONT = "CONT"
    MAY_CONT = "MAY_CONT"
    DONE = "DONE"


_DISCARD = PeerOutput(None, None)


def _request_method(pkt: EapPacket) -> tuple[int | None, bool]:
    """The request's method number and whether it used the expanded encoding (RFC 3748 s5.7).

    Vendor-Id 0 with a Vendor-Type below 256 is the same method as the one-octet Type; other
    expanded types map to None (a vendor method this peer cannot run).
    """
    if pkt.type == TYPE_EXPANDED:
        if pkt.vendor_id == 0 and pkt.vendor_type is not None and pkt.vendor_type < 256:
            return pkt.vendor_type, True
        return None, True
    return pkt.type, False


class EapPeer:
    """RFC 4137 peer state machine; PANA (RFC 5191) carries its packets and retransmits."""

    def __init__(self, *, identity: bytes, methods: Mapping[int, Callable[[], PeerMethod]]) -> None:
        self._identity = bytes(identity)
        self._factories = {t: f for t, f in methods.items() if 4 <= t <= 253 or t == 255}
        self.result: EapResult | None = None
        self.restart()

    def restart(self) -> None:
        """Start a new conversation (RFC 4137 INITIALIZE; PANA re-authentication)."""
        self._method: PeerMethod | None = None
        self._selected: int | None = None
        self._method_state = _MethodState.NONE
        self._decision = Decision.FAIL
        self._allow_notifications = True
        self._last_id: int | None = None
        self._last_response: bytes | None = None
        self.result = None

    def alt_reject(self) -> EapResult:
        """Lower-layer failure indication (RFC 4137 altReject; RFC 5609 PaC alt_reject()).

        PANA calls it when the final PANA-Auth-Request carries no EAP payload; the
        conversation fails. Once a result exists it is returned unchanged.
        """
        if self.result is None:
            logger.debug("EAP altReject: failure")
            self.result = EapResult(False, None, self._selected)
        return self.result

    @property
    def selected_method(self) -> int | None:
        """The EAP method type in use, once the peer accepted one."""
        return self._selected

    @property
    def success_indicated(self) -> bool:
        """The method exchanged protected success indications and the conversation is open.

        RFC 4137 decision UNCOND_SUCC: an EAP Failure must now be silently discarded (RFC 3748
        s4.2), so a lower layer should not read an unprotected failure signal as the end either.
        """
        return self.result is None and self._decision is Decision.UNCOND_SUCC

    def final_outcome(self, packet: bytes) -> bool | None:
        """What this EAP Success/Failure would conclude, without concluding it.

        True: success, False: failure, None: the peer would discard it (or it is not a
        well-formed Success/Failure). Changes nothing: a lower layer that must verify the
        message carrying the packet (PANA's PAR[C] with a new Key-Id, RFC 5191 s5.3) asks first.
        """
        if self.result is not None:
            return None
        try:
            pkt = decode_eap(packet)
        except CodecError:
            return None
        if pkt.code == EapCode.SUCCESS:
            return self._success_outcome(pkt)
        if pkt.code == EapCode.FAILURE:
            return self._failure_outcome(pkt)
        return None

    def receive(self, packet: bytes) -> PeerOutput:
        """Handle one EAP packet from the authenticator; never raises on bad input."""
        if self.result is not None:
            logger.debug("EAP packet after the conversation ended: discarded")
            return _DISCARD
        try:
            pkt = decode_eap(packet)  # octets beyond Length are padding (RFC 3748 s4)
        except CodecError as exc:
            logger.debug("malformed EAP packet discarded: %s", exc)
            return _DISCARD
        try:
            return self._on_packet(pkt)
        except Exception:  # a method bug must not become a traceback for the lower layer
            logger.exception("EAP peer method raised; packet discarded")
            return _DISCARD

    # -- RFC 4137 s4.1 RECEIVED and its exits ------------------------------------------------------

    def _on_packet(self, pkt: EapPacket) -> PeerOutput:
        if pkt.code == EapCode.REQUEST:
            return self._on_request(pkt)
        if pkt.code == EapCode.SUCCESS:
            return self._on_success(pkt)
        if pkt.code == EapCode.FAILURE:
            return self._on_failure(pkt)
        logger.debug("EAP code %d is not for a peer: discarded", pkt.code)
        return _DISCARD

    def _on_request(self, pkt: EapPacket) -> PeerOutput:
        if self._last_id is not None and pkt.identifier == self._last_id:
            # RFC 4137 RETRANSMIT: a duplicate request gets the cached response, unprocessed.
            logger.debug("duplicate EAP Request id=%d: resending the last response", pkt.identifier)
            return PeerOutput(self._last_response, None)
        req_method, expanded = _request_method(pkt)
        if req_method == TYPE_NAK:
            logger.debug("EAP Request with Type Nak discarded (Nak is response-only)")
            return _DISCARD
        if (
            self._selected is not None
            and req_method == self._selected
            and self._method_state is not _MethodState.DONE
        ):
            return self._run_method(pkt, expanded)
        if self._selected is None and req_method == TYPE_IDENTITY:
            logger.debug("EAP Request/Identity id=%d", pkt.identifier)
            return self._send(pkt, TYPE_IDENTITY, self._identity, expanded)
        if req_method == TYPE_NOTIFICATION and self._allow_notifications:
            # RFC 3748 s5.2: informational only; answer at once with an empty Notification.
            logger.debug("EAP Notification of %d octets", len(pkt.type_data))
            return self._send(pkt, TYPE_NOTIFICATION, b"", expanded)
        if self._selected is None and req_method not in (TYPE_IDENTITY, TYPE_NOTIFICATION):
            return self._get_method(pkt, req_method, expanded)
        logger.debug(
            "EAP Request type %s id=%d not acceptable now (selected=%s, state=%s): discarded",
            req_method,
            pkt.identifier,
            self._selected,
            self._method_state.value,
        )
        return _DISCARD

    def _get_method(self, pkt: EapPacket, req_method: int | None, expanded: bool) -> PeerOutput:
        """RFC 4137 GET_METHOD: accept a proposed method, or Nak it listing ours (RFC 3748 s5.3)."""
        factory = self._factories.get(req_method) if req_method is not None else None
        if factory is not None and req_method is not None:
            self._method = factory()
            self._selected = req_method
            self._method_state = _MethodState.INIT
            logger.debug("EAP method %d selected", req_method)
            return self._run_method(pkt, expanded)
        ours = sorted(self._factories)
        logger.debug("EAP method %s not supported: Nak offering %s", req_method, ours)
        if expanded:
            # RFC 3748 s5.3.2: an Expanded Nak answers a Type-254 Request.
            body = build_expanded_nak([(0, t) for t in ours])
            return self._send_raw(
                pkt, EapPacket(EapCode.RESPONSE, pkt.identifier, TYPE_EXPANDED, body, 0, TYPE_NAK)
            )
        return self._send(pkt, TYPE_NAK, build_nak(ours), False)

    def _run_method(self, pkt: EapPacket, expanded: bool) -> PeerOutput:
        """RFC 4137 METHOD state (hostapd's combined check/process/buildResp)."""
        assert self._method is not None and self._selected is not None
        step = self._method.process(pkt.type_data, pkt.identifier)
        if step.response is None and not step.done:
            logger.debug("EAP method %d ignored request id=%d", self._selected, pkt.identifier)
            return _DISCARD
        if step.done:
            self._method_state = _MethodState.DONE
            self._decision = step.decision
        else:
            # Mid-method: a Failure may end the conversation, a Success may not (RFC 4137 s4.2).
            self._method_state = _MethodState.MAY_CONT
            self._decision = (
                Decision.COND_SUCC if step.decision is Decision.UNCOND_SUCC else step.decision
            )
        if step.response is None:
            if self._decision is Decision.FAIL:
                return self._finish(False)
            return _DISCARD
        # hostapd deviation from RFC 4137 METHOD -> FAILURE: a method that failed but has a
        # final message (GPSK-Fail echo, PSK DONE_FAILURE) sends it, then waits for Failure.
        return self._send(pkt, self._selected, step.response, expanded)

    def _on_success(self, pkt: EapPacket) -> PeerOutput:
        outcome = self._success_outcome(pkt)
        return _DISCARD if outcome is None else self._finish(outcome)

    def _on_failure(self, pkt: EapPacket) -> PeerOutput:
        outcome = self._failure_outcome(pkt)
        return _DISCARD if outcome is None else self._finish(outcome)

    def _success_outcome(self, pkt: EapPacket) -> bool | None:
        """RFC 4137 RECEIVED exits for rxSuccess: True, False (a disallowed Success), None."""
        if self._last_id is None or pkt.identifier != self._last_id:
            logger.debug("EAP Success id=%d does not match lastId: discarded", pkt.identifier)
            return None
        if self._decision is not Decision.FAIL:
            return True
        if self._method_state is not _MethodState.CONT:
            # RFC 4137: a Success the method does not allow (none ran, or it failed) is a failure.
            logger.debug("EAP Success before the method allowed it: failure")
            return False
        return None

    def _failure_outcome(self, pkt: EapPacket) -> bool | None:
        """RFC 4137 RECEIVED exits for rxFailure: False (accepted) or None (discarded)."""
        if self._last_id is None or pkt.identifier != self._last_id:
            logger.debug("EAP Failure id=%d does not match lastId: discarded", pkt.identifier)
            return None
        if (
            self._method_state is not _MethodState.CONT
            and self._decision is not Decision.UNCOND_SUCC
        ):
            return False
        # RFC 3748 s4.2: after success indications in both directions a Failure is discarded.
        logger.debug("EAP Failure discarded (method state %s)", self._method_state.value)
        return None

    def _finish(self, success: bool) -> PeerOutput:
        keys = self._method.keys() if success and self._method is not None else None
        self.result = EapResult(success, keys, self._selected)
        logger.debug("EAP %s (method %s)", "success" if success else "failure", self._selected)
        return PeerOutput(None, self.result)

    def _send(self, req: EapPacket, eap_type: int, type_data: bytes, expanded: bool) -> PeerOutput:
        if expanded:
            resp = EapPacket(
                EapCode.RESPONSE, req.identifier, TYPE_EXPANDED, type_data, 0, eap_type
            )
        else:
            resp = EapPacket(EapCode.RESPONSE, req.identifier, eap_type, type_data)
        return self._send_raw(req, resp)

    def _send_raw(self, req: EapPacket, resp: EapPacket) -> PeerOutput:
        """RFC 4137 SEND_RESPONSE: remember lastId and the response for duplicates."""
        data = encode_eap(resp)
        self._last_id = req.identifier
        self._last_response = data
        return PeerOutput(data, None)

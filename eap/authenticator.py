"""Standalone EAP authenticator (RFC 3748, RFC 4137 s5): responses in, requests out; no timers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from pana_codecs._fast import frozen_maker
from pana_codecs.eap import EapCode, EapPacket, decode_eap, encode_eap
from pana_codecs.errors import CodecError

from .methods.base import AuthMethod, AuthStep
from .methods.identity import (
    TYPE_EXPANDED,
    TYPE_IDENTITY,
    TYPE_NAK,
    parse_expanded_nak,
    parse_nak,
)
from .peer import EapResult
from .rng import Rng, system_rng

__all__ = ["AuthOutput", "EapAuthenticator", "EapServer", "MethodPolicy"]

logger = logging.getLogger(__name__)

MethodPolicy = Callable[[bytes], Sequence[Callable[[], AuthMethod]]]
"""methods(identity): the method factories allowed for that identity, in preference order."""


@dataclass(frozen=True, slots=True)
class AuthOutput:
    """What an EAP server produced: a packet to send and/or the conversation's end."""

    packet: bytes | None
    """EAP Request, or the final Success/Failure, to send; None means nothing (discard)."""
    result: EapResult | None
    """Set when the conversation ended (success with keys, or failure)."""
    pending: bool = False
    """Pass-through: the answer comes later from the AAA server."""
    session_lifetime: int | None = None
    """With a success: the seconds of service the AAA server authorized (RADIUS Session-Timeout
    in an Access-Accept, RFC 2865 s5.27), an upper bound of the PANA Session-Lifetime (RFC 5191
    s5.7); None: no limit from the back end."""


class EapServer(Protocol):
    """What a PANA PAA session talks to: a standalone or pass-through EAP authenticator."""

    def start(self) -> AuthOutput:
        """The first request (normally Identity)."""
        ...

    def receive(self, packet: bytes) -> AuthOutput:
        """Handle one EAP Response; malformed or unexpected input gives AuthOutput(None, None)."""
        ...


class _MethodState(Enum):
    """RFC 4137 s5.1.1 methodState."""

    PROPOSED = "PROPOSED"
    CONTINUE = "CONTINUE"
    END = "END"


_DISCARD = AuthOutput(None, None)
_output = frozen_maker(AuthOutput)
_packet = frozen_maker(EapPacket)
_result = frozen_maker(EapResult)
# Enum members as module names: an Enum class attribute goes through EnumType.__getattr__'s
# slow lookup hook, which the hot path would pay on every use.
_PROPOSED = _MethodState.PROPOSED
_CONTINUE = _MethodState.CONTINUE
_END = _MethodState.END
_RESPONSE = int(EapCode.RESPONSE)
_REQUEST = EapCode.REQUEST
_SUCCESS = EapCode.SUCCESS
_FAILURE = EapCode.FAILURE


def _wire_type(method: AuthMethod) -> tuple[int, int | None]:
    """(Type or Vendor-Type, Vendor-Id or None): methods with a ``vendor_id`` use Type 254."""
    vendor_id = getattr(method, "vendor_id", None)
    return method.method_type, vendor_id if isinstance(vendor_id, int) else None


class EapAuthenticator:
    """RFC 4137 standalone authenticator; PANA (RFC 5191) carries its packets and retransmits.

    The first Identifier is random (``rng``); each new Request uses the previous one plus 1
    (RFC 3748 s4.1, hostapd eap_sm_nextId). Only one authentication method runs per
    conversation (RFC 3748 s2.1); a Nak moves to the next allowed method the peer accepts.
    """

    def __init__(
        self,
        *,
        methods: MethodPolicy,
        rng: Rng = system_rng,
        identity_request: bool = True,
        max_rounds: int = 50,
    ) -> None:
        self._policy = methods
        self._rng = rng
        self._identity_request = identity_request
        self._max_rounds = max_rounds
        self._current_id: int | None = None
        self._last_request: bytes | None = None
        self._candidates: list[Callable[[], AuthMethod]] = []
        self._method: AuthMethod | None = None
        self._wire: tuple[int, int | None] = (TYPE_IDENTITY, None)
        self._state = _CONTINUE
        self._rounds = 0
        self._identity: bytes | None = None
        self._started = False
        self.result: EapResult | None = None

    @property
    def identity(self) -> bytes | None:
        """The peer's EAP-Response/Identity, once received."""
        return self._identity

    @property
    def last_request(self) -> bytes | None:
        """The outstanding EAP Request (RFC 4137 lastReqData), for retransmission below."""
        return self._last_request

    def start(self) -> AuthOutput:
        """First Request: Identity, or the first allowed method (RFC 4137 PROPOSE_METHOD)."""
        if self._started:
            raise RuntimeError("EapAuthenticator.start() called twice")
        self._started = True
        self._current_id = self._rng(1)[0]
        if self._identity_request:
            self._method = None
            self._wire = (TYPE_IDENTITY, None)
            self._state = _CONTINUE
            return self._send_request(self._current_id, TYPE_IDENTITY, None, b"")
        self._identity = b""
        return self._select_policy(b"", first=True)

    def receive(self, packet: bytes) -> AuthOutput:
        """Handle one EAP Response (RFC 4137 RECEIVED); never raises on bad input."""
        if not self._started or self.result is not None:
            logger.debug("EAP packet outside a running conversation: discarded")
            return _DISCARD
        try:
            pkt = decode_eap(packet)  # octets beyond Length are padding (RFC 3748 s4)
        except CodecError as exc:
            logger.debug("malformed EAP packet discarded: %s", exc)
            return _DISCARD
        if pkt.code != _RESPONSE:
            logger.debug("EAP code %d is not a Response: discarded", pkt.code)
            return _DISCARD
        if pkt.identifier != self._current_id:
            # RFC 3748 s4.1: a Response must match the outstanding Request's Identifier.
            logger.debug(
                "EAP Response id=%d, expected %s: discarded", pkt.identifier, self._current_id
            )
            return _DISCARD
        try:
            return self._on_response(pkt)
        except Exception:  # a method bug ends the conversation, never in success
            logger.exception("EAP server method raised; failing the conversation")
            return self._finish(False)

    # -- RFC 4137 s5: RECEIVED exits ---------------------------------------------------------------

    def _on_response(self, pkt: EapPacket) -> AuthOutput:
        type_id, vendor_id = self._wire
        is_legacy_nak = pkt.type == TYPE_NAK
        is_expanded_nak = pkt.type == TYPE_EXPANDED and (pkt.vendor_id, pkt.vendor_type) == (
            0,
            TYPE_NAK,
        )
        if is_legacy_nak or is_expanded_nak:
            if self._state is not _PROPOSED:
                logger.debug("unexpected EAP Nak (method state %s): discarded", self._state.value)
                return _DISCARD
            if is_expanded_nak and vendor_id is None:
                # RFC 3748 s5.3.2: an Expanded Nak only answers a Type-254 Request.
                logger.debug("Expanded Nak to a non-expanded Request: discarded")
                return _DISCARD
            return self._on_nak(pkt, is_expanded_nak)
        if vendor_id is None:
            matches = pkt.type == type_id or (
                pkt.type == TYPE_EXPANDED and pkt.vendor_id == 0 and pkt.vendor_type == type_id
            )
        else:
            matches = pkt.type == TYPE_EXPANDED and (pkt.vendor_id, pkt.vendor_type) == (
                vendor_id,
                type_id,
            )
        if not matches:
            logger.debug("EAP Response of another type than the Request: discarded")
            return _DISCARD
        if self._method is None:
            if type_id == TYPE_IDENTITY:
                return self._on_identity(pkt)
            logger.debug("EAP Response without a method to take it: discarded")
            return _DISCARD
        return self._method_response(pkt)

    def _on_identity(self, pkt: EapPacket) -> AuthOutput:
        self._identity = pkt.type_data
        logger.debug("EAP Response/Identity of %d octets", len(pkt.type_data))
        return self._select_policy(pkt.type_data, first=False)

    def _select_policy(self, identity: bytes, *, first: bool) -> AuthOutput:
        try:
            self._candidates = list(self._policy(identity))
        except Exception:
            logger.exception("EAP method policy raised; failing the conversation")
            return self._finish(False)
        return self._propose_next(first=first)

    def _on_nak(self, pkt: EapPacket, expanded: bool) -> AuthOutput:
        """RFC 4137 NAK: drop the proposed method, keep only allowed ones the peer listed."""
        if expanded:
            entries = parse_expanded_nak(pkt.type_data)
            if entries is None:
                logger.debug("malformed Expanded Nak: discarded")
                return _DISCARD
            acceptable = set(entries)
        else:
            types = parse_nak(pkt.type_data)
            if types is None:
                logger.debug("malformed Nak: discarded")
                return _DISCARD
            acceptable = {(0, t) for t in types if t != TYPE_EXPANDED}
            if TYPE_EXPANDED in types:
                acceptable.add((-1, -1))  # "peer supports expanded types": vendor methods allowed
        logger.debug("EAP Nak of method %d; peer accepts %s", self._wire[0], sorted(acceptable))
        kept: list[Callable[[], AuthMethod]] = []
        for factory in self._candidates:
            method = factory()
            type_id, vendor_id = _wire_type(method)
            if (vendor_id or 0, type_id) in acceptable or (
                vendor_id is not None and (-1, -1) in acceptable
            ):
                kept.append(factory)
        self._candidates = kept
        self._method = None
        return self._propose_next(first=False)

    def _propose_next(self, *, first: bool) -> AuthOutput:
        """RFC 4137 SELECT_ACTION / PROPOSE_METHOD / METHOD_REQUEST."""
        if not self._candidates:
            logger.debug("no EAP method left to propose: failure")
            return self._finish(False)
        factory = self._candidates.pop(0)
        method = factory()
        self._method = method
        self._wire = _wire_type(method)
        self._state = _PROPOSED
        assert self._current_id is not None
        next_id = self._current_id if first else (self._current_id + 1) % 256
        type_data = method.initial_request(next_id)
        logger.debug("proposing EAP method %d (vendor %s)", self._wire[0], self._wire[1])
        return self._send_request(next_id, self._wire[0], self._wire[1], type_data)

    def _method_response(self, pkt: EapPacket) -> AuthOutput:
        """RFC 4137 INTEGRITY_CHECK and METHOD_RESPONSE."""
        assert self._method is not None and self._current_id is not None
        next_id = (self._current_id + 1) % 256
        step: AuthStep = self._method.process(pkt.type_data, pkt.identifier, next_id)
        if step.discard:
            logger.debug("EAP method %d discarded the response", self._wire[0])
            return _DISCARD
        self._rounds += 1
        if step.done:
            self._state = _END
            return self._finish(step.success)
        if step.request is None:
            logger.warning("EAP method %d neither ended nor built a request", self._wire[0])
            return self._finish(False)
        if self._rounds >= self._max_rounds:
            logger.debug("EAP conversation exceeded %d rounds: failure", self._max_rounds)
            return self._finish(False)
        self._state = _CONTINUE
        return self._send_request(next_id, self._wire[0], self._wire[1], step.request)

    def _send_request(
        self, identifier: int, type_id: int, vendor_id: int | None, type_data: bytes
    ) -> AuthOutput:
        """RFC 4137 SEND_REQUEST: the new Request becomes lastReqData."""
        if vendor_id is None:
            pkt = _packet(_REQUEST, identifier, type_id, type_data)
        else:
            pkt = EapPacket(
                EapCode.REQUEST, identifier, TYPE_EXPANDED, type_data, vendor_id, type_id
            )
        data = encode_eap(pkt)
        self._current_id = identifier
        self._last_request = data
        return _output(data, None)

    def _finish(self, success: bool) -> AuthOutput:
        """RFC 4137 SUCCESS / FAILURE: Success or Failure with the last Response's Identifier."""
        assert self._current_id is not None
        keys = self._method.keys() if success and self._method is not None else None
        method_type = self._wire[0] if self._method is not None else None
        self.result = _result(success, keys, method_type)
        code = _SUCCESS if success else _FAILURE
        data = encode_eap(_packet(code, self._current_id))
        self._last_request = None
        logger.debug("EAP %s (method %s)", "success" if success else "failure", method_type)
        return _output(data, self.result)

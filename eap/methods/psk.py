"""EAP-PSK (RFC 4764): the peer and server state machines; this module's names are the API.

The building blocks live in ``_psk_keys`` (layout, key hierarchy, MACs, protected channel) and
the verifier of captured conversations in ``_psk_observe``; everything public is re-exported here.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from enum import Enum
from typing import ClassVar

from pana_codecs._fast import frozen_maker

from ..crypto import Eax
from ..keys import KeyMaterial, Secret
from ..rng import Rng, system_rng
from ._psk_keys import (
    _CODE_REQUEST,
    _CODE_RESPONSE,
    _MAC_LEN,
    _MAX_EXT_PAYLOAD,
    _MSG1_MIN,
    _MSG2_MIN,
    _MSG3_MIN,
    _MSG4_MIN,
    _NONCE_LEN,
    _RAND_LEN,
    _TAG_LEN,
    EAP_TYPE_PSK,
    MAX_ID_LEN,
    PSK_LEN,
    PskError,
    PskResult,
    PskSessionKeys,
    _check_id,
    _eax_header,
    _flags,
    _indication_bytes,
    _keys_for,
    _open,
    _parse_indication,
    _rand,
    _seal,
    _session_id,
    _t_of,
    derive_session_keys,
    key_setup,
    mac_p,
    mac_s,
    open_pchannel,
    pchannel_nonce,
    seal_pchannel,
)
from ._psk_observe import PchannelCheck, PskObservation, observe, observe_all
from .base import AuthStep, Decision, MethodStep

__all__ = [
    "EAP_TYPE_PSK",
    "MAX_ID_LEN",
    "PSK_LEN",
    "PchannelCheck",
    "PskError",
    "PskObservation",
    "PskPeer",
    "PskResult",
    "PskServer",
    "PskSessionKeys",
    "derive_session_keys",
    "key_setup",
    "mac_p",
    "mac_s",
    "observe",
    "observe_all",
    "open_pchannel",
    "pchannel_nonce",
    "seal_pchannel",
]

logger = logging.getLogger(__name__)

_SUCCESS = _indication_bytes(PskResult.DONE_SUCCESS)
"""The server's message 3 payload: R = DONE_SUCCESS, no extension (RFC 4764 s5.3)."""


# --- peer ------------------------------------------------------------------------------------


class _PeerState(Enum):
    WAIT_FIRST = "WAIT_FIRST"
    WAIT_THIRD = "WAIT_THIRD"
    DONE = "DONE"


class PskPeer:
    """EAP-PSK peer (RFC 4764 s4.1, s5): answers messages 1 and 3, verifies the server."""

    method_type: ClassVar[int] = EAP_TYPE_PSK

    def __init__(self, identity: bytes, psk: Secret, rng: Rng = system_rng) -> None:
        self._id_p = _check_id("identity (ID_P)", identity)
        self._psk_keys = _keys_for(psk)
        self._rng = rng
        self._state = _PeerState.WAIT_FIRST
        self._rand_s = b""
        self._rand_p = b""
        self._id_s = b""
        self._keys: KeyMaterial | None = None
        self._server_id: bytes | None = None

    def __repr__(self) -> str:
        return f"PskPeer(state={self._state.value})"

    @property
    def server_id(self) -> bytes | None:
        """ID_S of the server once it proved knowledge of the PSK (RFC 5247 Server-Id)."""
        return self._server_id

    def process(self, type_data: bytes, identifier: int) -> MethodStep:
        """Handle one EAP-PSK request's Type-Data; None response = silently discarded."""
        if not type_data:
            return self._discard("empty Type-Data")
        t = _t_of(type_data[0])
        if self._state is _PeerState.WAIT_FIRST:
            if t != 0:
                return self._discard("T=%d while waiting for the first message", t)
            return self._first(type_data)
        if self._state is _PeerState.WAIT_THIRD:
            if t != 2:
                return self._discard("T=%d while waiting for the third message", t)
            return self._third(type_data, identifier)
        return self._discard("method already done")

    def keys(self) -> KeyMaterial | None:
        """MSK/EMSK after the server's DONE_SUCCESS was verified and acknowledged."""
        return self._keys

    def _discard(self, reason: str, *args: object) -> MethodStep:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("EAP-PSK peer: request discarded: %s", reason % args)
        return MethodStep(None)

    def _first(self, type_data: bytes) -> MethodStep:
        # RFC 4764 s5.1: Flags | RAND_S | ID_S
        if len(type_data) < _MSG1_MIN or len(type_data) - _MSG1_MIN > MAX_ID_LEN:
            return self._discard("first message of %d octets", len(type_data))
        self._rand_s = type_data[1 : 1 + _RAND_LEN]
        self._id_s = type_data[1 + _RAND_LEN :]
        self._rand_p = _rand(self._rng)
        mac = self._psk_keys.mac(self._id_p + self._id_s + self._rand_s + self._rand_p)
        self._state = _PeerState.WAIT_THIRD
        logger.debug("EAP-PSK peer: first message accepted, sending the second")
        response = bytes((_flags(1),)) + self._rand_s + self._rand_p + mac + self._id_p
        return MethodStep(response, done=False, decision=Decision.FAIL)

    def _third(self, type_data: bytes, identifier: int) -> MethodStep:
        # RFC 4764 s5.3: Flags | RAND_S | MAC_S | PCHANNEL
        if len(type_data) < _MSG3_MIN or len(type_data) - _MSG3_MIN > 1 + _MAX_EXT_PAYLOAD:
            return self._discard("third message of %d octets", len(type_data))
        rand_s = type_data[1 : 1 + _RAND_LEN]
        if not hmac.compare_digest(rand_s, self._rand_s):
            return self._discard("RAND_S differs from the first message")
        received_mac = type_data[1 + _RAND_LEN : 1 + _RAND_LEN + _MAC_LEN]
        # Check MAC_S before deriving any key (RFC 4764 s5.3, eap.md s3.7).
        if not hmac.compare_digest(received_mac, self._psk_keys.mac(self._id_s + self._rand_p)):
            return self._discard("MAC_S does not verify")
        pchannel = type_data[1 + _RAND_LEN + _MAC_LEN :]
        if int.from_bytes(pchannel[:_NONCE_LEN], "big") != 0:
            # The server's first PCHANNEL uses N = 0 (s3.3); check N before the tag.
            return self._discard("PCHANNEL nonce is not 0")
        session = self._psk_keys.session_keys(self._rand_p)
        eax = Eax(session.tek.reveal())
        header = _eax_header(
            _CODE_REQUEST, identifier, 5 + len(type_data), type_data[0], self._rand_s
        )
        opened = _open(eax, header, pchannel)
        if opened is None:
            return self._discard("PCHANNEL tag does not verify")
        indication = _parse_indication(opened[1])
        self._state = _PeerState.DONE
        success = (
            indication is not None
            and indication.ext_type is None
            and indication.result == PskResult.DONE_SUCCESS
        )
        # Only DONE_SUCCESS without extension succeeds. CONT (extended authentication), an
        # unknown extension or an undefined R all end in DONE_FAILURE, as hostapd's peer does;
        # RFC 4764 s6.2 leaves R to the peer's policy when it does not know the EXT_Type.
        ext_type = indication.ext_type if indication is not None else None
        answer = PskResult.DONE_SUCCESS if success else PskResult.DONE_FAILURE
        payload = _indication_bytes(answer, ext_type)
        flags = _flags(3)
        length = 5 + 1 + _RAND_LEN + _NONCE_LEN + _TAG_LEN + len(payload)
        header4 = _eax_header(_CODE_RESPONSE, identifier, length, flags, self._rand_s)
        response = bytes((flags,)) + self._rand_s + _seal(eax, header4, 1, payload)
        if success:
            self._server_id = self._id_s
            self._keys = KeyMaterial(
                msk=session.msk,
                emsk=session.emsk,
                session_id=_session_id(self._rand_p, self._rand_s),
            )
            logger.debug("EAP-PSK peer: server authenticated, DONE_SUCCESS")
            return MethodStep(response, done=True, decision=Decision.UNCOND_SUCC)
        logger.info("EAP-PSK peer: server indicated failure or an unsupported extension")
        return MethodStep(response, done=True, decision=Decision.FAIL)


# --- server ----------------------------------------------------------------------------------


class _ServerState(Enum):
    START = "START"
    WAIT_SECOND = "WAIT_SECOND"
    WAIT_FOURTH = "WAIT_FOURTH"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


# The states and the steps that carry nothing per conversation, as module names: an Enum class
# attribute goes through EnumType.__getattr__'s slow lookup hook; AuthStep is frozen, so shared.
_START = _ServerState.START
_WAIT_SECOND = _ServerState.WAIT_SECOND
_WAIT_FOURTH = _ServerState.WAIT_FOURTH
_SUCCESS_STATE = _ServerState.SUCCESS
_FAILURE_STATE = _ServerState.FAILURE
_STEP_DISCARD = AuthStep(discard=True)
_STEP_FAILURE = AuthStep(done=True, success=False)
_STEP_SUCCESS = AuthStep(done=True, success=True)
_step = frozen_maker(AuthStep)
_key_material = frozen_maker(KeyMaterial)


class PskServer:
    """EAP-PSK server (RFC 4764 s4.1, s5): sends messages 1 and 3, verifies the peer.

    A message 2 whose MAC_P does not verify is silently discarded (RFC 4764 s4.3), so a
    forged message cannot end a genuine conversation; a peer with the wrong PSK then fails
    only when the lower layer gives up. ``fail_on_bad_mac_p=True`` ends the method in
    failure at once instead, as hostapd does.
    """

    method_type: ClassVar[int] = EAP_TYPE_PSK

    def __init__(
        self,
        id_s: bytes,
        lookup: Callable[[bytes], Secret | None],
        rng: Rng = system_rng,
        *,
        fail_on_bad_mac_p: bool = False,
    ) -> None:
        self._id_s = _check_id("id_s (ID_S)", id_s)
        self._lookup = lookup
        self._fail_on_bad_mac_p = fail_on_bad_mac_p
        self._rng = rng
        self._state = _START
        self._rand_s = b""
        self._rand_p = b""
        self._id_p = b""
        self._session: PskSessionKeys | None = None
        self._eax: Eax | None = None
        self._keys: KeyMaterial | None = None

    def __repr__(self) -> str:
        return f"PskServer(state={self._state.value})"

    @property
    def peer_id(self) -> bytes | None:
        """ID_P once the peer proved knowledge of its PSK (RFC 5247 Peer-Id)."""
        return self._id_p if self._session is not None else None

    def initial_request(self, identifier: int) -> bytes:
        """Type-Data of the first message: Flags (T=0) | RAND_S | ID_S (RFC 4764 s5.1)."""
        self._rand_s = _rand(self._rng)
        self._rand_p = b""
        self._id_p = b""
        self._session = None
        self._eax = None
        self._keys = None
        self._state = _WAIT_SECOND
        return bytes((_flags(0),)) + self._rand_s + self._id_s

    def process(self, type_data: bytes, identifier: int, next_identifier: int) -> AuthStep:
        """Handle one EAP-PSK response's Type-Data (messages 2 and 4)."""
        if not type_data:
            return self._discard("empty Type-Data")
        t = _t_of(type_data[0])
        if self._state is _WAIT_SECOND:
            if t != 1:
                return self._discard("T=%d while waiting for the second message", t)
            return self._second(type_data, next_identifier)
        if self._state is _WAIT_FOURTH:
            if t != 3:
                return self._discard("T=%d while waiting for the fourth message", t)
            return self._fourth(type_data, identifier)
        return self._discard("no response expected in state %s", self._state.value)

    def keys(self) -> KeyMaterial | None:
        """MSK/EMSK once the peer's DONE_SUCCESS was verified."""
        return self._keys

    def _discard(self, reason: str, *args: object) -> AuthStep:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("EAP-PSK server: response discarded: %s", reason % args)
        return _STEP_DISCARD

    def _fail(self, reason: str, *args: object) -> AuthStep:
        if logger.isEnabledFor(logging.INFO):
            logger.info("EAP-PSK server: authentication failed: %s", reason % args)
        self._state = _FAILURE_STATE
        self._session = None
        self._eax = None
        return _STEP_FAILURE

    def _second(self, type_data: bytes, next_identifier: int) -> AuthStep:
        # RFC 4764 s5.2: Flags | RAND_S | RAND_P | MAC_P | ID_P
        if len(type_data) < _MSG2_MIN or len(type_data) - _MSG2_MIN > MAX_ID_LEN:
            return self._discard("second message of %d octets", len(type_data))
        rand_s = type_data[1 : 1 + _RAND_LEN]
        if not hmac.compare_digest(rand_s, self._rand_s):
            return self._discard("RAND_S differs from the one sent")
        rand_p = type_data[1 + _RAND_LEN : 1 + 2 * _RAND_LEN]
        received_mac = type_data[1 + 2 * _RAND_LEN : _MSG2_MIN]
        id_p = type_data[_MSG2_MIN:]
        try:
            psk = self._lookup(id_p)
        except Exception:  # a broken credential store must not crash the session
            logger.warning("EAP-PSK server: PSK lookup raised", exc_info=True)
            return self._fail("PSK lookup error")
        if psk is None:
            # No PSK for this ID_P: the server cannot continue (hostapd fails here too).
            return self._fail("no PSK for the peer's ID_P")
        if not isinstance(psk, Secret) or len(psk) != PSK_LEN:
            logger.warning("EAP-PSK server: lookup returned a PSK that is not 16 octets")
            return self._fail("misconfigured PSK")
        keys = _keys_for(psk)
        if not hmac.compare_digest(received_mac, keys.mac(id_p + self._id_s + rand_s + rand_p)):
            if self._fail_on_bad_mac_p:
                return self._fail("MAC_P does not verify")
            # Silently discard (RFC 4764 s4.3, eap.md s3.7): the previous request stays
            # outstanding, so a forged second message cannot end a genuine conversation.
            return self._discard("MAC_P does not verify")
        self._rand_p = rand_p
        self._id_p = id_p
        self._session = keys.session_keys(rand_p)
        self._eax = eax = Eax(self._session.tek.reveal())
        self._state = _WAIT_FOURTH
        payload = _SUCCESS
        flags = _flags(2)
        length = 5 + 1 + _RAND_LEN + _MAC_LEN + _NONCE_LEN + _TAG_LEN + len(payload)
        header = _eax_header(_CODE_REQUEST, next_identifier, length, flags, self._rand_s)
        pchannel = _seal(eax, header, 0, payload)
        request = bytes((flags,)) + self._rand_s + keys.mac(self._id_s + rand_p) + pchannel
        logger.debug("EAP-PSK server: peer authenticated, sending the third message")
        return _step(request)

    def _fourth(self, type_data: bytes, identifier: int) -> AuthStep:
        # RFC 4764 s5.4: Flags | RAND_S | PCHANNEL
        if len(type_data) < _MSG4_MIN or len(type_data) - _MSG4_MIN > 1 + _MAX_EXT_PAYLOAD:
            return self._discard("fourth message of %d octets", len(type_data))
        session, eax = self._session, self._eax
        if session is None or eax is None:  # pragma: no cover - WAIT_FOURTH always has both
            return self._discard("no session keys")
        rand_s = type_data[1 : 1 + _RAND_LEN]
        if not hmac.compare_digest(rand_s, self._rand_s):
            return self._discard("RAND_S differs from the one sent")
        pchannel = type_data[1 + _RAND_LEN :]
        if int.from_bytes(pchannel[:_NONCE_LEN], "big") != 1:
            # N must be the previous N + 1 (s3.3); hostapd only rejects 0, we are stricter.
            return self._discard("PCHANNEL nonce is not 1")
        header = _eax_header(
            _CODE_RESPONSE, identifier, 5 + len(type_data), type_data[0], self._rand_s
        )
        opened = _open(eax, header, pchannel)
        if opened is None:
            return self._discard("PCHANNEL tag does not verify")
        indication = _parse_indication(opened[1])
        if indication is None:
            return self._fail("malformed protected result indication")
        if indication.ext_type is not None:
            # We never start an extension (s6.2), so the peer has no reason to send one.
            return self._fail("unexpected extension in the fourth message")
        if indication.result != PskResult.DONE_SUCCESS:
            return self._fail("peer sent R=%d", indication.result)
        self._state = _SUCCESS_STATE
        self._eax = None  # the TEK is not needed any more
        self._keys = _key_material(
            session.msk, session.emsk, _session_id(self._rand_p, self._rand_s)
        )
        logger.debug("EAP-PSK server: DONE_SUCCESS from the peer")
        return _STEP_SUCCESS

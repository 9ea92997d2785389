"""EAP-GPSK (Type 51, RFC 5433): both ciphersuites, all four messages, GPSK-Fail, MSK/EMSK.

Ciphersuite 1 is AES-CMAC-128 (``cryptography``'s CMAC), ciphersuite 2 HMAC-SHA256. This side
always sends an empty PD_Payload_Block; a received one is covered by the MAC check and then
ignored (no PData/Specifier is registered, RFC 5433 s8, s14; hostapd does the same).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

from pana_codecs import WireEnum

from ..crypto import AesCmac
from ..keys import KeyMaterial, Secret
from ..rng import Rng, system_rng
from .base import AuthStep, Decision, MethodStep

__all__ = [
    "CSUITE_AES_CMAC",
    "CSUITE_HMAC_SHA256",
    "METHOD_TYPE",
    "FailureCode",
    "GpskKeys",
    "GpskPeer",
    "GpskServer",
    "OpCode",
    "derive_keys",
    "gkdf",
    "gpsk_mac",
]

logger = logging.getLogger(__name__)

METHOD_TYPE = 51
RAND_LEN = 32
MIN_PSK_LEN = 16  # RFC 5433 s4: the PSK is at least 16 octets.

CSUITE_AES_CMAC = 1
"""CSuite/Specifier 1: AES-CBC-128 / AES-CMAC-128, KS = ML = 16 (mandatory, RFC 5433 s6)."""
CSUITE_HMAC_SHA256 = 2
"""CSuite/Specifier 2: NULL / HMAC-SHA256, KS = ML = 32."""

_KEY_SIZE = {CSUITE_AES_CMAC: 16, CSUITE_HMAC_SHA256: 32}
_MAC_LEN = _KEY_SIZE  # ML equals KS for both suites (RFC 5433 s6).


class OpCode(WireEnum):
    """EAP-GPSK OP-Code (RFC 5433 s5.2)."""

    GPSK_1 = 1
    GPSK_2 = 2
    GPSK_3 = 3
    GPSK_4 = 4
    GPSK_FAIL = 5
    GPSK_PROTECTED_FAIL = 6


class FailureCode(WireEnum):
    """GPSK-Fail / GPSK-Protected-Fail Failure-Code (RFC 5433 s5.3)."""

    PSK_NOT_FOUND = 1
    AUTHENTICATION_FAILURE = 2
    AUTHORIZATION_FAILURE = 3


def _csuite_bytes(specifier: int) -> bytes:
    """CSuite/Vendor (4, 0 = IETF) || CSuite/Specifier (2)."""
    return b"\x00\x00\x00\x00" + specifier.to_bytes(2, "big")


def gpsk_mac(specifier: int, key: bytes, data: bytes) -> bytes:
    """The ciphersuite's MAC: AES-CMAC-128 (suite 1) or HMAC-SHA256 (suite 2)."""
    if specifier == CSUITE_AES_CMAC:
        cmac = CMAC(algorithms.AES(key))
        cmac.update(data)
        return cmac.finalize()
    if specifier == CSUITE_HMAC_SHA256:
        return hmac.new(key, data, hashlib.sha256).digest()
    raise ValueError(f"unsupported EAP-GPSK ciphersuite {specifier}")


def gkdf(specifier: int, key: bytes, z: bytes, length: int) -> bytes:
    """GKDF-X(Y, Z) = first X octets of MAC_Y(1 || Z) || MAC_Y(2 || Z) || ... (RFC 5433 s7)."""
    if specifier == CSUITE_AES_CMAC:
        mac = AesCmac(key).mac  # one key schedule, a context copy per block
    elif specifier == CSUITE_HMAC_SHA256:
        base = hmac.new(key, digestmod=hashlib.sha256)

        def mac(data: bytes) -> bytes:
            h = base.copy()
            h.update(data)
            return h.digest()

    else:
        raise ValueError(f"unsupported EAP-GPSK ciphersuite {specifier}")
    blocks = -(-length // _MAC_LEN[specifier])
    out = b"".join(mac(i.to_bytes(2, "big") + z) for i in range(1, blocks + 1))
    return out[:length]


@dataclass(frozen=True, slots=True)
class GpskKeys:
    """Keys of one EAP-GPSK run (RFC 5433 s4)."""

    msk: Secret
    emsk: Secret
    sk: Secret
    pk: Secret
    method_id: bytes
    """Method-ID (16 octets); Session-ID = 0x33 || Method-ID (RFC 5433 s4, RFC 5247)."""

    @property
    def session_id(self) -> bytes:
        """EAP Session-Id: EAP_Method_Type || Method-ID."""
        return bytes([METHOD_TYPE]) + self.method_id


def derive_keys(
    specifier: int,
    psk: Secret,
    rand_peer: bytes,
    id_peer: bytes,
    rand_server: bytes,
    id_server: bytes,
) -> GpskKeys:
    """MK, then MSK || EMSK || SK || PK, and Method-ID (RFC 5433 s4, s7)."""
    ks = _KEY_SIZE[specifier]
    full = psk.reveal()
    if len(full) < ks:
        raise ValueError(f"EAP-GPSK ciphersuite {specifier} needs a PSK of {ks} octets or more")
    # RFC 5433 s4: MK = GKDF-KS(PSK[0..KS-1], PL || PSK || CSuite_Sel || inputString). Only the
    # KDF key is truncated; PL and PSK in the data are the whole PSK (hostapd does the same).
    key = full[:ks]
    csuite = _csuite_bytes(specifier)
    input_string = rand_peer + id_peer + rand_server + id_server
    mk = gkdf(specifier, key, len(full).to_bytes(2, "big") + full + csuite + input_string, ks)
    out = gkdf(specifier, mk, input_string, 128 + 2 * ks)
    method_id = gkdf(
        specifier, key, b"Method ID" + bytes([METHOD_TYPE]) + csuite + input_string, 16
    )
    return GpskKeys(
        msk=Secret(out[:64]),
        emsk=Secret(out[64:128]),
        sk=Secret(out[128 : 128 + ks]),
        pk=Secret(out[128 + ks : 128 + 2 * ks]),
        method_id=method_id,
    )


class _Malformed(Exception):
    """A GPSK message does not parse (RFC 5433 s10: silently discarded)."""


class _Reader:
    """Bounds-checked reader over one message body."""

    __slots__ = ("_data", "pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self._data):
            raise _Malformed(f"needs {n} octets at {self.pos}, has {len(self._data) - self.pos}")
        out = self._data[self.pos : self.pos + n]
        self.pos += n
        return out

    def take_len16(self) -> bytes:
        return self.take(int.from_bytes(self.take(2), "big"))

    def end(self) -> None:
        if self.pos != len(self._data):
            raise _Malformed(f"{len(self._data) - self.pos} trailing octets")


def _len16(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError("EAP-GPSK field longer than 65535 octets")
    return len(data).to_bytes(2, "big") + data


def _parse_csuite_list(raw: bytes) -> list[int | None]:
    """Specifiers in a CSuite_List; None for non-IETF vendors (RFC 5433 s5.1)."""
    if not raw or len(raw) % 6:
        raise _Malformed("CSuite_List length is not a non-zero multiple of 6")
    out: list[int | None] = []
    for off in range(0, len(raw), 6):
        vendor = int.from_bytes(raw[off : off + 4], "big")
        out.append(int.from_bytes(raw[off + 4 : off + 6], "big") if vendor == 0 else None)
    return out


def _check_mac(specifier: int, sk: Secret, covered: bytes, mac: bytes) -> bool:
    return hmac.compare_digest(gpsk_mac(specifier, sk.reveal(), covered), mac)


def _fail(code: int) -> bytes:
    return bytes([OpCode.GPSK_FAIL]) + code.to_bytes(4, "big")


def _check_psk(psk: Secret) -> None:
    if len(psk) < MIN_PSK_LEN:
        raise ValueError(f"EAP-GPSK PSK must be at least {MIN_PSK_LEN} octets (RFC 5433 s4)")


class GpskPeer:
    """Peer side of EAP-GPSK; picks the server's first offered suite it allows (as hostapd does).

    ``server_id``, when given, is the only ID_Server this PSK may be used with; another one is
    answered with GPSK-Fail (PSK Not Found).
    """

    method_type: ClassVar[int] = METHOD_TYPE

    def __init__(
        self,
        identity: bytes,
        psk: Secret,
        *,
        rng: Rng = system_rng,
        ciphersuites: tuple[int, ...] = (CSUITE_AES_CMAC, CSUITE_HMAC_SHA256),
        server_id: bytes | None = None,
    ) -> None:
        _check_psk(psk)
        if not ciphersuites or any(c not in _KEY_SIZE for c in ciphersuites):
            raise ValueError("EAP-GPSK ciphersuites must be a non-empty subset of (1, 2)")
        self._id_peer = bytes(identity)
        self._psk = psk
        self._rng = rng
        self._allowed = tuple(ciphersuites)
        self._expected_server = None if server_id is None else bytes(server_id)
        self._state = OpCode.GPSK_1
        self._specifier = 0
        self._id_server = b""
        self._rand_server = b""
        self._rand_peer = b""
        self._keys: GpskKeys | None = None
        self._success = False

    def process(self, type_data: bytes, identifier: int) -> MethodStep:
        """Handle GPSK-1, GPSK-3, GPSK-Fail or GPSK-Protected-Fail (RFC 5433 s10)."""
        if not type_data:
            return MethodStep(None)
        op, body = type_data[0], type_data[1:]
        try:
            if op == OpCode.GPSK_1 and self._state is OpCode.GPSK_1:
                return self._gpsk_1(body)
            if op == OpCode.GPSK_3 and self._state is OpCode.GPSK_3:
                return self._gpsk_3(body)
            if op == OpCode.GPSK_FAIL and self._state is not OpCode.GPSK_4:
                return self._on_fail(body)
            if op == OpCode.GPSK_PROTECTED_FAIL and self._state is OpCode.GPSK_3:
                return self._on_protected_fail(body)
        except _Malformed as exc:
            logger.debug("malformed EAP-GPSK request (op %d) discarded: %s", op, exc)
            return MethodStep(None)
        logger.debug("EAP-GPSK op %d unexpected in state %s: discarded", op, self._state.name)
        return MethodStep(None)

    def _gpsk_1(self, body: bytes) -> MethodStep:
        r = _Reader(body)
        id_server = r.take_len16()
        rand_server = r.take(RAND_LEN)
        csuite_list_raw = r.take_len16()
        offered = _parse_csuite_list(csuite_list_raw)
        r.end()
        if self._expected_server is not None and not hmac.compare_digest(
            id_server, self._expected_server
        ):
            logger.debug("EAP-GPSK: ID_Server is not the configured one; GPSK-Fail")
            self._state = OpCode.GPSK_4
            return MethodStep(_fail(FailureCode.PSK_NOT_FOUND), True, Decision.FAIL)
        # A suite needs a PSK of at least KS octets (RFC 5433 s4; hostapd refuses shorter ones).
        usable = [c for c in self._allowed if _KEY_SIZE[c] <= len(self._psk)]
        chosen = next((s for s in offered if s is not None and s in usable), None)
        if chosen is None:
            # hostapd eap_gpsk.c: no supported ciphersuite ends the method without a response.
            logger.debug("EAP-GPSK: no acceptable ciphersuite offered")
            self._state = OpCode.GPSK_4
            return MethodStep(None, True, Decision.FAIL)
        self._specifier = chosen
        self._id_server = id_server
        self._rand_server = rand_server
        self._rand_peer = self._rng(RAND_LEN)
        if len(self._rand_peer) != RAND_LEN:
            raise ValueError("rng returned the wrong number of octets")
        self._keys = derive_keys(
            chosen, self._psk, self._rand_peer, self._id_peer, rand_server, id_server
        )
        covered = (
            _len16(self._id_peer)
            + _len16(id_server)
            + self._rand_peer
            + rand_server
            + _len16(csuite_list_raw)
            + _csuite_bytes(chosen)
            + _len16(b"")  # no PD_Payload_1
        )
        mac = gpsk_mac(chosen, self._keys.sk.reveal(), covered)
        self._state = OpCode.GPSK_3
        return MethodStep(bytes([OpCode.GPSK_2]) + covered + mac, False, Decision.FAIL)

    def _gpsk_3(self, body: bytes) -> MethodStep:
        assert self._keys is not None
        r = _Reader(body)
        rand_peer = r.take(RAND_LEN)
        rand_server = r.take(RAND_LEN)
        id_server = r.take_len16()
        csuite_sel = r.take(6)
        pd_block = r.take_len16()
        covered = body[: r.pos]
        mac = r.take(_MAC_LEN[self._specifier])
        r.end()
        # RFC 5433 s10: any mismatch or a bad MAC is silently discarded.
        if not (
            hmac.compare_digest(rand_peer, self._rand_peer)
            and hmac.compare_digest(rand_server, self._rand_server)
            and hmac.compare_digest(id_server, self._id_server)
            and csuite_sel == _csuite_bytes(self._specifier)
        ):
            logger.debug("EAP-GPSK-3 does not match GPSK-1/GPSK-2: discarded")
            return MethodStep(None)
        if not _check_mac(self._specifier, self._keys.sk, covered, mac):
            logger.debug("EAP-GPSK-3 MAC check failed: discarded")
            return MethodStep(None)
        if pd_block:
            logger.debug("EAP-GPSK-3 protected data (%d octets) ignored", len(pd_block))
        reply = _len16(b"")  # no PD_Payload_3
        reply_mac = gpsk_mac(self._specifier, self._keys.sk.reveal(), reply)
        self._state = OpCode.GPSK_4
        self._success = True
        # hostapd: after GPSK-4 the method is DONE with UNCOND_SUCC (mutual auth complete).
        return MethodStep(bytes([OpCode.GPSK_4]) + reply + reply_mac, True, Decision.UNCOND_SUCC)

    def _on_fail(self, body: bytes) -> MethodStep:
        r = _Reader(body)
        code = int.from_bytes(r.take(4), "big")
        r.end()
        logger.debug("EAP-GPSK-Fail received (code %d); echoing it", code)
        self._state = OpCode.GPSK_4
        self._keys = None
        return MethodStep(_fail(code), True, Decision.FAIL)

    def _on_protected_fail(self, body: bytes) -> MethodStep:
        assert self._keys is not None
        r = _Reader(body)
        code_raw = r.take(4)
        mac = r.take(_MAC_LEN[self._specifier])
        r.end()
        if not _check_mac(self._specifier, self._keys.sk, code_raw, mac):
            logger.debug("EAP-GPSK-Protected-Fail MAC check failed: discarded")
            return MethodStep(None)
        logger.debug("EAP-GPSK-Protected-Fail (code %d); echoing it", int.from_bytes(code_raw))
        echo_mac = gpsk_mac(self._specifier, self._keys.sk.reveal(), code_raw)
        self._state = OpCode.GPSK_4
        self._keys = None
        return MethodStep(
            bytes([OpCode.GPSK_PROTECTED_FAIL]) + code_raw + echo_mac, True, Decision.FAIL
        )

    def keys(self) -> KeyMaterial | None:
        """MSK/EMSK once GPSK-3 was verified, else None."""
        if not self._success or self._keys is None:
            return None
        return KeyMaterial(self._keys.msk, self._keys.emsk, self._keys.session_id)


class _ServerState(IntEnum):
    SENT_1 = 1
    SENT_3 = 3
    SENT_FAIL = 5
    DONE = 7


class GpskServer:
    """Server side of EAP-GPSK; ``lookup(ID_Peer)`` gives the PSK, None if unknown.

    ``authorize(ID_Peer)``, when given, may refuse an authenticated peer: GPSK-Protected-Fail
    with Authorization Failure (RFC 5433 s5.3).

    ``gpsk_fail=False`` ends a failed run at once with EAP Failure instead of GPSK-Fail /
    GPSK-Protected-Fail: hostapd's server does so, and wpa_supplicant's peer ignores both
    messages (unknown op-code), so with them the conversation only ends by timeout.
    """

    method_type: ClassVar[int] = METHOD_TYPE

    def __init__(
        self,
        id_server: bytes,
        lookup: Callable[[bytes], Secret | None],
        *,
        rng: Rng = system_rng,
        ciphersuites: tuple[int, ...] = (CSUITE_AES_CMAC, CSUITE_HMAC_SHA256),
        authorize: Callable[[bytes], bool] | None = None,
        gpsk_fail: bool = True,
    ) -> None:
        if not ciphersuites or any(c not in _KEY_SIZE for c in ciphersuites):
            raise ValueError("EAP-GPSK ciphersuites must be a non-empty subset of (1, 2)")
        self._id_server = bytes(id_server)
        self._lookup = lookup
        self._rng = rng
        self._csuite_list = b"".join(_csuite_bytes(c) for c in ciphersuites)
        self._offered = tuple(ciphersuites)
        self._authorize = authorize
        self._gpsk_fail = gpsk_fail
        self._state = _ServerState.SENT_1
        self._rand_server = b""
        self._rand_peer = b""
        self._id_peer = b""
        self._specifier = 0
        self._keys: GpskKeys | None = None
        self._success = False

    @property
    def peer_id(self) -> bytes | None:
        """ID_Peer from GPSK-2 (RFC 5247 Peer-Id), once received."""
        return self._id_peer if self._state is not _ServerState.SENT_1 else None

    def initial_request(self, identifier: int) -> bytes:
        """GPSK-1: ID_Server, fresh RAND_Server, CSuite_List (RFC 5433 s5.1)."""
        self._rand_server = self._rng(RAND_LEN)
        if len(self._rand_server) != RAND_LEN:
            raise ValueError("rng returned the wrong number of octets")
        return (
            bytes([OpCode.GPSK_1])
            + _len16(self._id_server)
            + self._rand_server
            + _len16(self._csuite_list)
        )

    def process(self, type_data: bytes, identifier: int, next_identifier: int) -> AuthStep:
        """Handle GPSK-2, GPSK-4 or a GPSK-Fail echo (RFC 5433 s10)."""
        if not type_data or self._state is _ServerState.DONE:
            return AuthStep(discard=True)
        op, body = type_data[0], type_data[1:]
        try:
            if op == OpCode.GPSK_2 and self._state is _ServerState.SENT_1:
                return self._gpsk_2(body)
            if op == OpCode.GPSK_4 and self._state is _ServerState.SENT_3:
                return self._gpsk_4(body)
            if op == OpCode.GPSK_FAIL:
                return self._on_fail(body)
            if op == OpCode.GPSK_PROTECTED_FAIL and self._keys is not None:
                return self._on_protected_fail(body)
        except _Malformed as exc:
            logger.debug("malformed EAP-GPSK response (op %d) discarded: %s", op, exc)
            return AuthStep(discard=True)
        logger.debug("EAP-GPSK op %d unexpected in state %s: discarded", op, self._state.name)
        return AuthStep(discard=True)

    def _gpsk_2(self, body: bytes) -> AuthStep:
        r = _Reader(body)
        id_peer = r.take_len16()
        id_server = r.take_len16()
        rand_peer = r.take(RAND_LEN)
        rand_server = r.take(RAND_LEN)
        csuite_list = r.take_len16()
        csuite_sel = r.take(6)
        pd_block = r.take_len16()
        covered = body[: r.pos]
        vendor = int.from_bytes(csuite_sel[:4], "big")
        specifier = int.from_bytes(csuite_sel[4:], "big")
        if vendor != 0 or specifier not in self._offered:
            logger.debug("EAP-GPSK-2 selects a ciphersuite that was not offered: discarded")
            return AuthStep(discard=True)
        mac = r.take(_MAC_LEN[specifier])
        r.end()
        # RFC 5433 s10: RAND_Server, ID_Server or CSuite_List not as sent -> silent discard
        # (they bind GPSK-2 to this GPSK-1; a replayed GPSK-2 fails here).
        if not (
            hmac.compare_digest(rand_server, self._rand_server)
            and hmac.compare_digest(id_server, self._id_server)
            and hmac.compare_digest(csuite_list, self._csuite_list)
        ):
            logger.debug("EAP-GPSK-2 does not match GPSK-1: discarded")
            return AuthStep(discard=True)
        psk = self._lookup(id_peer)
        if psk is not None and len(psk) < _KEY_SIZE[specifier]:
            logger.warning(
                "EAP-GPSK: PSK shorter than %d octets cannot be used with ciphersuite %d",
                _KEY_SIZE[specifier],
                specifier,
            )
            psk = None
        self._id_peer = id_peer
        self._rand_peer = rand_peer
        self._specifier = specifier
        if psk is None:
            logger.debug("EAP-GPSK: no PSK for this ID_Peer; GPSK-Fail")
            return self._send_fail(FailureCode.PSK_NOT_FOUND)
        keys = derive_keys(specifier, psk, rand_peer, id_peer, rand_server, id_server)
        if not _check_mac(specifier, keys.sk, covered, mac):
            logger.debug("EAP-GPSK-2 MAC check failed; GPSK-Fail")
            return self._send_fail(FailureCode.AUTHENTICATION_FAILURE)
        self._keys = keys
        if pd_block:
            logger.debug("EAP-GPSK-2 protected data (%d octets) ignored", len(pd_block))
        if self._authorize is not None and not self._authorize(id_peer):
            logger.debug("EAP-GPSK: peer authenticated but not authorized")
            if not self._gpsk_fail:
                self._state = _ServerState.DONE
                return AuthStep(done=True, success=False)
            code_raw = int(FailureCode.AUTHORIZATION_FAILURE).to_bytes(4, "big")
            self._state = _ServerState.SENT_FAIL
            return AuthStep(
                request=bytes([OpCode.GPSK_PROTECTED_FAIL])
                + code_raw
                + gpsk_mac(specifier, keys.sk.reveal(), code_raw)
            )
        covered3 = (
            rand_peer
            + self._rand_server
            + _len16(self._id_server)
            + _csuite_bytes(specifier)
            + _len16(b"")  # no PD_Payload_2
        )
        self._state = _ServerState.SENT_3
        return AuthStep(
            request=bytes([OpCode.GPSK_3])
            + covered3
            + gpsk_mac(specifier, keys.sk.reveal(), covered3)
        )

    def _gpsk_4(self, body: bytes) -> AuthStep:
        assert self._keys is not None
        r = _Reader(body)
        pd_block = r.take_len16()
        covered = body[: r.pos]
        mac = r.take(_MAC_LEN[self._specifier])
        r.end()
        if not _check_mac(self._specifier, self._keys.sk, covered, mac):
            logger.debug("EAP-GPSK-4 MAC check failed: discarded")
            return AuthStep(discard=True)
        if pd_block:
            logger.debug("EAP-GPSK-4 protected data (%d octets) ignored", len(pd_block))
        self._state = _ServerState.DONE
        self._success = True
        return AuthStep(done=True, success=True)

    def _send_fail(self, code: FailureCode) -> AuthStep:
        if not self._gpsk_fail:
            self._state = _ServerState.DONE
            return AuthStep(done=True, success=False)
        self._state = _ServerState.SENT_FAIL
        return AuthStep(request=_fail(code))

    def _on_fail(self, body: bytes) -> AuthStep:
        r = _Reader(body)
        code = int.from_bytes(r.take(4), "big")
        r.end()
        # The peer echoes our GPSK-Fail, or reports its own failure: EAP Failure follows.
        logger.debug("EAP-GPSK-Fail from the peer (code %d)", code)
        self._state = _ServerState.DONE
        return AuthStep(done=True, success=False)

    def _on_protected_fail(self, body: bytes) -> AuthStep:
        assert self._keys is not None
        r = _Reader(body)
        code_raw = r.take(4)
        mac = r.take(_MAC_LEN[self._specifier])
        r.end()
        if not _check_mac(self._specifier, self._keys.sk, code_raw, mac):
            logger.debug("EAP-GPSK-Protected-Fail MAC check failed: discarded")
            return AuthStep(discard=True)
        self._state = _ServerState.DONE
        return AuthStep(done=True, success=False)

    def keys(self) -> KeyMaterial | None:
        """MSK/EMSK once GPSK-4 was verified, else None."""
        if not self._success or self._keys is None:
            return None
        return KeyMaterial(self._keys.msk, self._keys.emsk, self._keys.session_id)

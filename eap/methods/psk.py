"""EAP-PSK (RFC 4764): peer, server, key derivation, and a verifier for observed conversations."""

from __future__ import annotations

import hmac
import logging
import struct
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import ClassVar

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..crypto import (
    AesCmac,
    Eax,
    EaxTagError,
    aes_cmac,
    aes_encrypt_block,
    aes_encrypt_blocks,
)
from ..keys import KeyMaterial, Secret
from ..rng import Rng, system_rng
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

EAP_TYPE_PSK = 47
"""EAP Type of EAP-PSK (RFC 4764 s7.1)."""

PSK_LEN = 16
"""The PSK is exactly 16 octets (RFC 4764 s3.1)."""

MAX_ID_LEN = 966
"""Longest ID_S / ID_P: keeps EAP-PSK packets within the 1020-octet EAP MTU (RFC 4764 s5)."""

_RAND_LEN = 16
_MAC_LEN = 16
_TAG_LEN = 16
_NONCE_LEN = 4
_HEADER_LEN = 22  # EAP Code, Identifier, Length, Type, Flags, RAND_S: the EAX header (s3.3)
_MAX_EXT_PAYLOAD = 960  # RFC 4764 s5.3: EXT_Payload is at most 960 octets
_NONCE_MAX = 0xFFFFFFFF

_CODE_REQUEST = 1
_CODE_RESPONSE = 2

# Type-Data offsets (octet 0 = Flags, right after the EAP Type octet).
_MSG1_MIN = 1 + _RAND_LEN  # Flags, RAND_S, ID_S (may be empty: CPANA sends none)
_MSG2_MIN = 1 + _RAND_LEN + _RAND_LEN + _MAC_LEN  # Flags, RAND_S, RAND_P, MAC_P, ID_P
_MSG3_MIN = 1 + _RAND_LEN + _MAC_LEN + _NONCE_LEN + _TAG_LEN + 1  # ..., PCHANNEL (>= 1 octet)
_MSG4_MIN = 1 + _RAND_LEN + _NONCE_LEN + _TAG_LEN + 1


class PskError(ValueError):
    """Malformed input to observe(), or misuse of the EAP-PSK helpers."""


class PskResult(IntEnum):
    """The R field of the protected channel (RFC 4764 s5.3)."""

    CONT = 1
    DONE_SUCCESS = 2
    DONE_FAILURE = 3


_E_FLAG = 0x20  # RFC 4764 s5.3: extension present


def _flags(t: int) -> int:
    """Flags octet for message number t+1: T is the two most significant bits (s5.1)."""
    return t << 6


def _t_of(flags: int) -> int:
    return flags >> 6


# --- key hierarchy (RFC 4764 s3.1, s3.2) ---------------------------------------------------


def _psk_bytes(psk: Secret) -> bytes:
    if not isinstance(psk, Secret):
        raise TypeError("EAP-PSK expects the PSK as eap.keys.Secret")
    if len(psk) != PSK_LEN:
        raise ValueError(f"EAP-PSK needs a {PSK_LEN}-octet PSK (RFC 4764 s3.1), got {len(psk)}")
    return psk.reveal()


def _blocks_xor(x: bytes, counters: range) -> bytes:
    """x XOR "i" for each i (16-octet big-endian integers, RFC 4764 s3.1), concatenated."""
    value = int.from_bytes(x, "big")
    return b"".join((value ^ i).to_bytes(_RAND_LEN, "big") for i in counters)


@dataclass(frozen=True, slots=True)
class PskSessionKeys:
    """TEK, MSK and EMSK of one EAP-PSK run (RFC 4764 s3.2); reprs show lengths only."""

    tek: Secret
    msk: Secret
    emsk: Secret


class _PskKeys:
    """AK and KDK of one PSK (RFC 4764 s3.1) with their AES contexts; prints nothing."""

    __slots__ = ("_ak_mac", "_kdk", "ak", "kdk")

    def __init__(self, psk: bytes) -> None:
        # AES(PSK, "0"), then AES(PSK, t ^ "1") and AES(PSK, t ^ "2") in one call.
        t = aes_encrypt_block(psk, bytes(_RAND_LEN))
        ak_kdk = aes_encrypt_blocks(psk, _blocks_xor(t, range(1, 3)))
        self.ak = Secret(ak_kdk[:16])
        self.kdk = Secret(ak_kdk[16:])
        self._ak_mac = AesCmac(ak_kdk[:16])
        self._kdk = Cipher(algorithms.AES(ak_kdk[16:]), modes.ECB())  # noqa: S305 - raw AES

    def __repr__(self) -> str:
        return "_PskKeys(<AK, KDK>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("EAP-PSK keys cannot be pickled")

    def mac(self, data: bytes) -> bytes:
        """CMAC-AES-128(AK, data): MAC_P and MAC_S (RFC 4764 s3.2)."""
        return self._ak_mac.mac(data)

    def session_keys(self, rand_p: bytes) -> PskSessionKeys:
        """TEK, MSK, EMSK: O_i = AES(KDK, AES(KDK, RAND_P) ^ "i"), i = 1..9 (RFC 4764 s3.2)."""
        aes = self._kdk.encryptor()  # one context for the 10 blocks; ECB = the raw cipher
        blocks = aes.update(_blocks_xor(aes.update(rand_p), range(1, 10)))
        return PskSessionKeys(
            tek=Secret(blocks[:16]), msk=Secret(blocks[16:80]), emsk=Secret(blocks[80:144])
        )


_CACHE_SIZE = 1024
"""PSKs whose AK/KDK stay cached; the oldest entry goes first beyond that."""
_cache: dict[int, tuple[weakref.ref[Secret], _PskKeys]] = {}


def _psk_keys(psk: Secret) -> _PskKeys:
    """AK/KDK of ``psk``, set up once per Secret object (RFC 4764 s3.1).

    Keyed by the Secret's identity and weakly referenced: an entry lives only as long as the
    Secret (a user table, a peer's configuration) and never outlives it; at most _CACHE_SIZE.
    """
    key = id(psk)
    entry = _cache.get(key)
    if entry is not None and entry[0]() is psk:
        return entry[1]
    keys = _PskKeys(_psk_bytes(psk))

    def forget(ref: weakref.ref[Secret]) -> None:
        current = _cache.get(key)
        if current is not None and current[0] is ref:
            del _cache[key]

    while len(_cache) >= _CACHE_SIZE:
        _cache.pop(next(iter(_cache)), None)
    _cache[key] = (weakref.ref(psk, forget), keys)
    return keys


def key_setup(psk: Secret) -> tuple[Secret, Secret]:
    """AK and KDK from the PSK (RFC 4764 s3.1); computed once per Secret object."""
    keys = _psk_keys(psk)
    return keys.ak, keys.kdk


def derive_session_keys(kdk: Secret, rand_p: bytes) -> PskSessionKeys:
    """The "modified counter mode" of RFC 4764 s3.2: O_i = AES(KDK, AES(KDK, RAND_P) ^ "i")."""
    if len(rand_p) != _RAND_LEN:
        raise ValueError(f"RAND_P must be {_RAND_LEN} octets, got {len(rand_p)}")
    key = kdk.reveal()
    blocks = aes_encrypt_blocks(key, _blocks_xor(aes_encrypt_block(key, rand_p), range(1, 10)))
    return PskSessionKeys(
        tek=Secret(blocks[:16]), msk=Secret(blocks[16:80]), emsk=Secret(blocks[80:144])
    )


def mac_p(ak: Secret, id_p: bytes, id_s: bytes, rand_s: bytes, rand_p: bytes) -> bytes:
    """MAC_P = CMAC-AES-128(AK, ID_P || ID_S || RAND_S || RAND_P) (RFC 4764 s3.2)."""
    return aes_cmac(ak.reveal(), id_p + id_s + rand_s + rand_p)


def mac_s(ak: Secret, id_s: bytes, rand_p: bytes) -> bytes:
    """MAC_S = CMAC-AES-128(AK, ID_S || RAND_P) (RFC 4764 s3.2)."""
    return aes_cmac(ak.reveal(), id_s + rand_p)


# --- protected channel (RFC 4764 s3.3, s5.3) -----------------------------------------------


def pchannel_nonce(n: int) -> bytes:
    """The 16-octet EAX nonce: 12 zero octets, then the 4-octet PCHANNEL nonce (s3.3)."""
    return bytes(12) + n.to_bytes(_NONCE_LEN, "big")


def _eax_header(code: int, identifier: int, length: int, flags: int, rand_s: bytes) -> bytes:
    """First 22 octets of the EAP packet: Code, Identifier, Length, Type, Flags, RAND_S."""
    if not 0 <= identifier <= 0xFF:
        raise ValueError(f"EAP Identifier must be 0..255, got {identifier}")
    return struct.pack("!BBHBB", code, identifier, length, EAP_TYPE_PSK, flags) + rand_s


def _seal(eax: Eax, header: bytes, n: int, payload: bytes) -> bytes:
    if len(header) != _HEADER_LEN:
        raise ValueError(f"EAX header must be the first {_HEADER_LEN} octets of the EAP packet")
    if not 0 <= n <= _NONCE_MAX:
        raise ValueError("PCHANNEL nonce out of range")
    ciphertext, tag = eax.encrypt(pchannel_nonce(n), header, payload, _TAG_LEN)
    return n.to_bytes(_NONCE_LEN, "big") + tag + ciphertext


def _open(
    eax: Eax, header: bytes, pchannel: bytes, *, rfc_nonce: bool = True
) -> tuple[int, bytes] | None:
    if len(header) != _HEADER_LEN or len(pchannel) < _NONCE_LEN + _TAG_LEN + 1:
        return None
    raw_n = pchannel[:_NONCE_LEN]
    n = int.from_bytes(raw_n, "big")
    tag = pchannel[_NONCE_LEN : _NONCE_LEN + _TAG_LEN]
    ciphertext = pchannel[_NONCE_LEN + _TAG_LEN :]
    # CPANA passes the bare 4-octet N to EAX; RFC 4764 s3.3 pads it to 16 octets.
    nonce = pchannel_nonce(n) if rfc_nonce else raw_n
    try:
        payload = eax.decrypt(nonce, header, ciphertext, tag)
    except EaxTagError:
        return None
    return n, payload


def seal_pchannel(tek: Secret, header: bytes, n: int, payload: bytes) -> bytes:
    """PCHANNEL = N (4) || Tag (16) || EAX-encrypted payload (RFC 4764 s5.3)."""
    return _seal(Eax(tek.reveal()), header, n, payload)


def open_pchannel(
    tek: Secret, header: bytes, pchannel: bytes, *, rfc_nonce: bool = True
) -> tuple[int, bytes] | None:
    """(N, payload) if the tag verifies, else None; rfc_nonce=False tries CPANA's bare nonce."""
    return _open(Eax(tek.reveal()), header, pchannel, rfc_nonce=rfc_nonce)


@dataclass(frozen=True, slots=True)
class _Indication:
    """A decrypted PCHANNEL payload (RFC 4764 s5.3)."""

    result: int  # R, 0..3 (0 is not defined)
    ext_type: int | None  # set when E = 1


def _parse_indication(payload: bytes) -> _Indication | None:
    """Parse R/E/EXT; None when the payload is malformed."""
    first = payload[0]
    result = first >> 6
    if first & _E_FLAG:
        if len(payload) < 2 or len(payload) - 2 > _MAX_EXT_PAYLOAD:
            return None
        return _Indication(result, payload[1])
    if len(payload) != 1:
        return None
    return _Indication(result, None)


def _indication_bytes(result: PskResult, ext_type: int | None = None) -> bytes:
    if ext_type is None:
        return bytes((result << 6,))
    # RFC 4764 s6.2: unknown extension -> echo EXT_Type with an empty EXT_Payload.
    return bytes((result << 6 | _E_FLAG, ext_type))


def _session_id(rand_p: bytes, rand_s: bytes) -> bytes:
    """EAP Session-Id = Type || RAND_P || RAND_S (RFC 5247 Appendix A)."""
    return bytes((EAP_TYPE_PSK,)) + rand_p + rand_s


def _check_id(name: str, value: bytes) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes")
    if len(value) > MAX_ID_LEN:
        raise ValueError(f"{name} is {len(value)} octets; EAP-PSK allows at most {MAX_ID_LEN}")
    return value


def _rand(rng: Rng) -> bytes:
    value = rng(_RAND_LEN)
    if len(value) != _RAND_LEN:
        raise ValueError(f"rng({_RAND_LEN}) returned {len(value)} octets")
    return value


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
        self._psk_keys = _psk_keys(psk)
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
        self._state = _ServerState.START
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
        self._state = _ServerState.WAIT_SECOND
        return bytes((_flags(0),)) + self._rand_s + self._id_s

    def process(self, type_data: bytes, identifier: int, next_identifier: int) -> AuthStep:
        """Handle one EAP-PSK response's Type-Data (messages 2 and 4)."""
        if not type_data:
            return self._discard("empty Type-Data")
        t = _t_of(type_data[0])
        if self._state is _ServerState.WAIT_SECOND:
            if t != 1:
                return self._discard("T=%d while waiting for the second message", t)
            return self._second(type_data, next_identifier)
        if self._state is _ServerState.WAIT_FOURTH:
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
        return AuthStep(discard=True)

    def _fail(self, reason: str, *args: object) -> AuthStep:
        if logger.isEnabledFor(logging.INFO):
            logger.info("EAP-PSK server: authentication failed: %s", reason % args)
        self._state = _ServerState.FAILURE
        self._session = None
        self._eax = None
        return AuthStep(done=True, success=False)

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
        keys = _psk_keys(psk)
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
        self._state = _ServerState.WAIT_FOURTH
        payload = _indication_bytes(PskResult.DONE_SUCCESS)
        flags = _flags(2)
        length = 5 + 1 + _RAND_LEN + _MAC_LEN + _NONCE_LEN + _TAG_LEN + len(payload)
        header = _eax_header(_CODE_REQUEST, next_identifier, length, flags, self._rand_s)
        pchannel = _seal(eax, header, 0, payload)
        request = bytes((flags,)) + self._rand_s + keys.mac(self._id_s + rand_p) + pchannel
        logger.debug("EAP-PSK server: peer authenticated, sending the third message")
        return AuthStep(request=request)

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
        self._state = _ServerState.SUCCESS
        self._eax = None  # the TEK is not needed any more
        self._keys = KeyMaterial(
            msk=session.msk,
            emsk=session.emsk,
            session_id=_session_id(self._rand_p, self._rand_s),
        )
        logger.debug("EAP-PSK server: DONE_SUCCESS from the peer")
        return AuthStep(done=True, success=True)


# --- verifying an observed conversation ------------------------------------------------------


class PchannelCheck(Enum):
    """How a captured PCHANNEL verified."""

    RFC4764 = "rfc4764"
    """Tag verifies with the 16-octet nonce 0^12 || N (RFC 4764 s3.3)."""
    UNPADDED_NONCE = "unpadded-nonce"
    """Tag verifies only with the bare 4-octet N (CPANA's bug)."""
    FAILED = "failed"
    """Tag verifies neither way (wrong PSK, or a damaged message)."""
    ABSENT = "absent"
    """The message was not given."""


@dataclass(frozen=True, slots=True)
class PskObservation:
    """What observe() found in one EAP-PSK conversation; keys print as lengths only."""

    id_s: bytes
    id_p: bytes
    rand_s: bytes
    rand_p: bytes
    mac_p_ok: bool
    mac_s_ok: bool | None
    """None when message 3 was not given."""
    pchannel3: PchannelCheck
    pchannel4: PchannelCheck
    result3: PskResult | None
    """R sent by the server in message 3, when its PCHANNEL opened."""
    result4: PskResult | None
    """R sent by the peer in message 4, when its PCHANNEL opened."""
    keys: KeyMaterial | None
    """MSK/EMSK, present when MAC_P verified (the PSK is right for this conversation)."""


def _split_eap(packet: bytes, code: int, t: int, name: str) -> tuple[int, bytes]:
    """(Identifier, Type-Data) of an EAP-PSK packet; PskError when it is not one."""
    if len(packet) < 6:
        raise PskError(f"{name}: {len(packet)} octets is too short for an EAP-PSK packet")
    pkt_code, identifier, length, pkt_type = struct.unpack_from("!BBHB", packet)
    if length != len(packet):
        raise PskError(f"{name}: EAP Length {length} but {len(packet)} octets given")
    if pkt_code != code or pkt_type != EAP_TYPE_PSK:
        raise PskError(f"{name}: EAP Code {pkt_code} Type {pkt_type}, expected {code}/47")
    type_data = packet[5:]
    if _t_of(type_data[0]) != t:
        raise PskError(f"{name}: T={_t_of(type_data[0])}, expected {t}")
    return identifier, type_data


def _check_pchannel(
    eax: Eax, header: bytes, pchannel: bytes
) -> tuple[PchannelCheck, PskResult | None]:
    opened = _open(eax, header, pchannel)
    check = PchannelCheck.RFC4764
    if opened is None:
        opened = _open(eax, header, pchannel, rfc_nonce=False)
        check = PchannelCheck.UNPADDED_NONCE
    if opened is None:
        return PchannelCheck.FAILED, None
    indication = _parse_indication(opened[1])
    result = None
    if indication is not None and indication.result in tuple(PskResult):
        result = PskResult(indication.result)
    return check, result


def observe(
    msg1: bytes,
    msg2: bytes,
    msg3: bytes | None = None,
    msg4: bytes | None = None,
    *,
    psk: Secret,
) -> PskObservation:
    """Verify a captured EAP-PSK conversation (complete EAP packets) and derive its MSK.

    Raises PskError if a packet is not the EAP-PSK message it should be, or if the
    messages do not belong to one conversation (RAND_S differs).
    """
    _, td1 = _split_eap(msg1, _CODE_REQUEST, 0, "message 1")
    _, td2 = _split_eap(msg2, _CODE_RESPONSE, 1, "message 2")
    if len(td1) < _MSG1_MIN:
        raise PskError("message 1 is truncated")
    if len(td2) < _MSG2_MIN:
        raise PskError("message 2 is truncated")
    rand_s = td1[1 : 1 + _RAND_LEN]
    id_s = td1[1 + _RAND_LEN :]
    if td2[1 : 1 + _RAND_LEN] != rand_s:
        raise PskError("message 2 carries a different RAND_S")
    rand_p = td2[1 + _RAND_LEN : 1 + 2 * _RAND_LEN]
    id_p = td2[_MSG2_MIN:]
    psk_keys = _psk_keys(psk)
    mac_p_ok = hmac.compare_digest(
        td2[1 + 2 * _RAND_LEN : _MSG2_MIN], psk_keys.mac(id_p + id_s + rand_s + rand_p)
    )
    session = psk_keys.session_keys(rand_p)
    eax = Eax(session.tek.reveal())
    mac_s_ok: bool | None = None
    pchannel3 = pchannel4 = PchannelCheck.ABSENT
    result3 = result4 = None
    if msg3 is not None:
        _, td3 = _split_eap(msg3, _CODE_REQUEST, 2, "message 3")
        if len(td3) < _MSG3_MIN:
            raise PskError("message 3 is truncated")
        if td3[1 : 1 + _RAND_LEN] != rand_s:
            raise PskError("message 3 carries a different RAND_S")
        mac_s_ok = hmac.compare_digest(
            td3[1 + _RAND_LEN : 1 + _RAND_LEN + _MAC_LEN], psk_keys.mac(id_s + rand_p)
        )
        header3 = msg3[:_HEADER_LEN]
        pchannel3, result3 = _check_pchannel(eax, header3, td3[1 + _RAND_LEN + _MAC_LEN :])
    if msg4 is not None:
        _, td4 = _split_eap(msg4, _CODE_RESPONSE, 3, "message 4")
        if len(td4) < _MSG4_MIN:
            raise PskError("message 4 is truncated")
        if td4[1 : 1 + _RAND_LEN] != rand_s:
            raise PskError("message 4 carries a different RAND_S")
        pchannel4, result4 = _check_pchannel(eax, msg4[:_HEADER_LEN], td4[1 + _RAND_LEN :])
    keys = None
    if mac_p_ok:
        keys = KeyMaterial(
            msk=session.msk, emsk=session.emsk, session_id=_session_id(rand_p, rand_s)
        )
    return PskObservation(
        id_s=id_s,
        id_p=id_p,
        rand_s=rand_s,
        rand_p=rand_p,
        mac_p_ok=mac_p_ok,
        mac_s_ok=mac_s_ok,
        pchannel3=pchannel3,
        pchannel4=pchannel4,
        result3=result3,
        result4=result4,
        keys=keys,
    )


def observe_all(packets: Iterable[bytes], psk: Secret) -> list[PskObservation]:
    """Group the EAP-PSK packets of a capture into conversations (by RAND_S) and observe each.

    ``packets`` are complete EAP packets in capture order; anything that is not an EAP-PSK
    Request/Response is skipped, retransmissions collapse, and a conversation without both
    message 1 and message 2 is left out. Packets that claim to be EAP-PSK but are malformed
    raise PskError, naming the message.
    """
    conversations: dict[bytes, dict[int, bytes]] = {}
    for packet in packets:
        if len(packet) < 6 or packet[0] not in (_CODE_REQUEST, _CODE_RESPONSE):
            continue
        if packet[4] != EAP_TYPE_PSK:
            continue
        if len(packet) < 5 + 1 + _RAND_LEN:
            raise PskError(f"EAP-PSK packet of {len(packet)} octets has no RAND_S")
        rand_s = packet[6 : 6 + _RAND_LEN]
        conversations.setdefault(rand_s, {})[_t_of(packet[5]) + 1] = packet
    observations = []
    for messages in conversations.values():
        if 1 in messages and 2 in messages:
            observations.append(
                observe(messages[1], messages[2], messages.get(3), messages.get(4), psk=psk)
            )
    return observations

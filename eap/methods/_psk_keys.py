"""EAP-PSK (RFC 4764) building blocks: message layout, key hierarchy, MACs, protected channel.

The key setup (AK, KDK; s3.1) depends only on the PSK, so it runs once per ``Secret`` object and
is kept in a small weak cache (see ``_keys_for``); each conversation then costs one multi-block
AES call for TEK/MSK/EMSK (s3.2), CMAC copies for MAC_P/MAC_S, and one EAX object for its TEK.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from enum import IntEnum

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pana_codecs._fast import frozen_maker

from ..crypto import AesCmac, Eax, EaxTagError, aes_cmac, aes_encrypt_block, aes_encrypt_blocks
from ..keys import DerivedCache, Secret
from ..rng import Rng

__all__ = [
    "EAP_TYPE_PSK",
    "MAX_ID_LEN",
    "PSK_LEN",
    "PskError",
    "PskResult",
    "PskSessionKeys",
    "derive_session_keys",
    "key_setup",
    "mac_p",
    "mac_s",
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


def _counter_blocks(count: int) -> int:
    """The blocks "1" .. "count" of RFC 4764 s3.1 (16-octet big-endian), as one integer."""
    return int.from_bytes(b"".join(i.to_bytes(_RAND_LEN, "big") for i in range(1, count + 1)))


_AK_KDK_COUNTERS = _counter_blocks(2)
_SESSION_COUNTERS = _counter_blocks(9)


def _blocks_xor(x: bytes, counters: int, count: int) -> bytes:
    """x ^ "1" || x ^ "2" || ... || x ^ "count", as one big-integer XOR."""
    return (int.from_bytes(x * count) ^ counters).to_bytes(_RAND_LEN * count)


@dataclass(frozen=True, slots=True)
class PskSessionKeys:
    """TEK, MSK and EMSK of one EAP-PSK run (RFC 4764 s3.2); reprs show lengths only."""

    tek: Secret
    msk: Secret
    emsk: Secret


_session_keys = frozen_maker(PskSessionKeys)
"""PskSessionKeys(tek, msk, emsk) without the frozen dataclass's setattr calls."""


class _PskKeys:
    """AK and KDK of one PSK (RFC 4764 s3.1) with their AES contexts; prints nothing."""

    __slots__ = ("_ak_mac", "_kdk", "ak", "kdk")

    def __init__(self, psk: bytes) -> None:
        # AES(PSK, "0"), then AES(PSK, t ^ "1") and AES(PSK, t ^ "2") in one call.
        t = aes_encrypt_block(psk, bytes(_RAND_LEN))
        ak_kdk = aes_encrypt_blocks(psk, _blocks_xor(t, _AK_KDK_COUNTERS, 2))
        self.ak = Secret(ak_kdk[:16])
        self.kdk = Secret(ak_kdk[16:])
        self._ak_mac = AesCmac(ak_kdk[:16])
        # One ECB context for every conversation of this PSK: ECB on whole blocks keeps no state
        # between update() calls, and making a context costs ~20 Python calls (issue 10). The
        # sans-IO core is single-threaded; cryptography holds the GIL inside update().
        self._kdk = Cipher(algorithms.AES(ak_kdk[16:]), modes.ECB()).encryptor()  # noqa: S305

    def __repr__(self) -> str:
        return "_PskKeys(<AK, KDK>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("EAP-PSK keys cannot be pickled")

    def mac(self, data: bytes) -> bytes:
        """CMAC-AES-128(AK, data): MAC_P and MAC_S (RFC 4764 s3.2)."""
        return self._ak_mac.mac(data)

    def session_keys(self, rand_p: bytes) -> PskSessionKeys:
        """TEK, MSK, EMSK: O_i = AES(KDK, AES(KDK, RAND_P) ^ "i"), i = 1..9 (RFC 4764 s3.2)."""
        if len(rand_p) != _RAND_LEN:  # a partial block would stay buffered in the shared context
            raise ValueError(f"RAND_P must be {_RAND_LEN} octets, got {len(rand_p)}")
        aes = self._kdk  # ECB = the raw cipher
        blocks = aes.update(_blocks_xor(aes.update(rand_p), _SESSION_COUNTERS, 9))
        return _session_keys(Secret(blocks[:16]), Secret(blocks[16:80]), Secret(blocks[80:144]))


_cache: DerivedCache[_PskKeys] = DerivedCache(1024)
"""AK/KDK of the PSKs in use: set up once per Secret object, gone with it (RFC 4764 s3.1)."""


def _keys_for(psk: Secret) -> _PskKeys:
    """AK/KDK of ``psk``, set up once per Secret object (RFC 4764 s3.1)."""
    return _cache.get(psk, lambda psk: _PskKeys(_psk_bytes(psk)))


def key_setup(psk: Secret) -> tuple[Secret, Secret]:
    """AK and KDK from the PSK (RFC 4764 s3.1); computed once per Secret object."""
    keys = _keys_for(psk)
    return keys.ak, keys.kdk


def derive_session_keys(kdk: Secret, rand_p: bytes) -> PskSessionKeys:
    """The "modified counter mode" of RFC 4764 s3.2: O_i = AES(KDK, AES(KDK, RAND_P) ^ "i")."""
    if len(rand_p) != _RAND_LEN:
        raise ValueError(f"RAND_P must be {_RAND_LEN} octets, got {len(rand_p)}")
    key = kdk.reveal()
    blocks = aes_encrypt_blocks(
        key, _blocks_xor(aes_encrypt_block(key, rand_p), _SESSION_COUNTERS, 9)
    )
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

"""PANA key derivation and message integrity (RFC 5191 s5.3-5.4, RFC 6786, RFC 5807).

The only module of pana_mpa that calls ``Secret.reveal()``. Pure functions over bytes, so the
capture verifier (``pana-mpa decode --verify``) and the sessions share one implementation.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from eap.keys import Secret

from ._avps import AvpCode, IntegrityAlgorithm, PrfAlgorithm

__all__ = [
    "AUTH_LABEL",
    "PAA_ENCR_LABEL",
    "PAC_ENCR_LABEL",
    "SUPPORTED_INTEGRITY",
    "SUPPORTED_PRF",
    "aes128_ctr",
    "auth_key_length",
    "auth_length",
    "auth_slot",
    "compute_auth",
    "default_nonce_length",
    "encryption_keys",
    "kdf_seed",
    "pana_auth_key",
    "pemk",
    "pemk_name",
    "prf_plus",
    "sign_message",
    "verify_auth",
]

logger = logging.getLogger(__name__)

AUTH_LABEL = b"IETF PANA"
"""Key label of PANA_AUTH_KEY (RFC 5191 s5.3); CPANA's quirk uses b"IETF"."""
PAC_ENCR_LABEL = b"IETF PANA PaC Encr"
"""Label of PANA_PAC_ENCR_KEY (RFC 6786 s3)."""
PAA_ENCR_LABEL = b"IETF PANA PAA Encr"
"""Label of PANA_PAA_ENCR_KEY (RFC 6786 s3)."""

_PRF_HASH: dict[int, Callable[[], hashlib._Hash]] = {
    PrfAlgorithm.PRF_HMAC_SHA1: hashlib.sha1,
    PrfAlgorithm.PRF_HMAC_SHA2_256: hashlib.sha256,
}
# Integrity algorithm -> (hash, key length, MAC length). RFC 4595: HMAC-SHA1-160, 160-bit key;
# RFC 4868 s2.1.2: HMAC-SHA-256-128, 256-bit key, output truncated to 128 bits.
_INTEGRITY: dict[int, tuple[Callable[[], hashlib._Hash], int, int]] = {
    IntegrityAlgorithm.AUTH_HMAC_SHA1_160: (hashlib.sha1, 20, 20),
    IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128: (hashlib.sha256, 32, 16),
}

_DIGEST_SIZE: dict[Callable[[], hashlib._Hash], int] = {hashlib.sha1: 20, hashlib.sha256: 32}
SUPPORTED_PRF: frozenset[int] = frozenset(_PRF_HASH)
"""PRF-Algorithm values this module implements."""
SUPPORTED_INTEGRITY: frozenset[int] = frozenset(_INTEGRITY)
"""Integrity-Algorithm values this module implements."""

_U32 = struct.Struct("!I")
_AUTH_CODE = int(AvpCode.AUTH)
_AVP_HEADER = struct.Struct("!HHHH")


def _key_bytes(key: Secret | bytes) -> bytes:
    return key.reveal() if isinstance(key, Secret) else bytes(key)


def _prf_hash(prf_alg: int) -> Callable[[], hashlib._Hash]:
    try:
        return _PRF_HASH[prf_alg]
    except KeyError:
        raise ValueError(f"unsupported PRF-Algorithm {prf_alg}") from None


def _integrity(integrity_alg: int) -> tuple[Callable[[], hashlib._Hash], int, int]:
    try:
        return _INTEGRITY[integrity_alg]
    except KeyError:
        raise ValueError(f"unsupported Integrity-Algorithm {integrity_alg}") from None


def prf_plus(prf_alg: int, key: Secret | bytes, seed: bytes, length: int) -> bytes:
    """prf+(K, S) truncated to ``length`` octets (RFC 4306 s2.13), PRF named by ``prf_alg``."""
    digest = _prf_hash(prf_alg)
    k = _key_bytes(key)
    size = _DIGEST_SIZE[digest]
    if not 0 <= length <= 255 * size:
        raise ValueError(f"prf+ output of {length} octets exceeds 255 blocks")
    out = bytearray()
    block = b""
    counter = 1
    while len(out) < length:
        # T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n)
        block = hmac.digest(k, block + seed + bytes((counter,)), digest)
        out += block
        counter += 1
    return bytes(out[:length])


def auth_key_length(integrity_alg: int) -> int:
    """Octets of PANA_AUTH_KEY for the integrity algorithm (20 for 7, 32 for 12)."""
    return _integrity(integrity_alg)[1]


def auth_length(integrity_alg: int) -> int:
    """Octets of the AUTH AVP value (20 for 7, 16 for 12)."""
    return _integrity(integrity_alg)[2]


def default_nonce_length(prf_alg: int) -> int:
    """Nonce length = PRF output: 20 for HMAC-SHA1, 32 for HMAC-SHA2-256 (RFC 5191 s8.5)."""
    return _DIGEST_SIZE[_prf_hash(prf_alg)]  # no hash object per call (issue 10)


def kdf_seed(
    label: bytes, i_par: bytes, i_pan: bytes, pac_nonce: bytes, paa_nonce: bytes, key_id: int
) -> bytes:
    """label | I_PAR | I_PAN | PaC_nonce | PAA_nonce | Key_ID (RFC 5191 s5.3, RFC 6786 s3)."""
    return label + i_par + i_pan + pac_nonce + paa_nonce + _U32.pack(key_id)


def pana_auth_key(
    prf_alg: int,
    integrity_alg: int,
    msk: Secret,
    *,
    i_par: bytes,
    i_pan: bytes,
    pac_nonce: bytes,
    paa_nonce: bytes,
    key_id: int,
    label: bytes = AUTH_LABEL,
) -> Secret:
    """PANA_AUTH_KEY = prf+(MSK, "IETF PANA"|I_PAR|I_PAN|PaC_nonce|PAA_nonce|Key_ID) (s5.3)."""
    seed = kdf_seed(label, i_par, i_pan, pac_nonce, paa_nonce, key_id)
    return Secret(prf_plus(prf_alg, msk, seed, auth_key_length(integrity_alg)))


def encryption_keys(
    prf_alg: int,
    msk: Secret,
    *,
    i_par: bytes,
    i_pan: bytes,
    pac_nonce: bytes,
    paa_nonce: bytes,
    key_id: int,
) -> tuple[Secret, Secret]:
    """(PANA_PAC_ENCR_KEY, PANA_PAA_ENCR_KEY), 16 octets each for AES128_CTR (RFC 6786 s3)."""
    keys = []
    for label in (PAC_ENCR_LABEL, PAA_ENCR_LABEL):
        seed = kdf_seed(label, i_par, i_pan, pac_nonce, paa_nonce, key_id)
        keys.append(Secret(prf_plus(prf_alg, msk, seed, 16)))
    return keys[0], keys[1]


def aes128_ctr(key: Secret, *, key_id: int, session_id: int, seq: int, data: bytes) -> bytes:
    """AES128_CTR (RFC 6786 s4.1): counter 0x02 | Key-Id | Session-Id | Seq | i (3 octets)."""
    # SP 800-38C Appendix A formatting with n = 12, q = 3: flags octet q-1 = 0x02.
    initial = b"\x02" + struct.pack("!III", key_id, session_id, seq) + b"\x00\x00\x01"
    k = key.reveal()
    if len(k) != 16:
        raise ValueError("AES128_CTR needs a 16-octet key")
    if len(data) > 16 * 0xFFFFFF:
        raise ValueError("AES128_CTR input exceeds the 24-bit block counter")
    enc = Cipher(algorithms.AES(k), modes.CTR(initial)).encryptor()
    return enc.update(data) + enc.finalize()


def compute_auth(integrity_alg: int, key: Secret, message: bytes) -> bytes:
    """AUTH value over a whole PANA message whose AUTH value is zeroed (RFC 5191 s5.4)."""
    digest, key_len, mac_len = _integrity(integrity_alg)
    k = key.reveal()
    if len(k) != key_len:
        raise ValueError(f"Integrity-Algorithm {integrity_alg} needs a {key_len}-octet key")
    return hmac.digest(k, message, digest)[:mac_len]


def auth_slot(integrity_alg: int, message: bytes) -> int | None:
    """Offset of the last AVP's value when that AVP is an AUTH of the right length, else None."""
    mac_len = _integrity(integrity_alg)[2]
    start = len(message) - mac_len
    if start < 16 + _AVP_HEADER.size:
        return None
    code, flags, length, _reserved = _AVP_HEADER.unpack_from(message, start - _AVP_HEADER.size)
    # AUTH is the last AVP (s6.3), V clear, value length = MAC length (multiple of 4: no padding).
    if code != _AUTH_CODE or flags & 0x8000 or length != mac_len:
        return None
    return start


def sign_message(integrity_alg: int, key: Secret, message: bytes) -> bytes:
    """Fill in the AUTH value of an encoded message that ends with a zeroed AUTH AVP."""
    start = auth_slot(integrity_alg, message)
    if start is None or any(message[start:]):
        raise ValueError("message does not end with a zeroed AUTH AVP of the algorithm's length")
    return message[:start] + compute_auth(integrity_alg, key, message)


def verify_auth(integrity_alg: int, key: Secret, message: bytes) -> bool:
    """True when the message's last AVP is an AUTH that matches (constant-time compare, s5.4)."""
    start = auth_slot(integrity_alg, message)
    if start is None:
        return False
    received = message[start:]
    zeroed = message[:start] + bytes(len(received))
    return hmac.compare_digest(received, compute_auth(integrity_alg, key, zeroed))


def pemk(prf_alg: int, msk: Secret, *, session_id: int, key_id: int, epid: bytes) -> Secret:
    """PaC-EP master key, 64 octets: prf+(MSK, "IETF PEMK" | SID | KID | EPID) (RFC 5807 s3)."""
    seed = b"IETF PEMK" + _U32.pack(session_id) + _U32.pack(key_id) + epid
    return Secret(prf_plus(prf_alg, msk, seed, 64))


def pemk_name(*, session_id: int, key_id: int, epid: bytes) -> bytes:
    """PEMKname = SHA1(EPID | SID | KID) (RFC 5807 s3); not secret."""
    return hashlib.sha1(epid + _U32.pack(session_id) + _U32.pack(key_id)).digest()  # noqa: S324

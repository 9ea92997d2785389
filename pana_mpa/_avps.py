"""PANA AVP codes and value registries (RFC 5191 s8, s10; RFC 6345; RFC 6786) and u32 helpers."""

from __future__ import annotations

import struct
from enum import IntEnum

from pana_codecs import Avp

__all__ = [
    "AvpCode",
    "EncryptionAlgorithm",
    "IntegrityAlgorithm",
    "PrfAlgorithm",
    "ResultCode",
    "TerminationCause",
    "avp_u32",
    "u32_avp",
]

# Provisional: pana_codecs.avps (codec layer) will carry these; this module then re-exports them.


class AvpCode(IntEnum):
    """IETF AVP codes (RFC 5191 s8, RFC 6345 s5, RFC 6786 s4-5)."""

    AUTH = 1
    EAP_PAYLOAD = 2
    INTEGRITY_ALGORITHM = 3
    KEY_ID = 4
    NONCE = 5
    PRF_ALGORITHM = 6
    RESULT_CODE = 7
    SESSION_LIFETIME = 8
    TERMINATION_CAUSE = 9
    PAC_INFORMATION = 10
    RELAYED_MESSAGE = 11
    ENCRYPTION_ENCAP = 12
    ENCRYPTION_ALGORITHM = 13


class ResultCode(IntEnum):
    """Result-Code values (RFC 5191 s8.7)."""

    PANA_SUCCESS = 0
    PANA_AUTHENTICATION_REJECTED = 1
    PANA_AUTHORIZATION_REJECTED = 2


class TerminationCause(IntEnum):
    """Termination-Cause values (RFC 5191 s8.9)."""

    LOGOUT = 1
    ADMINISTRATIVE = 4
    SESSION_TIMEOUT = 8


class PrfAlgorithm(IntEnum):
    """PRF-Algorithm values implemented here (IKEv2 Transform Type 2, RFC 7296 / RFC 4868)."""

    PRF_HMAC_SHA1 = 2
    PRF_HMAC_SHA2_256 = 5


class IntegrityAlgorithm(IntEnum):
    """Integrity-Algorithm values implemented here (IKEv2 Transform Type 3, RFC 4595 / RFC 4868)."""

    AUTH_HMAC_SHA1_160 = 7
    AUTH_HMAC_SHA2_256_128 = 12


class EncryptionAlgorithm(IntEnum):
    """Encryption-Algorithm values (RFC 6786 s4)."""

    AES128_CTR = 1


_U32 = struct.Struct("!I")


def u32_avp(code: int, value: int) -> Avp:
    """An AVP holding one Unsigned32 (RFC 3588 s4.2)."""
    return Avp(code, _U32.pack(value))


def avp_u32(avp: Avp) -> int:
    """The Unsigned32 value of an AVP; ValueError when it is not 4 octets."""
    if len(avp.value) != 4:
        raise ValueError(f"AVP {avp.code} has {len(avp.value)} octets, Unsigned32 needs 4")
    (value,) = _U32.unpack(avp.value)
    return int(value)

"""Numbers of the PANA (RFC 5191) and EAP (RFC 3748) wire formats as enums; nothing else.

Every enum built from a number a peer sent is a :class:`WireEnum`: an unknown value gives a
pseudo-member with a readable name (``ResultCode(99)`` is ``ResultCode.RESULT_CODE_99``) instead of
raising ``ValueError``, as dnspython's enums do. Pseudo-members are made on each call and never
cached, so a peer choosing numbers cannot grow a table. Names for display (``PAR``, ``Result-Code``,
``PSK``) live in :mod:`pana_codecs.registry`.
"""

from __future__ import annotations

import logging
import re
from enum import Enum, IntEnum, IntFlag
from typing import Any

__all__ = [
    "AddressType",
    "AvpCode",
    "AvpType",
    "EapCode",
    "EapType",
    "EncryptionAlgorithm",
    "EncryptionPolicy",
    "IntegrityAlgorithm",
    "MessageFlags",
    "MessageType",
    "PrfAlgorithm",
    "ResultCode",
    "TerminationCause",
    "WireEnum",
]

logger = logging.getLogger(__name__)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class WireEnum(IntEnum):
    """An IntEnum for a field read from the wire: any value the field can hold is accepted.

    A value without a member gives a pseudo-member named ``<CLASS_NAME>_<value>`` (the class name
    in upper snake case), equal to the number. Only values that do not fit the field
    (``_wire_bits``) or are not integers raise ``ValueError``: that is caller misuse.
    """

    @classmethod
    def _wire_bits(cls) -> int:
        """Width of the wire field; subclasses for narrower fields override it."""
        return 32

    @classmethod
    def _missing_(cls, value: object) -> Any:
        """A pseudo-member for an unknown value that fits the field (never cached)."""
        if not isinstance(value, int) or not 0 <= value < 1 << cls._wire_bits():
            return None
        value = int(value)  # e.g. a member of another IntEnum
        member = int.__new__(cls, value)
        member._name_ = f"{_CAMEL.sub('_', cls.__name__).upper()}_{value}"
        member._value_ = value
        return member

    @property
    def known(self) -> bool:
        """True for a value the RFCs (as implemented here) define, False for a pseudo-member."""
        return self._name_ in type(self)._member_map_


class _Wire16(WireEnum):
    """A WireEnum of a 16-bit field."""

    @classmethod
    def _wire_bits(cls) -> int:
        return 16


class _Wire8(WireEnum):
    """A WireEnum of an 8-bit field."""

    @classmethod
    def _wire_bits(cls) -> int:
        return 8


class MessageType(_Wire16):
    """PANA message types (RFC 5191 s7, RFC 6345 s7)."""

    PANA_CLIENT_INITIATION = 1
    PANA_AUTH = 2
    PANA_TERMINATION = 3
    PANA_NOTIFICATION = 4
    PANA_RELAY = 5


class MessageFlags(IntFlag):
    """PANA header flags (RFC 5191 s6.2, RFC 5873 s3 for E); unknown bits are kept (IntFlag)."""

    R = 0x8000
    S = 0x4000
    C = 0x2000
    A = 0x1000
    P = 0x0800
    I = 0x0400  # noqa: E741 - RFC name
    E = 0x0200


class AvpCode(_Wire16):
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


class AvpType(IntEnum):
    """Data type of an AVP value (RFC 3588 s4.2-4.3 as used by RFC 5191 s8)."""

    OCTET_STRING = 1
    UNSIGNED32 = 2
    ENUMERATED = 3
    ADDRESS = 4
    """RFC 3588 s4.3: 2-octet AddressType, then the address (vendor AVPs, e.g. MPA's)."""


class EncryptionPolicy(Enum):
    """Whether an AVP goes inside Encryption-Encap (RFC 6786 s6.1: Y, N or X)."""

    MUST = "Y"
    MUST_NOT = "N"
    MAY = "X"


class ResultCode(WireEnum):
    """Result-Code AVP values (RFC 5191 s8.7)."""

    PANA_SUCCESS = 0
    PANA_AUTHENTICATION_REJECTED = 1
    PANA_AUTHORIZATION_REJECTED = 2


class TerminationCause(WireEnum):
    """Termination-Cause AVP values (RFC 5191 s8.9, from Diameter RFC 3588 s8.15)."""

    LOGOUT = 1
    ADMINISTRATIVE = 4
    SESSION_TIMEOUT = 8


class PrfAlgorithm(WireEnum):
    """PRF-Algorithm values: IKEv2 Transform Type 2 IDs (RFC 5191 s8.6, RFC 7296 s3.3.2)."""

    PRF_HMAC_MD5 = 1
    PRF_HMAC_SHA1 = 2
    PRF_HMAC_TIGER = 3
    PRF_AES128_XCBC = 4
    PRF_HMAC_SHA2_256 = 5
    PRF_HMAC_SHA2_384 = 6
    PRF_HMAC_SHA2_512 = 7
    PRF_AES128_CMAC = 8


class IntegrityAlgorithm(WireEnum):
    """Integrity-Algorithm values: IKEv2 Transform Type 3 IDs (RFC 5191 s8.3, RFC 7296)."""

    NONE = 0
    AUTH_HMAC_MD5_96 = 1
    AUTH_HMAC_SHA1_96 = 2
    AUTH_DES_MAC = 3
    AUTH_KPDK_MD5 = 4
    AUTH_AES_XCBC_96 = 5
    AUTH_HMAC_MD5_128 = 6
    AUTH_HMAC_SHA1_160 = 7
    AUTH_AES_CMAC_96 = 8
    AUTH_HMAC_SHA2_256_128 = 12
    AUTH_HMAC_SHA2_384_192 = 13
    AUTH_HMAC_SHA2_512_256 = 14


class EncryptionAlgorithm(WireEnum):
    """Encryption-Algorithm values (RFC 6786 s4)."""

    AES128_CTR = 1


class AddressType(_Wire16):
    """AddressType of the Address data format: IANA address family numbers (RFC 3588 s4.3)."""

    IPV4 = 1
    IPV6 = 2
    IEEE_802 = 6


class EapCode(_Wire8):
    """EAP Code field (RFC 3748 s4)."""

    REQUEST = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4


class EapType(WireEnum):
    """EAP method types used here (RFC 3748 s5, IANA).

    32 bits wide: a Vendor-Type under Vendor-Id 0 names the same method (RFC 3748 s5.7).
    """

    IDENTITY = 1
    NOTIFICATION = 2
    NAK = 3
    MD5_CHALLENGE = 4
    OTP = 5
    GTC = 6
    TLS = 13
    TTLS = 21
    PEAP = 25
    PSK = 47
    GPSK = 51
    PWD = 52
    EXPANDED = 254
    EXPERIMENTAL = 255

"""AVP codes, value registries and typed builders/getters (RFC 5191 s8, RFC 6345, RFC 6786).

Getters take an ``Avp`` and return a typed value or raise CodecError; builders take typed values
and return an ``Avp``. ``avp_value`` maps any AVP to its typed value; AVPs we do not know (vendor
AVPs, IETF codes above 13) come back as an ``OpaqueValue`` that keeps the bytes as they were.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from enum import IntEnum

from ._checks import AVP_NAMES, FIXED_U32_CODES
from .eap import EapPacket, decode_eap, encode_eap
from .errors import CodecError
from .pana import Avp, MessageFlags, MessageType

__all__ = [
    "AVP_NAMES",
    "AddressType",
    "AvpCode",
    "AvpType",
    "EncryptionAlgorithm",
    "IntegrityAlgorithm",
    "MessageFlags",
    "MessageType",
    "OpaqueValue",
    "PacInformation",
    "PrfAlgorithm",
    "RawAddress",
    "ResultCode",
    "TerminationCause",
    "address_value",
    "avp_address",
    "avp_octets",
    "avp_pac_information",
    "avp_type",
    "avp_u32",
    "avp_value",
    "decode_address",
    "eap_payload",
    "eap_payload_avp",
    "octets_avp",
    "pac_information",
    "u32_avp",
]

logger = logging.getLogger(__name__)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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


class AvpType(IntEnum):
    """Data type of an AVP value (RFC 3588 s4.2-4.3 as used by RFC 5191 s8)."""

    OCTET_STRING = 1
    UNSIGNED32 = 2
    ENUMERATED = 3


class ResultCode(IntEnum):
    """Result-Code AVP values (RFC 5191 s8.7)."""

    PANA_SUCCESS = 0
    PANA_AUTHENTICATION_REJECTED = 1
    PANA_AUTHORIZATION_REJECTED = 2


class TerminationCause(IntEnum):
    """Termination-Cause AVP values (RFC 5191 s8.9, from Diameter RFC 3588 s8.15)."""

    LOGOUT = 1
    ADMINISTRATIVE = 4
    SESSION_TIMEOUT = 8


class PrfAlgorithm(IntEnum):
    """PRF-Algorithm values: IKEv2 Transform Type 2 IDs (RFC 5191 s8.6, RFC 7296 s3.3.2)."""

    PRF_HMAC_MD5 = 1
    PRF_HMAC_SHA1 = 2
    PRF_HMAC_TIGER = 3
    PRF_AES128_XCBC = 4
    PRF_HMAC_SHA2_256 = 5
    PRF_HMAC_SHA2_384 = 6
    PRF_HMAC_SHA2_512 = 7
    PRF_AES128_CMAC = 8


class IntegrityAlgorithm(IntEnum):
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


class EncryptionAlgorithm(IntEnum):
    """Encryption-Algorithm values (RFC 6786 s4)."""

    AES128_CTR = 1


class AddressType(IntEnum):
    """AddressType of the Address data format: IANA address family numbers (RFC 3588 s4.3)."""

    IPV4 = 1
    IPV6 = 2
    IEEE_802 = 6


_TYPES: dict[int, AvpType] = {
    code: (AvpType.ENUMERATED if code == AvpCode.TERMINATION_CAUSE else AvpType.UNSIGNED32)
    for code in FIXED_U32_CODES
} | {
    code: AvpType.OCTET_STRING
    for code in (
        AvpCode.AUTH,
        AvpCode.EAP_PAYLOAD,
        AvpCode.NONCE,
        AvpCode.PAC_INFORMATION,
        AvpCode.RELAYED_MESSAGE,
        AvpCode.ENCRYPTION_ENCAP,
    )
}

_ENUMS: dict[int, type[IntEnum]] = {
    AvpCode.INTEGRITY_ALGORITHM: IntegrityAlgorithm,
    AvpCode.PRF_ALGORITHM: PrfAlgorithm,
    AvpCode.RESULT_CODE: ResultCode,
    AvpCode.TERMINATION_CAUSE: TerminationCause,
    AvpCode.ENCRYPTION_ALGORITHM: EncryptionAlgorithm,
}


@dataclass(frozen=True, slots=True)
class OpaqueValue:
    """The value of an AVP we have no type for (vendor-specific, or an unassigned IETF code)."""

    code: int
    vendor_id: int | None
    data: bytes


@dataclass(frozen=True, slots=True)
class PacInformation:
    """PaC-Information value: the PaC's IP address and UDP port (RFC 6345 s5.1)."""

    address: IpAddress
    port: int


@dataclass(frozen=True, slots=True)
class RawAddress:
    """An Address value of a family other than IPv4/IPv6 (e.g. 6, IEEE 802 MAC; RFC 3588 s4.3)."""

    family: int
    data: bytes


def avp_type(code: int, vendor_id: int | None = None) -> AvpType | None:
    """The data type of an IETF AVP, or None when unknown (vendor or unassigned code)."""
    return None if vendor_id is not None else _TYPES.get(code)


def _path(avp: Avp) -> str:
    """Error path naming an AVP."""
    return f"avp {avp.code}" if avp.vendor_id is None else f"vendor {avp.vendor_id} avp {avp.code}"


def u32_avp(code: int, value: int, *, vendor_id: int | None = None) -> Avp:
    """An Unsigned32 (or Enumerated) AVP, 4 octets big-endian (RFC 3588 s4.2)."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise CodecError(f"Unsigned32 value {value} out of range", 0, f"avp {code}")
    return Avp(code, value.to_bytes(4, "big"), vendor_id)


def avp_u32(avp: Avp) -> int:
    """The Unsigned32 value of an AVP; CodecError unless the value is exactly 4 octets."""
    if len(avp.value) != 4:
        raise CodecError(
            f"Unsigned32 AVP (code {avp.code}) with Length {len(avp.value)}, expected 4",
            0,
            _path(avp),
        )
    return int.from_bytes(avp.value, "big")


def octets_avp(code: int, value: bytes, *, vendor_id: int | None = None) -> Avp:
    """An OctetString AVP (AUTH, Nonce, Relayed-Message, ...); padding is added on encode."""
    return Avp(code, bytes(value), vendor_id)


def avp_octets(avp: Avp) -> bytes:
    """The OctetString value of an AVP."""
    return avp.value


def eap_payload_avp(packet: EapPacket | bytes) -> Avp:
    """An EAP-Payload AVP carrying one EAP packet (RFC 5191 s8.2)."""
    data = encode_eap(packet) if isinstance(packet, EapPacket) else bytes(packet)
    return Avp(AvpCode.EAP_PAYLOAD, data)


def eap_payload(avp: Avp) -> EapPacket:
    """The EAP packet of an EAP-Payload AVP: exactly one packet, as long as the AVP value.

    The AVP Length frames the packet, so unlike a bare lower layer (RFC 3748 s4) octets beyond
    the EAP Length are an error here. Offsets in the error are relative to the AVP value.
    """
    if avp.code != AvpCode.EAP_PAYLOAD or avp.vendor_id is not None:
        raise CodecError(f"AVP {avp.code} is not an EAP-Payload AVP", 0, _path(avp))
    try:
        return decode_eap(avp.value, strict=True)
    except CodecError as exc:
        raise CodecError(f"EAP-Payload: {exc.reason}", exc.offset, "EAP-Payload") from None


def address_value(address: str | IpAddress) -> bytes:
    """Encode an IP address in the Address data format (RFC 3588 s4.3)."""
    ip = ipaddress.ip_address(address)
    family = AddressType.IPV4 if ip.version == 4 else AddressType.IPV6
    return family.to_bytes(2, "big") + ip.packed


def decode_address(data: bytes) -> IpAddress | RawAddress:
    """Decode the Address data format (RFC 3588 s4.3); other families stay raw."""
    if len(data) < 2:
        raise CodecError(f"Address of {len(data)} octets has no AddressType", 0, "address")
    family = int.from_bytes(data[:2], "big")
    body = data[2:]
    if family == AddressType.IPV4:
        if len(body) != 4:
            raise CodecError(f"IPv4 Address with {len(body)} octets, expected 4", 2, "address")
        return ipaddress.IPv4Address(body)
    if family == AddressType.IPV6:
        if len(body) != 16:
            raise CodecError(f"IPv6 Address with {len(body)} octets, expected 16", 2, "address")
        return ipaddress.IPv6Address(body)
    return RawAddress(family, bytes(body))


def avp_address(avp: Avp) -> IpAddress | RawAddress:
    """The Address-typed value of an AVP (RFC 3588 s4.3)."""
    try:
        return decode_address(avp.value)
    except CodecError as exc:
        raise CodecError(exc.reason, exc.offset, _path(avp)) from None


def pac_information(address: str | IpAddress, port: int) -> Avp:
    """PaC-Information AVP: the PaC's address (4 or 16 octets) then its UDP port (RFC 6345 s5.1)."""
    if not 0 <= port <= 0xFFFF:
        raise CodecError(f"UDP port {port} out of range", 0, "avp 10")
    return Avp(
        AvpCode.PAC_INFORMATION, ipaddress.ip_address(address).packed + port.to_bytes(2, "big")
    )


def avp_pac_information(avp: Avp) -> PacInformation:
    """Decode a PaC-Information value: 6 octets (IPv4) or 18 (IPv6) (RFC 6345 s5.1)."""
    data = avp.value
    if len(data) == 6:
        return PacInformation(ipaddress.IPv4Address(data[:4]), int.from_bytes(data[4:], "big"))
    if len(data) == 18:
        return PacInformation(ipaddress.IPv6Address(data[:16]), int.from_bytes(data[16:], "big"))
    raise CodecError(
        f"PaC-Information of {len(data)} octets, expected 6 (IPv4) or 18 (IPv6)", 0, _path(avp)
    )


def avp_value(avp: Avp) -> int | bytes | PacInformation | OpaqueValue:
    """The typed value of any AVP: an IntEnum member or int, bytes, PacInformation or opaque.

    EAP-Payload and Relayed-Message stay bytes: decode them with ``eap_payload`` and
    ``decode_pana``.
    """
    kind = avp_type(avp.code, avp.vendor_id)
    if kind is None:
        return OpaqueValue(avp.code, avp.vendor_id, avp.value)
    if kind is AvpType.OCTET_STRING:
        if avp.code == AvpCode.PAC_INFORMATION:
            return avp_pac_information(avp)
        return avp.value
    value = avp_u32(avp)
    enum = _ENUMS.get(avp.code)
    if enum is not None and value in enum._value2member_map_:
        return enum(value)
    return value

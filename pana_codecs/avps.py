"""AVP codes, value registries and typed builders/getters (RFC 5191 s8, RFC 6345, RFC 6786).

Getters take an ``Avp`` and return a typed value or raise CodecError; builders take typed values
and return an ``Avp``. ``avp_value`` maps any AVP to its typed value; AVPs we do not know (vendor
AVPs, IETF codes above 13) come back as an ``OpaqueValue`` that keeps the bytes as they were.
Types and value enums come from the one AVP table, :data:`pana_codecs.registry.AVP_SPECS`.

The Unsigned32 and Address helpers take any code and a ``vendor_id``, so vendor AVPs (e.g. MPA's)
use them too: ``u32_avp``/``avp_u32``, ``address_avp``/``avp_address``/``avp_ip_address``.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from ._checks import AVP_NAMES
from .eap import EapPacket, decode_eap, encode_eap
from .enums import (
    AddressType,
    AvpCode,
    AvpType,
    EncryptionAlgorithm,
    IntegrityAlgorithm,
    MessageFlags,
    MessageType,
    PrfAlgorithm,
    ResultCode,
    TerminationCause,
    WireEnum,
)
from .errors import CodecError
from .pana import Avp, _make_avp
from .registry import AVP_SPECS, AvpTable

__all__ = [
    "AVP_NAMES",
    "AddressType",
    "AvpCode",
    "AvpType",
    "EncryptionAlgorithm",
    "IntegrityAlgorithm",
    "IpAddress",
    "MessageFlags",
    "MessageType",
    "OpaqueValue",
    "PacInformation",
    "PrfAlgorithm",
    "RawAddress",
    "ResultCode",
    "TerminationCause",
    "address_avp",
    "address_value",
    "avp_address",
    "avp_ip_address",
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


def avp_type(
    code: int, vendor_id: int | None = None, *, table: AvpTable = AVP_SPECS
) -> AvpType | None:
    """The data type of an AVP in ``table`` (default: the IETF AVPs), or None when unknown."""
    spec = table.spec(code, vendor_id)
    return None if spec is None else spec.type


def _path(avp: Avp) -> str:
    """Error path naming an AVP."""
    return f"avp {avp.code}" if avp.vendor_id is None else f"vendor {avp.vendor_id} avp {avp.code}"


def u32_avp(code: int, value: int, *, vendor_id: int | None = None) -> Avp:
    """An Unsigned32 (or Enumerated) AVP, 4 octets big-endian (RFC 3588 s4.2)."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise CodecError(f"Unsigned32 value {value} out of range", 0, f"avp {code}")
    return _make_avp(code, value.to_bytes(4, "big"), vendor_id)


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


def address_value(address: str | IpAddress | RawAddress) -> bytes:
    """Encode an address in the Address data format (RFC 3588 s4.3).

    IP addresses (text or ``ipaddress`` objects) get AddressType 1 or 2; a ``RawAddress`` keeps
    its family, e.g. ``RawAddress(AddressType.IEEE_802, mac)`` for a MAC address.
    """
    if isinstance(address, RawAddress):
        if not 0 <= address.family <= 0xFFFF:
            raise CodecError(f"AddressType {address.family} does not fit in 16 bits", 0, "address")
        return address.family.to_bytes(2, "big") + bytes(address.data)
    ip = ipaddress.ip_address(address)
    family = AddressType.IPV4 if ip.version == 4 else AddressType.IPV6
    return family.to_bytes(2, "big") + ip.packed


def address_avp(
    code: int, address: str | IpAddress | RawAddress, *, vendor_id: int | None = None
) -> Avp:
    """An AVP of type Address (RFC 3588 s4.3): IPv4, IPv6, or a ``RawAddress`` (e.g. a MAC)."""
    return Avp(code, address_value(address), vendor_id)


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


def avp_ip_address(avp: Avp) -> IpAddress:
    """The IPv4/IPv6 address of an Address-typed AVP; CodecError for any other family."""
    address = avp_address(avp)
    if isinstance(address, RawAddress):
        raise CodecError(
            f"Address of family {address.family}, expected IPv4 (1) or IPv6 (2)", 0, _path(avp)
        )
    return address


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


def avp_value(
    avp: Avp, *, table: AvpTable = AVP_SPECS
) -> int | bytes | PacInformation | IpAddress | RawAddress | OpaqueValue:
    """The typed value of any AVP: an enum member or int, bytes, an address or opaque bytes.

    Types and enums come from ``table`` (default: the IETF AVPs; pass an extended table for
    vendor AVPs). An Unsigned32 with a value registry comes back as its ``WireEnum``, an unknown
    value as a pseudo-member (``ResultCode(99)``). EAP-Payload and Relayed-Message stay bytes:
    decode them with ``eap_payload`` and ``decode_pana``.
    """
    spec = table.spec(avp.code, avp.vendor_id)
    if spec is None:
        return OpaqueValue(avp.code, avp.vendor_id, avp.value)
    if spec.type is AvpType.OCTET_STRING:
        if avp.code == AvpCode.PAC_INFORMATION and avp.vendor_id is None:
            return avp_pac_information(avp)  # RFC 6345 s5.1: address and port
        return avp.value
    if spec.type is AvpType.ADDRESS:
        return avp_address(avp)
    value = avp_u32(avp)
    enum: type[WireEnum] | None = spec.enum
    return value if enum is None else enum(value)

"""MPA vendor-specific AVPs carried in RFC 5191 messages (docs/mpa-wire.md)."""

from __future__ import annotations

import functools
import ipaddress
import logging
import struct
from dataclasses import dataclass
from enum import IntFlag

from pana_codecs import (
    AVP_SPECS,
    AddressType,
    Avp,
    AvpSpec,
    AvpTable,
    AvpType,
    CodecError,
    PanaMessage,
    RawAddress,
    WireEnum,
    avp_address,
    avp_ip_address,
    avp_u32,
)
from pana_codecs import address_avp as _address_avp
from pana_codecs import u32_avp as _u32_avp

__all__ = [
    "DEFAULT_VENDOR_ID",
    "AddressFamily",
    "AssignedAddress",
    "MpaAvpCode",
    "MpaCapability",
    "MpaStatus",
    "TunnelAction",
    "address_avp",
    "assigned_address_avp",
    "decode_address",
    "decode_assigned_address",
    "decode_mac",
    "mac_avp",
    "mpa_avp_table",
    "mpa_avps",
    "u32",
    "u32_avp",
]

logger = logging.getLogger(__name__)

DEFAULT_VENDOR_ID = 32473
"""IANA PEN reserved for documentation (RFC 5612); deployments configure their own."""


class MpaAvpCode(WireEnum):
    """Vendor AVP codes in the MPA Vendor-Id's code space (docs/mpa-wire.md)."""

    MPA_CAPABILITY = 1
    MPA_ADDRESS_REQUEST = 2
    MPA_ASSIGNED_ADDRESS = 3
    MPA_DEFAULT_ROUTER = 4
    MPA_ADDRESS_LIFETIME = 5
    MPA_ROUTER_ADVERTISEMENT = 6
    MPA_TUNNEL_ACTION = 7
    MPA_TUNNEL_OUTER_ADDRESS = 8
    MPA_TUNNEL_INNER_ADDRESS = 9
    MPA_AR_ADDRESS = 10
    MPA_CA_ADDRESS = 11
    DEVICE_ID = 12
    MPA_MN_LINK_ADDRESS = 13
    MPA_STATUS = 14
    MPA_DNS_SERVER = 15
    MPA_AR_LINK_ADDRESS = 16
    MPA_DHCP_CLIENT_ID = 17
    MPA_DHCP_SERVER = 18
    MPA_DHCPV6_SERVER_ID = 19
    MPA_DHCPV6_IAID = 20


class MpaCapability(IntFlag):
    """Bits of the MPA-Capability AVP."""

    ADDRESS_DELIVERY = 1 << 0
    IPV6_RA_DELIVERY = 1 << 1
    TUNNEL_MANAGEMENT = 1 << 2
    L2_KEY_BOOTSTRAP = 1 << 3
    DEFERRED_CONFIGURATION = 1 << 4


class TunnelAction(WireEnum):
    """Values of the MPA-Tunnel-Action AVP (the draft's PANA-Update tunnel operations)."""

    ESTABLISH = 1
    DELETE = 2
    DISABLE = 3


class MpaStatus(WireEnum):
    """Values of the MPA-Status AVP."""

    OK = 0
    PENDING = 1
    FAILED = 2
    UNSUPPORTED = 3


AddressFamily = AddressType
"""IANA address family numbers of the RFC 3588 Address type (the codec's ``AddressType``)."""

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_O, _U, _E, _A = AvpType.OCTET_STRING, AvpType.UNSIGNED32, AvpType.ENUMERATED, AvpType.ADDRESS
_MPA_TYPES: dict[MpaAvpCode, AvpType] = {
    MpaAvpCode.MPA_CAPABILITY: _U,
    MpaAvpCode.MPA_ADDRESS_REQUEST: _U,
    MpaAvpCode.MPA_ASSIGNED_ADDRESS: _O,
    MpaAvpCode.MPA_DEFAULT_ROUTER: _A,
    MpaAvpCode.MPA_ADDRESS_LIFETIME: _U,
    MpaAvpCode.MPA_ROUTER_ADVERTISEMENT: _O,
    MpaAvpCode.MPA_TUNNEL_ACTION: _E,
    MpaAvpCode.MPA_TUNNEL_OUTER_ADDRESS: _A,
    MpaAvpCode.MPA_TUNNEL_INNER_ADDRESS: _A,
    MpaAvpCode.MPA_AR_ADDRESS: _A,
    MpaAvpCode.MPA_CA_ADDRESS: _A,
    MpaAvpCode.DEVICE_ID: _A,
    MpaAvpCode.MPA_MN_LINK_ADDRESS: _A,
    MpaAvpCode.MPA_STATUS: _U,
    MpaAvpCode.MPA_DNS_SERVER: _A,
    MpaAvpCode.MPA_AR_LINK_ADDRESS: _A,
    MpaAvpCode.MPA_DHCP_CLIENT_ID: _O,
    MpaAvpCode.MPA_DHCP_SERVER: _A,
    MpaAvpCode.MPA_DHCPV6_SERVER_ID: _O,
    MpaAvpCode.MPA_DHCPV6_IAID: _U,
}
_MPA_ENUMS: dict[MpaAvpCode, type[WireEnum]] = {
    MpaAvpCode.MPA_TUNNEL_ACTION: TunnelAction,
    MpaAvpCode.MPA_STATUS: MpaStatus,
}


def _spec_name(code: MpaAvpCode) -> str:
    words = code.name.split("_")
    return "-".join(
        w
        if w in ("MPA", "MN", "AR", "CA", "DNS", "DHCP", "IAID")
        else "DHCPv6"
        if w == "DHCPV6"
        else w.title()
        for w in words
    )


@functools.lru_cache(maxsize=8)
def mpa_avp_table(vendor_id: int = DEFAULT_VENDOR_ID) -> AvpTable:
    """The IETF AVP table plus MPA's vendor AVPs under ``vendor_id`` (names, types, enums)."""
    return AVP_SPECS.extend(
        AvpSpec(
            int(code),
            _spec_name(code),
            avp_type,
            vendor_id=vendor_id,
            enum=_MPA_ENUMS.get(code),
            length=4 if avp_type in (_U, _E) else None,
            reference="docs/mpa-wire.md",
        )
        for code, avp_type in _MPA_TYPES.items()
    )


def u32_avp(code: MpaAvpCode, value: int, vendor_id: int = DEFAULT_VENDOR_ID) -> Avp:
    """A vendor Unsigned32 AVP."""
    return _u32_avp(int(code), value, vendor_id=vendor_id)


def u32(avp: Avp) -> int:
    """The value of an Unsigned32 AVP; CodecError when it is not 4 octets."""
    return avp_u32(avp)


def address_avp(
    code: MpaAvpCode, address: str | IpAddress, vendor_id: int = DEFAULT_VENDOR_ID
) -> Avp:
    """A vendor AVP of type Address (RFC 3588 s4.3) holding an IPv4 or IPv6 address."""
    return _address_avp(int(code), ipaddress.ip_address(address), vendor_id=vendor_id)


def decode_address(avp: Avp) -> IpAddress:
    """The IP address in an Address AVP; CodecError for other families or lengths."""
    return avp_ip_address(avp)


def mac_avp(code: MpaAvpCode, mac: str | bytes, vendor_id: int = DEFAULT_VENDOR_ID) -> Avp:
    """A vendor Address AVP of family IEEE 802 (6) holding a MAC or BSSID."""
    raw = mac if isinstance(mac, bytes) else bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError("a MAC address has 6 octets")
    return _address_avp(int(code), RawAddress(AddressType.IEEE_802, raw), vendor_id=vendor_id)


def decode_mac(avp: Avp) -> bytes:
    """The 6-octet MAC in an IEEE 802 Address AVP; CodecError otherwise."""
    address = avp_address(avp)
    if (
        not isinstance(address, RawAddress)
        or address.family != AddressType.IEEE_802
        or len(address.data) != 6
    ):
        raise CodecError("expected an IEEE 802 Address (family 6, 6 octets)", 0)
    return address.data


@dataclass(frozen=True, slots=True)
class AssignedAddress:
    """The MPA-Assigned-Address value: an address and its prefix length."""

    address: IpAddress
    prefix_length: int


def assigned_address_avp(assigned: AssignedAddress, vendor_id: int = DEFAULT_VENDOR_ID) -> Avp:
    """MPA-Assigned-Address: AddressType (2) | Prefix-Length (1) | Reserved (1) | address."""
    ip = assigned.address
    family = AddressFamily.IPV4 if ip.version == 4 else AddressFamily.IPV6
    if not 0 <= assigned.prefix_length <= ip.max_prefixlen:
        raise ValueError(f"prefix length {assigned.prefix_length} out of range")
    value = struct.pack("!HBB", family, assigned.prefix_length, 0) + ip.packed
    return Avp(int(MpaAvpCode.MPA_ASSIGNED_ADDRESS), value, vendor_id)


def decode_assigned_address(avp: Avp) -> AssignedAddress:
    """Decode MPA-Assigned-Address; CodecError when malformed."""
    v = avp.value
    if len(v) < 4:
        raise CodecError("MPA-Assigned-Address shorter than 4 octets", 0)
    family, plen, _reserved = struct.unpack_from("!HBB", v)
    ip: IpAddress
    if family == AddressFamily.IPV4 and len(v) == 8:
        ip = ipaddress.IPv4Address(v[4:])
    elif family == AddressFamily.IPV6 and len(v) == 20:
        ip = ipaddress.IPv6Address(v[4:])
    else:
        raise CodecError(f"MPA-Assigned-Address: family {family} with {len(v) - 4} octets", 0)
    if plen > ip.max_prefixlen:
        raise CodecError(f"MPA-Assigned-Address: prefix length {plen} too long", 2)
    return AssignedAddress(ip, plen)


def mpa_avps(msg: PanaMessage, vendor_id: int = DEFAULT_VENDOR_ID) -> list[Avp]:
    """Every AVP of the MPA vendor in ``msg``, in wire order."""
    return [a for a in msg.avps if a.vendor_id == vendor_id]

"""IPv6 address pre-configuration: the RA the PAA carries, and the MN's SLAAC address from it.

RFC 6252 s7.3.4: for IPv6 the PAA forwards the candidate link's Router Advertisement (RFC 4861
s4.2) in PANA; the MN forms its nCoA by stateless autoconfiguration (RFC 4862 s5.5.3) from an
autonomous prefix and its own interface identifier (modified EUI-64, RFC 4291 Appendix A).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

__all__ = [
    "Prefix",
    "RaError",
    "RouterAdvertisement",
    "build_router_advertisement",
    "eui64_interface_id",
    "parse_router_advertisement",
    "slaac_address",
]

ICMPV6_RA = 134
OPT_SOURCE_LLA = 1
OPT_PREFIX_INFO = 3
OPT_MTU = 5


class RaError(ValueError):
    """A malformed Router Advertisement, with the offset."""


@dataclass(frozen=True, slots=True)
class Prefix:
    """A Prefix Information option (RFC 4861 s4.6.2)."""

    network: ipaddress.IPv6Network
    on_link: bool
    autonomous: bool
    valid_lifetime: int
    preferred_lifetime: int


@dataclass(frozen=True, slots=True)
class RouterAdvertisement:
    """The parts of an RA the MN needs to configure itself before it moves."""

    hop_limit: int
    router_lifetime: int
    prefixes: tuple[Prefix, ...]
    source_link_address: bytes | None
    mtu: int | None


def parse_router_advertisement(data: bytes) -> RouterAdvertisement:
    """Parse an ICMPv6 RA (from the type octet on); RaError when malformed."""
    if len(data) < 16:
        raise RaError(f"RA of {len(data)} octets is shorter than 16 at offset 0")
    if data[0] != ICMPV6_RA or data[1] != 0:
        raise RaError(f"ICMPv6 type {data[0]} code {data[1]} is not a Router Advertisement")
    hop_limit, _flags, lifetime = struct.unpack_from("!BBH", data, 4)
    prefixes: list[Prefix] = []
    lla: bytes | None = None
    mtu: int | None = None
    off = 16
    while off < len(data):
        if off + 2 > len(data):
            raise RaError(f"truncated option at offset {off}")
        otype, olen = data[off], data[off + 1] * 8
        if olen == 0 or off + olen > len(data):
            raise RaError(f"option {otype} with bad length at offset {off}")  # RFC 4861 s4.6
        body = data[off : off + olen]
        if otype == OPT_PREFIX_INFO:
            if olen != 32:
                raise RaError(f"Prefix Information of {olen} octets at offset {off}")
            plen, flags, valid, preferred = struct.unpack_from("!BBII", body, 2)
            if plen > 128:
                raise RaError(f"prefix length {plen} at offset {off + 2}")
            addr = ipaddress.IPv6Address(body[16:32])
            net = ipaddress.IPv6Network((addr, plen), strict=False)
            prefixes.append(Prefix(net, bool(flags & 0x80), bool(flags & 0x40), valid, preferred))
        elif otype == OPT_SOURCE_LLA and olen >= 8:
            lla = body[2:8]
        elif otype == OPT_MTU and olen == 8:
            mtu = struct.unpack_from("!I", body, 4)[0]
        off += olen
    return RouterAdvertisement(hop_limit, lifetime, tuple(prefixes), lla, mtu)


def build_router_advertisement(
    prefixes: list[Prefix], *, router_lifetime: int = 1800, source_link_address: bytes | None = None
) -> bytes:
    """An RA message (checksum left zero: the kernel fills it when sent on a raw socket)."""
    out = struct.pack("!BBHBBHII", ICMPV6_RA, 0, 0, 64, 0, router_lifetime, 0, 0)
    if source_link_address is not None:
        out += bytes([OPT_SOURCE_LLA, 1]) + source_link_address
    for p in prefixes:
        flags = (0x80 if p.on_link else 0) | (0x40 if p.autonomous else 0)
        out += struct.pack("!BBBBII4x", OPT_PREFIX_INFO, 4, p.network.prefixlen, flags,
                           p.valid_lifetime, p.preferred_lifetime)  # fmt: skip
        out += p.network.network_address.packed
    return out


def eui64_interface_id(mac: bytes) -> bytes:
    """The modified EUI-64 interface identifier of a MAC (RFC 4291 Appendix A)."""
    if len(mac) != 6:
        raise ValueError("a MAC address has 6 octets")
    return bytes([mac[0] ^ 0x02]) + mac[1:3] + b"\xff\xfe" + mac[3:]


def slaac_address(ra: RouterAdvertisement, mac: bytes) -> ipaddress.IPv6Address | None:
    """The address the MN will have on the candidate link: first autonomous /64 + EUI-64."""
    for p in ra.prefixes:
        if p.autonomous and p.network.prefixlen == 64 and p.valid_lifetime > 0:
            return ipaddress.IPv6Address(p.network.network_address.packed[:8]
                                         + eui64_interface_id(mac))  # fmt: skip
    return None

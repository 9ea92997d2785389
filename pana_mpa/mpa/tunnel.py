"""Proactive handover tunnel (RFC 6252 s7.4): IP-in-IP framing, driver interface.

Four framings, chosen by the address families of the outer (``local``/``remote``) and the inner
(``inner``) addresses of a TunnelSpec:

| outer | inner | outer protocol / next header | spec |
|---|---|---|---|
| IPv4 | IPv4 | 4 (IPPROTO_IPIP) | RFC 2003 |
| IPv4 | IPv6 | 41 (IPPROTO_IPV6) | RFC 4213 s3.5 ("6in4") |
| IPv6 | IPv6 | 41 | RFC 2473 |
| IPv6 | IPv4 | 4 | RFC 2473 |

No Tunnel Encapsulation Limit option is sent (RFC 2473 s4.1.1 makes it optional); one in a
received packet is skipped.
"""

from __future__ import annotations

import ipaddress
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "IPPROTO_IPIP",
    "IPPROTO_IPV6",
    "InMemoryTunnelDriver",
    "IpAddress",
    "IpNetwork",
    "TunnelDriver",
    "TunnelError",
    "TunnelSpec",
    "decapsulate",
    "encapsulate",
    "ip_dst",
    "ip_src",
    "ipv4_checksum",
    "ipv4_dst",
    "ipv4_src",
    "refuse_inner",
    "tunnel_protocol",
]

logger = logging.getLogger(__name__)

IPPROTO_IPIP = 4
IPPROTO_IPV6 = 41
IPPROTO_DSTOPTS = 60
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TunnelError(RuntimeError):
    """A tunnel that cannot be set up, or a packet that is not IP-in-IP."""


def tunnel_protocol(inner_version: int) -> int:
    """The outer header's protocol / next header for an inner IP version (4 or 41)."""
    if inner_version == 4:
        return IPPROTO_IPIP
    if inner_version == 6:
        return IPPROTO_IPV6
    raise TunnelError(f"inner packet is not IP (version {inner_version})")


@dataclass(frozen=True, slots=True)
class TunnelSpec:
    """One end of a proactive handover tunnel: outer addresses and the inner address (nCoA).

    Outer and inner families are independent (IPv4 or IPv6 each); ``local`` and ``remote`` share
    one family, ``routes`` have the inner family.
    """

    name: str
    local: IpAddress
    """Our outer address (the MN's oCoA on the MN; the AR's address on the AR)."""
    remote: IpAddress
    """The other end's outer address."""
    inner: IpAddress
    """The MN's next address (nCoA), carried inside the tunnel."""
    routes: tuple[IpNetwork, ...] = field(default=())
    """Destinations routed into the tunnel (MN: its correspondents, which must include the CN
    the binding update goes to; AR: nCoA)."""
    inner_on_device: bool = False
    """Assign ``inner`` to the tunnel device (the MN's end); the AR only routes to it."""
    proxy_arp_on: str | None = None
    """The AR's CTN-link interface: answer ARP (IPv4) or NDP (IPv6, proxy NDP) there for
    ``inner`` while the tunnel is up."""

    def __post_init__(self) -> None:
        if self.local.version != self.remote.version:
            raise TunnelError(
                f"tunnel {self.name}: outer {self.local} and {self.remote} differ in family"
            )
        for net in self.routes:
            if net.version != self.inner.version:
                raise TunnelError(f"tunnel {self.name}: route {net} is not IPv{self.inner.version}")

    @property
    def outer_version(self) -> int:
        """4 or 6: the family of the outer header."""
        return self.local.version

    @property
    def protocol(self) -> int:
        """The outer header's protocol / next header (4 for IPv4 inside, 41 for IPv6 inside)."""
        return tunnel_protocol(self.inner.version)


class TunnelDriver(Protocol):
    """Creates and deletes proactive tunnels; an in-memory and a Linux implementation exist."""

    def establish(self, spec: TunnelSpec) -> None:
        """Create the tunnel (idempotent for an identical spec)."""
        ...

    async def establish_async(self, spec: TunnelSpec) -> None:
        """``establish`` with the slow part (device configuration) off the event loop."""
        ...

    def delete(self, name: str) -> None:
        """Delete the tunnel; deleting an unknown name does nothing.

        When it returns, the tunnel's routes are gone and no packet is forwarded into it any
        more; releasing the device may finish later (``wait_deleted``).
        """
        ...

    async def wait_deleted(self) -> None:
        """Wait until every deleted tunnel's device is gone."""
        ...

    def active(self) -> dict[str, TunnelSpec]:
        """Tunnels that currently exist, by name."""
        ...


def ipv4_checksum(header: bytes) -> int:
    """The Internet checksum (RFC 1071) of an IPv4 header."""
    if len(header) % 2:
        header += b"\0"
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _check_inner(inner: bytes) -> int:
    """The inner packet's IP version, after checking it has at least a full header."""
    version = inner[0] >> 4 if inner else 0
    if version == 4 and len(inner) >= 20:
        return 4
    if version == 6 and len(inner) >= 40:
        return 6
    raise TunnelError("inner packet is not IPv4 or IPv6")


def encapsulate(
    inner: bytes,
    src: IpAddress,
    dst: IpAddress,
    *,
    ident: int = 0,
    ttl: int = 64,
) -> bytes:
    """Prepend an outer header of ``src``'s family; protocol 4 or 41 by the inner version.

    IPv4 outer (RFC 2003 s3.1, RFC 4213 s3.5): TOS copied from the inner TOS / traffic class.
    IPv6 outer (RFC 2473 s3): traffic class copied, flow label 0, hop limit ``ttl``.
    """
    version = _check_inner(inner)
    proto = tunnel_protocol(version)
    tos = inner[1] if version == 4 else ((inner[0] & 0x0F) << 4) | (inner[1] >> 4)
    if src.version != dst.version:
        raise TunnelError(f"outer addresses {src} and {dst} differ in family")
    if src.version == 6:
        if len(inner) > 0xFFFF:
            raise TunnelError("encapsulated packet exceeds 65535 octets of payload")
        return (
            _IPV6.pack((6 << 28) | (tos << 20), len(inner), proto, ttl, src.packed, dst.packed)
            + inner
        )
    total = 20 + len(inner)
    if total > 0xFFFF:
        raise TunnelError("encapsulated packet exceeds 65535 octets")
    hdr = _IPV4.pack(0x45, tos, total, ident & 0xFFFF, 0, ttl, proto, 0, src.packed, dst.packed)
    csum = ipv4_checksum(hdr)
    return hdr[:10] + struct.pack("!H", csum) + hdr[12:] + inner


def _inner_of(proto: int, inner: bytes) -> bytes:
    if proto not in (IPPROTO_IPIP, IPPROTO_IPV6):
        raise TunnelError(f"outer protocol {proto} is not IP-in-IP (4) or IPv6-in-IP (41)")
    if not inner or inner[0] >> 4 != (4 if proto == IPPROTO_IPIP else 6):
        raise TunnelError(f"inner packet does not match outer protocol {proto}")
    return inner


def decapsulate(packet: bytes) -> tuple[IpAddress, IpAddress, bytes]:
    """(outer src, outer dst, inner packet) of an IPv4 or IPv6 tunnel packet, else TunnelError."""
    version = packet[0] >> 4 if packet else 0
    if version == 6:
        if len(packet) < 40:
            raise TunnelError("truncated IPv6 packet")
        plen, nh = struct.unpack_from("!HB", packet, 4)
        end = min(40 + plen, len(packet))
        off = 40
        if nh == IPPROTO_DSTOPTS:  # RFC 2473 s5.1: the Tunnel Encapsulation Limit option
            if end < off + 8:
                raise TunnelError("truncated destination options header")
            nh, hlen = packet[off], (packet[off + 1] + 1) * 8
            off += hlen
            if off > end:
                raise TunnelError("truncated destination options header")
        inner = _inner_of(nh, packet[off:end])
        src, dst = ipaddress.IPv6Address(packet[8:24]), ipaddress.IPv6Address(packet[24:40])
        return src, dst, inner
    if version != 4 or len(packet) < 20:
        raise TunnelError("not an IP packet")
    ihl = (packet[0] & 0x0F) * 4
    if ihl < 20 or len(packet) < ihl + 20:
        raise TunnelError("truncated IP-in-IP packet")
    total = struct.unpack_from("!H", packet, 2)[0]
    end = min(total, len(packet)) if total >= ihl else len(packet)
    inner = _inner_of(packet[9], packet[ihl:end])
    return ipaddress.IPv4Address(packet[12:16]), ipaddress.IPv4Address(packet[16:20]), inner


def ip_src(packet: bytes) -> IpAddress:
    """Source address of an IPv4 or IPv6 packet."""
    if packet[0] >> 4 == 6:
        return ipaddress.IPv6Address(packet[8:24])
    return ipaddress.IPv4Address(packet[12:16])


def ip_dst(packet: bytes) -> IpAddress:
    """Destination address of an IPv4 or IPv6 packet."""
    if packet[0] >> 4 == 6:
        return ipaddress.IPv6Address(packet[24:40])
    return ipaddress.IPv4Address(packet[16:20])


def refuse_inner(spec: TunnelSpec, inner: bytes) -> str | None:
    """Why a decapsulated packet must not be delivered at this end of ``spec``, or None.

    The tunnel carries the MN's nCoA traffic only (RFC 6252 s7.4): at the AR's end the inner
    source must be nCoA, else whoever can send IP-in-IP from the oCoA could inject packets with
    any source into the candidate network (ingress filtering, RFC 2827); at the MN's end
    (``inner_on_device``) the inner destination must be nCoA. IPv4 or IPv6, by ``spec.inner``.
    """
    version = spec.inner.version
    if len(inner) < (20 if version == 4 else 40) or inner[0] >> 4 != version:
        return f"inner packet is not IPv{version}"
    if spec.inner_on_device:
        if ip_dst(inner) != spec.inner:
            return f"inner destination {ip_dst(inner)} is not the tunnel's {spec.inner}"
    elif ip_src(inner) != spec.inner:
        return f"inner source {ip_src(inner)} is not the tunnel's {spec.inner}"
    return None


def ipv4_src(packet: bytes) -> ipaddress.IPv4Address:
    """Source address of an IPv4 packet."""
    return ipaddress.IPv4Address(packet[12:16])


def ipv4_dst(packet: bytes) -> ipaddress.IPv4Address:
    """Destination address of an IPv4 packet."""
    return ipaddress.IPv4Address(packet[16:20])


class InMemoryTunnelDriver:
    """Tunnel driver for virtual-time tests: records tunnels and the encapsulated packets."""

    def __init__(self, on_change: Callable[[str, TunnelSpec | None], None] | None = None) -> None:
        self._tunnels: dict[str, TunnelSpec] = {}
        self._on_change = on_change
        self.history: list[tuple[str, str]] = []
        """(action, name) in order: ("establish", n) / ("delete", n)."""

    def establish(self, spec: TunnelSpec) -> None:
        """Record the tunnel; a different spec under an existing name is an error."""
        old = self._tunnels.get(spec.name)
        if old == spec:
            return
        if old is not None:
            raise TunnelError(f"tunnel {spec.name} exists with other addresses")
        self._tunnels[spec.name] = spec
        self.history.append(("establish", spec.name))
        logger.info(
            "tunnel %s up: %s -> %s inner %s", spec.name, spec.local, spec.remote, spec.inner
        )
        if self._on_change:
            self._on_change(spec.name, spec)

    async def establish_async(self, spec: TunnelSpec) -> None:
        """The same as ``establish`` (nothing here is slow)."""
        self.establish(spec)

    def delete(self, name: str) -> None:
        """Forget the tunnel."""
        if self._tunnels.pop(name, None) is None:
            return
        self.history.append(("delete", name))
        logger.info("tunnel %s deleted", name)
        if self._on_change:
            self._on_change(name, None)

    async def wait_deleted(self) -> None:
        """Nothing to wait for: deletion is immediate."""

    def active(self) -> dict[str, TunnelSpec]:
        """Tunnels currently up."""
        return dict(self._tunnels)

    def send(self, name: str, inner: bytes) -> bytes:
        """Encapsulate ``inner`` for tunnel ``name`` as the Linux driver puts it on the wire."""
        spec = self._tunnels.get(name)
        if spec is None:
            raise TunnelError(f"no tunnel {name}")
        return encapsulate(inner, spec.local, spec.remote)

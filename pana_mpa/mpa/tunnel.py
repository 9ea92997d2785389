"""Proactive handover tunnel (RFC 6252 s7.4): IP-in-IP framing (RFC 2003), driver interface."""

from __future__ import annotations

import ipaddress
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "IPPROTO_IPIP",
    "InMemoryTunnelDriver",
    "IpNetwork",
    "TunnelDriver",
    "TunnelError",
    "TunnelSpec",
    "decapsulate",
    "encapsulate",
    "ipv4_checksum",
    "ipv4_dst",
    "ipv4_src",
    "refuse_inner",
]

logger = logging.getLogger(__name__)

IPPROTO_IPIP = 4
_IPV4 = struct.Struct("!BBHHHBBH4s4s")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TunnelError(RuntimeError):
    """A tunnel that cannot be set up, or a packet that is not IP-in-IP."""


@dataclass(frozen=True, slots=True)
class TunnelSpec:
    """One end of a proactive handover tunnel: outer addresses and the inner address (nCoA)."""

    name: str
    local: IpAddress
    """Our outer address (the MN's oCoA on the MN; the AR's address on the AR)."""
    remote: IpAddress
    """The other end's outer address."""
    inner: IpAddress
    """The MN's next address (nCoA), carried inside the tunnel."""
    routes: tuple[IpNetwork, ...] = field(default=())
    """Destinations routed into the tunnel: on the MN its correspondents (the CN must be among
    them, or its traffic does not use the tunnel); on the AR, nCoA."""
    inner_on_device: bool = False
    """Assign ``inner`` to the tunnel device (the MN's end); the AR only routes to it."""
    proxy_arp_on: str | None = None
    """The AR's CTN-link interface: answer ARP there for ``inner`` while the tunnel is up."""


class TunnelDriver(Protocol):
    """Creates and deletes proactive tunnels; an in-memory and a Linux implementation exist."""

    def establish(self, spec: TunnelSpec) -> None:
        """Create the tunnel (idempotent for an identical spec)."""
        ...

    def delete(self, name: str) -> None:
        """Delete the tunnel; deleting an unknown name does nothing."""
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


def encapsulate(
    inner: bytes,
    src: ipaddress.IPv4Address,
    dst: ipaddress.IPv4Address,
    *,
    ident: int = 0,
    ttl: int = 64,
) -> bytes:
    """Prepend an outer IPv4 header with protocol 4 (RFC 2003 s3.1); TOS copied from the inner."""
    if len(inner) < 20 or inner[0] >> 4 != 4:
        raise TunnelError("inner packet is not IPv4")
    total = 20 + len(inner)
    if total > 0xFFFF:
        raise TunnelError("encapsulated packet exceeds 65535 octets")
    hdr = _IPV4.pack(
        0x45, inner[1], total, ident & 0xFFFF, 0, ttl, IPPROTO_IPIP, 0, src.packed, dst.packed
    )
    csum = ipv4_checksum(hdr)
    return hdr[:10] + struct.pack("!H", csum) + hdr[12:] + inner


def decapsulate(packet: bytes) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address, bytes]:
    """(outer src, outer dst, inner packet) of an IP-in-IP packet; TunnelError otherwise."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        raise TunnelError("not an IPv4 packet")
    ihl = (packet[0] & 0x0F) * 4
    if ihl < 20 or len(packet) < ihl + 20:
        raise TunnelError("truncated IP-in-IP packet")
    if packet[9] != IPPROTO_IPIP:
        raise TunnelError(f"outer protocol {packet[9]} is not IP-in-IP (4)")
    total = struct.unpack_from("!H", packet, 2)[0]
    end = min(total, len(packet)) if total >= ihl else len(packet)
    inner = packet[ihl:end]
    if inner[0] >> 4 != 4:
        raise TunnelError("inner packet is not IPv4")
    return ipaddress.IPv4Address(packet[12:16]), ipaddress.IPv4Address(packet[16:20]), inner


def refuse_inner(spec: TunnelSpec, inner: bytes) -> str | None:
    """Why a decapsulated packet must not be delivered at this end of ``spec``, or None.

    The tunnel carries the MN's nCoA traffic only (RFC 6252 s7.4): at the AR's end the inner
    source must be nCoA, else whoever can send IP-in-IP from the oCoA could inject packets with
    any source into the candidate network (ingress filtering, RFC 2827); at the MN's end
    (``inner_on_device``) the inner destination must be nCoA.
    """
    if len(inner) < 20 or inner[0] >> 4 != 4:
        return "inner packet is not IPv4"
    if spec.inner_on_device:
        if ipv4_dst(inner) != spec.inner:
            return f"inner destination {ipv4_dst(inner)} is not the tunnel's {spec.inner}"
    elif ipv4_src(inner) != spec.inner:
        return f"inner source {ipv4_src(inner)} is not the tunnel's {spec.inner}"
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

    def delete(self, name: str) -> None:
        """Forget the tunnel."""
        if self._tunnels.pop(name, None) is None:
            return
        self.history.append(("delete", name))
        logger.info("tunnel %s deleted", name)
        if self._on_change:
            self._on_change(name, None)

    def active(self) -> dict[str, TunnelSpec]:
        """Tunnels currently up."""
        return dict(self._tunnels)

    def send(self, name: str, inner: bytes) -> bytes:
        """Encapsulate ``inner`` for tunnel ``name`` as the Linux driver puts it on the wire."""
        spec = self._tunnels.get(name)
        if spec is None:
            raise TunnelError(f"no tunnel {name}")
        if not isinstance(spec.local, ipaddress.IPv4Address) or not isinstance(
            spec.remote, ipaddress.IPv4Address
        ):
            raise TunnelError(f"tunnel {name}: only IPv4-in-IPv4 framing is built here")
        return encapsulate(inner, spec.local, spec.remote)

"""Proactive address resolution (RFC 6252 Appendix B): neighbour entry before, announcement after.

Before attaching, the MN installs the AR's link-layer address (learned in PAR[C,E]) so its first
packet needs no ARP; right after the switch it announces nCoA with a gratuitous ARP (IPv4,
RFC 5227 s3 ARP Announcement) or an unsolicited Neighbor Advertisement (IPv6, RFC 4861 s7.2.6)
so the CTN's nodes update their caches at once.

``Announcer`` splits the announcement so that only the send lies on the handover's critical path:
its socket is opened before the move and closed after the PANA-Update. Linux waits for an RCU
grace period (``synchronize_net``, ~16 ms) when a packet socket is released and when a bound one
moves its receive hook (af_packet.c ``packet_release``, ``packet_do_bind``).
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import logging
import socket
import struct
from typing import Any

from .linux_tunnel import in_netns

__all__ = [
    "Announcer",
    "gratuitous_arp",
    "install_neighbor",
    "send_gratuitous_arp",
    "send_unsolicited_na",
    "unsolicited_na",
]

logger = logging.getLogger(__name__)

ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6


def gratuitous_arp(mac: bytes, address: ipaddress.IPv4Address) -> bytes:
    """An Ethernet frame with an ARP Announcement: request, sender = target = ``address``."""
    if len(mac) != 6:
        raise ValueError("a MAC address has 6 octets")
    eth = BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
    # RFC 5227 s3: ARP Request, SHA = our MAC, SPA = TPA = our address, THA zero
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + address.packed + bytes(6)
    return eth + arp + address.packed


def _arp_socket(netns: str | None) -> socket.socket:
    """A send-only packet socket: protocol 0 registers no receive hook, so no bind is needed."""
    with in_netns(netns):
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)


def send_gratuitous_arp(
    ifname: str,
    mac: bytes,
    address: ipaddress.IPv4Address,
    *,
    netns: str | None = None,
    count: int = 1,
) -> None:
    """Broadcast ``count`` ARP Announcements for ``address`` on ``ifname`` (needs CAP_NET_RAW).

    Opens and closes its socket (the close waits ~16 ms): on a critical path use ``Announcer``.
    """
    with Announcer(ifname, mac, address, netns=netns) as announcer:
        announcer.announce(count)


def _icmpv6_checksum(src: ipaddress.IPv6Address, dst: ipaddress.IPv6Address, body: bytes) -> int:
    pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(body), 58)
    data = pseudo + body
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def unsolicited_na(
    mac: bytes, target: ipaddress.IPv6Address, src: ipaddress.IPv6Address | None = None
) -> bytes:
    """ICMPv6 Neighbor Advertisement for ``target``, Override set, with the target's MAC.

    RFC 4861 s7.2.6: unsolicited, to all-nodes, S clear, O set. The checksum is filled in when
    ``src`` is given; a raw ICMPv6 socket computes it otherwise.
    """
    if len(mac) != 6:
        raise ValueError("a MAC address has 6 octets")
    flags = 0x20000000  # O (override)
    body = struct.pack("!BBHI", 136, 0, 0, flags) + target.packed + bytes([2, 1]) + mac
    if src is not None:
        csum = _icmpv6_checksum(src, ipaddress.IPv6Address("ff02::1"), body)
        body = body[:2] + struct.pack("!H", csum) + body[4:]
    return body


def _na_socket(ifname: str, netns: str | None) -> tuple[socket.socket, tuple[str, int, int, int]]:
    """A raw ICMPv6 socket on ``ifname`` with hop limit 255 (RFC 4861 s7.1.2), and ff02::1."""
    with in_netns(netns):
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    try:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        index = socket.if_nametoindex(ifname) if netns is None else 0
    except BaseException:
        s.close()
        raise
    return s, ("ff02::1", 0, 0, index)


def send_unsolicited_na(
    ifname: str, mac: bytes, target: ipaddress.IPv6Address, *, netns: str | None = None
) -> None:
    """Send an unsolicited NA for ``target`` to ff02::1 on ``ifname`` with hop limit 255."""
    with Announcer(ifname, mac, target, netns=netns) as announcer:
        announcer.announce()


class Announcer:
    """An announcement of ``address`` prepared before the move: ``announce`` only sends.

    The constructor opens the socket (in ``netns``) and builds the message; call ``close`` after
    the PANA-Update, off the critical path (an ``AF_PACKET`` close waits for a grace period).
    IPv4: a gratuitous ARP (RFC 5227 s3); IPv6: an unsolicited NA (RFC 4861 s7.2.6).
    """

    def __init__(
        self,
        ifname: str,
        mac: bytes,
        address: ipaddress.IPv4Address | ipaddress.IPv6Address,
        *,
        netns: str | None = None,
    ) -> None:
        self.ifname = ifname
        self.mac = mac
        self.address = address
        self.sent = 0
        self._dest: tuple[str, int] | tuple[str, int, int, int]
        if isinstance(address, ipaddress.IPv4Address):
            self._message = gratuitous_arp(mac, address)
            self._sock: socket.socket | None = _arp_socket(netns)
            self._dest = (ifname, ETH_P_ARP)  # the frame carries its header; Python applies htons
        else:
            self._message = unsolicited_na(mac, address)
            self._sock, self._dest = _na_socket(ifname, netns)

    def announce(self, count: int = 1) -> None:
        """Send the announcement ``count`` times on the prepared socket."""
        if self._sock is None:
            raise RuntimeError("announcer closed")
        for _ in range(count):
            self._sock.sendto(self._message, self._dest)
        self.sent += count
        logger.info("announced %s at %s on %s", self.address, self.mac.hex(":"), self.ifname)

    def close(self) -> None:
        """Release the socket (blocks for a grace period with IPv4: not on the critical path)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> Announcer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def install_neighbor(
    ifname: str,
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    mac: bytes,
    *,
    netns: str | None = None,
) -> None:
    """Install a permanent neighbour entry (the AR's MAC) before attaching to the new link."""

    def run() -> None:
        from pyroute2 import IPRoute, NetNS

        ipr: Any = NetNS(netns) if netns else IPRoute()
        with ipr:
            idx = ipr.link_lookup(ifname=ifname)[0]
            ipr.neigh(
                "replace", dst=str(address), lladdr=mac.hex(":"), ifindex=idx, state=0x80
            )  # NUD_PERMANENT

    # pyroute2's synchronous API runs its own event loop: keep it off the caller's.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(run).result()

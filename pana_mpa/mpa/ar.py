"""The access router's data plane for one MN's nCoA: tunnel, buffer or bicast, then direct.

RFC 6252 s7.6: during the link switch the AR can buffer packets for nCoA and flush them when
the MN announces itself on the new link (the PANA-Update), or copy them to both the tunnel and
the new link (bicasting). Buffering is bounded by a period and a size.
"""

from __future__ import annotations

import logging
import struct
from collections import deque
from dataclasses import dataclass
from enum import Enum

from .tunnel import IpAddress

__all__ = [
    "ETH_P_IP",
    "ETH_P_IPV6",
    "ArDataPlane",
    "ArStats",
    "BufferPolicy",
    "Forward",
    "Mode",
    "direct_frame",
    "ipv4_forwarded",
]

logger = logging.getLogger(__name__)

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
"""EtherType of IPv4 (RFC 894)."""


class Mode(Enum):
    """How packets for one nCoA are forwarded."""

    TUNNEL = "tunnel"
    """Before the switch: into the proactive tunnel to the MN's oCoA."""
    SWITCHING = "switching"
    """During the switch: held in the buffer (or bicast)."""
    DIRECT = "direct"
    """After the PANA-Update: onto the CTN link."""


class Forward(Enum):
    """What to do with one packet."""

    TUNNEL = "tunnel"
    HOLD = "hold"
    DIRECT = "direct"
    BICAST = "bicast"
    DROP = "drop"


@dataclass(frozen=True, slots=True, kw_only=True)
class BufferPolicy:
    """Switch-time handling (RFC 6252 s7.6)."""

    buffering: bool = True
    """Hold packets for nCoA during the switch and flush them on the PANA-Update."""
    period: float = 2.0
    """Longest time a packet is held, in seconds; older ones are dropped."""
    max_packets: int = 1024
    """Buffer size; packets beyond it are dropped (tail drop)."""
    bicast: bool = False
    """Instead of holding, copy packets to both the tunnel and the new link."""


@dataclass(slots=True)
class ArStats:
    """Counters for one nCoA."""

    tunneled: int = 0
    held: int = 0
    flushed: int = 0
    bicast: int = 0
    dropped_overflow: int = 0
    dropped_expired: int = 0
    direct: int = 0


class ArDataPlane:
    """Sans-IO forwarding decisions for the nCoAs an AR serves through proactive tunnels."""

    def __init__(self, policy: BufferPolicy | None = None) -> None:
        self.policy = policy or BufferPolicy()
        self._mode: dict[IpAddress, Mode] = {}
        self._buffers: dict[IpAddress, deque[tuple[float, bytes]]] = {}
        self.stats: dict[IpAddress, ArStats] = {}

    def mode(self, ncoa: IpAddress) -> Mode | None:
        """The current mode for ``ncoa``, or None when it is not ours."""
        return self._mode.get(ncoa)

    def bind(self, ncoa: IpAddress) -> None:
        """The tunnel for ``ncoa`` is up: forward into it."""
        self._mode[ncoa] = Mode.TUNNEL
        self._buffers[ncoa] = deque()
        self.stats.setdefault(ncoa, ArStats())

    def start_switch(self, ncoa: IpAddress) -> None:
        """The MN is leaving its old link (Tunnel-Action DISABLE): buffer or bicast from now."""
        if ncoa in self._mode and self._mode[ncoa] is Mode.TUNNEL:
            self._mode[ncoa] = Mode.SWITCHING

    def complete_switch(self, ncoa: IpAddress, now: float) -> list[bytes]:
        """The PANA-Update arrived: go direct and return the held packets to flush, oldest first."""
        if ncoa not in self._mode:
            return []
        self._mode[ncoa] = Mode.DIRECT
        self._expire(ncoa, now)
        held = [pkt for _, pkt in self._buffers.pop(ncoa, deque())]
        self.stats[ncoa].flushed += len(held)
        logger.info("nCoA %s direct; flushing %d held packets", ncoa, len(held))
        return held

    def release(self, ncoa: IpAddress) -> None:
        """Forget ``ncoa`` (session ended); held packets are dropped."""
        self._mode.pop(ncoa, None)
        dropped = self._buffers.pop(ncoa, deque())
        if ncoa in self.stats:
            self.stats[ncoa].dropped_expired += len(dropped)

    def on_packet(self, ncoa: IpAddress, packet: bytes, now: float) -> Forward:
        """Decide what happens to one packet addressed to ``ncoa``."""
        mode = self._mode.get(ncoa)
        if mode is None:
            return Forward.DIRECT
        st = self.stats[ncoa]
        if mode is Mode.TUNNEL:
            st.tunneled += 1
            return Forward.TUNNEL
        if mode is Mode.DIRECT:
            st.direct += 1
            return Forward.DIRECT
        if self.policy.bicast:
            st.bicast += 1
            return Forward.BICAST
        if not self.policy.buffering:
            st.tunneled += 1
            return Forward.TUNNEL
        self._expire(ncoa, now)
        buf = self._buffers[ncoa]
        if len(buf) >= self.policy.max_packets:
            st.dropped_overflow += 1
            return Forward.DROP
        buf.append((now, packet))
        st.held += 1
        return Forward.HOLD

    def _expire(self, ncoa: IpAddress, now: float) -> None:
        buf = self._buffers.get(ncoa)
        while buf and now - buf[0][0] > self.policy.period:
            buf.popleft()
            self.stats[ncoa].dropped_expired += 1

    def get_timer(self) -> float | None:
        """When the oldest held packet expires."""
        times = [b[0][0] + self.policy.period for b in self._buffers.values() if b]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Drop held packets older than the period."""
        for ncoa in list(self._buffers):
            self._expire(ncoa, now)


def _ipv4_checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_forwarded(packet: bytes) -> bytes | None:
    """``packet`` as a router forwards it: TTL one less, header checksum recomputed.

    None when the packet is not a well-formed IPv4 packet or its TTL runs out (RFC 1812 s5.3.1:
    a router does not forward a packet whose TTL reaches 0).
    """
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    if ihl < 20 or len(packet) < ihl:
        return None
    ttl = packet[8]
    if ttl <= 1:
        return None
    header = bytearray(packet[:ihl])
    header[8] = ttl - 1
    header[10:12] = b"\x00\x00"
    struct.pack_into("!H", header, 10, _ipv4_checksum(bytes(header)))
    return bytes(header) + packet[ihl:]


def direct_frame(
    packet: bytes, *, dst_mac: bytes, src_mac: bytes, decrement_ttl: bool = True
) -> bytes | None:
    """The Ethernet II frame that carries ``packet`` straight to the MN on the new link.

    The bicast copy (RFC 6252 s7.6) bypasses the kernel's routing, so it is addressed to the MN's
    MAC (MPA-MN-Link-Address from PCI[E]/PAN[C]) and, when ``decrement_ttl``, forwarded as a
    router would (ipv4_forwarded). A packet the kernel has already forwarded into a tunnel
    device has had its TTL decremented there: pass ``decrement_ttl=False`` for those.
    None when the packet cannot be forwarded.
    """
    if len(dst_mac) != 6 or len(src_mac) != 6:
        raise ValueError("MAC addresses must be 6 octets")
    if packet and packet[0] >> 4 == 6:
        # IPv6 (an RFC 2473 tunnel's inner packet): the hop limit is the router's only change
        if len(packet) < 40:
            return None
        if decrement_ttl:
            if packet[7] <= 1:
                return None
            packet = packet[:7] + bytes([packet[7] - 1]) + packet[8:]
        return dst_mac + src_mac + struct.pack("!H", ETH_P_IPV6) + packet
    if decrement_ttl:
        fwd = ipv4_forwarded(packet)
        if fwd is None:
            return None
        packet = fwd
    elif len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IP) + packet

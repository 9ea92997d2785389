"""Read pcap/pcapng captures into UDP datagrams and pick out the PANA ones (RFC 5191 s6.1: UDP 716).

Frames come from our streaming reader (:mod:`.pcapfile`); the link, IP and UDP headers are
parsed here with ``struct``, so the payload handed on is exactly the captured bytes. Everything
is lazy: a datagram is handed on as soon as its frame has been read. Link types: Ethernet (with
802.1Q/ad tags), Linux cooked v1/v2, BSD/OpenBSD loopback and raw IP; IPv4 and IPv6 (extension
headers walked, fragments reassembled).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import struct
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from ..address import PANA_PORT, Address, format_address
from .pcapfile import CaptureError, Frame, read_frames

__all__ = [
    "PANA_PORT",
    "CaptureError",
    "Frame",
    "PanaFilter",
    "UdpDatagram",
    "format_address",
    "iter_pana",
    "pana_datagrams",
    "read_frames",
    "read_pana",
    "read_udp",
    "udp_datagrams",
]

logger = logging.getLogger(__name__)


# Link-layer types (https://www.tcpdump.org/linktypes.html).
_LINKTYPE_NULL = 0  # BSD loopback: 4-octet address family in host byte order
_LINKTYPE_ETHERNET = 1
_LINKTYPE_RAW = 101  # raw IPv4/IPv6, version nibble decides
_LINKTYPE_LOOP = 108  # OpenBSD loopback: address family in network byte order
_LINKTYPE_LINUX_SLL = 113
_LINKTYPE_IPV4 = 228
_LINKTYPE_IPV6 = 229
_LINKTYPE_LINUX_SLL2 = 276
_DLT_RAW_ALIASES = (12, 14)  # DLT_RAW on some BSDs / OpenBSD

_ETHERTYPE_IPV4 = 0x0800
_ETHERTYPE_IPV6 = 0x86DD
_ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)

# BSD AF_INET6 differs between systems (24 NetBSD/OpenBSD, 28 FreeBSD, 30 Darwin, 10 Linux).
_AF_INET = 2
_AF_INET6 = (10, 24, 28, 30)

_IPPROTO_UDP = 17
# IPv6 extension headers we walk over (RFC 8200 s4); 44 (Fragment) is handled on its own.
_IPV6_EXT = (0, 43, 60, 135, 139, 140)
_IPV6_FRAGMENT = 44
_IPV6_AH = 51


@dataclass(frozen=True, slots=True)
class UdpDatagram:
    """One UDP datagram found in a capture; ``frame`` is the 1-based frame number."""

    frame: int
    time: float
    """Capture timestamp, seconds since the epoch."""
    src: Address
    dst: Address
    payload: bytes
    truncated: bool = False
    """True when fewer payload octets were captured than UDP Length says (snaplen), or UDP
    Length is impossible for its IP packet; ``payload`` is then what there is."""


def _network_layer(linktype: int, frame: bytes) -> tuple[int, int] | None:
    """(IP version, offset of the IP header) for one frame, or None when it holds no IP."""
    if linktype == _LINKTYPE_ETHERNET:
        off, ethertype = 14, None
        if len(frame) >= 14:
            (ethertype,) = struct.unpack_from("!H", frame, 12)
            while ethertype in _ETHERTYPE_VLAN and len(frame) >= off + 4:
                (ethertype,) = struct.unpack_from("!H", frame, off + 2)
                off += 4
        return _by_ethertype(ethertype, off)
    if linktype == _LINKTYPE_LINUX_SLL:
        # 16-octet header, protocol type in octets 14-15 (Linux cooked capture v1).
        if len(frame) < 16:
            return None
        return _by_ethertype(struct.unpack_from("!H", frame, 14)[0], 16)
    if linktype == _LINKTYPE_LINUX_SLL2:
        # 20-octet header, protocol type in octets 0-1 (Linux cooked capture v2).
        if len(frame) < 20:
            return None
        return _by_ethertype(struct.unpack_from("!H", frame, 0)[0], 20)
    if linktype in (_LINKTYPE_NULL, _LINKTYPE_LOOP):
        if len(frame) < 4:
            return None
        # DLT_NULL's family is in the capturing host's byte order: accept either.
        family = struct.unpack_from("!I" if linktype == _LINKTYPE_LOOP else "<I", frame, 0)[0]
        if linktype == _LINKTYPE_NULL and family > 0xFFFF:
            family = struct.unpack_from("!I", frame, 0)[0]
        if family == _AF_INET:
            return 4, 4
        if family in _AF_INET6:
            return 6, 4
        return None
    if linktype in (_LINKTYPE_RAW, *_DLT_RAW_ALIASES, _LINKTYPE_IPV4, _LINKTYPE_IPV6):
        if not frame:
            return None
        version = frame[0] >> 4
        return (version, 0) if version in (4, 6) else None
    return None


def _by_ethertype(ethertype: int | None, off: int) -> tuple[int, int] | None:
    if ethertype == _ETHERTYPE_IPV4:
        return 4, off
    if ethertype == _ETHERTYPE_IPV6:
        return 6, off
    return None


@dataclass(frozen=True, slots=True)
class _IpPayload:
    """Where the UDP bytes of one IP packet are: [start, end) of the frame, maybe a fragment."""

    src: str
    dst: str
    start: int
    end: int
    fragment: tuple[tuple[object, ...], int, bool] | None = None
    """(reassembly key, fragment offset, more fragments) when the packet is a fragment."""


_ADDRESS_TEXT: dict[bytes, str] = {}
_ADDRESS_CACHE = 4096


def _address_text(packed: bytes) -> str:
    """An IPv4/IPv6 address as text (RFC 5952 for IPv6), cached: captures repeat addresses."""
    text = _ADDRESS_TEXT.get(packed)
    if text is None:
        if len(_ADDRESS_TEXT) >= _ADDRESS_CACHE:
            _ADDRESS_TEXT.clear()
        text = _ADDRESS_TEXT[packed] = str(ipaddress.ip_address(packed))
    return text


def _udp_in_ip(version: int, frame: bytes, off: int) -> _IpPayload | None:
    """The UDP part of an IPv4/IPv6 packet (RFC 791, RFC 8200), or None when it holds no UDP."""
    if version == 4:
        if len(frame) < off + 20 or frame[off] >> 4 != 4:
            return None
        ihl = (frame[off] & 0x0F) * 4
        if ihl < 20 or frame[off + 9] != _IPPROTO_UDP:
            return None
        total, ident, frag = struct.unpack_from("!HHH", frame, off + 2)
        src = _address_text(frame[off + 12 : off + 16])
        dst = _address_text(frame[off + 16 : off + 20])
        # Total Length bounds the packet (an Ethernet trailer may follow); TSO captures say 0.
        end = off + total if total >= ihl else len(frame)
        fragment = None
        if frag & 0x3FFF:  # MF set or a non-zero Fragment Offset
            fragment = ((4, src, dst, ident), (frag & 0x1FFF) * 8, bool(frag & 0x2000))
        return _IpPayload(src, dst, off + ihl, end, fragment)
    if len(frame) < off + 40 or frame[off] >> 4 != 6:
        return None
    src = _address_text(frame[off + 8 : off + 24])
    dst = _address_text(frame[off + 24 : off + 40])
    payload_len = struct.unpack_from("!H", frame, off + 4)[0]
    end = off + 40 + payload_len if payload_len else len(frame)  # 0: jumbogram (RFC 2675)
    nxt, pos = frame[off + 6], off + 40
    fragment = None
    while nxt != _IPPROTO_UDP:
        if len(frame) < pos + 8:
            return None
        if nxt in _IPV6_EXT:
            nxt, pos = frame[pos], pos + 8 * (frame[pos + 1] + 1)
        elif nxt == _IPV6_AH:
            nxt, pos = frame[pos], pos + 4 * (frame[pos + 1] + 2)
        elif nxt == _IPV6_FRAGMENT:
            field_, ident = struct.unpack_from("!HI", frame, pos + 2)
            if field_ & 0xFFF9:  # a real fragment (offset or M set), not an atomic one
                fragment = ((6, src, dst, ident), field_ & 0xFFF8, bool(field_ & 1))
            nxt, pos = frame[pos], pos + 8
            if fragment is not None:
                # RFC 8200 s4.5: what follows is the fragmentable part; only UDP is reassembled.
                return _IpPayload(src, dst, pos, end, fragment) if nxt == _IPPROTO_UDP else None
        else:
            return None
    return _IpPayload(src, dst, pos, end)


class _Reassembler:
    """IPv4/IPv6 fragment reassembly for UDP (RFC 791 s3.2, RFC 8200 s4.5), bounded in memory."""

    MAX_PENDING = 256
    MAX_SIZE = 65535 + 8

    def __init__(self) -> None:
        self._parts: dict[tuple[object, ...], list[tuple[int, bytes]]] = {}
        self._total: dict[tuple[object, ...], int] = {}

    def add(self, key: tuple[object, ...], offset: int, more: bool, data: bytes) -> bytes | None:
        """Add a fragment; the whole UDP datagram (header included) once every part is in."""
        if offset + len(data) > self.MAX_SIZE:
            return None
        if key not in self._parts and len(self._parts) >= self.MAX_PENDING:
            oldest = next(iter(self._parts))  # give up the oldest unfinished reassembly
            del self._parts[oldest]
            self._total.pop(oldest, None)
        parts = self._parts.setdefault(key, [])
        parts.append((offset, data))
        if not more:
            self._total[key] = offset + len(data)
        total = self._total.get(key)
        if total is None:
            return None
        whole = bytearray(total)
        covered = 0
        for start, chunk in sorted(parts, key=lambda p: p[0]):
            if start > covered:
                return None  # a hole: wait for more
            whole[start : start + len(chunk)] = chunk
            covered = max(covered, start + len(chunk))
        if covered < total:
            return None
        del self._parts[key], self._total[key]
        return bytes(whole[:total])


def _udp_datagram(
    frame_no: int,
    time: float,
    linktype: int,
    frame: bytes,
    reassembler: _Reassembler | None = None,
) -> UdpDatagram | None:
    net = _network_layer(linktype, frame)
    if net is None:
        return None
    ip = _udp_in_ip(net[0], frame, net[1])
    if ip is None:
        return None
    avail = min(len(frame), max(ip.end, ip.start))
    if ip.fragment is not None:
        key, offset, more = ip.fragment
        whole = (reassembler or _Reassembler()).add(key, offset, more, frame[ip.start : avail])
        if whole is None or len(whole) < 8:
            return None
        # Reassembled: reported in the frame of the fragment that completed it (as tshark does).
        return _from_udp(frame_no, time, ip, whole, len(whole))
    if len(frame) < ip.start + 8:
        return None
    avail = min(len(frame), max(ip.end, ip.start + 8))  # the UDP header at least
    return _from_udp(frame_no, time, ip, frame[ip.start : avail], avail - ip.start)


def _from_udp(frame_no: int, time: float, ip: _IpPayload, udp: bytes, avail: int) -> UdpDatagram:
    sport, dport, ulen = struct.unpack_from("!HHH", udp, 0)
    # Truncated: snaplen cut the datagram, or UDP Length disagrees with the IP packet.
    truncated = ulen < 8 or ulen > avail
    payload = udp[8 : min(ulen, avail)] if ulen >= 8 else udp[8:avail]
    return UdpDatagram(frame_no, time, (ip.src, sport), (ip.dst, dport), payload, truncated)


def udp_datagrams(frames: Iterable[Frame]) -> Iterator[UdpDatagram]:
    """The UDP datagrams of captured frames, in order (fragments reassembled, bounded memory)."""
    reassembler = _Reassembler()
    for frame in frames:
        datagram = _udp_datagram(frame.number, frame.time, frame.linktype, frame.data, reassembler)
        if datagram is not None:
            yield datagram


def read_udp(
    source: str | os.PathLike[str] | IO[bytes], *, name: str | None = None
) -> Iterator[UdpDatagram]:
    """Every UDP datagram of a pcap or pcapng capture (a path or a stream, maybe gzipped), lazily.

    Raises CaptureError (after the datagrams read before the damage) on bad input.
    """
    return udp_datagrams(read_frames(source, name=name))


class PanaFilter:
    """Picks PANA datagrams one at a time: to or from a PANA port, or an endpoint seen doing so.

    RFC 5191 s6.1: a PaC may send from any port; the PAA answers to it from 716. So an endpoint
    (address, port) that exchanged a datagram with a PANA port is a PANA endpoint too, from that
    datagram on. The newest ``max_endpoints`` endpoints are remembered.
    """

    def __init__(self, ports: Collection[int] = (), *, max_endpoints: int = 65536) -> None:
        self.ports = frozenset({PANA_PORT, *ports})
        self._endpoints: dict[Address, None] = {}
        self._max = max_endpoints

    def __call__(self, d: UdpDatagram) -> bool:
        """True when ``d`` is PANA (and learn its endpoints)."""
        wanted = self.ports
        if d.dst[1] in wanted:
            self._learn(d.src)
        elif d.src[1] in wanted:
            self._learn(d.dst)
        else:
            return d.src in self._endpoints or d.dst in self._endpoints
        return True

    def _learn(self, endpoint: Address) -> None:
        if endpoint in self._endpoints:
            return
        if len(self._endpoints) >= self._max:
            del self._endpoints[next(iter(self._endpoints))]  # forget the oldest
        self._endpoints[endpoint] = None


def iter_pana(
    datagrams: Iterable[UdpDatagram], ports: Collection[int] = ()
) -> Iterator[UdpDatagram]:
    """The PANA datagrams among ``datagrams``, lazily (see :class:`PanaFilter`)."""
    return filter(PanaFilter(ports), datagrams)


def pana_datagrams(
    datagrams: Iterable[UdpDatagram], ports: Collection[int] = ()
) -> list[UdpDatagram]:
    """The PANA datagrams among ``datagrams`` (716, ``ports``, learned endpoints), as a list."""
    return list(iter_pana(datagrams, ports))


def read_pana(
    source: str | os.PathLike[str] | IO[bytes], ports: Collection[int] = ()
) -> list[UdpDatagram]:
    """The PANA datagrams of a capture (see :class:`PanaFilter`)."""
    return pana_datagrams(read_udp(source), ports)

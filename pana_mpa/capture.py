"""Read pcap/pcapng captures into UDP datagrams and pick out the PANA ones (RFC 5191 s6.1: UDP 716).

scapy (the optional ``scapy`` extra, GPL) reads the file format; it is imported only inside
:func:`read_udp`, never when this module is imported. The link, IP and UDP headers are parsed
here with ``struct``, so the payload handed on is exactly the captured bytes: no dissector of
scapy's (nor our own scapy layer, if loaded) touches it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import struct
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "PANA_PORT",
    "CaptureError",
    "UdpDatagram",
    "format_address",
    "pana_datagrams",
    "read_pana",
    "read_udp",
]

logger = logging.getLogger(__name__)

PANA_PORT = 716
"""The PANA well-known UDP port (RFC 5191 s6.1)."""

Address = tuple[str, int]

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


class CaptureError(Exception):
    """The file is missing, unreadable, not a capture, or cut short (``frames_read`` were read)."""

    def __init__(self, reason: str, frames_read: int = 0) -> None:
        self.reason = reason
        self.frames_read = frames_read
        super().__init__(reason)


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


def format_address(addr: Address) -> str:
    """``ip:port``, with IPv6 addresses in brackets (RFC 3986 s3.2.2)."""
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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


def _udp_in_ip(version: int, frame: bytes, off: int) -> tuple[str, str, int, int] | None:
    """(source, destination, UDP header offset, IP packet end) for an IP packet holding UDP."""
    if version == 4:
        if len(frame) < off + 20 or frame[off] >> 4 != 4:
            return None
        ihl = (frame[off] & 0x0F) * 4
        frag = struct.unpack_from("!H", frame, off + 6)[0]
        if ihl < 20 or frame[off + 9] != _IPPROTO_UDP or frag & 0x3FFF:
            # Fragments (MF set or a non-zero offset) are not reassembled.
            return None
        src = str(ipaddress.IPv4Address(frame[off + 12 : off + 16]))
        dst = str(ipaddress.IPv4Address(frame[off + 16 : off + 20]))
        total = struct.unpack_from("!H", frame, off + 2)[0]
        # Total Length bounds the packet (an Ethernet trailer may follow); TSO captures say 0.
        return src, dst, off + ihl, off + total if total >= ihl else len(frame)
    if len(frame) < off + 40 or frame[off] >> 4 != 6:
        return None
    src = str(ipaddress.IPv6Address(frame[off + 8 : off + 24]))
    dst = str(ipaddress.IPv6Address(frame[off + 24 : off + 40]))
    payload_len = struct.unpack_from("!H", frame, off + 4)[0]
    end = off + 40 + payload_len if payload_len else len(frame)  # 0: jumbogram (RFC 2675)
    nxt, pos = frame[off + 6], off + 40
    while nxt != _IPPROTO_UDP:
        if len(frame) < pos + 8:
            return None
        if nxt in _IPV6_EXT:
            nxt, pos = frame[pos], pos + 8 * (frame[pos + 1] + 1)
        elif nxt == _IPV6_AH:
            nxt, pos = frame[pos], pos + 4 * (frame[pos + 1] + 2)
        elif nxt == _IPV6_FRAGMENT:
            if struct.unpack_from("!H", frame, pos + 2)[0] & 0xFFF9:
                return None  # a real fragment: not reassembled
            nxt, pos = frame[pos], pos + 8
        else:
            return None
    return src, dst, pos, end


def _udp_datagram(frame_no: int, time: float, linktype: int, frame: bytes) -> UdpDatagram | None:
    net = _network_layer(linktype, frame)
    if net is None:
        return None
    ip = _udp_in_ip(net[0], frame, net[1])
    if ip is None:
        return None
    src, dst, off, ip_end = ip
    if len(frame) < off + 8:
        return None
    sport, dport, ulen = struct.unpack_from("!HHH", frame, off)
    avail = min(len(frame), max(ip_end, off + 8))
    end = off + ulen
    # Truncated: snaplen cut the datagram, or UDP Length disagrees with the IP packet.
    truncated = ulen < 8 or end > avail
    payload = frame[off + 8 : min(end, avail)] if ulen >= 8 else frame[off + 8 : avail]
    return UdpDatagram(frame_no, time, (src, sport), (dst, dport), payload, truncated)


def _timestamp(meta: object, nano: bool) -> float:
    """Seconds since the epoch from scapy's pcap or pcapng record metadata."""
    if hasattr(meta, "tsresol"):
        ticks = (int(getattr(meta, "tshigh", 0)) << 32) | int(getattr(meta, "tslow", 0))
        return ticks / int(getattr(meta, "tsresol", 1_000_000) or 1_000_000)
    frac = int(getattr(meta, "usec", 0))
    return int(getattr(meta, "sec", 0)) + frac / (1e9 if nano else 1e6)


def _stopped_early(reader: object, name: str) -> bool:
    """True when the reader hit end-of-data before the end of the file (or gzip stream)."""
    stream = getattr(reader, "f", None)
    if stream is None:
        return False
    if type(stream).__name__ == "GzipFile":
        # A gzip stream cut short raises EOFError again; a whole one reads b"" at its end.
        try:
            return bool(stream.read(1))
        except (EOFError, OSError):
            return True
    try:
        if hasattr(reader, "blocktypes"):
            return not _pcapng_blocks_complete(name)
        return int(stream.tell()) < os.path.getsize(name)
    except (OSError, ValueError):
        return False


def _pcapng_blocks_complete(name: str) -> bool:
    """True when the pcapng block lengths chain exactly to the end of the file.

    scapy's pcapng reader ends silently at a short block; this tells a cut-short file from
    a whole one.
    """
    with open(name, "rb") as f:
        data = f.read()
    pos, endian = 0, "<"
    while pos < len(data):
        if len(data) - pos < 12:
            return False
        if data[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":  # Section Header Block: byte-order magic
            endian = "<" if data[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        (blocklen,) = struct.unpack_from(endian + "I", data, pos + 4)
        if blocklen < 12 or pos + blocklen > len(data):
            return False
        pos += blocklen + (-blocklen % 4)
    return pos == len(data)


def read_udp(path: str | os.PathLike[str]) -> Iterator[UdpDatagram]:
    """Every UDP datagram of a pcap or pcapng file, in file order; CaptureError on bad files."""
    try:
        from scapy.error import Scapy_Exception
        from scapy.utils import RawPcapReader
    except ImportError as exc:  # pragma: no cover - the scapy extra is part of [test]
        raise CaptureError("reading captures needs scapy: pip install 'pana-mpa[scapy]'") from exc

    name = os.fspath(path)
    if os.path.isdir(name):
        raise CaptureError(f"{name}: is a directory")
    try:
        reader = RawPcapReader(name)
    except FileNotFoundError as exc:
        raise CaptureError(f"{name}: no such file") from exc
    except OSError as exc:
        raise CaptureError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    except (Scapy_Exception, EOFError, struct.error, ValueError) as exc:
        raise CaptureError(f"{name}: not a pcap or pcapng capture ({exc})") from exc
    frame_no = 0
    try:
        with reader:
            nano = bool(getattr(reader, "nano", False))
            while True:
                try:
                    data, meta = reader._read_packet()  # raw bytes, no dissection
                except EOFError:
                    if _stopped_early(reader, name):
                        raise CaptureError(
                            f"{name}: capture cut short after frame {frame_no}", frame_no
                        ) from None
                    return
                except (Scapy_Exception, struct.error, ValueError, OSError) as exc:
                    raise CaptureError(
                        f"{name}: capture damaged after frame {frame_no} ({exc})", frame_no
                    ) from exc
                frame_no += 1
                caplen = getattr(meta, "caplen", None)
                if isinstance(caplen, int) and len(data) < caplen:
                    raise CaptureError(
                        f"{name}: capture cut short in frame {frame_no}", frame_no - 1
                    )
                linktype = getattr(meta, "linktype", getattr(reader, "linktype", -1))
                datagram = _udp_datagram(frame_no, _timestamp(meta, nano), linktype, data)
                if datagram is not None:
                    yield datagram
    except (Scapy_Exception, struct.error, ValueError, OSError) as exc:
        # scapy's pcapng reader can fail while opening the next block header or closing.
        raise CaptureError(
            f"{name}: capture damaged after frame {frame_no} ({exc})", frame_no
        ) from exc


def pana_datagrams(
    datagrams: Iterable[UdpDatagram], ports: Collection[int] = ()
) -> list[UdpDatagram]:
    """The datagrams to or from a PANA port (716 and ``ports``) or an endpoint seen talking to one.

    RFC 5191 s6.1: a PaC may send from any port; the PAA answers to it from 716. So an
    endpoint (address, port) that exchanged a datagram with a PANA port is a PANA endpoint too.
    """
    wanted = {PANA_PORT, *ports}
    candidates = list(datagrams)
    endpoints: set[Address] = set()
    for d in candidates:
        if d.dst[1] in wanted:
            endpoints.add(d.src)
        if d.src[1] in wanted:
            endpoints.add(d.dst)
    return [
        d
        for d in candidates
        if d.src[1] in wanted or d.dst[1] in wanted or d.src in endpoints or d.dst in endpoints
    ]


def read_pana(path: str | os.PathLike[str], ports: Collection[int] = ()) -> list[UdpDatagram]:
    """The PANA datagrams of a capture (see :func:`pana_datagrams`)."""
    return pana_datagrams(read_udp(path), ports)

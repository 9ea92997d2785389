"""Write small pcap/pcapng files with struct, for tests of capture reading (no scapy involved)."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_LOOP",
    "LINKTYPE_NULL",
    "LINKTYPE_RAW",
    "ipv4_udp",
    "ipv6_udp",
    "link_frame",
    "write_pcap",
    "write_pcapng",
]

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _udp(src_ip: bytes, dst_ip: bytes, sport: int, dport: int, payload: bytes, v6: bool) -> bytes:
    length = 8 + len(payload)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    if v6:
        pseudo = src_ip + dst_ip + struct.pack("!IxxxB", length, 17)
    else:
        pseudo = src_ip + dst_ip + struct.pack("!xBH", 17, length)
    csum = _checksum(pseudo + header + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, csum) + payload


def ipv4_udp(
    src: str, dst: str, sport: int, dport: int, payload: bytes, *, frag: int = 0, proto: int = 17
) -> bytes:
    """An IPv4 packet holding one UDP datagram (``frag``: the flags/fragment-offset field)."""
    s, d = ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed
    body = _udp(s, d, sport, dport, payload, v6=False) if proto == 17 else payload
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, frag, 64, proto, 0, s, d)
    head = head[:10] + struct.pack("!H", _checksum(head)) + head[12:]
    return head + body


def ipv6_udp(
    src: str, dst: str, sport: int, dport: int, payload: bytes, *, hop_by_hop: bool = False
) -> bytes:
    """An IPv6 packet holding one UDP datagram, optionally behind a Hop-by-Hop Options header."""
    s, d = ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed
    body = _udp(s, d, sport, dport, payload, v6=True)
    nxt = 17
    if hop_by_hop:
        body = bytes([17, 0]) + b"\x01\x04\x00\x00\x00\x00" + body  # PadN, 8 octets in all
        nxt = 0
    return struct.pack("!IHBB16s16s", 0x60000000, len(body), nxt, 64, s, d) + body


def link_frame(linktype: int, ip_packet: bytes, *, vlan: bool = False) -> bytes:
    """Wrap an IP packet in the link-layer header of ``linktype``."""
    v6 = ip_packet[0] >> 4 == 6
    ethertype = 0x86DD if v6 else 0x0800
    if linktype == LINKTYPE_ETHERNET:
        tag = struct.pack("!HH", 0x8100, 7) if vlan else b""
        return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01" + tag + struct.pack("!H", ethertype) + ip_packet
    if linktype == LINKTYPE_LINUX_SLL:
        return struct.pack("!HHH8sH", 0, 772, 6, b"\0" * 8, ethertype) + ip_packet
    if linktype == LINKTYPE_LINUX_SLL2:
        return struct.pack("!HHIHBB8s", ethertype, 0, 1, 772, 0, 6, b"\0" * 8) + ip_packet
    if linktype == LINKTYPE_NULL:
        return struct.pack("<I", 30 if v6 else 2) + ip_packet  # host order, Darwin's AF_INET6
    if linktype == LINKTYPE_LOOP:
        return struct.pack("!I", 24 if v6 else 2) + ip_packet
    if linktype == LINKTYPE_RAW:
        return ip_packet
    raise ValueError(f"linktype {linktype} not supported by this helper")


def write_pcap(
    path: Path, linktype: int, frames: Iterable[bytes], *, snaplen: int = 65535, big: bool = False
) -> Path:
    """A classic pcap file (microsecond timestamps, 1 s apart); frames longer than snaplen cut."""
    e = ">" if big else "<"
    out = [struct.pack(e + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)]
    for i, frame in enumerate(frames):
        cap = frame[:snaplen]
        out.append(struct.pack(e + "IIII", 1_700_000_000 + i, 250_000, len(cap), len(frame)))
        out.append(cap)
    path.write_bytes(b"".join(out))
    return path


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def write_pcapng(path: Path, linktypes: Sequence[int], frames: Iterable[tuple[int, bytes]]) -> Path:
    """A pcapng file: one interface per linktype; frames are (interface index, frame bytes)."""
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for lt in linktypes:
        out.append(_block(1, struct.pack("<HHI", lt, 0, 65535)))
    for i, (iface, frame) in enumerate(frames):
        ts = (1_700_000_000 + i) * 1_000_000 + 500_000  # default resolution: microseconds
        head = struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame))
        out.append(_block(6, head + frame))
    path.write_bytes(b"".join(out))
    return path

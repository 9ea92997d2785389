"""Write UDP datagrams as a classic pcap file (LINKTYPE_RAW) that Wireshark and tshark open."""

from __future__ import annotations

import ipaddress
import struct
from typing import BinaryIO

from ..address import Address

__all__ = ["LINKTYPE_RAW", "PcapWriter", "udp_packet"]

LINKTYPE_RAW = 101
"""Raw IPv4/IPv6 packets, no link-layer header (tcpdump.org link-layer header types)."""

_MAGIC_USEC = 0xA1B2C3D4


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_packet(src: Address, dst: Address, payload: bytes, *, ident: int = 0) -> bytes:
    """An IPv4 or IPv6 packet carrying one UDP datagram, with correct checksums (RFC 768)."""
    s, d = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    if s.version != d.version:
        raise ValueError(f"{s} and {d} are of different IP versions")
    length = 8 + len(payload)
    if s.version == 4:
        pseudo = s.packed + d.packed + struct.pack("!BBH", 0, 17, length)
    else:
        pseudo = s.packed + d.packed + struct.pack("!IxxxB", length, 17)
    header = struct.pack("!HHHH", src[1], dst[1], length, 0)
    csum = _checksum(pseudo + header + payload) or 0xFFFF
    udp = struct.pack("!HHHH", src[1], dst[1], length, csum) + payload
    if s.version == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident & 0xFFFF, 0x4000, 64, 17,
                         0, s.packed, d.packed)  # fmt: skip
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        return ip + udp
    return struct.pack("!IHBB16s16s", 6 << 28, len(udp), 17, 64, s.packed, d.packed) + udp


class PcapWriter:
    """Classic pcap, microsecond timestamps, raw IP link type; one record per datagram."""

    def __init__(self, stream: BinaryIO, *, snaplen: int = 65535) -> None:
        self._stream = stream
        self._count = 0
        stream.write(struct.pack("<IHHiIII", _MAGIC_USEC, 2, 4, 0, 0, snaplen, LINKTYPE_RAW))

    def write_udp(self, time: float, src: Address, dst: Address, payload: bytes) -> None:
        """Append one UDP datagram captured at ``time`` (seconds since the epoch)."""
        self._count += 1
        packet = udp_packet(src, dst, payload, ident=self._count)
        seconds = int(time)
        micros = round((time - seconds) * 1_000_000)
        if micros >= 1_000_000:
            seconds, micros = seconds + 1, micros - 1_000_000
        self._stream.write(struct.pack("<IIII", seconds, micros, len(packet), len(packet)))
        self._stream.write(packet)

    @property
    def count(self) -> int:
        """Datagrams written so far."""
        return self._count

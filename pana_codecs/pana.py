"""PANA messages and AVPs (RFC 5191 s6) as frozen dataclasses; decode_pana/encode_pana."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag

from .errors import CodecError

__all__ = [
    "AVP_FLAG_VENDOR",
    "Avp",
    "MessageFlags",
    "MessageType",
    "PanaMessage",
    "decode_pana",
    "encode_pana",
]

AVP_FLAG_VENDOR = 0x8000


class MessageType(IntEnum):
    """PANA message types (RFC 5191 s7, RFC 6345 s7)."""

    PANA_CLIENT_INITIATION = 1
    PANA_AUTH = 2
    PANA_TERMINATION = 3
    PANA_NOTIFICATION = 4
    PANA_RELAY = 5


class MessageFlags(IntFlag):
    """PANA header flags (RFC 5191 s6.2, RFC 5873 s3 for E)."""

    R = 0x8000
    S = 0x4000
    C = 0x2000
    A = 0x1000
    P = 0x0800
    I = 0x0400  # noqa: E741 - RFC name
    E = 0x0200


@dataclass(frozen=True, slots=True)
class Avp:
    """One AVP (RFC 5191 s6.3); ``vendor_id`` set means the V bit is set."""

    code: int
    value: bytes
    vendor_id: int | None = None
    flags: int = 0
    """AVP flag bits other than V (reserved; kept so unknown bits round-trip)."""
    reserved: int = 0
    """The 16-bit Reserved field after AVP Length (send 0, ignore; kept for round-trip)."""


@dataclass(frozen=True, slots=True)
class PanaMessage:
    """One PANA message (RFC 5191 s6.2); lengths are computed on encode."""

    type: int
    flags: int
    session_id: int
    seq: int
    avps: tuple[Avp, ...] = field(default=())
    reserved: int = 0
    """The 16-bit Reserved header field (send 0, ignore; kept for round-trip)."""

    @property
    def is_request(self) -> bool:
        """True when the R flag is set."""
        return bool(self.flags & MessageFlags.R)

    def has(self, flag: MessageFlags) -> bool:
        """True when every bit of ``flag`` is set."""
        return self.flags & flag == flag

    def avp(self, code: int, vendor_id: int | None = None) -> Avp | None:
        """The first AVP with this code and vendor, or None."""
        for a in self.avps:
            if a.code == code and a.vendor_id == vendor_id:
                return a
        return None

    def all_avps(self, code: int, vendor_id: int | None = None) -> list[Avp]:
        """Every AVP with this code and vendor, in wire order."""
        return [a for a in self.avps if a.code == code and a.vendor_id == vendor_id]


_HEADER = struct.Struct("!HHHHII")
_AVP = struct.Struct("!HHHH")
_U32 = struct.Struct("!I")


def decode_pana(data: bytes) -> PanaMessage:
    """Decode one PANA message; raise CodecError on anything malformed."""
    # Provisional implementation: the construct-based codec replaces it.
    if len(data) < 16:
        raise CodecError(f"message of {len(data)} octets is shorter than the 16-octet header", 0)
    reserved, length, flags, mtype, sid, seq = _HEADER.unpack_from(data, 0)
    if length != len(data):
        raise CodecError(f"Message Length {length} != datagram length {len(data)}", 2)
    avps: list[Avp] = []
    off = 16
    while off < len(data):
        if len(data) - off < 8:
            raise CodecError("truncated AVP header", off)
        code, aflags, alen, ares = _AVP.unpack_from(data, off)
        hdr = 8
        vendor: int | None = None
        if aflags & AVP_FLAG_VENDOR:
            if len(data) - off < 12:
                raise CodecError("truncated Vendor-Id", off)
            (vendor,) = _U32.unpack_from(data, off + 8)
            hdr = 12
        end = off + hdr + alen
        if end > len(data):
            raise CodecError("AVP value runs past the end of the message", off)
        avps.append(Avp(code, data[off + hdr : end], vendor, aflags & ~AVP_FLAG_VENDOR, ares))
        off = end + (-alen % 4)
        if off > len(data):
            raise CodecError("AVP padding runs past the end of the message", end)
    return PanaMessage(mtype, flags, sid, seq, tuple(avps), reserved)


def encode_pana(msg: PanaMessage) -> bytes:
    """Encode one PANA message; lengths are computed, never taken from the caller."""
    parts: list[bytes] = []
    for a in msg.avps:
        flags = a.flags & ~AVP_FLAG_VENDOR
        if a.vendor_id is not None:
            parts.append(_AVP.pack(a.code, flags | AVP_FLAG_VENDOR, len(a.value), a.reserved))
            parts.append(_U32.pack(a.vendor_id))
        else:
            parts.append(_AVP.pack(a.code, flags, len(a.value), a.reserved))
        parts.append(a.value)
        parts.append(b"\0" * (-len(a.value) % 4))
    body = b"".join(parts)
    head = _HEADER.pack(msg.reserved, 16 + len(body), msg.flags, msg.type, msg.session_id, msg.seq)
    return head + body

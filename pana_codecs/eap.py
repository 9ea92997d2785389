"""EAP packets (RFC 3748 s4): EapPacket, decode_eap/encode_eap."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from .errors import CodecError

__all__ = ["EapCode", "EapPacket", "EapType", "decode_eap", "encode_eap"]


class EapCode(IntEnum):
    """EAP Code field (RFC 3748 s4)."""

    REQUEST = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4


class EapType(IntEnum):
    """EAP method types used here (RFC 3748 s5, IANA)."""

    IDENTITY = 1
    NOTIFICATION = 2
    NAK = 3
    MD5_CHALLENGE = 4
    TLS = 13
    PSK = 47
    GPSK = 51
    EXPANDED = 254


@dataclass(frozen=True, slots=True)
class EapPacket:
    """One EAP packet; ``type`` is None for Success/Failure (RFC 3748 s4.2)."""

    code: int
    identifier: int
    type: int | None = None
    type_data: bytes = b""
    vendor_id: int | None = None
    """Expanded Type (254) Vendor-Id, 24 bits (RFC 3748 s5.7)."""
    vendor_type: int | None = None
    """Expanded Type (254) Vendor-Type, 32 bits."""


_HDR = struct.Struct("!BBH")


def decode_eap(data: bytes) -> EapPacket:
    """Decode one EAP packet; raise CodecError on anything malformed."""
    # Provisional implementation: the construct-based codec replaces it.
    if len(data) < 4:
        raise CodecError(f"EAP packet of {len(data)} octets is shorter than the header", 0)
    code, ident, length = _HDR.unpack_from(data)
    if length != len(data):
        raise CodecError(f"EAP Length {length} != packet length {len(data)}", 2)
    if code in (EapCode.SUCCESS, EapCode.FAILURE):
        if length != 4:
            raise CodecError("EAP Success/Failure must be 4 octets", 4)
        return EapPacket(code, ident)
    if code not in (EapCode.REQUEST, EapCode.RESPONSE):
        raise CodecError(f"unknown EAP code {code}", 0)
    if length < 5:
        raise CodecError("EAP Request/Response without a Type", 4)
    etype = data[4]
    if etype == EapType.EXPANDED:
        if length < 12:
            raise CodecError("truncated expanded type", 5)
        vid = int.from_bytes(data[5:8], "big")
        vtype = int.from_bytes(data[8:12], "big")
        return EapPacket(code, ident, etype, data[12:], vid, vtype)
    return EapPacket(code, ident, etype, data[5:])


def encode_eap(pkt: EapPacket) -> bytes:
    """Encode one EAP packet; the Length field is computed."""
    if pkt.type is None:
        return _HDR.pack(pkt.code, pkt.identifier, 4)
    if pkt.type == EapType.EXPANDED:
        body = (
            bytes([EapType.EXPANDED])
            + (pkt.vendor_id or 0).to_bytes(3, "big")
            + (pkt.vendor_type or 0).to_bytes(4, "big")
            + pkt.type_data
        )
    else:
        body = bytes([pkt.type]) + pkt.type_data
    return _HDR.pack(pkt.code, pkt.identifier, 4 + len(body)) + body

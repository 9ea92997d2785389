"""EAP packets (RFC 3748 s4): EapPacket, decode_eap/encode_eap, Nak helpers (s5.3).

Choices where the RFC leaves room:

* Octets beyond the EAP Length are lower-layer padding and are ignored (RFC 3748 s4), so such a
  packet does not re-encode to the received bytes. ``split_eap`` returns the ignored octets and
  ``decode_eap(data, strict=True)`` rejects them; the EAP-Payload AVP helper
  (``pana_codecs.avps.eap_payload``) is strict, because the AVP Length frames exactly one packet.
* A Length larger than the octets received, a Success/Failure whose Length is not 4, a
  Request/Response without a Type, a truncated expanded-type header and Codes other than 1-4
  are CodecErrors (the receiver silently discards them, s4 and s4.1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from struct import error as StructError
from typing import NamedTuple

from ._fast import frozen_maker
from ._layout import EAP_HEADER, EAP_HEADER_LEN, struct_format
from .enums import EapCode, EapType
from .errors import CodecError

__all__ = [
    "EapCode",
    "EapPacket",
    "EapType",
    "MethodId",
    "decode_eap",
    "decode_nak",
    "encode_eap",
    "encode_nak",
    "split_eap",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, repr=False)
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

    def __repr__(self) -> str:
        """Header fields and the Type-Data length only (Type-Data may hold an identity)."""
        text = f"EapPacket(code={self.code}, identifier={self.identifier}"
        if self.type is not None:
            text += f", type={self.type}, type_data=<{len(self.type_data)} octets>"
        if self.vendor_id is not None or self.vendor_type is not None:
            text += f", vendor_id={self.vendor_id}, vendor_type={self.vendor_type}"
        return text + ")"


class MethodId(NamedTuple):
    """An EAP method as (Vendor-Id, Vendor-Type); IETF one-octet types have Vendor-Id 0 (s5.7)."""

    vendor_id: int
    vendor_type: int


_HEADER = struct_format(EAP_HEADER)
_EXPANDED_LEN = EAP_HEADER_LEN + 8  # Type 254, Vendor-Id (3), Vendor-Type (4)
_packet = frozen_maker(EapPacket)
"""EapPacket(code, identifier, type, type_data, vendor_id, vendor_type), without the frozen
dataclass's per-field ``object.__setattr__`` (the decoder's hot path)."""


def decode_eap(data: bytes, *, strict: bool = False) -> EapPacket:
    """Decode one EAP packet (RFC 3748 s4); octets beyond Length are ignored unless ``strict``."""
    pkt, trailing = split_eap(data)
    if strict and trailing:
        raise CodecError(
            f"{len(trailing)} octets beyond the EAP Length", len(data) - len(trailing), "length"
        )
    return pkt


def split_eap(data: bytes) -> tuple[EapPacket, bytes]:
    """Decode one EAP packet and also return the octets beyond its Length (padding, s4)."""
    if type(data) is not bytes:
        data = bytes(data)  # bytearray/memoryview: Type-Data must come out as bytes
    n = len(data)
    if n < EAP_HEADER_LEN:
        raise CodecError(f"EAP packet of {n} octets is shorter than the 4-octet header", 0, "")
    code, ident, length = _HEADER.unpack_from(data)
    check_length(code, length, n, data[4] if n > EAP_HEADER_LEN else -1)
    if length == EAP_HEADER_LEN:
        return _packet(code, ident), data[length:]
    etype = data[4]
    if etype == 254:
        return (
            _packet(
                code,
                ident,
                etype,
                data[_EXPANDED_LEN:length],
                int.from_bytes(data[5:8], "big"),
                int.from_bytes(data[8:12], "big"),
            ),
            data[length:],
        )
    return _packet(code, ident, etype, data[5:length]), data[length:]


def check_length(code: int, length: int, n: int, type_octet: int) -> None:
    """Framing rules of RFC 3748 s4 shared by both engines; raise CodecError when broken."""
    if code not in (1, 2, 3, 4):
        # s4: codes other than 1-4 are silently discarded (5/6 belong to ERP, RFC 6696).
        raise CodecError(f"unknown EAP Code {code}", 0, "code")
    if length > n:
        raise CodecError(f"EAP Length {length} exceeds the {n} octets received", 2, "length")
    if code >= 3:
        if length != EAP_HEADER_LEN:
            raise CodecError(f"EAP Success/Failure with Length {length}, expected 4", 2, "length")
    elif length <= EAP_HEADER_LEN:
        raise CodecError(f"EAP Request/Response with Length {length} has no Type", 2, "length")
    elif length < _EXPANDED_LEN and type_octet == 254:
        raise CodecError(
            f"expanded Type with Length {length}: the expanded header needs 12 octets",
            2,
            "length",
        )


def encode_eap(pkt: EapPacket) -> bytes:
    """Encode one EAP packet; the Length field is computed. CodecError if not representable."""
    if type(pkt) is EapPacket and pkt.vendor_id is None and pkt.vendor_type is None:
        # the common packets (Request/Response of a one-octet Type, Success, Failure) without
        # check_encodable's walk; anything else, or anything wrong, takes the checked path
        code, ident, etype, data = pkt.code, pkt.identifier, pkt.type, pkt.type_data
        if isinstance(code, int) and isinstance(ident, int) and 0 <= ident <= 255:
            if etype is None:
                if (code == 3 or code == 4) and not data and isinstance(data, bytes):
                    return _HEADER.pack(code, ident, EAP_HEADER_LEN)
            elif (
                (code == 1 or code == 2)
                and isinstance(etype, int)
                and 0 <= etype <= 255
                and etype != 254
                and type(data) is bytes
                and len(data) <= 0xFFFF - 5
            ):
                return _HEADER.pack(code, ident, 5 + len(data)) + bytes((etype,)) + data
    check_encodable(pkt)
    if pkt.type is None:
        return _HEADER.pack(pkt.code, pkt.identifier, EAP_HEADER_LEN)
    if pkt.type == 254:
        assert pkt.vendor_id is not None and pkt.vendor_type is not None
        head = bytes((254,)) + pkt.vendor_id.to_bytes(3, "big") + pkt.vendor_type.to_bytes(4, "big")
    else:
        head = bytes((pkt.type,))
    length = EAP_HEADER_LEN + len(head) + len(pkt.type_data)
    try:
        return _HEADER.pack(pkt.code, pkt.identifier, length) + head + pkt.type_data
    except StructError:
        raise CodecError(f"EAP packet of {length} octets exceeds 65535", 2, "length") from None


def _int_or_none(value: object) -> bool:
    """True for None or an int: what EapPacket's number fields may hold."""
    return value is None or isinstance(value, int)


def check_encodable(pkt: EapPacket) -> None:
    """Raise CodecError unless ``pkt`` has a wire form that decode_eap gives back exactly."""
    if not isinstance(pkt, EapPacket):
        raise CodecError(f"{type(pkt).__name__} is not an EapPacket", 0, "")
    for offset, name in ((0, "code"), (1, "identifier"), (4, "type"), (5, "vendor_id"),
                         (8, "vendor_type")):  # fmt: skip
        value = getattr(pkt, name)
        if not _int_or_none(value) or (value is None and name in ("code", "identifier")):
            raise CodecError(f"{name} {value!r} is not an integer", offset, name)
    if not isinstance(pkt.type_data, bytes | bytearray | memoryview):
        raise CodecError(f"type_data of type {type(pkt.type_data).__name__}", 5, "type_data")
    if pkt.code not in (1, 2, 3, 4):
        raise CodecError(f"unknown EAP Code {pkt.code}", 0, "code")
    if not 0 <= pkt.identifier <= 255:
        raise CodecError(f"identifier {pkt.identifier} does not fit in 8 bits", 1, "identifier")
    if pkt.code >= 3:
        if pkt.type is not None or pkt.type_data or pkt.vendor_id is not None:
            raise CodecError("EAP Success/Failure carry no Type or data", 4, "type")
        return
    if pkt.type is None:
        raise CodecError("EAP Request/Response needs a Type", 4, "type")
    if not 0 <= pkt.type <= 255:
        raise CodecError(f"type {pkt.type} does not fit in 8 bits", 4, "type")
    if pkt.type == 254:
        if pkt.vendor_id is None or pkt.vendor_type is None:
            raise CodecError("expanded Type 254 needs vendor_id and vendor_type", 5, "vendor_id")
        if not 0 <= pkt.vendor_id < 1 << 24:
            raise CodecError(f"vendor_id {pkt.vendor_id} does not fit in 24 bits", 5, "vendor_id")
        if not 0 <= pkt.vendor_type < 1 << 32:
            raise CodecError(
                f"vendor_type {pkt.vendor_type} does not fit in 32 bits", 8, "vendor_type"
            )
    elif pkt.vendor_id is not None or pkt.vendor_type is not None:
        raise CodecError("vendor_id/vendor_type need the expanded Type 254", 4, "type")


def decode_nak(pkt: EapPacket) -> tuple[MethodId, ...]:
    """Methods proposed by a legacy (s5.3.1) or expanded (s5.3.2) Nak; () means "no alternative"."""
    if pkt.code != EapCode.RESPONSE:
        raise CodecError("a Nak is an EAP Response", 0, "code")
    data = pkt.type_data
    if pkt.type == EapType.NAK:
        if not data:
            raise CodecError("legacy Nak without any Type-Data octet", 5, "type_data")
        if data == b"\0":
            return ()
        if 0 in data:
            raise CodecError("legacy Nak: type 0 (no alternative) must be alone", 5, "type_data")
        return tuple(MethodId(0, t) for t in data)
    if pkt.type == EapType.EXPANDED and pkt.vendor_id == 0 and pkt.vendor_type == EapType.NAK:
        if not data or len(data) % 8:
            raise CodecError(
                f"expanded Nak data of {len(data)} octets is not a non-empty multiple of 8",
                12,
                "type_data",
            )
        out: list[MethodId] = []
        for off in range(0, len(data), 8):
            if data[off] != 254:
                raise CodecError("expanded Nak entry without Type 254", 12 + off, "type_data")
            vid = int.from_bytes(data[off + 1 : off + 4], "big")
            vtype = int.from_bytes(data[off + 4 : off + 8], "big")
            out.append(MethodId(vid, vtype))
        if MethodId(0, 0) in out:
            if len(out) != 1:
                raise CodecError(
                    "expanded Nak: type 0 (no alternative) must be alone", 12, "type_data"
                )
            return ()
        return tuple(out)
    raise CodecError("not a Nak (Type 3, or Type 254 Vendor-Id 0 Vendor-Type 3)", 4, "type")


def encode_nak(
    identifier: int, methods: tuple[MethodId, ...] | list[MethodId], *, expanded: bool = False
) -> EapPacket:
    """A Nak Response proposing ``methods`` (empty: "no alternative"); RFC 3748 s5.3.1/s5.3.2.

    ``expanded=True`` builds the expanded Nak (the answer to a Type-254 Request); otherwise a
    legacy Nak, which can only name IETF one-octet types (Vendor-Id 0, type 1-255).
    """
    if expanded:
        entries = list(methods) or [MethodId(0, 0)]
        body = b"".join(
            bytes((254,)) + m.vendor_id.to_bytes(3, "big") + m.vendor_type.to_bytes(4, "big")
            for m in entries
        )
        return EapPacket(EapCode.RESPONSE, identifier, EapType.EXPANDED, body, 0, EapType.NAK)
    if any(m.vendor_id != 0 or not 1 <= m.vendor_type <= 255 for m in methods):
        raise CodecError("a legacy Nak lists only IETF types 1-255", 5, "type_data")
    return EapPacket(
        EapCode.RESPONSE, identifier, EapType.NAK, bytes(m.vendor_type for m in methods) or b"\0"
    )

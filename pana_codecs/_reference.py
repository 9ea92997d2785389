"""The reference engine: decode and encode with the construct layouts only; private.

It is slower than the fast engine in ``pana.py``/``eap.py`` and exists so that tests can prove the
fast engine (struct formats derived from ``_layout``) gives the same results and the same errors.
Every framing rule is checked here in the same order as in the fast engine, through the shared
error texts in ``_checks``; construct does the field parsing and building.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import construct as c

from . import _checks
from ._layout import (
    AVP_FLAG_VENDOR,
    AVP_HEADER,
    AVP_HEADER_LEN,
    EAP_HEADER,
    EAP_HEADER_LEN,
    HEADER,
    HEADER_LEN,
    VENDOR_ID,
    avp_struct,
    eap_struct,
    message_struct,
)
from .eap import EapPacket, check_encodable, check_length
from .errors import CodecError
from .pana import DEFAULT_MAX_AVPS, Avp, PanaMessage, _is_draft, _limit, encode_error, explain

__all__ = [
    "decode_eap_reference",
    "decode_pana_reference",
    "encode_eap_reference",
    "encode_pana_reference",
]

logger = logging.getLogger(__name__)

_AVP = {False: avp_struct(False), True: avp_struct(True)}
_MESSAGE = {False: message_struct(False), True: message_struct(True)}
_EAP = eap_struct()
_OCTET = c.Int8ub


def decode_pana_reference(
    data: bytes, *, dialect: str = "rfc5191", max_avps: int | None = DEFAULT_MAX_AVPS
) -> PanaMessage:
    """Decode like ``decode_pana``, parsing every field with construct."""
    draft = _is_draft(dialect)
    limit = _limit(max_avps)
    try:
        return _decode(data, draft, limit)
    except CodecError as exc:
        raise explain(exc, data, draft, _decode, limit) from None


def _decode(data: bytes, draft: bool, max_avps: int = -1) -> PanaMessage:
    """Per-AVP construct parsing with the framing checks of the fast engine."""
    n = len(data)
    if n < HEADER_LEN:
        raise _checks.short_header(n)
    head = HEADER.parse(data)
    if head.length != n:
        raise _checks.length_mismatch(head.length, n)
    stream = io.BytesIO(data)
    layout = _AVP[draft]
    avps: list[Avp] = []
    off = HEADER_LEN
    bad_pad: CodecError | None = None
    while off < n:
        i = len(avps)
        if i == max_avps:
            raise _checks.too_many_avps(off, max_avps)
        if n - off < AVP_HEADER_LEN:
            raise _checks.truncated_avp_header(off, n - off, i)
        ah = AVP_HEADER.parse(data[off : off + AVP_HEADER_LEN])
        hlen = AVP_HEADER_LEN
        vendor = None
        if ah.flags & AVP_FLAG_VENDOR:
            if n - off < AVP_HEADER_LEN + VENDOR_ID.sizeof():
                raise _checks.truncated_vendor_id(off, n - off - AVP_HEADER_LEN, i)
            vendor = VENDOR_ID.parse(data[off + AVP_HEADER_LEN :]).vendor_id
            hlen += VENDOR_ID.sizeof()
        vlen = ah.length - hlen if draft else ah.length
        if vlen < 0:
            raise _checks.draft_length_short(off, ah.length, hlen, i)
        if vlen != 4 and vendor is None and ah.code in _checks.FIXED_U32_CODES:
            raise _checks.fixed_size(off, ah.code, ah.length, i)
        if off + hlen + vlen > n:
            raise _checks.value_past_end(off, ah.length, n - off - hlen, i)
        pad = -vlen % 4
        if off + hlen + vlen + pad > n:
            raise _checks.padding_past_end(off + hlen + vlen, pad, i)
        stream.seek(off)
        raw = layout.parse_stream(stream)  # the whole AVP, declaratively
        if stream.tell() != off + hlen + vlen + pad:  # pragma: no cover - layout/check mismatch
            raise CodecError(  # pragma: no cover
                "AVP layout consumed an unexpected length", off, f"avps[{i}]"
            )
        for k, octet in enumerate(raw.padding):
            if octet and bad_pad is None:
                bad_pad = _checks.nonzero_padding(off + hlen + vlen + k, i)
        flags = raw.flags & ~AVP_FLAG_VENDOR
        avps.append(Avp(raw.code, raw.value, raw.vendor_id, flags, raw.reserved))
        off = stream.tell()
    if bad_pad is not None:
        raise bad_pad
    return PanaMessage(head.type, head.flags, head.session_id, head.seq, tuple(avps), head.reserved)


def encode_pana_reference(msg: PanaMessage, *, dialect: str = "rfc5191") -> bytes:
    """Encode like ``encode_pana``, building the whole message with construct."""
    draft = _is_draft(dialect)
    avps: list[dict[str, Any]] = []
    for a in msg.avps:
        if a.flags & AVP_FLAG_VENDOR or (
            a.vendor_id is None and a.code in _checks.FIXED_U32_CODES and len(a.value) != 4
        ):
            raise encode_error(msg, draft)
        avps.append(
            {
                "code": a.code,
                "flags": a.flags | (AVP_FLAG_VENDOR if a.vendor_id is not None else 0),
                "reserved": a.reserved,
                "vendor_id": a.vendor_id,
                "value": a.value,
                "padding": bytes(-len(a.value) % 4),
            }
        )
    try:
        built = _MESSAGE[draft].build(
            {
                "reserved": msg.reserved,
                "flags": msg.flags,
                "type": msg.type,
                "session_id": msg.session_id,
                "seq": msg.seq,
                "avps": avps,
            }
        )
    except c.ConstructError:
        raise encode_error(msg, draft) from None
    return built


def decode_eap_reference(data: bytes, *, strict: bool = False) -> EapPacket:
    """Decode like ``decode_eap``, parsing every field with construct."""
    n = len(data)
    if n < EAP_HEADER_LEN:
        raise CodecError(f"EAP packet of {n} octets is shorter than the 4-octet header", 0, "")
    head = EAP_HEADER.parse(data)
    type_octet = _OCTET.parse(data[EAP_HEADER_LEN:]) if n > EAP_HEADER_LEN else -1
    check_length(head.code, head.length, n, type_octet)
    if strict and head.length < n:
        raise CodecError(f"{n - head.length} octets beyond the EAP Length", head.length, "length")
    raw = _EAP.parse(data[: head.length])
    if raw.type is None:
        return EapPacket(raw.code, raw.identifier)
    if raw.expanded is None:
        return EapPacket(raw.code, raw.identifier, raw.type, raw.type_data)
    return EapPacket(
        raw.code,
        raw.identifier,
        raw.type,
        raw.type_data,
        raw.expanded.vendor_id,
        raw.expanded.vendor_type,
    )


def encode_eap_reference(pkt: EapPacket) -> bytes:
    """Encode like ``encode_eap``, building with construct."""
    check_encodable(pkt)
    expanded = None
    if pkt.type == 254:
        expanded = {"vendor_id": pkt.vendor_id, "vendor_type": pkt.vendor_type}
    try:
        return _EAP.build(
            {
                "code": pkt.code,
                "identifier": pkt.identifier,
                "type": pkt.type,
                "expanded": expanded,
                "type_data": pkt.type_data,
            }
        )
    except c.ConstructError:
        raise CodecError("EAP packet exceeds 65535 octets", 2, "length") from None

"""Fuzz targets for pana_codecs: only CodecError escapes, accepted input re-encodes identically."""

from __future__ import annotations

import contextlib
import logging

from pana_codecs import (
    DIALECTS,
    Avp,
    AvpCode,
    CodecError,
    avp_address,
    avp_pac_information,
    avp_u32,
    avp_value,
    decode_avps,
    decode_eap,
    decode_nak,
    decode_pana,
    eap_name,
    eap_payload,
    encode_avps,
    encode_eap,
    encode_nak,
    encode_pana,
    flags_text,
    message_name,
    peek_pana,
    split_eap,
)

from ..registry import check, register
from ..seeds import eap_seeds, pana_seeds

__all__ = ["fuzz_avps", "fuzz_eap", "fuzz_pana", "fuzz_pana_draft18", "fuzz_peek"]

logger = logging.getLogger(__name__)


def _pana(data: bytes, dialect: str) -> None:
    """decode_pana in one dialect: CodecError, or a message that re-encodes to ``data``."""
    try:
        msg = decode_pana(data, dialect=dialect)
    except CodecError as exc:
        check(0 <= exc.offset <= len(data), f"error offset {exc.offset} outside the input")
        check(bool(exc.reason), "error without a reason")
        return
    check(encode_pana(msg, dialect=dialect) == data, "re-encoding differs")
    head = peek_pana(data)
    check((head.type, head.flags, head.session_id, head.seq) == (msg.type, msg.flags,
          msg.session_id, msg.seq), "peek_pana disagrees with decode_pana")  # fmt: skip
    message_name(msg.type, msg.flags)
    flags_text(msg.flags)
    for avp in msg.avps:
        _avp(avp)
        if avp.code == AvpCode.RELAYED_MESSAGE and avp.vendor_id is None:
            _pana(avp.value, dialect)  # RFC 6345 s5.2: a whole PANA message
    with contextlib.suppress(CodecError):
        decode_pana(data, dialect=dialect, max_avps=1)


def _avp(avp: Avp) -> None:
    """Every typed getter on one AVP: each returns a value or raises CodecError."""
    for getter in (avp_value, avp_u32, avp_address, avp_pac_information):
        with contextlib.suppress(CodecError):
            getter(avp)
    if avp.code == AvpCode.EAP_PAYLOAD:
        try:
            packet = eap_payload(avp)
        except CodecError:
            return
        check(encode_eap(packet) == avp.value, "EAP-Payload re-encoding differs")


@register("pana", seeds=pana_seeds)
def fuzz_pana(data: bytes) -> None:
    """decode_pana (RFC 5191 dialect) with every AVP getter and nested Relayed-Message."""
    _pana(data, "rfc5191")


@register("pana-draft18", seeds=pana_seeds)
def fuzz_pana_draft18(data: bytes) -> None:
    """decode_pana in the draft-18 dialect (AVP Length counts the AVP header)."""
    _pana(data, "draft18")


@register("peek", seeds=pana_seeds)
def fuzz_peek(data: bytes) -> None:
    """peek_pana: CodecError, or a header whose Message Length is the input length."""
    try:
        head = peek_pana(data)
    except CodecError:
        return
    check(head.length == len(data), "peek_pana accepted a wrong Message Length")


@register("eap", seeds=eap_seeds, max_size=4096)
def fuzz_eap(data: bytes) -> None:
    """decode_eap/split_eap and the Nak helpers (RFC 3748 s4, s5.3)."""
    try:
        packet, trailing = split_eap(data)
    except CodecError as exc:
        check(0 <= exc.offset <= len(data), f"error offset {exc.offset} outside the input")
        return
    check(encode_eap(packet) + trailing == data, "EAP re-encoding differs")
    check(decode_eap(data) == packet, "decode_eap disagrees with split_eap")
    eap_name(packet.code, packet.type)
    try:
        methods = decode_nak(packet)
    except CodecError:
        return
    again = encode_nak(packet.identifier, methods, expanded=packet.type == 254)
    check(decode_nak(again) == methods, "Nak round trip differs")


@register("avps", seeds=pana_seeds)
def fuzz_avps(data: bytes) -> None:
    """decode_avps (bare AVP sequences, e.g. decrypted Encryption-Encap) in both dialects."""
    for dialect in DIALECTS:
        try:
            avps = decode_avps(data, dialect=dialect)
        except CodecError:
            continue
        check(encode_avps(avps, dialect=dialect) == data, "AVP sequence re-encoding differs")

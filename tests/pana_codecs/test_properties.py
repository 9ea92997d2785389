"""Property tests: round trips in both dialects and EAP; arbitrary input raises only CodecError."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from pana_codecs import (
    Avp,
    AvpCode,
    CodecError,
    EapPacket,
    PanaMessage,
    avp_address,
    avp_pac_information,
    avp_u32,
    avp_value,
    decode_eap,
    decode_nak,
    decode_pana,
    eap_payload,
    encode_eap,
    encode_nak,
    encode_pana,
    split_eap,
)

from .strategies import (
    dialects,
    eap_packets,
    eap_wire,
    framed_bytes,
    messages,
    mutated,
    pana_wire,
)

PROFILE = settings(derandomize=True, max_examples=150, deadline=None)


@PROFILE
@given(messages, dialects)
def test_decode_encode_is_identity(msg: PanaMessage, dialect: str) -> None:
    data = encode_pana(msg, dialect=dialect)
    assert decode_pana(data, dialect=dialect) == msg
    assert encode_pana(decode_pana(data, dialect=dialect), dialect=dialect) == data


def check_total(data: bytes, dialect: str) -> None:
    """Either a CodecError, or a message that re-encodes to exactly ``data``."""
    try:
        msg = decode_pana(data, dialect=dialect)
    except CodecError as exc:
        assert 0 <= exc.offset <= len(data)
        assert exc.reason
    else:
        assert encode_pana(msg, dialect=dialect) == data


@PROFILE
@given(st.binary(max_size=256), dialects)
def test_random_bytes_raise_only_codec_error(data: bytes, dialect: str) -> None:
    check_total(data, dialect)


@PROFILE
@given(framed_bytes(), dialects)
def test_framed_random_avps_raise_only_codec_error(data: bytes, dialect: str) -> None:
    check_total(data, dialect)


@PROFILE
@given(mutated(pana_wire().map(lambda t: t[0])), dialects)
def test_mutated_messages_raise_only_codec_error(data: bytes, dialect: str) -> None:
    check_total(data, dialect)


@PROFILE
@given(eap_packets())
def test_eap_decode_encode_is_identity(pkt: EapPacket) -> None:
    data = encode_eap(pkt)
    assert decode_eap(data) == pkt
    assert decode_eap(data, strict=True) == pkt
    assert encode_eap(decode_eap(data)) == data


@PROFILE
@given(st.one_of(st.binary(max_size=64), mutated(eap_wire)))
def test_eap_random_bytes_raise_only_codec_error(data: bytes) -> None:
    try:
        pkt, trailing = split_eap(data)
    except CodecError as exc:
        assert 0 <= exc.offset <= len(data)
    else:
        assert encode_eap(pkt) + trailing == data


@PROFILE
@given(st.one_of(st.binary(max_size=48), mutated(eap_wire)))
def test_nak_and_payload_helpers_raise_only_codec_error(data: bytes) -> None:
    try:
        pkt = decode_eap(data)
    except CodecError:
        return
    with contextlib.suppress(CodecError):
        methods = decode_nak(pkt)
        assert decode_nak(encode_nak(pkt.identifier, methods, expanded=pkt.type == 254)) == methods
    with contextlib.suppress(CodecError):
        assert eap_payload(Avp(AvpCode.EAP_PAYLOAD, data)) == pkt


@PROFILE
@given(st.integers(0, 20), st.binary(max_size=24), st.none() | st.integers(0, 2**32 - 1))
def test_typed_getters_raise_only_codec_error(code: int, value: bytes, vendor: int | None) -> None:
    avp = Avp(code, value, vendor)
    for getter in (avp_value, avp_u32, avp_address, avp_pac_information):
        with contextlib.suppress(CodecError):
            getter(avp)

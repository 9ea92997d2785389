"""EAP codec (RFC 3748 s4), expanded types (s5.7) and Nak helpers (s5.3)."""

from __future__ import annotations

import pytest

from pana_codecs import (
    CodecError,
    EapCode,
    EapPacket,
    EapType,
    MethodId,
    decode_eap,
    decode_nak,
    encode_eap,
    encode_nak,
    split_eap,
)

# ../shared/spec/test-vectors.md A.7 (RFC 3748 s5.3.2 figure): expanded Nak, Identifier 7,
# proposing OTP (IETF type 5) and MIT (Vendor-Id 20) type 6.
EXPANDED_NAK = bytes.fromhex("0207001c fe00000000000003 fe00000000000005 fe00001400000006")
EXPANDED_NAK_NONE = bytes.fromhex("02070014 fe00000000000003 fe00000000000000")


def test_identity_request_and_response() -> None:
    req = bytes.fromhex("0100000501")
    assert decode_eap(req) == EapPacket(EapCode.REQUEST, 0, EapType.IDENTITY)
    resp = bytes.fromhex("0201000a017573657231")
    pkt = decode_eap(resp)
    assert pkt == EapPacket(2, 1, 1, b"user1")
    assert encode_eap(pkt) == resp


@pytest.mark.parametrize("code", [EapCode.SUCCESS, EapCode.FAILURE])
def test_success_failure_are_four_octets(code: int) -> None:
    data = bytes((code, 0x21, 0, 4))
    assert decode_eap(data) == EapPacket(code, 0x21)
    assert encode_eap(EapPacket(code, 0x21)) == data
    with pytest.raises(CodecError, match="Success/Failure with Length 5, expected 4") as info:
        decode_eap(bytes((code, 0x21, 0, 5, 1)))
    assert info.value.offset == 2


def test_octets_beyond_length_are_ignored_but_exposed() -> None:
    data = bytes.fromhex("03210004") + b"\0\0pad"
    pkt = decode_eap(data)
    assert pkt == EapPacket(3, 0x21)
    assert split_eap(data) == (pkt, b"\0\0pad")
    assert encode_eap(pkt) != data  # RFC 3748 s4 padding is not kept
    with pytest.raises(CodecError, match="5 octets beyond the EAP Length") as info:
        decode_eap(data, strict=True)
    assert (info.value.offset, info.value.path) == (4, "length")
    assert split_eap(data[:4]) == (pkt, b"")


def test_expanded_type() -> None:
    data = bytes.fromhex("0105000efe007ed900000001abcd")
    pkt = decode_eap(data)
    assert pkt == EapPacket(1, 5, 254, b"\xab\xcd", 0x7ED9, 1)
    assert encode_eap(pkt) == data


@pytest.mark.parametrize(
    ("data", "offset", "text"),
    [
        (b"", 0, "0 octets is shorter than the 4-octet header"),
        (b"\x01\x00\x00", 0, "3 octets is shorter"),
        (b"\x05\x00\x00\x04", 0, "unknown EAP Code 5"),
        (b"\x00\x00\x00\x04", 0, "unknown EAP Code 0"),
        (b"\x01\x00\x00\x06\x01", 2, "EAP Length 6 exceeds the 5 octets received"),
        (b"\x01\x00\x00\x04", 2, "Request/Response with Length 4 has no Type"),
        (b"\x02\x00\x00\x02\x01", 2, "Request/Response with Length 2 has no Type"),
        (b"\x03\x00\x00\x02", 2, "Success/Failure with Length 2"),
        (bytes.fromhex("0100000bfe00000000000001"), 2, "expanded header needs 12 octets"),
    ],
)
def test_malformed_packets(data: bytes, offset: int, text: str) -> None:
    with pytest.raises(CodecError) as info:
        decode_eap(data)
    assert info.value.offset == offset
    assert text in info.value.reason


@pytest.mark.parametrize(
    ("pkt", "path"),
    [
        (EapPacket(5, 0), "code"),
        (EapPacket(1, 256, 1), "identifier"),
        (EapPacket(1, -1, 1), "identifier"),
        (EapPacket(3, 0, 1), "type"),
        (EapPacket(4, 0, None, b"x"), "type"),
        (EapPacket(3, 0, vendor_id=1), "type"),
        (EapPacket(1, 0), "type"),
        (EapPacket(1, 0, 256), "type"),
        (EapPacket(1, 0, 254, b"", None, 1), "vendor_id"),
        (EapPacket(1, 0, 254, b"", 1, None), "vendor_id"),
        (EapPacket(1, 0, 254, b"", 1 << 24, 1), "vendor_id"),
        (EapPacket(1, 0, 254, b"", 1, 1 << 32), "vendor_type"),
        (EapPacket(1, 0, 1, b"", 1, None), "type"),
        (EapPacket(1, 0, 1, b"", None, 3), "type"),
        (EapPacket(1, 0, 1, bytes(0xFFFB)), "length"),
    ],
)
def test_unencodable_packets(pkt: EapPacket, path: str) -> None:
    with pytest.raises(CodecError) as info:
        encode_eap(pkt)
    assert info.value.path == path


def test_largest_packet_encodes() -> None:
    pkt = EapPacket(1, 0, 1, bytes(0xFFFA))
    assert decode_eap(encode_eap(pkt)) == pkt


def test_expanded_nak_vector_a7() -> None:
    pkt = encode_nak(7, [MethodId(0, 5), MethodId(20, 6)], expanded=True)
    assert encode_eap(pkt) == EXPANDED_NAK
    assert decode_nak(decode_eap(EXPANDED_NAK)) == (MethodId(0, 5), MethodId(20, 6))


def test_expanded_nak_no_alternative() -> None:
    assert encode_eap(encode_nak(7, [], expanded=True)) == EXPANDED_NAK_NONE
    assert decode_nak(decode_eap(EXPANDED_NAK_NONE)) == ()


def test_legacy_nak() -> None:
    pkt = encode_nak(3, [MethodId(0, EapType.PSK), MethodId(0, EapType.EXPANDED)])
    assert encode_eap(pkt) == bytes.fromhex("02030007 03 2f fe")  # Nak: PSK (47), Expanded
    assert decode_nak(pkt) == (MethodId(0, 47), MethodId(0, 254))
    none = encode_nak(3, ())
    assert encode_eap(none) == bytes.fromhex("020300060300")
    assert decode_nak(none) == ()


def test_legacy_nak_cannot_name_vendor_methods() -> None:
    with pytest.raises(CodecError, match="legacy Nak lists only IETF types"):
        encode_nak(1, [MethodId(20, 6)])
    with pytest.raises(CodecError, match="legacy Nak lists only IETF types"):
        encode_nak(1, [MethodId(0, 256)])


@pytest.mark.parametrize(
    ("pkt", "text"),
    [
        (EapPacket(1, 0, 3, b"\x04"), "a Nak is an EAP Response"),
        (EapPacket(2, 0, 3, b""), "without any Type-Data"),
        (EapPacket(2, 0, 3, b"\x04\x00"), "must be alone"),
        (EapPacket(2, 0, 4, b"\x04"), "not a Nak"),
        (EapPacket(2, 0, 254, bytes(8), 0, 4), "not a Nak"),
        (EapPacket(2, 0, 254, bytes(8), 1, 3), "not a Nak"),
        (EapPacket(2, 0, 254, b"", 0, 3), "not a non-empty multiple of 8"),
        (EapPacket(2, 0, 254, bytes(7), 0, 3), "not a non-empty multiple of 8"),
        (EapPacket(2, 0, 254, bytes.fromhex("fd00000000000005"), 0, 3), "without Type 254"),
        (
            EapPacket(2, 0, 254, bytes.fromhex("fe00000000000000fe00000000000005"), 0, 3),
            "must be alone",
        ),
    ],
)
def test_malformed_naks(pkt: EapPacket, text: str) -> None:
    with pytest.raises(CodecError, match=text):
        decode_nak(pkt)


def test_repr_shows_lengths_not_type_data() -> None:
    pkt = EapPacket(2, 1, 1, b"user1")
    assert repr(pkt) == "EapPacket(code=2, identifier=1, type=1, type_data=<5 octets>)"
    assert repr(EapPacket(3, 9)) == "EapPacket(code=3, identifier=9)"
    assert repr(EapPacket(1, 0, 254, b"", 7, 1)) == (
        "EapPacket(code=1, identifier=0, type=254, type_data=<0 octets>, "
        "vendor_id=7, vendor_type=1)"
    )


def test_bytearray_input_gives_bytes_type_data() -> None:
    pkt = decode_eap(bytearray(b"\x02\x01\x00\x06\x01u"))  # type: ignore[arg-type]
    assert type(pkt.type_data) is bytes and pkt == EapPacket(2, 1, 1, b"u")

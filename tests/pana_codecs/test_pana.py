"""decode_pana / encode_pana: header, flags, AVPs, padding, dialects and every error path."""

from __future__ import annotations

import struct

import pytest

from pana_codecs import (
    AVP_FLAG_VENDOR,
    Avp,
    AvpCode,
    CodecError,
    MessageFlags,
    MessageType,
    PanaMessage,
    decode_avps,
    decode_pana,
    encode_avps,
    encode_pana,
)

PEN = 32473  # RFC 5612 documentation Private Enterprise Number


def header(length: int, flags: int = 0, mtype: int = 2, sid: int = 1, seq: int = 2) -> bytes:
    return struct.pack("!HHHHII", 0, length, flags, mtype, sid, seq)


def avp(
    code: int, value: bytes, flags: int = 0, vendor: int | None = None, length: int = -1
) -> bytes:
    n = len(value) if length < 0 else length
    if vendor is None:
        head = struct.pack("!HHHH", code, flags, n, 0)
    else:
        head = struct.pack("!HHHHI", code, flags | AVP_FLAG_VENDOR, n, 0, vendor)
    return head + value + bytes(-len(value) % 4)


def message(*avps: bytes, flags: int = 0, mtype: int = 2) -> bytes:
    body = b"".join(avps)
    return header(16 + len(body), flags, mtype) + body


def test_header_fields_and_flags() -> None:
    data = bytes.fromhex("0000001088000004a82f2df84b777b1f")
    msg = decode_pana(data)
    assert msg == PanaMessage(MessageType.PANA_NOTIFICATION, 0x8800, 0xA82F2DF8, 0x4B777B1F)
    assert msg.is_request and msg.has(MessageFlags.P) and not msg.has(MessageFlags.A)
    assert msg.has(MessageFlags.R | MessageFlags.P)
    assert encode_pana(msg) == data


@pytest.mark.parametrize("flag", list(MessageFlags))
def test_each_flag_bit_round_trips(flag: MessageFlags) -> None:
    msg = PanaMessage(MessageType.PANA_AUTH, flag, 1, 2)
    assert decode_pana(encode_pana(msg)).flags == flag
    assert decode_pana(encode_pana(msg)).has(flag)


def test_flag_masks_match_rfc() -> None:
    # RFC 5191 s6.2 bit 0 = MSB; RFC 5873 s3 E is bit 6.
    assert [int(f) for f in MessageFlags] == [0x8000 >> i for i in range(7)]
    assert [int(t) for t in MessageType] == [1, 2, 3, 4, 5]


def test_unknown_flags_reserved_fields_and_types_survive() -> None:
    data = bytearray(message(avp(300, b"xyz", flags=0x0101), flags=0x01FF, mtype=0xFFF0))
    data[0:2] = b"\xab\xcd"  # header Reserved
    data[22:24] = b"\x12\x34"  # AVP Reserved
    msg = decode_pana(bytes(data))
    assert msg.reserved == 0xABCD and msg.flags == 0x01FF and msg.type == 0xFFF0
    assert msg.avps == (Avp(300, b"xyz", None, 0x0101, 0x1234),)
    assert encode_pana(msg) == bytes(data)


def test_vendor_avp_round_trips_with_v_bit() -> None:
    data = message(avp(1, b"vendor data", vendor=PEN), avp(AvpCode.NONCE, bytes(8)))
    msg = decode_pana(data)
    assert msg.avps[0] == Avp(1, b"vendor data", PEN)
    assert msg.avps[0].flags == 0  # V is not in flags
    assert msg.avp(1) is None and msg.avp(1, PEN) == msg.avps[0]
    assert msg.all_avps(AvpCode.NONCE) == [msg.avps[1]]
    assert encode_pana(msg) == data


def test_vendor_avp_with_ietf_fixed_code_is_not_size_checked() -> None:
    data = message(avp(AvpCode.KEY_ID, b"12345", vendor=PEN))
    assert decode_pana(data).avps[0].value == b"12345"


def test_padding_is_counted_and_zero() -> None:
    data = message(avp(AvpCode.EAP_PAYLOAD, b"\x01\x00\x00\x05\x01"))
    assert len(data) == 16 + 8 + 8
    assert decode_pana(data).avps[0].value == b"\x01\x00\x00\x05\x01"
    assert encode_pana(decode_pana(data)) == data


def test_nonzero_padding_is_rejected_at_the_octet() -> None:
    data = bytearray(message(avp(AvpCode.NONCE, bytes(9))))
    data[-2] = 0x7F  # second of three padding octets
    with pytest.raises(CodecError) as info:
        decode_pana(bytes(data))
    assert info.value.offset == len(data) - 2
    assert info.value.path == "avps[0].padding"
    assert "non-zero AVP padding" in info.value.reason


def test_framing_error_is_reported_before_nonzero_padding() -> None:
    data = bytearray(message(avp(AvpCode.NONCE, bytes(9)), avp(AvpCode.AUTH, bytes(20))))
    data[16 + 8 + 10] = 1  # padding of the first AVP
    data[16 + 20 + 4 : 16 + 20 + 6] = b"\x00\x30"  # AUTH Length 48: runs past the end
    with pytest.raises(CodecError, match="runs past the end") as info:
        decode_pana(bytes(data))
    assert info.value.offset == 36


def test_zero_length_and_empty_message() -> None:
    msg = PanaMessage(2, 0, 0, 0, (Avp(AvpCode.AUTH, b""),))
    data = encode_pana(msg)
    assert data == header(24, 0, 2, 0, 0) + struct.pack("!HHHH", 1, 0, 0, 0)
    assert decode_pana(data) == msg


@pytest.mark.parametrize(
    ("data", "offset", "path", "text"),
    [
        (b"", 0, "header", "datagram of 0 octets is shorter than the 16-octet PANA header"),
        (bytes(15), 0, "header", "15 octets"),
    ],
)
def test_short_datagrams(data: bytes, offset: int, path: str, text: str) -> None:
    with pytest.raises(CodecError) as info:
        decode_pana(data)
    assert (info.value.offset, info.value.path) == (offset, path)
    assert text in info.value.reason


@pytest.mark.parametrize("length", [0, 15, 17, 40, 0xFFFF])
def test_message_length_must_match_datagram(length: int) -> None:
    with pytest.raises(CodecError) as info:
        decode_pana(header(length) + bytes(4))
    assert info.value.offset == 2 and info.value.path == "header.length"
    assert f"Message Length {length} does not match the datagram length 20" in info.value.reason


def test_truncated_avp_header() -> None:
    data = message(avp(AvpCode.NONCE, bytes(8))) + bytes(4)
    data = header(len(data)) + data[16:]
    with pytest.raises(CodecError) as info:
        decode_pana(data)
    assert info.value.offset == 32 and info.value.path == "avps[1]"
    assert "truncated AVP header: 4 octets left, 8 needed" in info.value.reason


def test_truncated_vendor_id() -> None:
    data = header(24) + struct.pack("!HHHH", 1, AVP_FLAG_VENDOR, 0, 0)
    with pytest.raises(CodecError) as info:
        decode_pana(data)
    assert info.value.offset == 24 and info.value.path == "avps[0].vendor_id"
    assert "truncated Vendor-Id" in info.value.reason


@pytest.mark.parametrize("code", [3, 4, 6, 7, 8, 9, 13])
@pytest.mark.parametrize("size", [0, 3, 5, 8])
def test_fixed_size_avps(code: int, size: int) -> None:
    data = message(avp(AvpCode.AUTH, bytes(20)), avp(code, bytes(size)))
    with pytest.raises(CodecError) as info:
        decode_pana(data)
    assert info.value.offset == 16 + 28
    assert info.value.path == "avps[1].length"
    assert f"AVP (code {code}) with Length {size}, expected 4" in info.value.reason
    with pytest.raises(CodecError, match="expected 4") as info:
        encode_pana(PanaMessage(2, 0, 1, 2, (Avp(AvpCode.AUTH, bytes(20)), Avp(code, bytes(size)))))
    assert (info.value.offset, info.value.path) == (16 + 28, "avps[1].length")


def test_value_past_end_and_padding_past_end() -> None:
    data = header(28) + struct.pack("!HHHH", 5, 0, 5, 0) + b"abcd"
    with pytest.raises(CodecError) as info:
        decode_pana(data)
    assert (info.value.offset, info.value.path) == (16, "avps[0].length")
    assert (
        "AVP value (Length 5) runs past the end of the message (4 octets left" in info.value.reason
    )
    data = header(29) + struct.pack("!HHHH", 5, 0, 5, 0) + b"abcde"
    with pytest.raises(CodecError) as info:
        decode_pana(data)
    assert (info.value.offset, info.value.path) == (29, "avps[0].padding")
    assert "AVP padding (3 octets) runs past the end" in info.value.reason


def test_no_draft_hint_when_draft_decode_fails_too() -> None:
    data = header(28) + struct.pack("!HHHH", 5, 0, 50, 0) + b"abcd"
    with pytest.raises(CodecError) as info:
        decode_pana(data)
    assert "draft18" not in info.value.reason
    assert not info.value.reason.startswith("PANA version 1")


def test_draft18_dialect_lengths_include_the_header() -> None:
    msg = PanaMessage(
        2,
        0xC000,
        7,
        9,
        (Avp(AvpCode.PRF_ALGORITHM, bytes(4)), Avp(77, b"v", PEN), Avp(5, b"abcde")),
    )
    data = encode_pana(msg, dialect="draft18")
    assert data[16 + 4 : 16 + 6] == b"\x00\x0c"  # 4 + 8
    assert data[28 + 4 : 28 + 6] == b"\x00\x0d"  # 1 + 12 (Vendor-Id counted, as in Diameter)
    assert decode_pana(data, dialect="draft18") == msg
    assert encode_pana(msg) != data


def test_draft18_length_shorter_than_header() -> None:
    data = header(24) + struct.pack("!HHHH", 5, 0, 7, 0)
    with pytest.raises(CodecError) as info:
        decode_pana(data, dialect="draft18")
    assert (info.value.offset, info.value.path) == (16, "avps[0].length")
    assert "shorter than the 8-octet AVP header" in info.value.reason
    data = header(28) + struct.pack("!HHHHI", 5, AVP_FLAG_VENDOR, 11, 0, PEN)
    with pytest.raises(CodecError, match="12-octet AVP header"):
        decode_pana(data, dialect="draft18")


def test_unknown_dialect_is_caller_misuse() -> None:
    with pytest.raises(ValueError, match="unknown PANA dialect 'rfc4000'") as info:
        decode_pana(header(16), dialect="rfc4000")
    assert not isinstance(info.value, CodecError)
    with pytest.raises(ValueError, match="unknown PANA dialect"):
        encode_pana(PanaMessage(1, 0, 0, 0), dialect="")


@pytest.mark.parametrize(
    ("msg", "path"),
    [
        (PanaMessage(0x10000, 0, 0, 0), "type"),
        (PanaMessage(1, -1, 0, 0), "flags"),
        (PanaMessage(1, 0, 1 << 32, 0), "session_id"),
        (PanaMessage(1, 0, 0, -5), "seq"),
        (PanaMessage(1, 0, 0, 0, reserved=1 << 16), "reserved"),
        (PanaMessage(1, 0, 0, 0, (Avp(1 << 16, b""),)), "avps[0].code"),
        (PanaMessage(1, 0, 0, 0, (Avp(1, b"", flags=1 << 16),)), "avps[0].flags"),
        (PanaMessage(1, 0, 0, 0, (Avp(1, b"", flags=AVP_FLAG_VENDOR),)), "avps[0].flags"),
        (PanaMessage(1, 0, 0, 0, (Avp(1, b"", reserved=-1),)), "avps[0].reserved"),
        (PanaMessage(1, 0, 0, 0, (Avp(1, b"", 1 << 32),)), "avps[0].vendor_id"),
        (PanaMessage(1, 0, 0, 0, (Avp(1, bytes(0x10000)),)), "avps[0].length"),
        (PanaMessage(1, 0, 0, 0, (Avp(1, bytes(0xFFF0)),)), "length"),
        (PanaMessage(1, 0, 0, 0, (Avp(2, b"x"), Avp(4, b""))), "avps[1].length"),
        (PanaMessage(1, 0, 0, 0, (Avp(2, b"x", 9), Avp(3, b"", reserved=-1))), "avps[1].reserved"),
    ],
)
def test_unencodable_messages(msg: PanaMessage, path: str) -> None:
    with pytest.raises(CodecError) as info:
        encode_pana(msg)
    assert info.value.path == path


def test_draft18_length_limit_counts_the_header() -> None:
    msg = PanaMessage(1, 0, 0, 0, (Avp(1, bytes(0xFFFF - 7)),))
    with pytest.raises(CodecError) as info:
        encode_pana(msg, dialect="draft18")
    assert info.value.path == "avps[0].length"


def test_codec_error_text() -> None:
    err = CodecError("bad thing", 12, "avps[0]")
    assert str(err) == "bad thing at offset 12 (avps[0])"
    assert str(CodecError("x")) == "x at offset 0"
    assert isinstance(err, ValueError)


def test_reprs_show_lengths_not_values() -> None:
    secret = b"user1@example.com"
    avp = Avp(AvpCode.EAP_PAYLOAD, secret)
    assert repr(avp) == "Avp(code=2, value=<17 octets>)"
    assert repr(Avp(7, b"", 9, 0x10, 1)) == (
        "Avp(code=7, value=<0 octets>, vendor_id=9, flags=0x0010, reserved=0x0001)"
    )
    msg = PanaMessage(2, 0, 1, 2, (avp,))
    assert "user1" not in repr(msg) and "<17 octets>" in repr(msg)


def test_bytearray_and_memoryview_input_give_bytes_values() -> None:
    data = message(avp(AvpCode.NONCE, b"0123456789"))
    for view in (bytearray(data), memoryview(data)):
        msg = decode_pana(view)  # type: ignore[arg-type]
        assert type(msg.avps[0].value) is bytes
        assert msg == decode_pana(data)


def test_bare_avp_sequences_for_encryption_encap() -> None:
    # RFC 6786 s5: Encryption-Encap carries encoded AVPs (headers and padding), no PANA header.
    avps = (Avp(AvpCode.SESSION_LIFETIME, (60).to_bytes(4, "big")), Avp(AvpCode.NONCE, b"12345"))
    data = encode_avps(avps)
    assert data[:12] == bytes.fromhex("00080000000400000000003c")  # pana-wire.md s17.2 plaintext
    assert len(data) == 12 + 16
    assert decode_avps(data) == avps
    draft = encode_avps(list(avps), dialect="draft18")
    assert decode_avps(draft, dialect="draft18") == avps
    assert decode_avps(b"") == ()


def test_bare_avp_sequence_errors_count_from_the_sequence_start() -> None:
    with pytest.raises(CodecError) as info:
        decode_avps(avp(AvpCode.NONCE, bytes(8)) + struct.pack("!HHHH", 4, 0, 12, 0) + bytes(12))
    assert (info.value.offset, info.value.path) == (16, "avps[1].length")
    assert "try dialect draft18" not in info.value.reason
    with pytest.raises(CodecError) as info:
        decode_avps(struct.pack("!HHHH", 4, 0, 12, 0) + bytes(4))
    assert info.value.offset == 0 and "try dialect draft18" in info.value.reason
    with pytest.raises(CodecError, match="cannot fit in a message"):
        decode_avps(bytes(0xFFF0))
    with pytest.raises(CodecError) as info:
        encode_avps([Avp(AvpCode.NONCE, bytes(8)), Avp(AvpCode.KEY_ID, b"")])
    assert (info.value.offset, info.value.path) == (16, "avps[1].length")
    with pytest.raises(CodecError) as info:
        encode_avps([Avp(1, bytes(0xFFF0))])
    assert (info.value.offset, info.value.path) == (0, "length")


def test_reserved_octet_one_is_not_an_error_by_itself() -> None:
    # RFC 5191 s6.2: Reserved is ignored; only a failing pre-RFC message gets the v1 hint.
    data = b"\x01\x00" + message(avp(AvpCode.NONCE, bytes(8)))[2:]
    msg = decode_pana(data)
    assert msg.reserved == 0x0100 and encode_pana(msg) == data

"""Hostile input to the codec: header peek, AVP cap, bounded cost, encoder misuse (issue 9)."""

from __future__ import annotations

import struct

import pytest

from pana_codecs import (
    DEFAULT_MAX_AVPS,
    Avp,
    CodecError,
    EapPacket,
    MessageFlags,
    PanaHeader,
    PanaMessage,
    decode_avps,
    decode_pana,
    encode_avps,
    encode_eap,
    encode_pana,
    peek_pana,
)
from pana_codecs._reference import decode_pana_reference
from pana_codecs.pana import peek_header

from ._vectors import load_frames


def empty_avps(count: int, *, code: int = 100, session_id: int = 0x1234) -> bytes:
    """A PAR of ``count`` empty AVPs (8 octets each): the cheapest way to many AVPs."""
    body = struct.pack("!HHHH", code, 0, 0, 0) * count
    return struct.pack("!HHHHII", 0, 16 + len(body), 0x8000, 2, session_id, 1) + body


WORST = empty_avps(8186)  # 65,504 octets: the most AVPs a UDP datagram can carry
MINIMAL = bytes.fromhex("00000010000000010000000000000000")  # PCI, RFC 5191 capture frame 1


def test_worst_datagram_is_the_largest_possible() -> None:
    assert len(WORST) == 65504 and len(empty_avps(8187)) > 65507 - 8


def test_peek_reads_the_header_only() -> None:
    par_c = load_frames("wireshark-wiki-pana-rfc5191")[10]
    head = peek_pana(par_c)
    assert head == PanaHeader(2, MessageFlags.R | MessageFlags.C, 0xA82F2DF8, 0x4B777B23, 92)
    assert head.is_request
    broken_avps = par_c[:16] + b"\xff" * (len(par_c) - 16)
    assert peek_pana(broken_avps) == head  # AVPs are not looked at
    with pytest.raises(CodecError):
        decode_pana(broken_avps)
    assert peek_pana(WORST).session_id == 0x1234


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "shorter than the 16-octet PANA header"),
        (MINIMAL[:15], "shorter than the 16-octet PANA header"),
        (MINIMAL + b"\0", "does not match the datagram length"),
        (bytes.fromhex("0000ffff000000010000000000000000"), "does not match"),
    ],
)
def test_peek_rejects_like_decode(data: bytes, reason: str) -> None:
    with pytest.raises(CodecError, match=reason) as peeked:
        peek_pana(data)
    with pytest.raises(CodecError) as decoded:
        decode_pana(data)
    assert (peeked.value.reason, peeked.value.offset) == (
        decoded.value.reason,
        decoded.value.offset,
    )


@pytest.mark.parametrize(
    "data",
    [b"", MINIMAL[:15], MINIMAL + b"\0", bytes.fromhex("0000ffff000000010000000000000000")],
)
def test_peek_header_rejects_like_peek(data: bytes) -> None:
    with pytest.raises(CodecError) as peeked:
        peek_pana(data)
    with pytest.raises(CodecError) as fast:
        peek_header(data)
    assert (fast.value.reason, fast.value.offset) == (peeked.value.reason, peeked.value.offset)


def test_peek_header_is_peek_as_a_tuple() -> None:
    for frame in [*load_frames("wireshark-wiki-pana-rfc5191").values(), MINIMAL, WORST]:
        head = peek_pana(frame)
        assert peek_header(frame) == (head.type, head.flags, head.session_id, head.seq)


def test_avp_cap() -> None:
    assert DEFAULT_MAX_AVPS == 256
    assert len(decode_pana(empty_avps(256)).avps) == 256
    for decode in (decode_pana, decode_pana_reference):
        with pytest.raises(CodecError, match=r"more than 256 AVPs") as info:
            decode(empty_avps(257))
        assert (info.value.offset, info.value.path) == (16 + 256 * 8, "avps")
    assert len(decode_pana(WORST, max_avps=None).avps) == 8186
    assert len(decode_pana(empty_avps(3), max_avps=3).avps) == 3
    with pytest.raises(CodecError, match="more than 2 AVPs"):
        decode_pana(empty_avps(3), max_avps=2)
    with pytest.raises(CodecError, match="more than 0 AVPs"):
        decode_pana(empty_avps(1), max_avps=0)
    with pytest.raises(ValueError, match="max_avps"):
        decode_pana(MINIMAL, max_avps=-1)
    assert len(decode_avps(encode_avps([Avp(5, b"n" * 8)] * 4), max_avps=4)) == 4
    with pytest.raises(CodecError, match="more than 3 AVPs") as info:
        decode_avps(encode_avps([Avp(5, b"n" * 8)] * 4), max_avps=3)
    assert info.value.offset == 3 * 16  # relative to the AVP sequence


def test_an_earlier_error_wins_over_the_cap() -> None:
    bad = bytearray(empty_avps(300))
    bad[16:18] = b"\x00\x04"  # first AVP: Key-Id of length 0
    with pytest.raises(CodecError, match="expected 4") as info:
        decode_pana(bytes(bad))
    assert info.value.path == "avps[0].length"


def test_the_worst_datagram_is_refused_at_the_cap_and_peek_reads_no_avp() -> None:
    # Counted, not timed (shared machines; benchmarks/datagram_cost.py measures the cost ratio):
    # decoding stops at the AVP cap, wherever the datagram ends ...
    with pytest.raises(CodecError, match="more than") as info:
        decode_pana(WORST)
    assert info.value.offset is not None and info.value.offset <= 16 + 8 * DEFAULT_MAX_AVPS
    # ... and the header check reads nothing past the header: AVPs that are garbage change nothing
    garbage = WORST[:16] + bytes([0xFF]) * (len(WORST) - 16)
    assert peek_pana(garbage) == peek_pana(WORST)


def test_error_explanation_is_bounded_too() -> None:
    # 8,185 good AVPs and a truncated last one: the draft18 hint re-decodes under the cap only.
    data = empty_avps(8185) + b"\0\5"
    data = data[:2] + struct.pack("!H", len(data)) + data[4:]
    # Counted, not timed: the error is the cap's, found long before the truncated tail.
    with pytest.raises(CodecError, match="more than") as info:
        decode_pana(data)
    assert info.value.offset is not None and info.value.offset <= 16 + 8 * DEFAULT_MAX_AVPS


@pytest.mark.parametrize(
    ("msg", "path"),
    [
        (PanaMessage(None, 0, 0, 0), "type"),  # type: ignore[arg-type]
        (PanaMessage(2, None, 0, 0), "flags"),  # type: ignore[arg-type]
        (PanaMessage(2, 0, None, 0), "session_id"),  # type: ignore[arg-type]
        (PanaMessage(2, 0, 0, "1"), "seq"),  # type: ignore[arg-type]
        (PanaMessage(2, 0, 0, 0, reserved=None), "reserved"),  # type: ignore[arg-type]
        (PanaMessage(2, 0, 0, 0, (Avp(None, b""),)), "avps[0].code"),  # type: ignore[arg-type]
        (PanaMessage(2, 0, 0, 0, (Avp(1, None),)), "avps[0].value"),  # type: ignore[arg-type]
        (PanaMessage(2, 0, 0, 0, (Avp(1, b"", 1.5),)), "avps[0].vendor_id"),  # type: ignore[arg-type]
        (PanaMessage(2, 0, 0, 0, (Avp(1, b"", None, None),)), "avps[0].flags"),  # type: ignore[arg-type]
        (PanaMessage(2, 0, 0, 0, (None,)), "avps[0]"),  # type: ignore[arg-type]
        (PanaMessage(2, 0, 0, 0, None), "avps"),  # type: ignore[arg-type]
        (PanaMessage(2.0, 0, 0, 0), "type"),  # type: ignore[arg-type]
    ],
)
def test_encode_with_a_wrong_field_type_raises_codec_error(msg: PanaMessage, path: str) -> None:
    with pytest.raises(CodecError) as info:
        encode_pana(msg)
    assert info.value.path == path


@pytest.mark.parametrize(
    "pkt",
    [
        EapPacket(None, 0),  # type: ignore[arg-type]
        EapPacket(1, None),  # type: ignore[arg-type]
        EapPacket(1, 0, "x"),  # type: ignore[arg-type]
        EapPacket(1, 0, 1, None),  # type: ignore[arg-type]
        EapPacket(1, 0, 254, b"", None, 3),
        EapPacket(1, 0, 254, b"", "0", 3),  # type: ignore[arg-type]
        "not a packet",
    ],
)
def test_encode_eap_with_a_wrong_field_type_raises_codec_error(pkt: EapPacket) -> None:
    with pytest.raises(CodecError):
        encode_eap(pkt)

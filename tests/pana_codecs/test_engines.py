"""The fast engine (struct formats derived from _layout) agrees with the construct-only engine."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import construct as c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pana_codecs import (
    Avp,
    CodecError,
    EapPacket,
    PanaMessage,
    decode_eap,
    decode_pana,
    encode_eap,
    encode_pana,
)
from pana_codecs import _layout as layout
from pana_codecs._reference import (
    decode_eap_reference,
    decode_pana_reference,
    encode_eap_reference,
    encode_pana_reference,
)

from ._vectors import all_frames
from .strategies import (
    dialects,
    eap_packets,
    eap_wire,
    framed_bytes,
    messages,
    mutated,
    pana_wire,
    u16,
    u32,
)

PROFILE = settings(derandomize=True, max_examples=150, deadline=None)


def outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> object:
    """The result, or the error's (reason, offset, path)."""
    try:
        return fn(*args, **kwargs)
    except CodecError as exc:
        return ("CodecError", exc.reason, exc.offset, exc.path)


def same_decode(data: bytes, dialect: str) -> None:
    fast = outcome(decode_pana, data, dialect=dialect)
    assert fast == outcome(decode_pana_reference, data, dialect=dialect)
    if isinstance(fast, PanaMessage):
        assert encode_pana(fast, dialect=dialect) == encode_pana_reference(fast, dialect=dialect)


@pytest.mark.parametrize(("capture", "frame", "data"), all_frames())
@pytest.mark.parametrize("dialect", ["rfc5191", "draft18"])
def test_engines_agree_on_every_capture_message(
    capture: str, frame: int, data: bytes, dialect: str
) -> None:
    same_decode(data, dialect)


CRAFTED = [
    # (hex, what it exercises): every framing rule in both engines
    ("0000001c 00000002 00000001 00000002 0005 0000 0005 0000 61626364", "value past end"),
    ("0000001d 00000002 00000001 00000002 0005 0000 0005 0000 6162636465", "padding past end"),
    ("00000020 00000002 00000001 00000002 0005 0000 0005 0000 6162636465 000100", "padding"),
    ("00000018 00000002 00000001 00000002 0001 8000 0000 0000", "truncated Vendor-Id"),
    ("0000001c 00000002 00000001 00000002 0001 8000 0000 0000 00007ed9", "vendor, empty"),
    ("00000014 00000002 00000001 00000002 00050000", "truncated AVP header"),
    ("00000018 00000002 00000001 00000002 0005 0000 0007 0000", "draft18 Length < 8"),
    ("00000018 00000002 00000001 00000002 0004 0000 0000 0000", "fixed size"),
    ("0000000f 00000002 00000001 000000", "short"),
    ("00000011 00000002 00000001 00000002", "Message Length"),
]
EAP_CRAFTED = [
    "0105000efe007ed900000001abcd",
    "0105000cfe007ed900000001",
    "0105000bfe007ed9000000",
    "0100000501",
    "03000004",
    "0300000400",
    "04000005",
    "010000",
]


@pytest.mark.parametrize(("hexdata", "what"), CRAFTED)
@pytest.mark.parametrize("dialect", ["rfc5191", "draft18"])
def test_engines_agree_on_crafted_input(hexdata: str, what: str, dialect: str) -> None:
    same_decode(bytes.fromhex(hexdata), dialect)


@pytest.mark.parametrize("hexdata", EAP_CRAFTED)
@pytest.mark.parametrize("strict", [False, True])
def test_eap_engines_agree_on_crafted_input(hexdata: str, strict: bool) -> None:
    data = bytes.fromhex(hexdata)
    assert outcome(decode_eap, data, strict=strict) == outcome(
        decode_eap_reference, data, strict=strict
    )


@PROFILE
@given(
    st.one_of(st.binary(max_size=128), framed_bytes(), mutated(pana_wire().map(lambda t: t[0]))),
    dialects,
)
def test_engines_agree_on_damaged_input(data: bytes, dialect: str) -> None:
    same_decode(data, dialect)


@PROFILE
@given(messages, dialects)
def test_engines_agree_on_encoding(msg: PanaMessage, dialect: str) -> None:
    assert encode_pana(msg, dialect=dialect) == encode_pana_reference(msg, dialect=dialect)


bad_numbers = st.one_of(u16, u32, st.integers(-2, 0x1_0000_0001))


@PROFILE
@given(
    st.builds(
        PanaMessage,
        type=bad_numbers,
        flags=bad_numbers,
        session_id=bad_numbers,
        seq=bad_numbers,
        avps=st.just(()),
        reserved=bad_numbers,
    ),
    dialects,
)
def test_engines_agree_on_unencodable_headers(msg: PanaMessage, dialect: str) -> None:
    assert outcome(encode_pana, msg, dialect=dialect) == outcome(
        encode_pana_reference, msg, dialect=dialect
    )


@PROFILE
@given(st.one_of(st.binary(max_size=64), mutated(eap_wire)), st.booleans())
def test_eap_engines_agree(data: bytes, strict: bool) -> None:
    fast = outcome(decode_eap, data, strict=strict)
    assert fast == outcome(decode_eap_reference, data, strict=strict)


@PROFILE
@given(eap_packets())
def test_eap_engines_agree_on_encoding(pkt: EapPacket) -> None:
    assert encode_eap(pkt) == encode_eap_reference(pkt)


def test_eap_reference_encoding_errors() -> None:
    with pytest.raises(CodecError, match="unknown EAP Code"):
        encode_eap_reference(EapPacket(9, 0))
    with pytest.raises(CodecError, match="exceeds 65535"):
        encode_eap_reference(EapPacket(1, 0, 1, bytes(0xFFFB)))
    with pytest.raises(CodecError) as info:
        encode_pana_reference(PanaMessage(1, 0, 0, 0, (Avp(4, b""),)))
    assert info.value.path == "avps[0].length"


def test_struct_formats_are_derived_from_the_layouts() -> None:
    assert layout.struct_format(layout.HEADER).format == "!HHHHLL"
    assert layout.struct_format(layout.AVP_HEADER).format == "!HHHH"
    assert layout.struct_format(layout.EAP_HEADER).format == "!BBH"
    assert layout.struct_format(c.Int32ub).format == "!L"  # "!" = standard sizes: L is 4 octets
    assert (layout.HEADER_LEN, layout.AVP_HEADER_LEN, layout.EAP_HEADER_LEN) == (16, 8, 4)
    # A change in the layout shows up in the derived format.
    changed = c.Struct("a" / c.Int8ub, "b" / c.Int64ub)
    assert layout.struct_format(changed).format == "!BQ"
    data = bytes(range(16))
    assert tuple(layout.HEADER.parse(data).values())[1:] == struct.unpack("!HHHHLL", data)


@pytest.mark.parametrize("bad", [c.Int16ul, c.Bytes(4), c.Struct("x" / c.Int24ub)])
def test_struct_format_refuses_what_it_cannot_derive(bad: Any) -> None:
    with pytest.raises(TypeError):
        layout.struct_format(bad)


@PROFILE
@given(
    st.one_of(framed_bytes(), mutated(pana_wire().map(lambda t: t[0]))),
    dialects,
    st.integers(0, 5),
)
def test_engines_agree_under_an_avp_cap(data: bytes, dialect: str, max_avps: int) -> None:
    fast = outcome(decode_pana, data, dialect=dialect, max_avps=max_avps)
    assert fast == outcome(decode_pana_reference, data, dialect=dialect, max_avps=max_avps)

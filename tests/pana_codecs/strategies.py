"""Hypothesis strategies for PANA messages, AVPs, EAP packets and damaged wire data."""

from __future__ import annotations

import struct

from hypothesis import strategies as st

from pana_codecs import Avp, EapPacket, PanaMessage, encode_eap, encode_pana

__all__ = [
    "eap_packets",
    "eap_wire",
    "framed_bytes",
    "messages",
    "mutated",
    "pana_wire",
]

FIXED = (3, 4, 6, 7, 8, 9, 13)
u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
small_values = st.binary(max_size=40)

fixed_avps = st.builds(
    Avp,
    code=st.sampled_from(FIXED),
    value=st.binary(min_size=4, max_size=4),
    vendor_id=st.none(),
    flags=st.integers(0, 0x7FFF),
    reserved=u16,
)
ietf_avps = st.builds(
    Avp,
    code=u16.filter(lambda c: c not in FIXED),
    value=small_values,
    vendor_id=st.none(),
    flags=st.integers(0, 0x7FFF),
    reserved=u16,
)
vendor_avps = st.builds(
    Avp, code=u16, value=small_values, vendor_id=u32, flags=st.integers(0, 0x7FFF), reserved=u16
)
avps = st.one_of(fixed_avps, ietf_avps, vendor_avps)

messages = st.builds(
    PanaMessage,
    type=u16,
    flags=u16,
    session_id=u32,
    seq=u32,
    avps=st.lists(avps, max_size=6).map(tuple),
    reserved=u16,
)

dialects = st.sampled_from(["rfc5191", "draft18"])


@st.composite
def pana_wire(draw: st.DrawFn) -> tuple[bytes, str]:
    """A valid encoded message and its dialect."""
    dialect = draw(dialects)
    return encode_pana(draw(messages), dialect=dialect), dialect


@st.composite
def framed_bytes(draw: st.DrawFn) -> bytes:
    """A header whose Message Length is right, then random AVP octets (reaches the AVP checks)."""
    body = draw(st.binary(max_size=96))
    head = struct.pack("!HHHHII", draw(u16), 16 + len(body), draw(u16), draw(u16), 0, 0)
    return head + body


@st.composite
def mutated(draw: st.DrawFn, wire: st.SearchStrategy[bytes]) -> bytes:
    """A valid encoding with a few octets changed, cut off or appended."""
    data = bytearray(draw(wire))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["set", "cut", "add"]))
        if kind == "set" and data:
            data[draw(st.integers(0, len(data) - 1))] = draw(u8)
        elif kind == "cut" and data:
            del data[draw(st.integers(0, len(data) - 1)) :]
        else:
            data += draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@st.composite
def eap_packets(draw: st.DrawFn) -> EapPacket:
    """Any encodable EAP packet."""
    code = draw(st.integers(1, 4))
    ident = draw(u8)
    if code >= 3:
        return EapPacket(code, ident)
    etype = draw(u8)
    data = draw(small_values)
    if etype == 254:
        return EapPacket(code, ident, 254, data, draw(st.integers(0, 0xFFFFFF)), draw(u32))
    return EapPacket(code, ident, etype, data)


eap_wire = eap_packets().map(encode_eap)

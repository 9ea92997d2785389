"""A scapy layer for PANA (RFC 5191 s6): importing this module binds it to UDP port 716.

This is the opt-in for scapy users (the ``scapy`` extra; scapy is GPL and optional): nothing
else in pana_codecs imports it. The fields mirror the wire; :meth:`PANA.to_message` and
:meth:`PANA.from_message` convert to and from our codec's :class:`~pana_codecs.PanaMessage`,
which is the strict decoder (scapy itself is lenient and turns what it cannot dissect into Raw)::

    from scapy.all import rdpcap
    import pana_codecs.scapy_layer  # binds UDP 716
    from pana_codecs.scapy_layer import PANA
    for pkt in rdpcap("pana.pcap"):
        if PANA in pkt:
            pkt[PANA].show()
"""

from __future__ import annotations

import logging

from scapy.fields import (
    ConditionalField,
    FlagsField,
    PacketListField,
    ShortEnumField,
    ShortField,
    StrLenField,
    XIntField,
    XShortField,
)
from scapy.layers.inet import UDP
from scapy.packet import Packet, bind_bottom_up, bind_layers, split_bottom_up

from .pana import AVP_FLAG_VENDOR, Avp, PanaMessage, decode_pana, encode_pana
from .registry import AVP_SPECS, FLAG_LETTERS, MESSAGE_NAMES

__all__ = ["PANA", "PANA_PORT", "PanaAVP", "bind_port", "unbind_port"]

logger = logging.getLogger(__name__)

PANA_PORT = 716
"""The PANA well-known UDP port (RFC 5191 s6.1)."""

# Names from the one table of each fact (pana_codecs.registry).
_MESSAGE_TYPES = {int(t): names.name for t, names in MESSAGE_NAMES.items()}
_AVP_CODES = {int(code): spec.name for (code, vendor), spec in AVP_SPECS.items() if vendor is None}
# scapy FlagsField names, one character per bit from the least significant up: reserved bits
# 0-8 as digits, then E (0x0200, RFC 5873 s3), I, P, A, C, S, R (0x8000) as in RFC 5191 s6.2.
# So flags="RS" works, and scapy prints set flags from the low bit up ("SR").
_HEADER_FLAGS = "".join(
    next((letter for letter, mask in FLAG_LETTERS if mask == 1 << bit), str(bit))
    for bit in range(16)
)
_AVP_FLAGS = "0123456789abcdeV"  # V = 0x8000 (RFC 5191 s6.3); the rest reserved


class PanaAVP(Packet):
    """One AVP (RFC 5191 s6.3): Length counts the value only; padding to 4 octets follows."""

    name = "PANA AVP"
    fields_desc = [  # noqa: RUF012 - scapy's declarative field list
        ShortEnumField("code", 0, _AVP_CODES),
        FlagsField("flags", 0, 16, _AVP_FLAGS),
        ShortField("length", None),
        XShortField("reserved", 0),
        ConditionalField(XIntField("vendor_id", 0), lambda p: bool(int(p.flags) & AVP_FLAG_VENDOR)),
        StrLenField("value", b"", length_from=lambda p: p.length),
        StrLenField("padding", b"", length_from=lambda p: -(p.length or 0) % 4),
    ]

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        """Fill in Length (value octets) and the zero padding when left unset."""
        value_len = len(self.value)
        if self.length is None:
            pkt = pkt[:4] + value_len.to_bytes(2, "big") + pkt[6:]
        if not self.padding:
            pkt += b"\0" * (-value_len % 4)
        return pkt + pay

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        """An AVP has no payload: what follows is the next AVP."""
        return b"", s

    def to_avp(self) -> Avp:
        """This AVP as our codec's value object."""
        flags = int(self.flags)
        vendor = int(self.vendor_id) if flags & AVP_FLAG_VENDOR else None
        return Avp(
            int(self.code), bytes(self.value), vendor, flags & ~AVP_FLAG_VENDOR, self.reserved
        )


class PANA(Packet):
    """A PANA message (RFC 5191 s6.2): 16-octet header and AVPs; Message Length covers all."""

    name = "PANA"
    fields_desc = [  # noqa: RUF012 - scapy's declarative field list
        XShortField("reserved", 0),
        ShortField("length", None),
        FlagsField("flags", 0, 16, _HEADER_FLAGS),
        ShortEnumField("type", 1, _MESSAGE_TYPES),
        XIntField("session_id", 0),
        XIntField("seq", 0),
        PacketListField(
            "avps",
            [],
            PanaAVP,
            length_from=lambda p: (p.length if p.length is not None else 16) - 16,
        ),
    ]

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        """Fill in Message Length when left unset."""
        if self.length is None:
            pkt = pkt[:2] + len(pkt).to_bytes(2, "big") + pkt[4:]
        return pkt + pay

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        """Nothing follows a PANA message inside its UDP datagram."""
        return b"", s

    def hashret(self) -> bytes:
        """Requests and answers hash alike: same Session Identifier and Sequence Number."""
        return (int(self.session_id) << 32 | int(self.seq)).to_bytes(8, "big")

    def answers(self, other: Packet) -> int:
        """An answer echoes its request's type, session and sequence number (RFC 5191 s4.2)."""
        if not isinstance(other, PANA):
            return 0
        request = int(other.flags) & 0x8000 and not int(self.flags) & 0x8000
        same = (self.type, self.session_id, self.seq) == (other.type, other.session_id, other.seq)
        return int(bool(request and same))

    def mysummary(self) -> str:
        """E.g. ``PANA PANA-Auth [RS] sid=0x... seq=0x...``."""
        return str(
            self.sprintf("PANA %PANA.type% [%PANA.flags%] sid=%PANA.session_id% seq=%PANA.seq%")
        )

    def to_message(self, dialect: str = "rfc5191") -> PanaMessage:
        """Decode this packet's bytes with our strict codec; raises CodecError if malformed."""
        return decode_pana(bytes(self), dialect=dialect)

    @classmethod
    def from_message(cls, msg: PanaMessage) -> PANA:
        """A scapy packet holding the exact bytes our codec encodes for ``msg``."""
        packet: PANA = cls(encode_pana(msg))
        return packet


def bind_port(port: int) -> None:
    """Also dissect UDP ``port`` as PANA (e.g. 3001 for the Open Diameter captures)."""
    bind_bottom_up(UDP, PANA, dport=port)
    bind_bottom_up(UDP, PANA, sport=port)


def unbind_port(port: int) -> None:
    """Undo :func:`bind_port`."""
    split_bottom_up(UDP, PANA, dport=port)
    split_bottom_up(UDP, PANA, sport=port)


bind_layers(UDP, PANA, dport=PANA_PORT)
bind_bottom_up(UDP, PANA, sport=PANA_PORT)

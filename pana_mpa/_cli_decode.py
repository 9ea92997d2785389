"""``pana-mpa decode``: PANA datagrams in a capture, one line (or JSON object) each."""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pana_codecs import CodecError, MessageFlags, PanaMessage, decode_pana, encode_pana

from .capture import CaptureError, UdpDatagram, format_address, pana_datagrams, read_pana, read_udp

__all__ = [
    "DIALECTS",
    "SUPPORTED_DIALECTS",
    "AvpSummary",
    "DecodedDatagram",
    "add_parser",
    "decode_datagram",
    "decode_datagrams",
    "flag_letters",
    "run",
    "type_name",
]

logger = logging.getLogger(__name__)

DIALECTS = ("rfc5191", "draft18")

# Flag letters in header bit order (RFC 5191 s6.2, E from RFC 5873 s3).
_FLAG_LETTERS = tuple((f.name or "?", int(f)) for f in MessageFlags)
_KNOWN_FLAGS = sum(bit for _, bit in _FLAG_LETTERS)

# RFC 5191 s8 / RFC 6345 s5 / RFC 6786 names, as the RFCs spell them (display only).
_AVP_NAMES: Mapping[int, str] = {
    1: "AUTH",
    2: "EAP-Payload",
    3: "Integrity-Algorithm",
    4: "Key-Id",
    5: "Nonce",
    6: "PRF-Algorithm",
    7: "Result-Code",
    8: "Session-Lifetime",
    9: "Termination-Cause",
    10: "PaC-Information",
    11: "Relayed-Message",
    12: "Encryption-Encap",
    13: "Encryption-Algorithm",
}
# Unsigned32 AVPs whose values are codes or counters, never key material (RFC 5191 s8).
_SHOWN_U32 = frozenset({3, 4, 6, 7, 8, 9, 13})


def type_name(msg_type: int, flags: int) -> str | int:
    """PCI, PAR, PAN, PTR, PTA, PNR, PNA or RELAY; an unknown type stays a number (RFC 5191 s7)."""
    if msg_type == 1:
        return "PCI"
    if msg_type == 5:
        return "RELAY"  # RFC 6345 s7: PANA-Relay has no answer
    base = {2: "PA", 3: "PT", 4: "PN"}.get(msg_type)
    if base is None:
        return msg_type
    return base + ("R" if flags & MessageFlags.R else ("N" if msg_type == 2 else "A"))


def flag_letters(flags: int) -> str:
    """Header flags as letters in bit order, e.g. ``RS``; reserved bits as ``+0x0100``."""
    letters = "".join(name for name, bit in _FLAG_LETTERS if flags & bit)
    rest = flags & 0xFFFF & ~_KNOWN_FLAGS
    return letters + (f"+{rest:#06x}" if rest else "")


@dataclass(frozen=True, slots=True)
class AvpSummary:
    """Code, vendor, name and value length of one AVP; ``value`` only for code-like Unsigned32s."""

    code: int
    vendor_id: int | None
    name: str | None
    length: int
    value: int | None = None


@dataclass(frozen=True, slots=True)
class DecodedDatagram:
    """One PANA datagram of a capture and what the codec made of it."""

    datagram: UdpDatagram
    message: PanaMessage | None
    error: str | None
    error_offset: int | None = None
    reencode_identical: bool = False
    extra: Mapping[str, object] = field(default_factory=dict)
    """Fields added by annotators (e.g. a future ``auth`` verdict from ``--verify``)."""

    def avps(self) -> list[AvpSummary]:
        """The AVPs in wire order, without their values (which may be keys or identities)."""
        if self.message is None:
            return []
        out = []
        for a in self.message.avps:
            ietf = a.vendor_id is None
            value = None
            if ietf and a.code in _SHOWN_U32 and len(a.value) == 4:
                value = int.from_bytes(a.value, "big")
            name = _AVP_NAMES.get(a.code) if ietf else None
            out.append(AvpSummary(a.code, a.vendor_id, name, len(a.value), value))
        return out

    def to_json(self) -> dict[str, object]:
        """The ``--json`` object: frame, src, dst, type, flags, session_id, seq, avps, ... error."""
        d = self.datagram
        m = self.message
        obj: dict[str, object] = {
            "frame": d.frame,
            "time": round(d.time, 6),
            "src": format_address(d.src),
            "dst": format_address(d.dst),
            "length": len(d.payload),
            "type": None if m is None else type_name(m.type, m.flags),
            "flags": None if m is None else flag_letters(m.flags),
            "session_id": None if m is None else m.session_id,
            "seq": None if m is None else m.seq,
            "avps": None if m is None else [_avp_json(s) for s in self.avps()],
            "reencode_identical": self.reencode_identical,
            "error": self.error,
            "error_offset": self.error_offset,
        }
        if d.truncated:
            obj["truncated"] = True
        obj.update(self.extra)
        return obj

    def to_line(self) -> str:
        """One human-readable line (no AVP values beyond code-like integers)."""
        d = self.datagram
        head = f"{d.frame:5d} {format_address(d.src)} -> {format_address(d.dst)}"
        m = self.message
        if m is None:
            return f"{head} len={len(d.payload)} ERROR {self.error}"
        parts = []
        for s in self.avps():
            label = s.name or (
                f"{s.code}/v{s.vendor_id}" if s.vendor_id is not None else str(s.code)
            )
            if s.value is None:
                parts.append(f"{label}({s.length})")
            else:
                parts.append(f"{label}={s.value:#x}" if s.code == 4 else f"{label}={s.value}")
        flags = flag_letters(m.flags)
        kind = f"{type_name(m.type, m.flags)}" + (f"[{flags}]" if flags else "")
        tail = "" if self.reencode_identical else " (re-encoding differs)"
        extra = "".join(f" {k}={v}" for k, v in self.extra.items())
        return (
            f"{head} {kind} sid={m.session_id:#010x} seq={m.seq:#010x} "
            f"{{{', '.join(parts)}}}{tail}{extra}"
        )


def _avp_json(s: AvpSummary) -> dict[str, object]:
    obj: dict[str, object] = {
        "code": s.code,
        "vendor_id": s.vendor_id,
        "name": s.name,
        "length": s.length,
    }
    if s.value is not None:
        obj["value"] = s.value
    return obj


# The codec engineer's rewrite adds ``dialect=``; until it lands, only rfc5191 is available.
_DIALECT_AWARE = "dialect" in inspect.signature(decode_pana).parameters
SUPPORTED_DIALECTS = DIALECTS if _DIALECT_AWARE else ("rfc5191",)
"""The dialects the installed pana_codecs decodes (a ``--dialect`` outside it gives errors)."""
_decode: Callable[..., PanaMessage] = decode_pana
_encode: Callable[..., bytes] = encode_pana


def _codec(data: bytes, dialect: str) -> tuple[PanaMessage, bytes]:
    if _DIALECT_AWARE:
        msg = _decode(data, dialect=dialect)
        return msg, _encode(msg, dialect=dialect)
    if dialect != "rfc5191":
        raise CodecError(f"this pana_codecs has no {dialect} dialect", 0)
    msg = _decode(data)
    return msg, _encode(msg)


Annotator = Callable[[DecodedDatagram], Mapping[str, object]]
"""Adds fields to a decoded datagram (the hook ``--verify`` will use for an ``auth`` verdict)."""


def decode_datagram(datagram: UdpDatagram, dialect: str = "rfc5191") -> DecodedDatagram:
    """Decode one captured PANA datagram; a CodecError becomes the ``error`` field."""
    try:
        msg, wire = _codec(datagram.payload, dialect)
    except CodecError as exc:
        logger.debug("frame %d: %s", datagram.frame, exc)
        return DecodedDatagram(datagram, None, str(exc), exc.offset)
    return DecodedDatagram(datagram, msg, None, None, wire == datagram.payload)


def decode_datagrams(
    datagrams: Iterable[UdpDatagram],
    dialect: str = "rfc5191",
    annotators: Sequence[Annotator] = (),
) -> list[DecodedDatagram]:
    """Decode each datagram, then let each annotator add its fields (in order)."""
    out = []
    for d in datagrams:
        decoded = decode_datagram(d, dialect)
        for annotate in annotators:
            extra = {**decoded.extra, **annotate(decoded)}
            decoded = DecodedDatagram(
                decoded.datagram,
                decoded.message,
                decoded.error,
                decoded.error_offset,
                decoded.reencode_identical,
                extra,
            )
        out.append(decoded)
    return out


def _port(text: str) -> int:
    try:
        port = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def add_parser(sub: Any) -> None:
    """Register the decode subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "decode",
        help="decode PANA in a pcap/pcapng file",
        description="Print one line (or JSON object) per PANA datagram of a pcap or pcapng "
        "capture. PANA is UDP port 716, any --port, and the endpoints seen talking to those ports.",
    )
    p.add_argument("capture", help="pcap or pcapng file (Ethernet, Linux cooked or loopback)")
    p.add_argument("--json", action="store_true", help="one JSON object per datagram")
    p.add_argument(
        "--port",
        type=_port,
        action="append",
        default=[],
        metavar="N",
        help="also treat UDP port N as PANA (repeatable)",
    )
    p.add_argument(
        "--dialect",
        choices=DIALECTS,
        default="rfc5191",
        help="draft18: AVP Length includes the AVP header (Open Diameter captures)",
    )
    p.set_defaults(func=run)


def decode_file(
    path: str, ports: Collection[int] = (), dialect: str = "rfc5191"
) -> list[DecodedDatagram]:
    """Every PANA datagram of a capture, decoded; raises CaptureError for unreadable files."""
    return decode_datagrams(read_pana(path, ports), dialect)


def run(args: argparse.Namespace) -> int:
    """Decode the capture; exit 0 when it could be read, 2 (one-line message) when not.

    A capture cut short still gets a line per datagram read before the damage, then exit 2.
    """
    # scapy's reader warns on odd records through its own logger; our exit status says enough.
    logging.getLogger("scapy").setLevel(logging.ERROR)
    udp: list[UdpDatagram] = []
    failure: CaptureError | None = None
    try:
        udp.extend(read_udp(args.capture))
    except CaptureError as exc:
        failure = exc
    out = sys.stdout
    for decoded in decode_datagrams(pana_datagrams(udp, args.port), args.dialect):
        if args.json:
            out.write(json.dumps(decoded.to_json()) + "\n")
        else:
            out.write(decoded.to_line() + "\n")
    if failure is not None:
        out.flush()
        sys.stderr.write(f"pana-mpa decode: {failure.reason}\n")
        return 2
    return 0

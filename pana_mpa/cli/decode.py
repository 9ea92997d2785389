"""``pana-mpa decode``: PANA datagrams in a capture, one line (or JSON object) each."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from pana_codecs import (
    AVP_SPECS,
    DIALECTS,
    MESSAGE_NAMES,
    AvpCode,
    AvpTable,
    AvpType,
    CodecError,
    PanaMessage,
    decode_eap,
    decode_pana,
    eap_name,
    encode_pana,
    flags_text,
    message_name,
)

from ..trace import trace_header, trace_record
from .capture import (
    CaptureError,
    Frame,
    UdpDatagram,
    format_address,
    iter_pana,
    read_frames,
    read_pana,
    udp_datagrams,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = [
    "DIALECTS",
    "Annotator",
    "AvpSummary",
    "DecodedDatagram",
    "EapSummary",
    "add_parser",
    "decode_datagram",
    "decode_datagrams",
    "decode_file",
    "eap_label",
    "flag_letters",
    "iter_decoded",
    "run",
    "type_name",
]

logger = logging.getLogger(__name__)


# Unsigned32/Enumerated AVPs hold codes or counters, never key material: their values are shown.
_SHOWN_TYPES = (AvpType.UNSIGNED32, AvpType.ENUMERATED)


def type_name(msg_type: int, flags: int) -> str | int:
    """PCI, PAR, PAN, PTR, PTA, PNR, PNA or PRY; an unknown type stays a number (RFC 5191 s7)."""
    if msg_type not in MESSAGE_NAMES:
        return msg_type
    return message_name(msg_type, flags)


def flag_letters(flags: int) -> str:
    """Header flags as letters in bit order, e.g. ``RS``; reserved bits as ``+0x0100``."""
    return flags_text(flags)


@dataclass(frozen=True, slots=True)
class EapSummary:
    """The EAP header inside an EAP-Payload AVP (RFC 3748 s4); never the Type-Data."""

    code: int
    identifier: int
    type: int | None


@dataclass(frozen=True, slots=True)
class AvpSummary:
    """Code, vendor, name and value length of one AVP; ``value`` only for code-like Unsigned32s."""

    code: int
    vendor_id: int | None
    name: str | None
    length: int
    value: int | None = None
    eap: EapSummary | None = None
    """For EAP-Payload: the carried packet's Code, Identifier and Type, when it decodes."""


def _eap_summary(value: bytes) -> EapSummary | None:
    try:
        pkt = decode_eap(value, strict=True)  # RFC 5191 s8.2: exactly one EAP packet
    except CodecError:
        return None
    return EapSummary(pkt.code, pkt.identifier, pkt.type)


def eap_label(e: EapSummary) -> str:
    """E.g. ``Response/Identity``, ``Success``, ``Request/99``."""
    return eap_name(e.code, e.type)


@dataclass(frozen=True, slots=True)
class DecodedDatagram:
    """One PANA datagram of a capture and what the codec made of it."""

    datagram: UdpDatagram
    message: PanaMessage | None
    error: str | None
    error_offset: int | None = None
    reencode_identical: bool = False
    extra: Mapping[str, object] = field(default_factory=dict)
    """Fields added by annotators (e.g. the ``auth`` verdict of ``--verify``)."""

    def avps(self, avp_table: AvpTable = AVP_SPECS) -> list[AvpSummary]:
        """The AVPs in wire order, without their values (which may be keys or identities).

        AVPs ``avp_table`` does not know have no name (``AVP_SPECS``: every vendor AVP).
        """
        if self.message is None:
            return []
        out = []
        for a in self.message.avps:
            ietf = a.vendor_id is None
            spec = avp_table.spec(a.code, a.vendor_id)
            value = None
            if spec is not None and spec.type in _SHOWN_TYPES and len(a.value) == 4:
                value = int.from_bytes(a.value, "big")
            name = None if spec is None else spec.name
            eap = _eap_summary(a.value) if ietf and a.code == AvpCode.EAP_PAYLOAD else None
            out.append(AvpSummary(a.code, a.vendor_id, name, len(a.value), value, eap))
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
            if s.eap is not None:
                parts.append(f"{label}({s.length} {eap_label(s.eap)})")
            elif s.value is None:
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
    if s.eap is not None:
        obj["eap"] = {"code": s.eap.code, "identifier": s.eap.identifier, "type": s.eap.type}
    return obj


def _codec(data: bytes, dialect: str) -> tuple[PanaMessage, bytes]:
    # a diagnostic tool shows every AVP of a captured message: no AVP count limit
    msg = decode_pana(data, dialect=dialect, max_avps=None)
    return msg, encode_pana(msg, dialect=dialect)


Annotator = Callable[[DecodedDatagram], Mapping[str, object]]
"""Adds fields to a decoded datagram, called in capture order (``--verify`` adds ``auth``)."""


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
    return list(iter_decoded(datagrams, dialect, annotators))


def iter_decoded(
    datagrams: Iterable[UdpDatagram],
    dialect: str = "rfc5191",
    annotators: Sequence[Annotator] = (),
) -> Iterator[DecodedDatagram]:
    """:func:`decode_datagrams`, one datagram at a time (each as soon as it has been read)."""
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
        yield decoded


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
    p.add_argument(
        "capture",
        help="pcap or pcapng file, maybe gzipped (Ethernet, Linux cooked, loopback, raw IP); "
        "- reads standard input",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="a JSON-lines trace: a header line, then one object per datagram "
        "(docs/trace-format.md)",
    )
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
    verify = p.add_argument_group(
        "AUTH verification",
        "Recompute the MSK, PANA_AUTH_KEY and each AUTH (RFC 5191 s5.3-5.4) and add an 'auth' "
        "verdict per datagram (verified, failed, absent, unverifiable) and an 'auth_note' naming "
        "any known deviation assumed or detected (CPANA's key label, a kept previous key).",
    )
    verify.add_argument(
        "--verify",
        action="store_true",
        help="check the AUTH AVPs; exit 1 when one failed or could not be verified "
        "(each verdict's auth_note says why)",
    )
    verify.add_argument(
        "--accept-unverifiable",
        action="store_true",
        help="with --verify, exit 0 when AUTH AVPs are only unverifiable (none failed)",
    )
    verify.add_argument(
        "--exit-zero", action="store_true", help="with --verify, exit 0 whatever the verdicts"
    )
    verify.add_argument("--identity", help="only EAP-PSK runs whose ID_P is this identity")
    secret = verify.add_mutually_exclusive_group()
    secret.add_argument("--secret", help="the 16-octet EAP-PSK key as text")
    secret.add_argument("--secret-hex", metavar="HEX", help="the EAP-PSK key as 32 hex digits")
    secret.add_argument(
        "--tls-server-key",
        metavar="PEM",
        help="EAP-TLS (RSA key exchange): the server's private key, to derive each MSK",
    )
    secret.add_argument(
        "--msk-hex",
        metavar="HEX",
        action="append",
        help="the MSK of each EAP run, in order (repeat; for methods other than EAP-PSK)",
    )
    verify.add_argument(
        "--auth-label",
        default="IETF PANA",
        help="PANA_AUTH_KEY label (default %(default)r; CPANA's 32-bit builds use 'IETF')",
    )
    p.set_defaults(func=run)


def decode_file(
    path: str, ports: Collection[int] = (), dialect: str = "rfc5191"
) -> list[DecodedDatagram]:
    """Every PANA datagram of a capture, decoded; raises CaptureError for unreadable files."""
    return decode_datagrams(read_pana(path, ports), dialect)


def _load_rsa_key(path: str) -> RSAPrivateKey | str:
    """The RSA private key in a PEM file, or the one-line reason it cannot be used."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        with open(path, "rb") as f:
            key = load_pem_private_key(f.read(), password=None)
    except OSError as exc:
        return f"--tls-server-key {path}: {exc.strerror or exc}"
    except (ValueError, TypeError):
        return f"--tls-server-key {path}: not an unencrypted PEM private key"
    if not isinstance(key, rsa.RSAPrivateKey):
        return f"--tls-server-key {path}: not an RSA key (offline EAP-TLS needs RSA key exchange)"
    return key


def _verifier(args: argparse.Namespace) -> Annotator | str:
    """The AUTH verifier the options ask for, or the one-line reason they are unusable."""
    from eap.keys import Secret  # only --verify needs the EAP layer

    from .verify import AuthVerifier

    label = args.auth_label.encode()
    if args.tls_server_key is not None:
        server_key = _load_rsa_key(args.tls_server_key)
        if isinstance(server_key, str):
            return server_key
        return AuthVerifier(tls_server_key=server_key, label=label, dialect=args.dialect)
    if args.msk_hex:
        try:
            msks = [Secret(bytes.fromhex(h)) for h in args.msk_hex]
        except ValueError:
            return "--msk-hex is not hexadecimal"
        return AuthVerifier(msks=msks, label=label, dialect=args.dialect)
    if args.secret is None and args.secret_hex is None:
        return "--verify needs --secret, --secret-hex, --tls-server-key or --msk-hex"
    if args.secret_hex is not None:
        try:
            key = bytes.fromhex(args.secret_hex)
        except ValueError:
            return "--secret-hex is not hexadecimal"
    else:
        key = args.secret.encode()
    if len(key) != 16:  # RFC 4764 s3.1: the PSK is 16 octets (its length only; never the value)
        return f"the EAP-PSK key must be 16 octets, not {len(key)}"
    identity = None if args.identity is None else args.identity.encode()
    return AuthVerifier(identity=identity, psk=Secret(key), label=label, dialect=args.dialect)


class _Tally:
    """What ``decode`` read: frames, UDP ports (for the --port hint), PANA datagrams, errors."""

    def __init__(self) -> None:
        self.frames = 0
        self.ports: dict[int, int] = {}  # at most 65535 keys: constant memory
        self.pana = 0
        self.errors = 0

    def count_frames(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        for frame in frames:
            self.frames = frame.number
            yield frame

    def count_udp(self, datagrams: Iterable[UdpDatagram]) -> Iterator[UdpDatagram]:
        for d in datagrams:
            for port in {d.src[1], d.dst[1]}:
                self.ports[port] = self.ports.get(port, 0) + 1
            yield d

    def port_hint(self) -> str:
        """Which UDP ports the capture does hold, to suggest --port."""
        counts = self.ports
        if not counts:
            return "the capture holds no UDP"
        top = sorted(counts, key=lambda p: (-counts[p], p))[:5]
        return "UDP ports seen: " + ", ".join(f"{p} ({counts[p]})" for p in top) + " (try --port)"


def run(args: argparse.Namespace) -> int:
    """Decode the capture as it is read; exit 0 when it could be read, 2 when not.

    Each line is written (and flushed before the reader waits for more input) as soon as its
    frame has been read. A summary line (frames, PANA datagrams, decode errors) ends stderr. A
    capture cut short or damaged still gets a line per datagram read before the damage, then
    its reason and exit 2; input that is no capture gets only the one-line reason. With
    --verify, exit 1 when any AUTH failed or was unverifiable (see --accept-unverifiable,
    --exit-zero).
    """
    annotators: list[Annotator] = []
    if getattr(args, "verify", False):
        verifier = _verifier(args)
        if isinstance(verifier, str):
            sys.stderr.write(f"pana-mpa decode: {verifier}\n")
            return 2
        annotators.append(verifier)
    out = sys.stdout
    # A pipe is read as it arrives; the output is flushed whenever the reader waits for input,
    # so each line shows up as soon as its frame has been read.
    source = sys.stdin.buffer if args.capture == "-" else args.capture
    tally = _Tally()
    frames = tally.count_frames(read_frames(source, before_read=out.flush))
    trace = _TraceHeader(out, str(args.capture)) if args.json else None
    if trace is not None:
        frames = trace.on_first_frame(frames)
    udp = tally.count_udp(udp_datagrams(frames))
    failure: CaptureError | None = None
    try:
        for decoded in iter_decoded(iter_pana(udp, args.port), args.dialect, annotators):
            tally.pana += 1
            tally.errors += decoded.error is not None
            if trace is not None:
                out.write(json.dumps(trace.record(decoded)) + "\n")
            else:
                out.write(decoded.to_line() + "\n")
    except CaptureError as exc:
        failure = exc
    if trace is not None and (failure is None or failure.frames_read):
        trace.write_header(None)  # a capture without frames: still a (header-only) trace
    out.flush()
    if not tally.pana and failure is None:
        sys.stderr.write(f"pana-mpa decode: no PANA datagrams found; {tally.port_hint()}\n")
    for annotate in annotators:
        counts = getattr(annotate, "counts", None)
        if counts is not None:
            out.flush()
            summary = ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items()))
            sys.stderr.write(f"pana-mpa decode: AUTH verdicts: {summary or 'no AUTH AVPs'}\n")
    if failure is not None:
        sys.stderr.write(f"pana-mpa decode: {failure.reason}\n")
    if failure is None or failure.frames_read:
        sys.stderr.write(
            f"pana-mpa decode: {tally.frames} frames, {tally.pana} PANA datagrams, "
            f"{tally.errors} undecodable\n"
        )
    return 2 if failure is not None else _verify_status(args, annotators)


class _TraceHeader:
    """``--json`` is a trace (docs/trace-format.md): a header, then ``message`` records.

    The reference time is the first frame's time (``t`` as Wireshark's time since the start of
    the capture); the header is written when that frame has been read, so output still streams.
    """

    def __init__(self, out: IO[str], name: str) -> None:
        self._out = out
        self._name = "stdin" if name == "-" else name
        self._reference: float | None = None
        self._written = False

    def on_first_frame(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        for frame in frames:
            if not self._written:
                self.write_header(frame.time)
            yield frame

    def write_header(self, reference: float | None) -> None:
        if not self._written:
            self._written = True
            self._reference = reference
            header = trace_header("decode", reference, input=self._name)
            self._out.write(json.dumps(header) + "\n")

    def record(self, decoded: DecodedDatagram) -> dict[str, object]:
        fields = decoded.to_json()
        t = decoded.datagram.time - (self._reference or 0.0)
        return trace_record(t, "message", fields)


def _verify_status(args: argparse.Namespace, annotators: list[Annotator]) -> int:
    """--verify as a check: 1 when an AUTH failed or could not be verified (unless told not to)."""
    if getattr(args, "exit_zero", False):
        return 0
    bad = {"failed"} if getattr(args, "accept_unverifiable", False) else {"failed", "unverifiable"}
    for annotate in annotators:
        counts = getattr(annotate, "counts", None) or {}
        if any(counts.get(verdict) for verdict in bad):
            return 1
    return 0

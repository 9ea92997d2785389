"""Privacy-safe summaries of PANA datagrams and session events for traces and the demo."""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
from collections.abc import Mapping
from typing import IO, Any

from eap.keys import Secret
from pana_codecs import (
    AVP_SPECS,
    FLAG_LETTERS,
    MESSAGE_NAMES,
    AvpTable,
    CodecError,
    EapPacket,
    PanaMessage,
    decode_eap,
    decode_pana,
    eap_name,
    flags_text,
    message_name,
)
from pana_codecs.avps import AVP_NAMES

from .trace import trace_header, trace_record

__all__ = [
    "AVP_NAMES",
    "FLAG_LETTERS",
    "MESSAGE_NAMES",
    "FlowTrace",
    "describe",
    "describe_datagram",
    "describe_event",
    "eap_text",
    "field_value",
    "flag_letters",
    "format_message",
    "message_name",
]

logger = logging.getLogger(__name__)

# Names come from the one table per fact in pana_codecs.registry (issue 8); AVP_NAMES,
# FLAG_LETTERS, MESSAGE_NAMES and message_name are re-exported for existing callers.


def flag_letters(flags: int, *, with_r: bool = False) -> str:
    """The set flags as letters in header order, e.g. ``"SC"``; R only when ``with_r``."""
    return flags_text(flags, request=with_r, reserved=False)


def describe(msg: PanaMessage) -> str:
    """Short name of a message for logs and traces, e.g. "PAR[SC]" (RFC 5191 s7 abbreviations)."""
    flags = int(msg.flags)
    letters = flag_letters(flags)
    base = message_name(msg.type, flags)
    return f"{base}[{letters}]" if letters else base


def _eap_summary(packet: bytes) -> dict[str, Any] | None:
    try:
        eap: EapPacket = decode_eap(packet)
    except CodecError:
        return None
    return {"code": eap.code, "identifier": eap.identifier, "type": eap.type}


def eap_text(summary: Mapping[str, Any] | None) -> str:
    """``Request/PSK``, ``Success``, ``Response/99`` from an ``eap`` summary; ``malformed``."""
    if not summary:
        return "malformed"
    kind: int | None = summary.get("type")
    return eap_name(summary["code"], kind)


def describe_datagram(data: bytes, *, avp_table: AvpTable = AVP_SPECS) -> dict[str, Any]:
    """Type, flags, sequence number, session id and AVP names/lengths; never AVP values.

    The fields of a trace's ``message`` record (docs/trace-format.md). The EAP-Payload AVP is
    summarised by the EAP Code, Identifier and Type only (identities are personal data).
    ``avp_table`` names AVPs (e.g. ``mpa_avp_table(vendor_id)`` to name MPA's vendor AVPs).
    """
    try:
        msg = decode_pana(data)
    except CodecError as exc:
        return {"type": "undecodable", "length": len(data), "error": exc.reason}
    kind = message_name(msg.type, msg.flags)
    avps: list[dict[str, Any]] = []
    for avp in msg.avps:
        entry: dict[str, Any] = {
            "code": avp.code,
            "vendor_id": avp.vendor_id,
            "name": avp_table.name(avp.code, avp.vendor_id),
            "length": len(avp.value),
        }
        if avp.code == 2 and avp.vendor_id is None:
            entry["eap"] = _eap_summary(avp.value)
        avps.append(entry)
    return {
        "type": kind,
        "flags": flag_letters(msg.flags, with_r=True),
        "session_id": msg.session_id,
        "seq": msg.seq,
        "length": len(data),
        "avps": avps,
    }


def format_message(summary: dict[str, Any]) -> str:
    """One human line: ``PAR[S,C] seq=3 sid=0x1a2b Nonce EAP-Payload(Request/PSK)``."""
    if summary["type"] == "undecodable":
        return f"undecodable ({summary['length']} octets: {summary['error']})"
    flags = summary["flags"]
    head = summary["type"] + (f"[{','.join(flags)}]" if flags else "")
    parts = [f"{head:<10}", f"seq={summary['seq']:<3}", f"sid=0x{summary['session_id']:08x}"]
    for avp in summary["avps"]:
        parts.append(f"{avp['name']}({eap_text(avp['eap'])})" if "eap" in avp else avp["name"])
    return " ".join(parts)


def field_value(value: Any) -> Any:
    """One event field as a JSON-safe value: secrets and octet strings become lengths."""
    if type(value) in _PLAIN or value is None:  # exact types: never an enum member or secret
        return value
    if isinstance(value, Secret):
        return {"secret_octets": len(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"octets": len(value)}
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [field_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): field_value(v) for k, v in value.items()}
    if isinstance(value, str):
        return value  # event strings are reasons; identities are bytes and become lengths
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return describe_event(value)
    return type(value).__name__


_PLAIN = frozenset((int, float, bool, str))
_field_value = field_value  # the name the trace code used


def describe_event(event: object) -> dict[str, Any]:
    """An event dataclass as JSON-safe fields: secrets and octet strings become lengths."""
    out: dict[str, Any] = {"event": type(event).__name__}
    if dataclasses.is_dataclass(event) and not isinstance(event, type):
        for f in dataclasses.fields(event):
            out[f.name] = _field_value(getattr(event, f.name))
    return out


class FlowTrace:
    """A trace file of one endpoint (``pac``/``paa --trace``): docs/trace-format.md, schema v1.

    The header line is written at once (``source`` = ``role``); then ``message`` records for
    datagrams (``dir`` tx/rx, codes and lengths only), ``session_event`` records for the events
    handed to the application, and the session core's own records (``message_dropped``,
    ``transition``...), since this is also a core ``Trace``. ``reference_time`` is the Unix time
    at which the session clock read ``origin`` (the runtime reads both clocks, the core none);
    each record's ``t`` is ``now - origin``.
    """

    def __init__(
        self,
        stream: IO[str],
        *,
        role: str,
        reference_time: float | None = None,
        origin: float = 0.0,
    ) -> None:
        self._stream = stream
        self.role = role
        self._origin = origin
        self._write(trace_header(role, reference_time))

    def event(self, now: float, name: str, **fields: Any) -> None:
        """Record one named event; secrets and octet strings are reduced to their lengths."""
        values = {key: _field_value(value) for key, value in fields.items()}
        self._write(trace_record(now - self._origin, name, values))

    def datagram(self, now: float, direction: str, data: bytes) -> None:
        """Record one datagram sent (``tx``) or received (``rx``) as a ``message`` record."""
        self.event(now, "message", dir=direction, **describe_datagram(data))

    def session_event(self, now: float, event: object) -> None:
        """Record one session event handed to the application (``name``: its class)."""
        fields = describe_event(event)  # already JSON-safe
        fields["name"] = fields.pop("event")
        self._write(trace_record(now - self._origin, "session_event", fields))

    def _write(self, record: dict[str, Any]) -> None:
        try:
            self._stream.write(json.dumps(record, default=str) + "\n")
            self._stream.flush()
        except (OSError, ValueError) as exc:  # full disk, closed file: tracing is best effort
            logger.warning("trace write failed: %s", exc)

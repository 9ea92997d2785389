"""construct layouts of PANA (RFC 5191 s6) and EAP (RFC 3748 s4); private, the source of truth.

The declarative structs here describe every field. Two engines use them:

* the reference engine (``_reference.py``) parses and builds with these structs directly;
* the fast engine (``pana.py``, ``eap.py``) uses ``struct.Struct`` objects whose formats are
  *derived* from the fixed-size structs below by :func:`struct_format`, so a layout change here
  changes both engines. Tests prove the two engines agree (results and error offsets).
"""

from __future__ import annotations

import logging
import struct
from typing import Any

import construct as c

__all__ = [
    "AVP_FLAG_VENDOR",
    "AVP_HEADER",
    "AVP_HEADER_LEN",
    "EAP_EXPANDED",
    "EAP_HEADER",
    "EAP_HEADER_LEN",
    "HEADER",
    "HEADER_LEN",
    "UNSIGNED32",
    "VENDOR_ID",
    "avp_struct",
    "eap_struct",
    "message_struct",
    "struct_format",
]

logger = logging.getLogger(__name__)

AVP_FLAG_VENDOR = 0x8000
"""The V bit of the AVP Flags field (RFC 5191 s6.3)."""

# RFC 5191 s6.2: Reserved, Message Length, Flags, Message Type, Session Identifier, Sequence Number.
HEADER = c.Struct(
    "reserved" / c.Int16ub,
    "length" / c.Int16ub,
    "flags" / c.Int16ub,
    "type" / c.Int16ub,
    "session_id" / c.Int32ub,
    "seq" / c.Int32ub,
)

# RFC 5191 s6.3: AVP Code, AVP Flags, AVP Length, Reserved; then Vendor-Id when V is set.
AVP_HEADER = c.Struct(
    "code" / c.Int16ub,
    "flags" / c.Int16ub,
    "length" / c.Int16ub,
    "reserved" / c.Int16ub,
)
VENDOR_ID = c.Struct("vendor_id" / c.Int32ub)
UNSIGNED32 = c.Struct("value" / c.Int32ub)  # RFC 3588 s4.2 Unsigned32 (also Enumerated's 4 octets)

# RFC 3748 s4: Code, Identifier, Length; Type follows in Requests/Responses.
EAP_HEADER = c.Struct(
    "code" / c.Int8ub,
    "identifier" / c.Int8ub,
    "length" / c.Int16ub,
)
# RFC 3748 s5.7: Type 254, 3-octet Vendor-Id, 4-octet Vendor-Type.
EAP_EXPANDED = c.Struct(
    "vendor_id" / c.Int24ub,
    "vendor_type" / c.Int32ub,
)

HEADER_LEN = HEADER.sizeof()
AVP_HEADER_LEN = AVP_HEADER.sizeof()
EAP_HEADER_LEN = EAP_HEADER.sizeof()


def struct_format(layout: c.Construct[Any, Any]) -> struct.Struct:
    """A ``struct.Struct`` equivalent to a big-endian struct of FormatFields (fast path)."""
    codes: list[str] = []
    subcons = layout.subcons if isinstance(layout, c.Struct) else [layout]
    for sub in subcons:
        inner = sub.subcon if isinstance(sub, c.Renamed) else sub
        if not isinstance(inner, c.FormatField) or inner.fmtstr[0] != ">":
            raise TypeError(f"{sub!r} is not a big-endian FormatField")
        codes.append(inner.fmtstr[1:])
    fmt = struct.Struct("!" + "".join(codes))
    if fmt.size != layout.sizeof():  # pragma: no cover - guards the derivation itself
        raise TypeError("derived struct size differs from the construct layout")
    return fmt


def _avp_header_len(ctx: Any) -> int:
    """Octets before the value: 8, or 12 with the Vendor-Id (RFC 5191 s6.3)."""
    return 12 if ctx.flags & AVP_FLAG_VENDOR else 8


def avp_struct(draft18: bool) -> c.Struct:
    """Declarative AVP: header, optional Vendor-Id, value and padding (RFC 5191 s6.3).

    In the draft-18 dialect AVP Length counts the AVP header (including the Vendor-Id, as in
    Diameter, RFC 3588 s4.1, from which the drafts took the format) as well as the value.
    """
    overhead = _avp_header_len if draft18 else (lambda ctx: 0)
    return c.Struct(
        "code" / c.Int16ub,
        "flags" / c.Int16ub,
        "length" / c.Rebuild(c.Int16ub, lambda ctx: len(ctx.value) + overhead(ctx)),
        "reserved" / c.Int16ub,
        "vendor_id" / c.If(c.this.flags & AVP_FLAG_VENDOR, c.Int32ub),
        "value" / c.Bytes(lambda ctx: ctx.length - overhead(ctx)),
        # Padding is parsed as bytes (not c.Padding) so that its content can be checked.
        "padding" / c.Bytes(lambda ctx: -len(ctx.value) % 4),
    )


def _avp_wire_len(avp: Any) -> int:
    """Octets one AVP occupies on the wire, padding included."""
    hdr = 12 if avp["flags"] & AVP_FLAG_VENDOR else 8
    return hdr + len(avp["value"]) + (-len(avp["value"]) % 4)


def message_struct(draft18: bool) -> c.Struct:
    """Declarative PANA message: header, then AVPs up to Message Length (RFC 5191 s6.2)."""
    return c.Struct(
        "reserved" / c.Int16ub,
        "length"
        / c.Rebuild(c.Int16ub, lambda ctx: HEADER_LEN + sum(_avp_wire_len(a) for a in ctx.avps)),
        "flags" / c.Int16ub,
        "type" / c.Int16ub,
        "session_id" / c.Int32ub,
        "seq" / c.Int32ub,
        "avps" / c.GreedyRange(avp_struct(draft18)),
    )


def eap_struct() -> c.Struct:
    """Declarative EAP packet: header, Type, expanded-type fields, Type-Data (RFC 3748 s4)."""
    return c.Struct(
        "code" / c.Int8ub,
        "identifier" / c.Int8ub,
        "length"
        / c.Rebuild(
            c.Int16ub,
            lambda ctx: (
                EAP_HEADER_LEN
                if ctx.type is None
                else EAP_HEADER_LEN + 1 + (7 if ctx.type == 254 else 0) + len(ctx.type_data)
            ),
        ),
        "type" / c.If(c.this.length > EAP_HEADER_LEN, c.Int8ub),
        "expanded" / c.If(c.this.type == 254, EAP_EXPANDED),
        "type_data"
        / c.Bytes(
            lambda ctx: (
                0
                if ctx.type is None
                else ctx.length - EAP_HEADER_LEN - 1 - (7 if ctx.type == 254 else 0)
            )
        ),
    )

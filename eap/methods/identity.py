"""Identity, Notification and Nak Type-Data (RFC 3748 s5.1-s5.3) for peer and authenticator."""

from __future__ import annotations

import logging

__all__ = [
    "EXPANDED_NAK_NONE",
    "NAK_NONE",
    "TYPE_EXPANDED",
    "TYPE_IDENTITY",
    "TYPE_NAK",
    "TYPE_NOTIFICATION",
    "build_expanded_nak",
    "build_nak",
    "parse_expanded_nak",
    "parse_nak",
]

logger = logging.getLogger(__name__)

TYPE_IDENTITY = 1
TYPE_NOTIFICATION = 2
TYPE_NAK = 3
TYPE_EXPANDED = 254

NAK_NONE = b"\x00"
"""Legacy Nak Type-Data meaning "no alternative" (RFC 3748 s5.3.1)."""

EXPANDED_NAK_NONE: tuple[tuple[int, int], ...] = ((0, 0),)
"""Expanded Nak entry list meaning "no alternative" (RFC 3748 s5.3.2)."""

_VENDOR_MAX = 0xFFFFFF
_VTYPE_MAX = 0xFFFFFFFF


def build_nak(types: list[int] | tuple[int, ...]) -> bytes:
    """Legacy Nak Type-Data listing acceptable types, or a single 0 when there are none."""
    wanted = [t for t in types if 4 <= t <= 255]
    if not wanted:
        return NAK_NONE
    return bytes(wanted)


def parse_nak(type_data: bytes) -> tuple[int, ...] | None:
    """Acceptable types in a legacy Nak; () for "none", None when malformed (RFC 3748 s5.3.1)."""
    if not type_data:
        return None  # Length >= 6: at least one octet of Type-Data.
    if type_data == NAK_NONE:
        return ()
    return tuple(t for t in type_data if t != 0)


def build_expanded_nak(entries: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> bytes:
    """Type-Data (after Vendor-Id 0 / Vendor-Type 3) of an Expanded Nak (RFC 3748 s5.3.2)."""
    if not entries:
        entries = EXPANDED_NAK_NONE
    out = bytearray()
    for vendor_id, vendor_type in entries:
        if not (0 <= vendor_id <= _VENDOR_MAX and 0 <= vendor_type <= _VTYPE_MAX):
            raise ValueError("expanded type out of range")
        out += (
            bytes([TYPE_EXPANDED]) + vendor_id.to_bytes(3, "big") + vendor_type.to_bytes(4, "big")
        )
    return bytes(out)


def parse_expanded_nak(type_data: bytes) -> tuple[tuple[int, int], ...] | None:
    """(Vendor-Id, Vendor-Type) pairs of an Expanded Nak; () for "none"; None when malformed."""
    if not type_data or len(type_data) % 8:
        return None
    entries: list[tuple[int, int]] = []
    for off in range(0, len(type_data), 8):
        if type_data[off] != TYPE_EXPANDED:
            return None
        vendor_id = int.from_bytes(type_data[off + 1 : off + 4], "big")
        vendor_type = int.from_bytes(type_data[off + 4 : off + 8], "big")
        if (vendor_id, vendor_type) != (0, 0):
            entries.append((vendor_id, vendor_type))
    return tuple(entries)

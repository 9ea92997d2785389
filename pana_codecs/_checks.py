"""Validation rules and error texts shared by the fast and the reference engines; private."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType

from .enums import AvpType
from .errors import CodecError
from .registry import AVP_SPECS

__all__ = [
    "AVP_NAMES",
    "FIXED_U32_CODES",
    "avp_name",
    "bad_dialect",
    "draft_length_short",
    "fixed_size",
    "length_mismatch",
    "nonzero_padding",
    "padding_past_end",
    "short_header",
    "too_many_avps",
    "truncated_avp_header",
    "truncated_vendor_id",
    "value_past_end",
]

logger = logging.getLogger(__name__)

# IETF AVPs of a fixed size (RFC 5191 s8.3, s8.4 + erratum 2997, s8.6-8.9; RFC 6786 s4), from
# the one AVP table: the Unsigned32/Enumerated ones, 4 octets each (AvpTable checks the length).
FIXED_U32_CODES = frozenset(
    code
    for (code, vendor), spec in AVP_SPECS.items()
    if vendor is None and spec.type in (AvpType.UNSIGNED32, AvpType.ENUMERATED)
)

AVP_NAMES: Mapping[int, str] = MappingProxyType(
    {int(code): spec.name for (code, vendor), spec in AVP_SPECS.items() if vendor is None}
)


def avp_name(code: int) -> str:
    """Human name of an IETF AVP code, for error texts."""
    return AVP_SPECS.name(code)


def bad_dialect(dialect: object) -> ValueError:
    """Caller misuse: an unknown dialect name."""
    return ValueError(f"unknown PANA dialect {dialect!r} (use 'rfc5191' or 'draft18')")


def short_header(n: int) -> CodecError:
    """Datagram shorter than the 16-octet header (RFC 5191 s6.2)."""
    return CodecError(
        f"datagram of {n} octets is shorter than the 16-octet PANA header", 0, "header"
    )


def length_mismatch(length: int, n: int) -> CodecError:
    """Message Length differs from the datagram length (RFC 5191 s6.2)."""
    return CodecError(
        f"Message Length {length} does not match the datagram length {n}", 2, "header.length"
    )


def truncated_avp_header(off: int, left: int, index: int) -> CodecError:
    """Fewer than 8 octets left where an AVP header starts."""
    return CodecError(f"truncated AVP header: {left} octets left, 8 needed", off, f"avps[{index}]")


def truncated_vendor_id(off: int, left: int, index: int) -> CodecError:
    """V bit set but the Vendor-Id does not fit (RFC 5191 s6.3)."""
    return CodecError(
        f"truncated Vendor-Id: V bit set, {left} octets left after the AVP header, 4 needed",
        off + 8,
        f"avps[{index}].vendor_id",
    )


def draft_length_short(off: int, length: int, header: int, index: int) -> CodecError:
    """draft18 dialect: AVP Length smaller than the AVP header it must include."""
    return CodecError(
        f"AVP Length {length} is shorter than the {header}-octet AVP header it includes "
        "(draft18 dialect)",
        off,
        f"avps[{index}].length",
    )


def fixed_size(off: int, code: int, length: int, index: int) -> CodecError:
    """A 4-octet IETF AVP whose value is not 4 octets long."""
    spec = AVP_SPECS.spec(code)
    kind = "Enumerated" if spec is not None and spec.type is AvpType.ENUMERATED else "Unsigned32"
    return CodecError(
        f"{kind} AVP (code {code}) with Length {length}, expected 4 ({avp_name(code)})",
        off,
        f"avps[{index}].length",
    )


def value_past_end(off: int, length: int, left: int, index: int) -> CodecError:
    """The AVP value does not fit in the message."""
    return CodecError(
        f"AVP value (Length {length}) runs past the end of the message "
        f"({left} octets left after the AVP header)",
        off,
        f"avps[{index}].length",
    )


def padding_past_end(end: int, pad: int, index: int) -> CodecError:
    """The padding after the last value is missing (Message Length counts padding, s6.2)."""
    return CodecError(
        f"AVP padding ({pad} octets) runs past the end of the message",
        end,
        f"avps[{index}].padding",
    )


def too_many_avps(off: int, max_avps: int) -> CodecError:
    """More AVPs than the decoder's cap (``max_avps``); raised before the extra AVP is read."""
    return CodecError(f"more than {max_avps} AVPs (max_avps)", off, "avps")


def nonzero_padding(off: int, index: int) -> CodecError:
    """Padding octets must be zero (RFC 5191 s6.3); we reject, so decode-encode is identity."""
    return CodecError("non-zero AVP padding octet", off, f"avps[{index}].padding")

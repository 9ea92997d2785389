"""PANA messages and AVPs (RFC 5191 s6) as frozen dataclasses; decode_pana/encode_pana.

Decoding is strict and total: any byte string either decodes or raises CodecError(reason, offset,
path). Everything the RFC says to ignore (Reserved fields, unknown header and AVP flag bits,
unknown message types and AVP codes, vendor AVPs) is kept, so decode then encode gives back the
same bytes. Lengths are rebuilt on encode, never taken from the caller.

Choices where the RFC leaves room:

* Non-zero padding octets are rejected (RFC 5191 s6.3 says padding is zero-valued). Accepting them
  would make re-encoding differ from the received bytes; rejecting them means every message this
  decoder accepts re-encodes byte-identically. The padding error is reported only when the AVP
  framing of the whole message is sound, since a framing error explains more.
* The datagram must be exactly Message Length octets long (UDP carries one message, s6.1).
* The 4-octet IETF AVPs (codes 3, 4, 6, 7, 8, 9, 13) must have AVP Length 4.
* EAP-Payload content is not checked here; use ``pana_codecs.avps.eap_payload``.
* ``dialect="draft18"``: AVP Length counts the AVP header too (draft-ietf-pana-pana-18, Open
  Diameter). With the V bit the counted header is 12 octets, as in Diameter (RFC 3588 s4.1).
* At most ``max_avps`` AVPs (default :data:`DEFAULT_MAX_AVPS`, 256) are decoded; the next one is a
  CodecError found by the framing pass, before any AVP object is made, so a datagram costs at most
  256 AVPs of work.

Hostile input: ``peek_pana`` checks only the 16-octet header and Message Length (no AVP is
looked at), so a receiver can drop datagrams for unknown sessions before decoding AVPs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from struct import error as StructError
from typing import Final, Literal

import construct as c

from . import _checks
from ._fast import frozen_maker
from ._layout import (
    AVP_FLAG_VENDOR,
    AVP_HEADER,
    HEADER,
    HEADER_LEN,
    VENDOR_ID,
    struct_format,
)
from .enums import MessageFlags, MessageType
from .errors import CodecError

__all__ = [
    "AVP_FLAG_VENDOR",
    "DEFAULT_MAX_AVPS",
    "DIALECTS",
    "Avp",
    "Dialect",
    "MessageFlags",
    "MessageType",
    "PanaHeader",
    "PanaMessage",
    "decode_avps",
    "decode_pana",
    "encode_avps",
    "encode_pana",
    "peek_pana",
]

logger = logging.getLogger(__name__)

Dialect = Literal["rfc5191", "draft18"]
DIALECTS: Final = ("rfc5191", "draft18")

DEFAULT_MAX_AVPS: Final = 256
"""AVPs decoded per message unless the caller says otherwise.

RFC 5191 sets no limit; a message is at most 65535 octets (16-bit Message Length, s6.2), room for
8,189 empty AVPs. RFC 5191's messages carry fewer than 20 (a PAR offering every PRF and integrity
algorithm of s8.3/s8.6 has about 25), so 256 leaves room for extensions and vendor AVPs while the
work per datagram stays bounded.
"""


@dataclass(frozen=True, slots=True, repr=False)
class Avp:
    """One AVP (RFC 5191 s6.3); ``vendor_id`` set means the V bit is set."""

    code: int
    value: bytes
    vendor_id: int | None = None
    flags: int = 0
    """AVP flag bits other than V (reserved; kept so unknown bits round-trip)."""
    reserved: int = 0
    """The 16-bit Reserved field after AVP Length (send 0, ignore; kept for round-trip)."""

    def __repr__(self) -> str:
        """Code and value length only: values hold identities and MACs, which stay out of logs."""
        extra = "" if self.vendor_id is None else f", vendor_id={self.vendor_id}"
        if self.flags:
            extra += f", flags={self.flags:#06x}"
        if self.reserved:
            extra += f", reserved={self.reserved:#06x}"
        return f"Avp(code={self.code}, value=<{len(self.value)} octets>{extra})"


@dataclass(frozen=True, slots=True)
class PanaMessage:
    """One PANA message (RFC 5191 s6.2); lengths are computed on encode."""

    type: int
    flags: int
    session_id: int
    seq: int
    avps: tuple[Avp, ...] = field(default=())
    reserved: int = 0
    """The 16-bit Reserved header field (send 0, ignore; kept for round-trip)."""

    @property
    def is_request(self) -> bool:
        """True when the R flag is set."""
        return bool(self.flags & _R)

    def has(self, flag: MessageFlags) -> bool:
        """True when every bit of ``flag`` is set."""
        bits = int(flag)  # an IntFlag operation would build enum members
        return self.flags & bits == bits

    def avp(self, code: int, vendor_id: int | None = None) -> Avp | None:
        """The first AVP with this code and vendor, or None."""
        for a in self.avps:
            if a.code == code and a.vendor_id == vendor_id:
                return a
        return None

    def all_avps(self, code: int, vendor_id: int | None = None) -> list[Avp]:
        """Every AVP with this code and vendor, in wire order."""
        return [a for a in self.avps if a.code == code and a.vendor_id == vendor_id]


@dataclass(frozen=True, slots=True)
class PanaHeader:
    """The 16-octet PANA header (RFC 5191 s6.2), as ``peek_pana`` reads it."""

    type: int
    flags: int
    session_id: int
    seq: int
    length: int
    """Message Length: equal to the datagram length once ``peek_pana`` accepted it."""
    reserved: int = 0

    @property
    def is_request(self) -> bool:
        """True when the R flag is set."""
        return bool(self.flags & _R)


# Fast engine: struct formats derived from the construct layouts in _layout.py.
_HEADER = struct_format(HEADER)
_AVP_HEADER = struct_format(AVP_HEADER)
_AVP_VENDOR_HEADER = struct_format(c.Struct(*AVP_HEADER.subcons, *VENDOR_ID.subcons))
_VENDOR_ID = struct_format(VENDOR_ID)
_FIXED = _checks.FIXED_U32_CODES
_ZEROS = (b"", b"\0", b"\0\0", b"\0\0\0")
_NOT_VENDOR = ~AVP_FLAG_VENDOR & 0xFFFF

# A frozen dataclass's __init__ sets each field through object.__setattr__ (about 2 us for an
# AVP); the decoder builds the same objects through frozen_maker (equal, hashable, immutable).
_make_avp = frozen_maker(Avp)
_make_message = frozen_maker(PanaMessage)
_make_header = frozen_maker(PanaHeader)
_R = int(MessageFlags.R)


def _is_draft(dialect: str) -> bool:
    """True for the draft-18 dialect; ValueError for an unknown name (caller misuse)."""
    if dialect == "rfc5191":
        return False
    if dialect == "draft18":
        return True
    raise _checks.bad_dialect(dialect)


def peek_pana(data: bytes) -> PanaHeader:
    """The header of a PANA message, checking only its 16 octets and Message Length (s6.2).

    No AVP is looked at: a cheap first check for a receiver (which session? which type?) before
    ``decode_pana`` does per-AVP work. Raises CodecError like ``decode_pana`` for these checks.
    """
    n = len(data)
    if n < HEADER_LEN:
        raise _checks.short_header(n)
    reserved, length, flags, mtype, session_id, seq = _HEADER.unpack_from(data)
    if length != n:
        raise _checks.length_mismatch(length, n)
    return _make_header(mtype, flags, session_id, seq, length, reserved)


def peek_fields(data: bytes) -> tuple[int, int, int]:
    """(type, flags, session_id) of a PANA header after the checks of ``peek_pana``."""
    mtype, flags, session_id, _ = peek_header(data)
    return mtype, flags, session_id


def peek_header(data: bytes) -> tuple[int, int, int, int]:
    """(type, flags, session_id, seq) of a PANA header after the checks of ``peek_pana``.

    The hot-path form of ``peek_pana`` for the PAA: no PanaHeader is built; the same CodecError
    for a short datagram or a Message Length that differs from its size.
    """
    try:
        _, length, flags, mtype, session_id, seq = _HEADER.unpack_from(data)
    except StructError:
        length = -1
    if length != len(data):
        peek_pana(data)  # raises the CodecError peek_pana gives
    return mtype, flags, session_id, seq


def _limit(max_avps: int | None) -> int:
    """The AVP cap as the decoders use it: -1 for none; ValueError when negative (caller misuse)."""
    if max_avps is None:
        return -1
    if max_avps < 0:
        raise ValueError(f"max_avps must be >= 0, not {max_avps}")
    return max_avps


def decode_pana(
    data: bytes, *, dialect: Dialect | str = "rfc5191", max_avps: int | None = DEFAULT_MAX_AVPS
) -> PanaMessage:
    """Decode one PANA message (RFC 5191 s6); raise CodecError on anything malformed.

    More than ``max_avps`` AVPs (None: no limit) is a CodecError, raised when the first AVP past
    the limit is reached, before any work on it.
    """
    draft = False if dialect == "rfc5191" else _is_draft(dialect)
    limit = max_avps if type(max_avps) is int and max_avps >= 0 else _limit(max_avps)
    if type(data) is not bytes:
        data = bytes(data)  # bytearray/memoryview: values must come out as bytes
    try:
        return _decode(data, draft, limit)
    except CodecError as exc:
        raise explain(exc, data, draft, _frame, limit) from None


_Found = list[tuple[int, int, int | None, int, int, int]]
"""Where the AVPs of a message lie: (code, flags without V, vendor, reserved, start, end)."""


def _decode(data: bytes, draft: bool, max_avps: int = -1) -> PanaMessage:
    """The fast decoder: struct formats from _layout, checks in the order of _reference.

    Two passes: ``_frame`` checks the framing of every AVP (and the cap) and notes where each
    one lies, then the objects are made. A message over the cap, or malformed, costs a framing
    walk and no object; a sound one has its AVP headers unpacked once (issue 9).
    """
    header, found = _frame(data, draft, max_avps)
    avps: list[Avp] = []
    append = avps.append
    for code, aflags, vendor, ares, start, end in found:
        append(_make_avp(code, data[start:end], vendor, aflags, ares))
    reserved, _, flags, mtype, session_id, seq = header
    return _make_message(mtype, flags, session_id, seq, tuple(avps), reserved)


def _frame(data: bytes, draft: bool, max_avps: int = -1) -> tuple[tuple[int, ...], _Found]:
    """Header fields and AVP positions of a message; CodecError for the first thing wrong."""
    n = len(data)
    if n < HEADER_LEN:
        raise _checks.short_header(n)
    header = _HEADER.unpack_from(data)
    if header[1] != n:
        raise _checks.length_mismatch(header[1], n)
    found: _Found = []
    note = found.append
    unpack = _AVP_HEADER.unpack_from
    off = HEADER_LEN
    bad_pad = bad_pad_index = -1
    count = 0
    while off < n:
        if count == max_avps:
            raise _checks.too_many_avps(off, max_avps)
        if n - off < 8:
            raise _checks.truncated_avp_header(off, n - off, count)
        code, aflags, alen, ares = unpack(data, off)
        if aflags & AVP_FLAG_VENDOR:
            if n - off < 12:
                raise _checks.truncated_vendor_id(off, n - off - 8, count)
            vendor: int | None = _VENDOR_ID.unpack_from(data, off + 8)[0]
            start = off + 12
        else:
            vendor = None
            start = off + 8
        if draft:
            vlen = alen - (start - off)
            if vlen < 0:
                raise _checks.draft_length_short(off, alen, start - off, count)
        else:
            vlen = alen
        if vlen != 4 and vendor is None and code in _FIXED:
            raise _checks.fixed_size(off, code, alen, count)
        end = start + vlen
        if end > n:
            raise _checks.value_past_end(off, alen, n - start, count)
        pad = -vlen & 3
        if pad:
            off = end + pad
            if off > n:
                raise _checks.padding_past_end(end, pad, count)
            if bad_pad < 0 and data[end:off] != _ZEROS[pad]:
                bad_pad = next(i for i in range(end, off) if data[i])
                bad_pad_index = count
        else:
            off = end
        note((code, aflags & _NOT_VENDOR, vendor, ares, start, end))
        count += 1
    if bad_pad >= 0:
        # Reported only once the framing of every AVP is sound: a framing error explains more.
        raise _checks.nonzero_padding(bad_pad, bad_pad_index)
    return header, found


def explain(
    exc: CodecError,
    data: bytes,
    draft: bool,
    decoder: Callable[[bytes, bool, int], object],
    max_avps: int = DEFAULT_MAX_AVPS,
) -> CodecError:
    """Add hints to a decode error: pre-RFC v1 header, or draft-era AVP lengths.

    The draft-era hint checks the framing once more in the other dialect, under the same AVP cap
    (``_frame``: no AVP object is made), so an error costs at most two framing walks; the cap
    error itself gets no hint.
    """
    reason = exc.reason
    if data[:1] == b"\x01":
        # Pre-draft-15 PANA put Version=1 in octet 0 (now Reserved); the layout differs.
        reason = f"PANA version 1 (pre-RFC) header: {reason}"
    elif not draft and exc.path.startswith("avps["):
        try:
            decoder(data, True, max_avps)
        except CodecError:
            pass
        else:
            reason += (
                "; AVP Length includes the AVP header (draft-era encoding? try dialect draft18)"
            )
    if reason is exc.reason:
        return exc
    return CodecError(reason, exc.offset, exc.path)


def encode_pana(msg: PanaMessage, *, dialect: Dialect | str = "rfc5191") -> bytes:
    """Encode one PANA message; lengths are computed, never taken from the caller.

    Raises CodecError for a message that cannot be represented (a field out of range, a
    4-octet IETF AVP of another size, the V bit in ``Avp.flags``, more than 65535 octets).
    """
    draft = False if dialect == "rfc5191" else _is_draft(dialect)
    parts: list[bytes] = [b""]
    append = parts.append
    total = HEADER_LEN
    pack = _AVP_HEADER.pack
    vpack = _AVP_VENDOR_HEADER.pack
    try:
        for a in msg.avps:
            value = a.value
            vlen = len(value)
            aflags = a.flags
            if aflags & AVP_FLAG_VENDOR:
                raise StructError
            if a.vendor_id is None:
                if vlen != 4 and a.code in _FIXED:
                    raise StructError
                append(pack(a.code, aflags, vlen + 8 if draft else vlen, a.reserved))
                total += 8
            else:
                append(
                    vpack(
                        a.code,
                        aflags | AVP_FLAG_VENDOR,
                        vlen + 12 if draft else vlen,
                        a.reserved,
                        a.vendor_id,
                    )
                )
                total += 12
            append(value)
            pad = -vlen & 3
            if pad:
                append(_ZEROS[pad])
            total += vlen + pad
        parts[0] = _HEADER.pack(msg.reserved, total, msg.flags, msg.type, msg.session_id, msg.seq)
    except (StructError, TypeError, AttributeError):
        # A field out of range, or of a wrong type (None, str, ...): explain it precisely.
        raise encode_error(msg, draft) from None
    return b"".join(parts)


def _check_range(value: object, bits: int, offset: int, path: str) -> None:
    """Raise CodecError unless ``value`` is an int that fits an unsigned field of ``bits`` bits."""
    if not isinstance(value, int):
        raise CodecError(f"{path} {value!r} is not an integer", offset, path)
    if not 0 <= value < 1 << bits:
        raise CodecError(f"{path} {value} does not fit in {bits} bits", offset, path)


def encode_error(msg: PanaMessage, draft: bool) -> CodecError:
    """The precise reason why ``msg`` cannot be encoded (slow path, only after a failure)."""
    try:
        if not isinstance(msg, PanaMessage):
            raise CodecError(f"{type(msg).__name__} is not a PanaMessage", 0, "")
        _check_range(msg.reserved, 16, 0, "reserved")
        _check_range(msg.flags, 16, 4, "flags")
        _check_range(msg.type, 16, 6, "type")
        _check_range(msg.session_id, 32, 8, "session_id")
        _check_range(msg.seq, 32, 12, "seq")
        off = HEADER_LEN
        if not isinstance(msg.avps, tuple | list):
            raise CodecError("avps is not a tuple of Avp", off, "avps")
        for i, a in enumerate(msg.avps):
            path = f"avps[{i}]"
            if not isinstance(a, Avp):
                raise CodecError(f"{type(a).__name__} is not an Avp", off, path)
            if not isinstance(a.value, bytes | bytearray | memoryview):
                raise CodecError(f"value of type {type(a.value).__name__}", off, f"{path}.value")
            _check_range(a.code, 16, off, f"{path}.code")
            _check_range(a.flags, 16, off + 2, f"{path}.flags")
            if a.flags & AVP_FLAG_VENDOR:
                raise CodecError(
                    "V bit in Avp.flags: set vendor_id instead", off + 2, f"{path}.flags"
                )
            _check_range(a.reserved, 16, off + 6, f"{path}.reserved")
            hdr = 8
            if a.vendor_id is not None:
                _check_range(a.vendor_id, 32, off + 8, f"{path}.vendor_id")
                hdr = 12
            vlen = len(a.value)
            if a.vendor_id is None and a.code in _FIXED and vlen != 4:
                raise _checks.fixed_size(off, a.code, vlen, i)
            _check_range(vlen + hdr if draft else vlen, 16, off + 4, f"{path}.length")
            off += hdr + vlen + (-vlen & 3)
        _check_range(off, 16, 2, "length")
    except CodecError as exc:
        return exc
    return CodecError("message cannot be encoded", 0, "")  # pragma: no cover - defensive


def decode_avps(
    data: bytes, *, dialect: Dialect | str = "rfc5191", max_avps: int | None = DEFAULT_MAX_AVPS
) -> tuple[Avp, ...]:
    """Decode a bare AVP sequence, e.g. decrypted Encryption-Encap content (RFC 6786 s5).

    The rules are those of ``decode_pana``; error offsets count from the start of ``data``.
    """
    draft = _is_draft(dialect)
    limit = _limit(max_avps)
    data = bytes(data)
    if len(data) > 0xFFFF - HEADER_LEN:
        raise CodecError(f"AVP sequence of {len(data)} octets cannot fit in a message", 0, "avps")
    head = _HEADER.pack(0, HEADER_LEN + len(data), 0, 0, 0, 0)
    try:
        return _decode(head + data, draft, limit).avps
    except CodecError as exc:
        exc = explain(exc, head + data, draft, _frame, limit)
        raise CodecError(exc.reason, exc.offset - HEADER_LEN, exc.path) from None


def encode_avps(avps: tuple[Avp, ...] | list[Avp], *, dialect: Dialect | str = "rfc5191") -> bytes:
    """Encode a bare AVP sequence with padding (the plaintext of Encryption-Encap, RFC 6786 s5)."""
    try:
        return encode_pana(PanaMessage(0, 0, 0, 0, tuple(avps)), dialect=dialect)[HEADER_LEN:]
    except CodecError as exc:
        raise CodecError(exc.reason, max(exc.offset - HEADER_LEN, 0), exc.path) from None

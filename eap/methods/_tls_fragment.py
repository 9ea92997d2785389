"""EAP-TLS framing: Flags, TLS Message Length, fragments and reassembly (RFC 5216 s2.1.5, s3.1)."""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

__all__ = [
    "ACK",
    "FLAG_L",
    "FLAG_M",
    "FLAG_S",
    "FragmentError",
    "Fragmenter",
    "Reassembler",
    "TlsFrame",
    "build_frame",
    "parse_frame",
]

logger = logging.getLogger(__name__)

FLAG_L = 0x80  # TLS Message Length included
FLAG_M = 0x40  # more fragments
FLAG_S = 0x20  # EAP-TLS Start (Requests only)
# The low five bits are reserved: send 0, ignore on receipt (RFC 5216 s3.1, RFC 9190 s2.1.6).

ACK = b"\x00"
"""Type-Data of an empty EAP-TLS message: a fragment acknowledgement (RFC 5216 s2.1.5)."""


class FragmentError(ValueError):
    """Malformed or unacceptable EAP-TLS framing (the reason is in the message)."""


@dataclass(frozen=True, slots=True)
class TlsFrame:
    """One EAP-TLS message's Type-Data, decoded."""

    flags: int
    message_length: int | None
    data: bytes

    @property
    def start(self) -> bool:
        """S flag."""
        return bool(self.flags & FLAG_S)

    @property
    def more(self) -> bool:
        """M flag."""
        return bool(self.flags & FLAG_M)

    @property
    def is_ack(self) -> bool:
        """An empty message without S or M: acknowledges a fragment (or ends the method)."""
        return not self.data and not self.flags & (FLAG_M | FLAG_S)


def parse_frame(type_data: bytes) -> TlsFrame:
    """Decode Flags [| TLS Message Length] | TLS Data (RFC 5216 s3.1)."""
    if not type_data:
        raise FragmentError("EAP-TLS message without Flags octet")
    flags = type_data[0]
    if flags & FLAG_L:
        if len(type_data) < 5:
            raise FragmentError("L flag set but TLS Message Length truncated")
        (length,) = struct.unpack_from("!I", type_data, 1)
        return TlsFrame(flags, length, type_data[5:])
    return TlsFrame(flags, None, type_data[1:])


def build_frame(flags: int, data: bytes, message_length: int | None = None) -> bytes:
    """Encode one EAP-TLS message's Type-Data."""
    if message_length is not None:
        return bytes([flags | FLAG_L]) + struct.pack("!I", message_length) + data
    return bytes([flags & ~FLAG_L]) + data


class Reassembler:
    """Collects the fragments of one TLS message set; bounded (RFC 5216 s2.1.5)."""

    def __init__(self, max_length: int) -> None:
        self._max = max_length
        self._buf = bytearray()
        self._expected: int | None = None
        self._active = False

    @property
    def in_progress(self) -> bool:
        """True between a first fragment with M and the last fragment."""
        return self._active

    def reset(self) -> None:
        """Forget any partial message."""
        self._buf.clear()
        self._expected = None
        self._active = False

    def feed(self, frame: TlsFrame) -> bytes | None:
        """Add a fragment; the whole message when complete, None when more are expected.

        Raises FragmentError on a length above the cap, data beyond the announced length, an
        empty non-final fragment or a final length short of the announced one.
        """
        if frame.start:
            raise FragmentError("S flag inside a TLS message")
        if frame.message_length is not None:
            if frame.message_length > self._max:
                raise FragmentError(
                    f"TLS Message Length {frame.message_length} above the limit {self._max}"
                )
            if not self._active:
                self._expected = frame.message_length
            elif self._expected is not None and frame.message_length != self._expected:
                # RFC 5216 s3.1 puts L in the first fragment only; a changed value is an error.
                raise FragmentError("TLS Message Length changed between fragments")
        if frame.more and not frame.data:
            raise FragmentError("empty fragment with the M flag")
        self._buf += frame.data
        self._active = True
        if len(self._buf) > self._max:
            raise FragmentError(f"reassembled TLS data above the limit {self._max}")
        if self._expected is not None and len(self._buf) > self._expected:
            raise FragmentError("fragments exceed the announced TLS Message Length")
        if frame.more:
            return None
        if self._expected is not None and len(self._buf) != self._expected:
            raise FragmentError("last fragment ends before the announced TLS Message Length")
        data = bytes(self._buf)
        self.reset()
        return data


class Fragmenter:
    """Splits TLS data into EAP-TLS messages of at most ``size`` data octets (RFC 5216 s2.1.5)."""

    def __init__(self, data: bytes, size: int) -> None:
        self._data = data
        self._size = size
        self._pos = 0

    @property
    def done(self) -> bool:
        """All fragments handed out."""
        return self._pos >= len(self._data)

    def next(self) -> bytes:
        """Type-Data of the next fragment: L on the first of several, M on all but the last."""
        first = self._pos == 0
        chunk = self._data[self._pos : self._pos + self._size]
        self._pos += len(chunk)
        more = self._pos < len(self._data)
        flags = FLAG_M if more else 0
        # L only when the message is fragmented (RFC 9190 s2.1.6: not on unfragmented messages).
        length = len(self._data) if first and more else None
        return build_frame(flags, chunk, length)

"""A streaming reader of pcap and pcapng captures, plain or gzip-compressed (standard library only).

Frames are read one at a time with a small buffer, so memory stays constant however long the
capture is, and a pipe (``tcpdump -w - | …``) yields each frame as soon as its bytes have
arrived. Formats: pcap in either byte order with micro- or nanosecond timestamps (and the
"modified" pcap of old Linux patches); pcapng (sections of either byte order, several interfaces
with their own link type, ``if_tsresol`` and ``if_tsoffset``; Enhanced, Simple and the obsolete
Packet Blocks; other blocks skipped). Anything cut short or damaged raises :class:`CaptureError`
with the number of frames read before it.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import IO, NamedTuple, Protocol

__all__ = ["MAX_RECORD", "CaptureError", "Frame", "read_frames"]

logger = logging.getLogger(__name__)

MAX_RECORD = 16 * 1024 * 1024
"""Largest frame or pcapng block accepted (octets); a longer one means the file is damaged."""

_CHUNK = 64 * 1024

# pcap file header magic numbers (https://www.tcpdump.org/manpages/pcap-savefile.5.html).
_PCAP_MICRO = 0xA1B2C3D4
_PCAP_NANO = 0xA1B23C4D
_PCAP_MODIFIED = 0xA1B2CD34  # Alexey Kuznetzov's patched libpcap: 8 more octets per record

# pcapng (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html).
_SHB = 0x0A0D0D0A
_BYTE_ORDER_MAGIC = 0x1A2B3C4D
_IDB, _OPB, _SPB, _EPB = 1, 2, 3, 6
_OPT_ENDOFOPT = 0
_IF_TSRESOL = 9
_IF_TSOFFSET = 14

_GZIP_MAGIC = b"\x1f\x8b"


class CaptureError(Exception):
    """The file is missing, unreadable, not a capture, or cut short (``frames_read`` were read)."""

    def __init__(self, reason: str, frames_read: int = 0) -> None:
        self.reason = reason
        self.frames_read = frames_read
        super().__init__(reason)


class Frame(NamedTuple):
    """One captured frame: its 1-based number, time, link type, captured octets, original size."""

    number: int
    time: float
    """Seconds since the epoch (0.0 for a pcapng Simple Packet Block, which has no time)."""
    linktype: int
    """LINKTYPE_ value of its interface (https://www.tcpdump.org/linktypes.html)."""
    data: bytes
    orig_len: int
    """The frame's length on the wire; more than ``len(data)`` when the snapshot length cut it."""


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Source:
    """Incremental reads from a file or pipe: never more than asked for plus one chunk in memory.

    ``before_read`` is called before each read that may block (a decoder flushes its output there).
    """

    def __init__(self, stream: _Readable, before_read: Callable[[], None] | None) -> None:
        self._stream = stream
        read1 = getattr(stream, "read1", None)
        # read1 returns what is there (one system call) instead of waiting for a full chunk.
        self._read: Callable[[int], bytes] = read1 if callable(read1) else stream.read
        self._before_read = before_read
        self._buf = b""
        self._pos = 0
        self.offset = 0
        """Octets consumed so far."""

    def _fill(self, n: int) -> bool:
        """Make ``n`` octets available unless the input ends first; False at end of input."""
        parts = [self._buf[self._pos :]]
        have = len(parts[0])
        while have < n:
            if self._before_read is not None:
                self._before_read()
            try:
                chunk = self._read(max(_CHUNK, n - have))
            except (EOFError, OSError, zlib.error) as exc:
                raise _InputError(exc) from exc
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        self._buf = b"".join(parts)
        self._pos = 0
        return have >= n

    def take(self, n: int) -> bytes:
        """The next ``n`` octets, or fewer when the input ends first."""
        if len(self._buf) - self._pos < n:
            self._fill(n)
        data = self._buf[self._pos : self._pos + n]
        self._pos += len(data)
        self.offset += len(data)
        return data

    def skip(self, n: int) -> int:
        """Skip ``n`` octets in chunks (constant memory); how many were there."""
        done = 0
        while done < n:
            got = len(self.take(min(_CHUNK, n - done)))
            if not got:
                break
            done += got
        return done

    def peek(self, n: int) -> bytes:
        """Up to ``n`` octets without consuming them."""
        if len(self._buf) - self._pos < n:
            self._fill(n)
        return self._buf[self._pos : self._pos + n]

    def replay(self) -> _Replay:
        """A readable that gives back the buffered octets, then the rest of the input."""
        return _Replay(self._buf[self._pos :], self._read)


class _InputError(Exception):
    """Reading the input failed (``cause``): an I/O error, or a gzip stream damaged or cut short.

    Kept apart from errors of ``before_read`` (say, a closed stdout): those pass through as raised.
    """

    def __init__(self, cause: BaseException) -> None:
        super().__init__(cause)
        self.cause = cause


class _Replay:
    """What a gzip reader reads: the octets already looked at, then the stream (short reads)."""

    def __init__(self, head: bytes, read: Callable[[int], bytes]) -> None:
        self._head = head
        self._read_more = read

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            if size < 0 or size >= len(self._head):
                head, self._head = self._head, b""
                return head
            head, self._head = self._head[:size], self._head[size:]
            return head
        return self._read_more(_CHUNK if size < 0 else size)

    def seek(self, offset: int, /) -> int:
        """Pipes do not seek; a gzip reader only seeks to rewind, which a stream never asks."""
        raise io.UnsupportedOperation("seek")


class _Reader:
    """The state of one read: the input, its name for messages, and the frames read so far."""

    def __init__(self, source: _Source, name: str) -> None:
        self.src = source
        self.name = name
        self.frames = 0

    def cut_short(self, where: str = "") -> CaptureError:
        place = where or f"after frame {self.frames}"
        return CaptureError(f"{self.name}: capture cut short {place}", self.frames)

    def damaged(self, why: str) -> CaptureError:
        return CaptureError(
            f"{self.name}: capture damaged after frame {self.frames} ({why})", self.frames
        )

    def exact(self, n: int, where: str = "") -> bytes:
        data = self.src.take(n)
        if len(data) < n:
            raise self.cut_short(where)
        return data


def read_frames(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    name: str | None = None,
    before_read: Callable[[], None] | None = None,
) -> Iterator[Frame]:
    """Each frame of a pcap or pcapng capture (maybe gzipped), read lazily in file order.

    ``source`` is a path or a binary stream (a pipe is fine: nothing is read ahead of need);
    ``name`` names it in messages (default: the path, or ``<stdin>``). ``before_read`` is called
    before each read that may wait for input. Raises :class:`CaptureError`; frames yielded
    before a damaged or cut-short part stay valid.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        label = path if name is None else name
        if os.path.isdir(path):
            raise CaptureError(f"{label}: is a directory")
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError as exc:
            raise CaptureError(f"{label}: no such file") from exc
        except OSError as exc:
            raise CaptureError(f"{label}: cannot read: {exc.strerror or exc}") from exc
        with f:
            yield from _read_stream(f, label, before_read)
    else:
        yield from _read_stream(source, "<stdin>" if name is None else name, before_read)


def _read_stream(
    stream: _Readable, name: str, before_read: Callable[[], None] | None
) -> Iterator[Frame]:
    src = _Source(stream, before_read)
    reader = _Reader(src, name)
    try:
        if src.peek(2) == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=src.replay(), mode="rb") as unzipped:
                reader.src = _Source(unzipped, before_read)
                yield from _read_capture(reader)
        else:
            yield from _read_capture(reader)
    except _InputError as exc:
        cause = exc.cause
        if isinstance(cause, EOFError):  # gzip: the stream ended before its end marker
            raise reader.cut_short() from cause
        # gzip.BadGzipFile is an OSError, as are read errors; zlib.error: damaged deflate data.
        why = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
        if reader.frames == 0 and reader.src.offset == 0:
            raise CaptureError(f"{name}: not a pcap or pcapng capture ({why})") from cause
        raise reader.damaged(why) from cause


def _read_capture(reader: _Reader) -> Iterator[Frame]:
    head = reader.src.peek(4)
    if len(head) < 4:
        why = "empty" if not head else "too short"
        raise CaptureError(f"{reader.name}: not a pcap or pcapng capture ({why})")
    (magic,) = struct.unpack("<I", head)
    if magic == _SHB:
        yield from _read_pcapng(reader)
        return
    for endian in "<>":
        (magic,) = struct.unpack(endian + "I", head)
        if magic in (_PCAP_MICRO, _PCAP_NANO, _PCAP_MODIFIED):
            yield from _read_pcap(reader, endian, magic)
            return
    raise CaptureError(f"{reader.name}: not a pcap or pcapng capture (magic {head.hex()})")


def _read_pcap(reader: _Reader, endian: str, magic: int) -> Iterator[Frame]:
    """Classic pcap: a 24-octet file header, then 16-octet record headers and frames."""
    header = reader.src.take(24)
    if len(header) < 24:
        raise CaptureError(f"{reader.name}: not a pcap or pcapng capture (file header cut short)")
    major, _minor, _zone, _sigfigs, _snaplen, network = struct.unpack_from(
        endian + "HHiIII", header, 4
    )
    if major != 2:
        raise CaptureError(f"{reader.name}: not a pcap or pcapng capture (pcap version {major})")
    linktype = network & 0xFFFF  # upper bits: FCS length information
    scale = 1e9 if magic == _PCAP_NANO else 1e6
    extra = 8 if magic == _PCAP_MODIFIED else 0
    record = struct.Struct(endian + "IIII")
    take = reader.src.take
    while True:
        rec = take(16 + extra)
        if not rec:
            return
        number = reader.frames + 1
        if len(rec) < 16 + extra:
            raise reader.cut_short(f"in frame {number}")
        sec, frac, caplen, orig_len = record.unpack_from(rec)
        if caplen > MAX_RECORD:
            raise reader.damaged(f"frame {number} claims {caplen} octets")
        data = take(caplen)
        if len(data) < caplen:
            raise reader.cut_short(f"in frame {number}")
        reader.frames = number
        yield Frame(number, sec + frac / scale, linktype, data, orig_len)


class _Interface(NamedTuple):
    linktype: int
    snaplen: int
    resolution: int
    """Timestamp units per second (if_tsresol; 10**6 by default)."""
    offset: int
    """Seconds added to every timestamp (if_tsoffset)."""


def _options(body: bytes, start: int, endian: str) -> Iterator[tuple[int, bytes]]:
    """(code, value) of each option from ``start`` to the end of a block body."""
    pos = start
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(endian + "HH", body, pos)
        if code == _OPT_ENDOFOPT:
            return
        value = body[pos + 4 : pos + 4 + length]
        if len(value) < length:
            return  # an option running past the block: ignore the rest, as Wireshark does
        yield code, value
        pos += 4 + length + (-length % 4)


def _interface(body: bytes, endian: str) -> _Interface:
    linktype, _reserved, snaplen = struct.unpack_from(endian + "HHI", body, 0)
    resolution, offset = 1_000_000, 0
    for code, value in _options(body, 8, endian):
        if code == _IF_TSRESOL and len(value) >= 1:
            exp = value[0] & 0x7F
            resolution = 2**exp if value[0] & 0x80 else 10**exp
        elif code == _IF_TSOFFSET and len(value) >= 8:
            (offset,) = struct.unpack_from(endian + "q", value, 0)
    return _Interface(linktype, snaplen, resolution, offset)


def _read_pcapng(reader: _Reader) -> Iterator[Frame]:
    """pcapng: blocks of (type, length, body, length); a Section Header sets the byte order."""
    take = reader.src.take
    endian = "<"
    interfaces: list[_Interface] = []
    first = True
    while True:
        head = take(8)
        if not head:
            return
        number = reader.frames + 1
        if len(head) < 8:
            raise reader.cut_short()
        (btype,) = struct.unpack_from(endian + "I", head, 0)
        if btype == _SHB:  # the same in both byte orders; the caller checked the first block
            bom = reader.exact(4)
            if bom == _BYTE_ORDER_MAGIC.to_bytes(4, "little"):
                endian = "<"
            elif bom == _BYTE_ORDER_MAGIC.to_bytes(4, "big"):
                endian = ">"
            elif first:
                raise CaptureError(
                    f"{reader.name}: not a pcap or pcapng capture (byte-order magic)"
                )
            else:
                raise reader.damaged("section header without byte-order magic")
            first = False
            (length,) = struct.unpack_from(endian + "I", head, 4)
            if length < 28 or length % 4 or length > MAX_RECORD:
                raise reader.damaged(f"section header of {length} octets")
            body = reader.exact(length - 16)
            major = struct.unpack_from(endian + "H", body, 0)[0]
            if major != 1:
                raise reader.damaged(f"pcapng version {major}")
            _check_trailer(reader, endian, length)
            interfaces = []  # interface ids are per section
            continue
        (length,) = struct.unpack_from(endian + "I", head, 4)
        if length < 12 or length % 4 or length > MAX_RECORD:
            raise reader.damaged(f"block of {length} octets")
        if btype not in (_IDB, _EPB, _SPB, _OPB):
            if reader.src.skip(length - 12) < length - 12:
                raise reader.cut_short()
            _check_trailer(reader, endian, length)
            continue
        where = "" if btype == _IDB else f"in frame {number}"
        rest = reader.exact(length - 8, where)  # the body and the trailing length
        body = rest[:-4]
        if rest[-4:] != head[4:]:
            _check_trailer(reader, endian, length, rest[-4:])
        if btype == _IDB:
            if len(body) < 8:
                raise reader.damaged("interface description too short")
            interfaces.append(_interface(body, endian))
            continue
        frame = _packet(reader, btype, body, endian, interfaces, number)
        reader.frames = number
        yield frame


def _check_trailer(reader: _Reader, endian: str, length: int, data: bytes | None = None) -> None:
    (trailer,) = struct.unpack(endian + "I", reader.exact(4) if data is None else data)
    if trailer != length:
        raise reader.damaged(f"block length {length} != trailing length {trailer}")


def _packet(
    reader: _Reader,
    btype: int,
    body: bytes,
    endian: str,
    interfaces: list[_Interface],
    number: int,
) -> Frame:
    """The frame of an Enhanced, Simple or obsolete Packet Block."""
    if btype == _SPB:
        # Simple Packet Block: interface 0, no time; the captured part is what the block holds.
        if not interfaces or len(body) < 4:
            raise reader.damaged(f"frame {number}: simple packet block without an interface")
        (orig_len,) = struct.unpack_from(endian + "I", body, 0)
        iface = interfaces[0]
        caplen = min(orig_len, len(body) - 4, iface.snaplen or MAX_RECORD)
        return Frame(number, 0.0, iface.linktype, body[4 : 4 + caplen], orig_len)
    if btype == _EPB:
        if len(body) < 20:
            raise reader.damaged(f"frame {number}: packet block too short")
        iface_id, high, low, caplen, orig_len = struct.unpack_from(endian + "IIIII", body, 0)
        start = 20
    else:  # obsolete Packet Block: 16-bit interface id and drops count
        if len(body) < 20:
            raise reader.damaged(f"frame {number}: packet block too short")
        iface_id, _drops, high, low, caplen, orig_len = struct.unpack_from(
            endian + "HHIIII", body, 0
        )
        start = 20
    if iface_id >= len(interfaces):
        raise reader.damaged(f"frame {number}: no interface {iface_id}")
    if start + caplen > len(body):
        raise reader.damaged(f"frame {number}: {caplen} octets in a block of {len(body) + 12}")
    iface = interfaces[iface_id]
    ticks = (high << 32) | low
    time = ticks / iface.resolution
    if iface.offset:
        time += iface.offset
    return Frame(number, time, iface.linktype, body[start : start + caplen], orig_len)

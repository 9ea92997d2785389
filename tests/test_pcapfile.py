"""Our streaming capture reader: pcap and pcapng variants, gzip, damage, pipes, constant memory."""

from __future__ import annotations

import contextlib
import gzip
import io
import itertools
import os
import queue
import struct
import subprocess
import sys
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interop.locate import CAPTURE_NAMES, capture_path, load_expected
from pana_codecs import MessageFlags, MessageType, PanaMessage, encode_pana
from pana_mpa.cli import main
from pana_mpa.cli.capture import (
    PANA_PORT,
    CaptureError,
    UdpDatagram,
    _Reassembler,
    _udp_datagram,
    read_pana,
    read_udp,
)
from pana_mpa.cli.pcapfile import Frame, read_frames
from tests.pcapfile import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
    ipv4_udp,
    ipv6_udp,
    link_frame,
    write_pcap,
    write_pcapng,
)
from tests.realcomponents import need_module
from tests.traces import trace_records

REPO = Path(__file__).resolve().parent.parent

PCI = encode_pana(PanaMessage(MessageType.PANA_CLIENT_INITIATION, 0, 0, 0))
PAR = encode_pana(PanaMessage(MessageType.PANA_AUTH, MessageFlags.R | MessageFlags.S, 9, 1))


def _eth(sport: int, dport: int, payload: bytes) -> bytes:
    return link_frame(LINKTYPE_ETHERNET, ipv4_udp("10.0.0.1", "10.0.0.2", sport, dport, payload))


# --- pcapng written here with struct: every block kind the reader knows -----------------------


def _block(e: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return (
        struct.pack(e + "II", btype, 12 + len(body)) + body + struct.pack(e + "I", 12 + len(body))
    )


def _option(e: str, code: int, value: bytes) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _shb(e: str) -> bytes:
    return _block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def _idb(e: str, linktype: int, *, tsresol: int | None = None, tsoffset: int = 0) -> bytes:
    opts = _option(e, 2, b"eth0\0")  # if_name, ignored
    if tsresol is not None:
        opts += _option(e, 9, bytes([tsresol]))
    if tsoffset:
        opts += _option(e, 14, struct.pack(e + "q", tsoffset))
    return _block(e, 1, struct.pack(e + "HHI", linktype, 0, 0) + opts + _option(e, 0, b""))


def _epb(e: str, iface: int, ticks: int, data: bytes, orig_len: int | None = None) -> bytes:
    head = struct.pack(e + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), 0)
    head = head[:16] + struct.pack(e + "I", len(data) if orig_len is None else orig_len)
    return _block(e, 6, head + data + _option(e, 1, b"a comment") + _option(e, 0, b""))


def _spb(e: str, data: bytes) -> bytes:
    return _block(e, 3, struct.pack(e + "I", len(data)) + data)


def _opb(e: str, iface: int, ticks: int, data: bytes) -> bytes:
    head = struct.pack(
        e + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return _block(e, 2, head + data)


NS_TICKS = 1_700_000_000_123_456_789  # nanoseconds: more digits than a float holds
V6 = ipv6_udp("2001:db8::1", "2001:db8::2", 40000, PANA_PORT, PCI)


def _two_sections() -> bytes:
    """Section 1 (little-endian): Ethernet with ns timestamps, Linux cooked with 2^-20 s and an
    offset, unknown blocks; section 2 (big-endian): raw IP, its own interface 0."""
    le, be = "<", ">"
    sll = link_frame(LINKTYPE_LINUX_SLL, ipv4_udp("10.0.0.2", "10.0.0.1", PANA_PORT, 40000, PAR))
    return b"".join(
        [
            _shb(le),
            _idb(le, LINKTYPE_ETHERNET, tsresol=9),
            _block(le, 4, b"\x01\x00\x04\x00" + bytes(8)),  # Name Resolution Block: skipped
            _idb(le, LINKTYPE_LINUX_SLL, tsresol=0x80 | 20, tsoffset=100),
            _block(le, 0x40000BAD, b"custom" * 100),  # custom block: skipped
            _epb(le, 0, NS_TICKS, _eth(40000, PANA_PORT, PCI)),
            _epb(le, 1, 3 << 20 | 1 << 19, sll),  # 3.5 s after the 100 s offset
            _spb(le, _eth(40000, PANA_PORT, PCI)),  # no time, interface 0
            _opb(le, 1, 1 << 20, sll),
            _block(le, 5, bytes(20)),  # Interface Statistics Block: skipped
            _shb(be),
            _idb(be, LINKTYPE_RAW),
            _epb(be, 0, 1_700_000_002_000_000, V6),
        ]
    )


def test_pcapng_sections_interfaces_resolutions_and_block_kinds(tmp_path: Path) -> None:
    f = tmp_path / "two.pcapng"
    f.write_bytes(_two_sections())
    frames = list(read_frames(f))
    assert [(x.number, x.linktype) for x in frames] == [
        (1, LINKTYPE_ETHERNET),
        (2, LINKTYPE_LINUX_SLL),
        (3, LINKTYPE_ETHERNET),
        (4, LINKTYPE_LINUX_SLL),
        (5, LINKTYPE_RAW),
    ]
    assert frames[0].time == NS_TICKS / 10**9
    assert frames[0].time == pytest.approx(1_700_000_000.123456789, abs=1e-6)
    assert frames[1].time == 103.5 and frames[2].time == 0.0 and frames[3].time == 101.0
    assert frames[4].time == 1_700_000_002.0  # big-endian section, default microseconds
    assert frames[4].data == V6 and frames[4].orig_len == len(V6)
    datagrams = list(read_udp(f))
    assert [(d.frame, d.src[1], d.dst[1]) for d in datagrams] == [
        (1, 40000, 716),
        (2, 716, 40000),
        (3, 40000, 716),
        (4, 716, 40000),
        (5, 40000, 716),
    ]


def test_decode_command_on_two_interfaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "two.pcapng"
    f.write_bytes(_two_sections())
    assert main(["decode", "--json", str(f)]) == 0
    captured = capsys.readouterr()
    objs = trace_records(captured.out, "decode")
    assert [(o["frame"], o["type"]) for o in objs] == [
        (1, "PCI"),
        (2, "PAR"),
        (3, "PCI"),
        (4, "PAR"),
        (5, "PCI"),
    ]
    assert objs[0]["time"] == 1_700_000_000.123457
    assert captured.err == "pana-mpa decode: 5 frames, 5 PANA datagrams, 0 undecodable\n"


def test_snaplen_cut_frame_keeps_its_original_length(tmp_path: Path) -> None:
    frame = _eth(40000, PANA_PORT, PAR)
    f = tmp_path / "cut.pcapng"
    f.write_bytes(
        _shb("<") + _idb("<", LINKTYPE_ETHERNET) + _epb("<", 0, 0, frame[:-4], len(frame))
    )
    (only,) = read_frames(f)
    assert only.orig_len == len(frame) and only.data == frame[:-4]


# --- pcap: both byte orders, micro and nano seconds, modified pcap -----------------------------


def _pcap(endian: str, magic: int, frames: list[bytes], *, extra: int = 0) -> bytes:
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET)]
    for i, frame in enumerate(frames):
        frac = 456_789_000 if magic == 0xA1B23C4D else 123_456
        out.append(struct.pack(endian + "IIII", 1_700_000_000 + i, frac, len(frame), len(frame)))
        out.append(bytes(extra) + frame)
    return b"".join(out)


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize(
    ("magic", "extra", "frac"),
    [(0xA1B2C3D4, 0, 0.123456), (0xA1B23C4D, 0, 0.456789), (0xA1B2CD34, 8, 0.123456)],
)
def test_pcap_byte_orders_and_resolutions(
    tmp_path: Path, endian: str, magic: int, extra: int, frac: float
) -> None:
    frames = [_eth(40000, PANA_PORT, PCI), _eth(PANA_PORT, 40000, PAR)]
    f = tmp_path / "x.pcap"
    f.write_bytes(_pcap(endian, magic, frames, extra=extra))
    got = list(read_frames(f))
    assert [x.data for x in got] == frames
    assert [x.time for x in got] == [1_700_000_000 + frac, 1_700_000_001 + frac]
    assert [x.linktype for x in got] == [LINKTYPE_ETHERNET] * 2


def test_pcap_linktype_ignores_fcs_bits(tmp_path: Path) -> None:
    data = bytearray(write_pcap(tmp_path / "a.pcap", LINKTYPE_RAW, [V6]).read_bytes())
    data[20:24] = struct.pack("<I", LINKTYPE_RAW | 0x1 << 26 | 0x4 << 28)
    (frame,) = read_frames(io.BytesIO(bytes(data)))
    assert frame.linktype == LINKTYPE_RAW


# --- the shared captures read exactly as the scapy-based reader read them -----------------------


def _scapy_frames(path: Path) -> list[tuple[float, int, bytes, int]]:
    """(time, linktype, data, orig_len) per frame the way the old scapy-based reader got them."""
    utils = need_module("scapy.utils")
    out: list[tuple[float, int, bytes, int]] = []
    with utils.RawPcapReader(str(path)) as reader:
        nano = bool(getattr(reader, "nano", False))
        while True:
            try:
                data, meta = reader._read_packet()
            except EOFError:
                return out
            if hasattr(meta, "tsresol"):
                ticks = (meta.tshigh << 32) | meta.tslow
                time = ticks / meta.tsresol
            else:
                time = meta.sec + meta.usec / (1e9 if nano else 1e6)
            linktype = getattr(meta, "linktype", getattr(reader, "linktype", -1))
            out.append((time, linktype, data, meta.wirelen))


def _batch_pana(datagrams: list[UdpDatagram], ports: tuple[int, ...]) -> list[UdpDatagram]:
    """The old selection: endpoints seen anywhere in the capture talking to a PANA port."""
    wanted = {PANA_PORT, *ports}
    endpoints = {d.src for d in datagrams if d.dst[1] in wanted}
    endpoints |= {d.dst for d in datagrams if d.src[1] in wanted}
    return [
        d
        for d in datagrams
        if {d.src[1], d.dst[1]} & wanted or d.src in endpoints or d.dst in endpoints
    ]


@pytest.mark.interop
@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_shared_captures_read_as_scapy_read_them(name: str) -> None:
    path = capture_path(name)
    old = _scapy_frames(path)
    new = list(read_frames(path))
    assert [(x.time, x.linktype, x.data, x.orig_len) for x in new] == old
    assert [x.number for x in new] == list(range(1, len(old) + 1))
    reassembler = _Reassembler()
    old_udp = [
        d
        for i, (time, linktype, data, _) in enumerate(old, 1)
        if (d := _udp_datagram(i, time, linktype, data, reassembler)) is not None
    ]
    assert list(read_udp(path)) == old_udp
    ports = tuple(load_expected(name)["ports"])
    assert read_pana(path, ports) == _batch_pana(old_udp, ports)


# --- gzip, damage, garbage -----------------------------------------------------------------------


def _small(tmp_path: Path, ng: bool) -> Path:
    frames = [_eth(40000, PANA_PORT, PCI), _eth(PANA_PORT, 40000, PAR), _eth(40000, 716, PCI)]
    if ng:
        return write_pcapng(tmp_path / "s.pcapng", [LINKTYPE_ETHERNET], [(0, x) for x in frames])
    return write_pcap(tmp_path / "s.pcap", LINKTYPE_ETHERNET, frames)


@pytest.mark.parametrize("ng", [False, True])
def test_gzip_file_and_stream(tmp_path: Path, ng: bool) -> None:
    plain = _small(tmp_path, ng).read_bytes()
    packed = gzip.compress(plain)
    want = list(read_frames(io.BytesIO(plain)))
    assert len(want) == 3
    assert list(read_frames(io.BytesIO(packed))) == want
    (tmp_path / "s.gz").write_bytes(packed)
    assert list(read_frames(tmp_path / "s.gz")) == want
    with pytest.raises(CaptureError, match="cut short") as info:
        list(read_frames(io.BytesIO(packed[:-12])))  # the gzip trailer is missing
    assert info.value.frames_read <= 3
    with pytest.raises(CaptureError, match="not a pcap or pcapng"):
        list(read_frames(io.BytesIO(gzip.compress(b"plain text, gzipped"))))
    with pytest.raises(CaptureError, match="not a pcap or pcapng"):
        list(read_frames(io.BytesIO(b"\x1f\x8b\x00garbage")))


def _boundaries(data: bytes, ng: bool) -> dict[int, int]:
    """Offsets where a whole number of records ends -> frames complete there."""
    if not ng:
        pos, n, out = 24, 0, {24: 0}
        while pos < len(data):
            (caplen,) = struct.unpack_from("<I", data, pos + 8)
            pos, n = pos + 16 + caplen, n + 1
            out[pos] = n
        return out
    pos, n, out = 0, 0, {}
    while pos < len(data):
        btype, length = struct.unpack_from("<II", data, pos)
        pos, n = pos + length, n + (btype == 6)
        out[pos] = n
    return out


@pytest.mark.parametrize("ng", [False, True])
def test_every_cut_point(tmp_path: Path, ng: bool) -> None:
    data = _small(tmp_path, ng).read_bytes()
    ends = _boundaries(data, ng)
    first_end = min(ends) if ng else 24
    complete = 0
    for cut in range(len(data) + 1):
        if cut in ends:
            complete = ends[cut]
        source = io.BytesIO(data[:cut])
        if cut in ends:
            assert len(list(read_frames(source))) == complete, cut
            continue
        with pytest.raises(CaptureError) as info:
            list(read_frames(source))
        assert info.value.frames_read == complete, cut
        if cut < first_end and not ng:
            assert "not a pcap or pcapng" in info.value.reason
        elif cut >= 4:
            assert "cut short" in info.value.reason, (cut, info.value.reason)


@pytest.mark.parametrize("ng", [False, True])
def test_cut_inside_the_first_record_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ng: bool
) -> None:
    f = _small(tmp_path, ng)
    data = f.read_bytes()
    first = min(_boundaries(data, ng)) if ng else 24
    if ng:
        first += 28  # past the Interface Description Block
    f.write_bytes(data[: first + 10])
    assert main(["decode", str(f)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"pana-mpa decode: {f}: capture cut short in frame 1\n"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (b"\xd4\xc3", "too short"),
        (b"\xd4\xc3\xb2\xa1" + bytes(8), "file header cut short"),
        (b"\x0a\x0d\x0d\x0a" + bytes(8), "byte-order magic"),
        (b"GIF89a" + bytes(30), "magic"),
    ],
)
def test_not_a_capture(data: bytes, why: str) -> None:
    with pytest.raises(CaptureError, match=why) as info:
        list(read_frames(io.BytesIO(data), name="x"))
    assert info.value.reason.startswith("x: not a pcap or pcapng capture")
    assert info.value.frames_read == 0


def test_damage_is_named() -> None:
    e = "<"
    good = _shb(e) + _idb(e, LINKTYPE_ETHERNET) + _epb(e, 0, 0, _eth(1, 716, PCI))
    cases = {
        "no interface 3": good + _epb(e, 3, 0, _eth(1, 716, PCI)),
        "block of 13 octets": good + struct.pack("<II", 6, 13) + bytes(8),
        "trailing length": good[:-4] + struct.pack("<I", 999),
        "pcapng version 2": _shb(e).replace(b"\x01\x00\x00\x00\xff", b"\x02\x00\x00\x00\xff"),
        "claims": struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
        + struct.pack("<IIII", 0, 0, 1 << 30, 1 << 30),
    }
    for why, data in cases.items():
        with pytest.raises(CaptureError, match=why):
            list(read_frames(io.BytesIO(data)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([b"", b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(16), b"\x0a\x0d\x0d\x0a"]),
    st.binary(max_size=300),
)
def test_garbage_raises_only_capture_error(prefix: bytes, tail: bytes) -> None:
    with contextlib.suppress(CaptureError):
        for frame in read_frames(io.BytesIO(prefix + tail)):
            assert isinstance(frame, Frame)


# --- constant memory and pipes -------------------------------------------------------------------


class _Endless(io.RawIOBase):
    """A pcap stream of ``count`` frames made on the fly (never held in memory as a whole)."""

    def __init__(self, count: int) -> None:
        record = _eth(40000, PANA_PORT, PCI)
        self._parts: Iterator[bytes] = itertools.chain(
            [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)],
            (struct.pack("<IIII", i, 0, len(record), len(record)) + record for i in range(count)),
        )
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while len(self._pending) < len(buffer):
            part = next(self._parts, None)
            if part is None:
                break
            self._pending += part
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def test_memory_stays_constant_for_a_long_capture() -> None:
    count = 0
    tracemalloc.start()
    try:
        for d in read_udp(io.BufferedReader(_Endless(60_000))):  # about 5 MB of capture
            count += d.dst[1] == PANA_PORT
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 60_000
    assert peak < 1_000_000, peak


def _reader_thread(stream: io.BufferedReader) -> queue.Queue[bytes]:
    lines: queue.Queue[bytes] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(b"")

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.mark.parametrize("packing", ["plain", "gzip"])
def test_stdin_pipe_prints_the_first_line_before_the_pipe_closes(
    tmp_path: Path, packing: str
) -> None:
    data = _small(tmp_path, ng=True).read_bytes()
    first_end = sorted(_boundaries(data, ng=True))[2]  # SHB, IDB, first EPB
    parts = [data[:first_end], data[first_end:]]
    if packing == "gzip":
        z = zlib.compressobj(wbits=31)  # gzip framing; a sync flush makes the first part readable
        parts = [
            z.compress(parts[0]) + z.flush(zlib.Z_SYNC_FLUSH),
            z.compress(parts[1]) + z.flush(),
        ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pana_mpa", "decode", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": ""},
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        lines = _reader_thread(proc.stdout)  # type: ignore[arg-type]
        proc.stdin.write(parts[0])
        proc.stdin.flush()
        first = lines.get(timeout=60)  # the pipe is still open
        assert first.split()[:4] == [b"1", b"10.0.0.1:40000", b"->", b"10.0.0.2:716"]
        assert proc.poll() is None
        proc.stdin.write(parts[1])
        proc.stdin.close()
        rest = []
        while line := lines.get(timeout=60):
            rest.append(line)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [x.split()[0] for x in rest] == [b"2", b"3"]
    assert proc.stderr is not None
    assert proc.stderr.read() == b"pana-mpa decode: 3 frames, 3 PANA datagrams, 0 undecodable\n"


def test_no_scapy_in_the_package() -> None:
    """scapy stays in the tests and ``pana_codecs.scapy_layer``; ``pana_mpa`` never names it."""
    sources = sorted((REPO / "pana_mpa").rglob("*.py"))
    assert sources
    assert [p.name for p in sources if "scapy" in p.read_text().lower()] == []

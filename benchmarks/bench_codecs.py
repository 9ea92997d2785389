"""Decode+encode speed of pana_codecs on real captured PANA messages, against a struct baseline.

Run: ``python -m benchmarks.bench_codecs [--runs 5] [--seconds 1.0]``. The messages are the UDP
payloads of the captures in ``../shared/pcaps`` (override with ``PANA_CAPTURES``), read with the
small pcap/pcapng reader below. Each implementation decodes and re-encodes every message that the
RFC 5191 codec accepts; the hand-written ``struct`` baseline does the same work with no checks and
plain tuples. The figure of merit is ``fast / struct`` (median of the runs); the target is >= 0.33.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pana_codecs import CodecError, decode_pana, encode_pana
from pana_codecs._reference import decode_pana_reference, encode_pana_reference

__all__ = ["baseline_decode", "baseline_encode", "main", "udp_payloads"]

ROOT = Path(__file__).resolve().parent.parent


def captures_dir() -> Path:
    """$PANA_CAPTURES, else ../shared/pcaps of the repository root (or of a parent: worktrees)."""
    env = os.environ.get("PANA_CAPTURES")
    if env:
        return Path(env)
    for parent in ROOT.parents:
        if (parent / "shared" / "pcaps").is_dir():
            return parent / "shared" / "pcaps"
    return ROOT.parent / "shared" / "pcaps"


# --- a tiny pcap / pcapng reader: link layer -> IPv4/IPv6 -> UDP payload -----------------------


def _frames(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(linktype, frame bytes) for every packet of a pcap or pcapng file."""
    magic = data[:4]
    if magic in (
        b"\xd4\xc3\xb2\xa1",
        b"\xa1\xb2\xc3\xd4",
        b"\x4d\x3c\xb2\xa1",
        b"\xa1\xb2\x3c\x4d",
    ):
        end = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        linktype = struct.unpack_from(end + "I", data, 20)[0]
        off = 24
        while off + 16 <= len(data):
            incl = struct.unpack_from(end + "I", data, off + 8)[0]
            yield linktype, data[off + 16 : off + 16 + incl]
            off += 16 + incl
        return
    if magic != b"\x0a\x0d\x0d\x0a":
        raise ValueError("neither pcap nor pcapng")
    end = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    linktypes: list[int] = []
    off = 0
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from(end + "II", data, off)
        if btype == 1:  # Interface Description Block
            linktypes.append(struct.unpack_from(end + "H", data, off + 8)[0])
        elif btype == 6:  # Enhanced Packet Block
            iface, _, _, caplen = struct.unpack_from(end + "IIII", data, off + 8)
            yield linktypes[iface], data[off + 28 : off + 28 + caplen]
        off += blen


def _udp_payload(linktype: int, frame: bytes) -> bytes | None:
    """The UDP payload of an Ethernet (1), Linux cooked (113) or raw IP (101) frame."""
    if linktype == 1:
        ethertype, ip = struct.unpack_from("!H", frame, 12)[0], frame[14:]
    elif linktype == 113:
        ethertype, ip = struct.unpack_from("!H", frame, 14)[0], frame[16:]
    elif linktype == 101:
        ethertype, ip = (0x0800 if frame[0] >> 4 == 4 else 0x86DD), frame
    else:
        return None
    if ethertype == 0x0800 and ip[9] == 17:
        udp = ip[(ip[0] & 15) * 4 :]
    elif ethertype == 0x86DD and ip[6] == 17:
        udp = ip[40:]
    else:
        return None
    length = struct.unpack_from("!H", udp, 4)[0]
    return udp[8:length]


def udp_payloads(directory: Path) -> list[bytes]:
    """Every UDP payload in every capture of ``directory``, in file and frame order."""
    out: list[bytes] = []
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".cap", ".pcap", ".pcapng"):
            continue
        for linktype, frame in _frames(path.read_bytes()):
            payload = _udp_payload(linktype, frame)
            if payload is not None:
                out.append(payload)
    return out


# --- the hand-written struct baseline ---------------------------------------------------------

_B_HDR = struct.Struct("!HHHHII")
_B_AVP = struct.Struct("!HHHH")
_B_VID = struct.Struct("!I")

BaselineMessage = tuple[int, int, int, int, int, list[tuple[int, int, int, int | None, bytes]]]


def baseline_decode(data: bytes) -> BaselineMessage:
    """Minimal struct decoder: no validation at all, plain tuples."""
    reserved, _length, flags, mtype, sid, seq = _B_HDR.unpack_from(data)
    avps = []
    off, n = 16, len(data)
    while off < n:
        code, aflags, alen, ares = _B_AVP.unpack_from(data, off)
        if aflags & 0x8000:
            vendor: int | None = _B_VID.unpack_from(data, off + 8)[0]
            start = off + 12
        else:
            vendor, start = None, off + 8
        avps.append((code, aflags, ares, vendor, data[start : start + alen]))
        off = start + alen + (-alen & 3)
    return reserved, flags, mtype, sid, seq, avps


def baseline_encode(msg: BaselineMessage) -> bytes:
    """Minimal struct encoder: lengths computed, b''.join."""
    reserved, flags, mtype, sid, seq, avps = msg
    parts = [b""]
    for code, aflags, ares, vendor, value in avps:
        if vendor is None:
            parts.append(_B_AVP.pack(code, aflags, len(value), ares))
        else:
            parts.append(_B_AVP.pack(code, aflags, len(value), ares) + _B_VID.pack(vendor))
        parts.append(value)
        parts.append(b"\0" * (-len(value) & 3))
    body = b"".join(parts)
    return _B_HDR.pack(reserved, 16 + len(body), flags, mtype, sid, seq) + body


# --- timing -----------------------------------------------------------------------------------


def _fast(messages: list[bytes]) -> None:
    for data in messages:
        encode_pana(decode_pana(data))


def _reference(messages: list[bytes]) -> None:
    for data in messages:
        encode_pana_reference(decode_pana_reference(data))


def _baseline(messages: list[bytes]) -> None:
    for data in messages:
        baseline_encode(baseline_decode(data))


def _rate(fn: Callable[[list[bytes]], None], messages: list[bytes], seconds: float) -> float:
    """Messages decoded+encoded per second over about ``seconds``."""
    rounds = 0
    start = time.perf_counter()
    while True:
        fn(messages)
        rounds += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return rounds * len(messages) / elapsed


def main(argv: list[str] | None = None) -> int:
    """Measure and print ops/s for each engine and the fast/struct ratio."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_codecs")
    parser.add_argument("--runs", type=int, default=5, help="runs per implementation (median)")
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of one run")
    parser.add_argument("--captures", type=Path, default=None, help="captures directory")
    args = parser.parse_args(argv)
    directory = args.captures or captures_dir()
    messages = []
    for data in udp_payloads(directory):
        try:
            decode_pana(data)
        except CodecError:
            continue
        messages.append(data)
    if not messages:
        sys.stderr.write(f"no decodable PANA messages under {directory}\n")
        return 1
    for data in messages:  # all three do the same job on these inputs
        assert encode_pana(decode_pana(data)) == data == baseline_encode(baseline_decode(data))
    octets = sum(map(len, messages))
    sys.stdout.write(
        f"{len(messages)} PANA messages ({octets} octets) from {directory}; "
        f"{args.runs} runs of {args.seconds:.1f} s each, decode+encode\n"
    )
    rates: dict[str, list[float]] = {"struct": [], "fast": [], "construct": []}
    impls = {"struct": _baseline, "fast": _fast, "construct": _reference}
    for _ in range(args.runs):
        for name, fn in impls.items():  # interleaved, so load changes hit all alike
            seconds = args.seconds / 4 if name == "construct" else args.seconds
            rates[name].append(_rate(fn, messages, seconds))
    base = statistics.median(rates["struct"])
    for name, values in rates.items():
        med = statistics.median(values)
        sys.stdout.write(f"{name:>10}: {med:12,.0f} msgs/s  ratio to struct {med / base:.3f}\n")
    ratios = [f / b for f, b in zip(rates["fast"], rates["struct"], strict=True)]
    sys.stdout.write(
        f"fast/struct ratio: median {statistics.median(ratios):.3f} "
        f"(runs: {', '.join(f'{r:.3f}' for r in ratios)}); target >= 0.33\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

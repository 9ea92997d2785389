"""``pana-mpa decode`` on a large capture next to tshark: time to first line, total time, peak RSS.

The capture is made by repeating the shared captures (all seven, in turn) into one pcapng file
with one interface per link type, in a temporary directory (about 180,000 frames, 34 MB). Each
command runs as its own process with its output read through a pipe; the first line's arrival,
the exit, the CPU time and the peak resident set size (``wait4``) are measured, ``--runs`` times
each (medians shown). The commands: ``pana-mpa decode FILE``, ``cat FILE | pana-mpa decode -``,
the same on the gzipped file, and ``tshark -l -n -r FILE -Y pana``; ``--old-repo DIR`` adds
``pana-mpa decode FILE`` run from another checkout (say, one from before this reader existed).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pana_mpa.cli.pcapfile import read_frames

_REPO = Path(__file__).resolve().parent.parent
_DEFAULT = _REPO.parent / "shared" / "pcaps"


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def make_capture(captures: Sequence[Path], frames: int, out: Path) -> int:
    """Repeat ``captures`` into one pcapng file of about ``frames`` frames; how many it holds."""
    loaded = [list(read_frames(p)) for p in captures]
    linktypes = sorted({f.linktype for frames_ in loaded for f in frames_})
    iface = {lt: i for i, lt in enumerate(linktypes)}
    per_round = sum(len(x) for x in loaded)
    rounds = max(1, round(frames / per_round))
    written = 0
    with out.open("wb") as f:
        f.write(_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        for lt in linktypes:
            f.write(_block(1, struct.pack("<HHI", lt, 0, 0)))
        for r in range(rounds):
            chunk = []
            for frames_ in loaded:
                for fr in frames_:
                    ticks = int(fr.time * 1e6) + r * 10_000_000  # a 10 s gap per round
                    head = struct.pack(
                        "<IIIII",
                        iface[fr.linktype],
                        ticks >> 32,
                        ticks & 0xFFFFFFFF,
                        len(fr.data),
                        fr.orig_len,
                    )
                    chunk.append(_block(6, head + fr.data))
            f.write(b"".join(chunk))
            written += per_round
    return written


@dataclass(frozen=True, slots=True)
class Run:
    first_line: float | None
    total: float
    cpu: float
    """User plus system CPU seconds of the command (steadier than ``total`` on a loaded host)."""
    peak_rss_mb: float
    lines: int
    status: int


def run_once(argv: Sequence[str], *, stdin_file: Path | None = None, cwd: Path = _REPO) -> Run:
    """Spawn ``argv`` (its stdin fed by ``cat stdin_file`` when given); time and measure it."""
    feeder = None
    start = time.perf_counter()
    if stdin_file is not None:
        cat = shutil.which("cat") or "/bin/cat"
        feeder = subprocess.Popen([cat, str(stdin_file)], stdout=subprocess.PIPE)  # noqa: S603
        stdin = feeder.stdout
    else:
        stdin = subprocess.DEVNULL  # type: ignore[assignment]
    proc = subprocess.Popen(  # noqa: S603 - our own command lines
        argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd
    )
    if feeder is not None and feeder.stdout is not None:
        feeder.stdout.close()  # the child holds the read end now
    assert proc.stdout is not None
    first_line = None
    lines = 0
    for _ in proc.stdout:
        if first_line is None:
            first_line = time.perf_counter() - start
        lines += 1
    _, status, usage = os.wait4(proc.pid, 0)
    total = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if feeder is not None:
        feeder.wait()
    cpu = usage.ru_utime + usage.ru_stime
    return Run(first_line, total, cpu, usage.ru_maxrss / 1024, lines, proc.returncode)


def main() -> None:
    """Build the capture, run each command ``--runs`` times, print a table of medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--captures", type=Path, default=Path(os.environ.get("PANA_CAPTURES", _DEFAULT))
    )
    parser.add_argument("--frames", type=int, default=180_000, help="about this many frames")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--old-repo", type=Path, help="also run pana-mpa decode from this checkout")
    args = parser.parse_args()
    captures = sorted(
        p for p in args.captures.iterdir() if p.suffix in (".cap", ".pcap", ".pcapng")
    )
    with tempfile.TemporaryDirectory(prefix="decode-stream-") as tmp:
        big = Path(tmp) / "big.pcapng"
        count = make_capture(captures, args.frames, big)
        packed = Path(tmp) / "big.pcapng.gz"
        with big.open("rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst)
        size = big.stat().st_size / 1e6
        print(
            f"capture: {count:,} frames ({len(captures)} captures repeated), {size:.1f} MB; "
            f"gzipped {packed.stat().st_size / 1e6:.1f} MB"
        )
        ours = [sys.executable, "-m", "pana_mpa", "decode"]
        cases: list[tuple[str, list[str], Path | None, Path]] = [
            ("pana-mpa decode FILE", [*ours, str(big)], None, _REPO),
            ("cat FILE | pana-mpa decode -", [*ours, "-"], big, _REPO),
            ("cat FILE.gz | pana-mpa decode -", [*ours, "-"], packed, _REPO),
        ]
        if shutil.which("tshark"):
            tshark = ["tshark", "-l", "-n", "-r", str(big), "-Y", "pana"]
            cases.append(("tshark -l -n -r FILE -Y pana", tshark, None, _REPO))
        if args.old_repo is not None:
            label = f"pana-mpa decode FILE ({args.old_repo})"
            cases.append((label, [*ours, str(big)], None, args.old_repo))
        head = f"{'first line':>11} {'total':>8} {'CPU':>8} {'peak RSS':>9} {'lines':>8}"
        print(f"{'command':45} {head}")
        for label, argv, stdin_file, cwd in cases:
            runs = [run_once(argv, stdin_file=stdin_file, cwd=cwd) for _ in range(args.runs)]
            firsts = [r.first_line for r in runs if r.first_line is not None]
            first = f"{statistics.median(firsts):.3f} s" if firsts else "-"
            total = statistics.median(r.total for r in runs)
            cpu = statistics.median(r.cpu for r in runs)
            rss = statistics.median(r.peak_rss_mb for r in runs)
            status = "" if all(r.status == 0 for r in runs) else f" exit {runs[0].status}"
            print(
                f"{label:45} {first:>11} {total:>6.2f} s {cpu:>6.2f} s {rss:>6.0f} MB "
                f"{runs[0].lines:>8}{status}"
            )


if __name__ == "__main__":
    main()

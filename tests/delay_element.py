"""A userspace delay element for the namespace testbeds: a transparent Ethernet "wire" with delay.

The kernels we run on have no ``tc netem`` (../shared/ENVIRONMENT.md), so link, AAA and CN
delays are added here. ``insert()`` puts a namespace ``pana-<tag>-<role>`` between two namespaces
in place of a direct veth: ``A:a_if ==veth== wa [D] wb ==veth== b_if:B``. A Python process in D
reads every frame arriving on ``wa`` / ``wb`` with an AF_PACKET socket and sends it out of the
other side after a configurable one-way delay (per direction), optionally dropping everything
during a link-down gap. It is a layer-2 element: A and B keep their addresses and subnet, ARP,
neighbour discovery, DHCP broadcasts and IPv6 cross it like a cable, and a link-down gap on the
MN's radio link looks like a real loss of the medium without touching any carrier.

Timing: a frame's delay runs from the kernel's receive timestamp (SO_TIMESTAMPNS), not from the
moment the process reads it, so scheduling latency of the element only matters when it exceeds the
configured delay. Frames are never released early; per direction they stay in order (a FIFO, as
on a real link: lowering the delay does not let later frames overtake earlier ones). The sockets
use PACKET_VNET_HDR, so checksum-offloaded (CHECKSUM_PARTIAL) and GSO frames from a veth are
forwarded with their offload metadata and completed by the kernel on the other side.

The element measures itself: per forwarded frame the added delay (send time - kernel receive
time) and the lateness (send time - due time), plus its own CPU time (getrusage).

The forwarding process is ``python -m tests.delay_element wire --a wa --b wb ...`` (it is spawned by
``insert()``): JSON commands on stdin, one JSON answer per line on stdout, and it exits when its
stdin closes, on SIGTERM, or when its parent dies (PR_SET_PDEATHSIG) - a failed test cannot leave
it behind, and the Lab deletes the namespace.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.netns import Lab

__all__ = ["DelayElement", "insert", "main"]

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_VNET_HDR = 15
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35  # SO_TIMESTAMPNS_OLD: struct timespec with native longs
PR_SET_PDEATHSIG = 1
VNET_HDR_LEN = 10  # struct virtio_net_hdr
_TIMESPEC = struct.Struct("@qq")
_RECV_SIZE = VNET_HDR_LEN + 65535 + 14
_KEEP = 200_000  # samples kept for percentiles


def _percentile(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


@dataclass
class _Direction:
    name: str
    rx: socket.socket
    tx: socket.socket
    delay_ns: int
    queue: collections.deque[tuple[int, int, bytes]]
    forwarded: int = 0
    dropped_down: int = 0
    send_errors: int = 0


class _Wire:
    """The forwarding loop (runs inside the delay namespace)."""

    def __init__(self, a_if: str, b_if: str, delay: float, back: float) -> None:
        self.socks: dict[str, socket.socket] = {}
        for ifname in (a_if, b_if):
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            s.bind((ifname, 0))
            s.setblocking(False)
            self.socks[ifname] = s
        sa, sb = self.socks[a_if], self.socks[b_if]
        self.dirs = [
            _Direction("ab", sa, sb, int(delay * 1e9), collections.deque()),
            _Direction("ba", sb, sa, int(back * 1e9), collections.deque()),
        ]
        self.down_until = 0
        self.realtime = False
        self._reset_measurement()

    def _reset_measurement(self) -> None:
        self.added: collections.deque[int] = collections.deque(maxlen=_KEEP)
        self.late: collections.deque[int] = collections.deque(maxlen=_KEEP)
        self.t0 = time.monotonic()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu0 = ru.ru_utime + ru.ru_stime
        for d in self.dirs:
            d.forwarded = d.dropped_down = d.send_errors = 0

    def _receive(self, d: _Direction) -> None:
        for _ in range(64):  # bounded, so the release of due frames is not starved
            try:
                data, anc, _flags, addr = d.rx.recvmsg(_RECV_SIZE, 64)
            except BlockingIOError:
                return
            if addr[2] == PACKET_OUTGOING:
                continue  # our own transmissions on this interface
            now = time.time_ns()
            stamp = now
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack(value[: _TIMESPEC.size])
                    stamp = min(now, sec * 1_000_000_000 + nsec)
            if stamp < self.down_until:
                d.dropped_down += 1
                continue
            d.queue.append((stamp + d.delay_ns, stamp, data))

    def _release(self) -> int | None:
        """Send every due frame; the earliest due time still queued (ns) or None."""
        nxt: int | None = None
        for d in self.dirs:
            q = d.queue
            while q:
                due, stamp, data = q[0]
                now = time.time_ns()
                if due > now:
                    nxt = due if nxt is None else min(nxt, due)
                    break
                q.popleft()
                try:
                    d.tx.send(data)
                except OSError:
                    d.send_errors += 1
                    continue
                sent = time.time_ns()
                d.forwarded += 1
                self.added.append(sent - stamp)
                self.late.append(sent - due)
        return nxt

    def stats(self) -> dict[str, Any]:
        added, late = sorted(self.added), sorted(self.late)
        ru = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.monotonic() - self.t0
        cpu = ru.ru_utime + ru.ru_stime - self.cpu0
        ms = 1e-6
        return {
            "delay_ms": {d.name: d.delay_ns * ms for d in self.dirs},
            "forwarded": {d.name: d.forwarded for d in self.dirs},
            "dropped_down": {d.name: d.dropped_down for d in self.dirs},
            "send_errors": {d.name: d.send_errors for d in self.dirs},
            "added_ms": {
                "min": added[0] * ms if added else 0.0,
                "median": _percentile(added, 0.5) * ms,
                "p99": _percentile(added, 0.99) * ms,
                "max": added[-1] * ms if added else 0.0,
                "mean": statistics.fmean(added) * ms if added else 0.0,
            },
            "late_ms": {
                "median": _percentile(late, 0.5) * ms,
                "p99": _percentile(late, 0.99) * ms,
                "max": late[-1] * ms if late else 0.0,
                "stdev": statistics.pstdev(late) * ms if late else 0.0,
            },
            "cpu_s": round(cpu, 4),
            "wall_s": round(wall, 3),
            "cpu_percent": round(100 * cpu / wall, 2) if wall > 0 else 0.0,
            "realtime": self.realtime,
        }

    def command(self, cmd: dict[str, Any]) -> dict[str, Any]:
        op = cmd.get("op")
        if op == "set":
            if cmd.get("delay") is not None:
                self.dirs[0].delay_ns = int(float(cmd["delay"]) * 1e9)
            if cmd.get("back") is not None:
                self.dirs[1].delay_ns = int(float(cmd["back"]) * 1e9)
            return {"ok": True}
        if op == "down":
            # drop every frame that arrives from now on, for duration seconds (radio gone)
            self.down_until = time.time_ns() + int(float(cmd["duration"]) * 1e9)
            return {"ok": True, "until_ns": self.down_until}
        if op == "stats":
            out = self.stats()
            if cmd.get("reset"):
                self._reset_measurement()
            return {"ok": True, **out}
        return {"ok": False, "error": f"unknown op {op!r}"}

    def run(self) -> None:
        stdin = sys.stdin.buffer
        rlist: list[Any] = [stdin, *self.socks.values()]
        by_fd = {d.rx.fileno(): d for d in self.dirs}
        _say({"ready": True})
        pending = b""
        while True:
            nxt = self._release()
            timeout = None if nxt is None else max(0.0, (nxt - time.time_ns()) / 1e9)
            ready, _, _ = select.select(rlist, [], [], timeout)
            for r in ready:
                if r is stdin:
                    chunk = os.read(stdin.fileno(), 65536)
                    if not chunk:
                        return  # the parent closed our stdin (or died)
                    pending += chunk
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        if line.strip():
                            _say(self.command(json.loads(line)))
                else:
                    self._receive(by_fd[r.fileno()])


def _say(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _realtime(priority: int) -> bool:
    """SCHED_FIFO for the forwarding loop, so a loaded machine delays it less (root only)."""
    if priority <= 0:
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, AttributeError):
        return False
    return True


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


# ---- the test side ---------------------------------------------------------------------------


def _run(*args: str) -> None:
    res = subprocess.run(args, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {res.stderr.strip()}")


class DelayElement:
    """Handle of a running delay element (see ``insert``)."""

    def __init__(self, ns: str, proc: subprocess.Popen[bytes]) -> None:
        self.ns = ns
        self.proc = proc

    def _ask(self, cmd: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"delay element {self.ns} exited ({self.proc.returncode})")
        self.proc.stdin.write(json.dumps(cmd).encode() + b"\n")
        self.proc.stdin.flush()
        return _read_json(self.proc, timeout)

    def set_delay(self, delay: float, back: float | None = None) -> None:
        """One-way delay A->B (``delay``) and B->A (``back``, default: the same), seconds."""
        self._ask({"op": "set", "delay": delay, "back": delay if back is None else back})

    def link_down(self, duration: float) -> float:
        """Drop every frame arriving in either direction for ``duration`` seconds from now.

        Returns when the link is up again, in ``time.time()`` seconds (the element's clock,
        started when it took the command).
        """
        return int(self._ask({"op": "down", "duration": duration})["until_ns"]) / 1e9

    def stats(self, *, reset: bool = False) -> dict[str, Any]:
        """The element's own measurement since the start or the last reset."""
        return self._ask({"op": "stats", "reset": reset})

    def close(self) -> None:
        """Stop the forwarding process (the Lab deletes the namespace)."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()  # the process exits on EOF
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _read_json(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        raise RuntimeError("delay element did not answer")
    line = proc.stdout.readline()
    if not line:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"delay element exited: {err}")
    answer: dict[str, Any] = json.loads(line)
    return answer


def insert(
    lab: Lab,
    a: str,
    a_if: str,
    b: str,
    b_if: str,
    *,
    delay: float = 0.0,
    back: float | None = None,
    role: str = "dly",
    realtime: int = 10,
) -> DelayElement:
    """Link namespaces ``a`` (interface ``a_if``) and ``b`` (``b_if``) through a delay element.

    Use it where ``lab.veth(a, a_if, b, b_if)`` would go: both interfaces come up on one Ethernet
    segment, so addresses, ARP and routes are configured exactly as for a direct veth. The process
    is one of the lab's (stopped at teardown even when the test fails), the namespace too.
    ``realtime`` > 0 (default 10) runs the forwarding loop with that SCHED_FIFO priority: on a
    loaded 2-core machine it cuts the element's p99 lateness from 4-7 ms to 0.1-1.4 ms; 0 runs
    it as a normal process.
    """
    ns = lab.ns(role)
    # the element has no IP of its own: no RS/DAD/MLD from its ports onto the wire
    for conf in ("all", "default"):
        _run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{conf}.disable_ipv6=1")
    for here, here_if, there_if in ((a, a_if, "wa"), (b, b_if, "wb")):
        tmp_h, tmp_t = f"v{lab.tag}{role}{here_if}"[:15], f"w{lab.tag}{role}{there_if}"[:15]
        _run("ip", "link", "add", tmp_h, "type", "veth", "peer", "name", tmp_t)
        _run("ip", "link", "set", tmp_h, "netns", here, "name", here_if)
        _run("ip", "link", "set", tmp_t, "netns", ns, "name", there_if)
        _run("ip", "-n", ns, "link", "set", there_if, "promisc", "on", "up")
    root = Path(__file__).resolve().parent.parent
    args = ["wire", "--a", "wa", "--b", "wb", "--delay", str(delay)]
    args += ["--back", str(delay if back is None else back), "--rt", str(realtime)]
    proc = lab.spawn(
        ns,
        sys.executable,
        "-m",
        "tests.delay_element",
        *args,
        cwd=str(root),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    element = DelayElement(ns, proc)
    try:
        if not _read_json(proc, 10.0).get("ready"):
            raise RuntimeError("delay element did not start")
        for here, here_if in ((a, a_if), (b, b_if)):
            _run("ip", "-n", here, "link", "set", here_if, "up")
    except BaseException:
        element.close()
        raise
    return element


def main(argv: list[str] | None = None) -> int:
    """``wire``: the forwarding process (inside the delay namespace)."""
    ap = argparse.ArgumentParser(prog="python -m tests.delay_element")
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wire")
    w.add_argument("--a", required=True, help="interface towards A")
    w.add_argument("--b", required=True, help="interface towards B")
    w.add_argument("--delay", type=float, default=0.0, help="one-way delay A->B, seconds")
    w.add_argument("--back", type=float, default=None, help="B->A (default: --delay)")
    w.add_argument("--rt", type=int, default=0, help="SCHED_FIFO priority (0: normal)")
    args = ap.parse_args(argv)
    _die_with_parent()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    wire = _Wire(args.a, args.b, args.delay, args.delay if args.back is None else args.back)
    wire.realtime = _realtime(args.rt)
    with contextlib.suppress(KeyboardInterrupt):
        wire.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Accuracy and cost of the userspace delay element (tests/delay_element.py) (root).

A UDP stream from namespace A to B through the element: every datagram carries its send time, and
since all namespaces share one clock B computes each datagram's one-way delay. Reported per
(delay, rate): the end-to-end one-way delay with and without the element's delay, the element's
own measurement (added delay, lateness after the due time) and its CPU share. ``--load N`` runs N
busy-looping processes meanwhile (a loaded machine).

``python -m benchmarks.delay_element [--delay 0.01 --delay 0.05] [--rate 100 --rate 1000]
[--seconds 3] [--load 2] [--json]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import select
import socket
import statistics
import struct
import sys
import time
from collections.abc import Iterator
from typing import Any

_PKT = struct.Struct("!Id")


def _busy() -> None:
    x = 0
    while True:
        x += 1


@contextlib.contextmanager
def _load(n: int) -> Iterator[None]:
    procs = [multiprocessing.Process(target=_busy, daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()


def _stream(tx: socket.socket, rx: socket.socket, rate: float, seconds: float) -> list[float]:
    """One-way delays (ms) of a paced stream; lost datagrams are not in the list."""
    interval = 1.0 / rate
    n = int(rate * seconds)
    delays: list[float] = []
    t0 = time.monotonic()
    seq = 0
    drain_until = None
    while True:
        now = time.monotonic()
        if seq < n and now >= t0 + seq * interval:
            tx.send(_PKT.pack(seq, time.monotonic()))
            seq += 1
            continue
        if seq >= n and drain_until is None:
            drain_until = now + 1.0
        if drain_until is not None and now >= drain_until:
            return delays
        wake = t0 + seq * interval if seq < n else (drain_until or now)
        ready, _, _ = select.select([rx], [], [], max(0.0, wake - now))
        if ready:
            while True:
                try:
                    data = rx.recv(64)
                except BlockingIOError:
                    break
                _s, sent = _PKT.unpack_from(data)
                delays.append((time.monotonic() - sent) * 1000)


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    v = sorted(values)
    return {
        "n": len(v),
        "min": round(v[0], 3),
        "median": round(statistics.median(v), 3),
        "p99": round(v[min(len(v) - 1, int(0.99 * len(v)))], 3),
        "max": round(v[-1], 3),
    }


def run(
    delays: list[float], rates: list[float], seconds: float, load: int, realtime: int = 0
) -> list[dict[str, Any]]:
    from tests.delay_element import insert
    from tests.netns import Lab, socket_in

    base = Lab()
    out: list[dict[str, Any]] = []
    try:
        a, b = base.ns("a"), base.ns("b")
        element = insert(base, a, "e0", b, "e1", realtime=realtime)
        base.ip(a, "addr", "add", "10.94.0.1/24", "dev", "e0")
        base.ip(b, "addr", "add", "10.94.0.2/24", "dev", "e1")
        tx = socket_in(a, socket.AF_INET, socket.SOCK_DGRAM)
        rx = socket_in(b, socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("10.94.0.2", 9400))
        rx.setblocking(False)
        tx.connect(("10.94.0.2", 9400))
        _stream(tx, rx, 50, 0.2)  # ARP resolved
        with _load(load):
            for rate in rates:
                element.set_delay(0.0)
                baseline = _stream(tx, rx, rate, seconds)
                for delay in delays:
                    element.set_delay(delay)
                    element.stats(reset=True)
                    e2e = _stream(tx, rx, rate, seconds)
                    own = element.stats(reset=True)
                    out.append({
                        "delay_ms": delay * 1000, "rate_pps": rate, "load": load,
                        "realtime": realtime,
                        "sent": int(rate * seconds), "received": len(e2e),
                        "baseline_one_way_ms": _summary(baseline),
                        "one_way_ms": _summary(e2e),
                        "element_added_ms": own["added_ms"], "element_late_ms": own["late_ms"],
                        "element_cpu_percent": own["cpu_percent"],
                        "send_errors": own["send_errors"],
                    })  # fmt: skip
        tx.close()
        rx.close()
        element.close()
    finally:
        base.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.delay_element")
    ap.add_argument("--delay", type=float, action="append", help="seconds (repeatable)")
    ap.add_argument("--rate", type=float, action="append", help="packets/s (repeatable)")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--load", type=int, default=0, help="busy processes during the runs")
    ap.add_argument("--realtime", type=int, default=10, help="the element's SCHED_FIFO priority")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = run(
        args.delay or [0.01, 0.05],
        args.rate or [100.0, 1000.0],
        args.seconds,
        args.load,
        args.realtime,
    )
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(
        "| delay | rate | load | rt | recv/sent | one-way e2e median [p99, max] "
        "| baseline median | element added median [p99] | lateness stdev | element CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        e, b, ad, la = r["one_way_ms"], r["baseline_one_way_ms"], r["element_added_ms"], r[
            "element_late_ms"]  # fmt: skip
        print(
            f"| {r['delay_ms']:g} ms | {r['rate_pps']:g}/s | {r['load']} | {r['realtime']} | "
            f"{r['received']}/{r['sent']} | {e.get('median', 0):.2f} [{e.get('p99', 0):.2f}, "
            f"{e.get('max', 0):.2f}] ms | {b.get('median', 0):.2f} ms | {ad['median']:.2f} "
            f"[{ad['p99']:.2f}] ms | {la['stdev']:.2f} ms | {r['element_cpu_percent']:.1f} % |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

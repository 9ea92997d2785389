"""How long LinuxIpipDriver keeps the event loop from running (root; network namespaces).

For each of ``--runs`` tunnels (IPv4 in IPv4 by default, ``--ipv6`` for IPv6 in IPv6) in a fresh
namespace: the time ``establish()`` blocks, the longest loop stall during ``establish_async()``,
the time ``delete()`` blocks (route withdrawal + drain; the device is released in a thread),
how long that release takes (what ``delete()`` blocked for before it moved off the loop) and the
longest loop stall meanwhile (a 1 ms ticker). ``--load N`` runs N busy processes.

``python -m benchmarks.tunnel_io [--runs 20] [--load 2] [--ipv6]``
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import itertools
import json
import statistics
import sys
import time
from typing import Any

from benchmarks.delay_element import _load


async def _measure(ns: str, runs: int, ipv6: bool) -> dict[str, list[float]]:
    from pana_mpa.mpa.drivers.linux_tunnel import LinuxIpipDriver
    from pana_mpa.mpa.tunnel import TunnelSpec

    if ipv6:
        local, remote = ipaddress.ip_address("fd98::2"), ipaddress.ip_address("fd98::1")
        inner = ipaddress.ip_address("fd97:2::100")
    else:
        local, remote = ipaddress.ip_address("10.98.0.2"), ipaddress.ip_address("10.98.0.1")
        inner = ipaddress.ip_address("10.97.2.100")
    net = ipaddress.ip_network(f"{inner}/{inner.max_prefixlen}")
    loop = asyncio.get_running_loop()
    ticks: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            ticks.append(loop.time())
            await asyncio.sleep(0.001)

    def stall(t0: float, t1: float) -> float:
        inside = [t for t in ticks if t0 - 0.002 <= t <= t1 + 0.002]
        return max((b - a for a, b in itertools.pairwise(inside)), default=t1 - t0) * 1000

    task = asyncio.create_task(ticker())
    out: dict[str, list[float]] = {k: [] for k in (
        "establish_blocks_ms", "establish_async_stall_ms", "delete_blocks_ms", "release_ms",
        "delete_stall_ms")}  # fmt: skip
    drv = LinuxIpipDriver(netns=ns)
    try:
        # warm-up, not measured: the first establish imports pyroute2 (0.25 s, 0.9 s loaded)
        await drv.establish_async(TunnelSpec("btw", local, remote, inner, routes=(net,)))
        drv.delete("btw")
        await drv.wait_deleted()
        for i in range(runs):
            spec = TunnelSpec(f"bt{i}", local, remote, inner, routes=(net,))
            t0 = time.monotonic()
            drv.establish(spec)
            out["establish_blocks_ms"].append((time.monotonic() - t0) * 1000)
            drv.delete(spec.name)
            await drv.wait_deleted()
            await asyncio.sleep(0.01)
            t0 = loop.time()
            await drv.establish_async(spec)
            await asyncio.sleep(0.005)
            out["establish_async_stall_ms"].append(stall(t0, loop.time()))
            t0 = loop.time()
            drv.delete(spec.name)
            t1 = loop.time()
            await drv.wait_deleted()
            t2 = loop.time()
            await asyncio.sleep(0.005)
            out["delete_blocks_ms"].append((t1 - t0) * 1000)
            out["release_ms"].append((t2 - t1) * 1000)
            out["delete_stall_ms"].append(stall(t0, loop.time()))
    finally:
        await drv.aclose()
        stop.set()
        await task
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.tunnel_io")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--load", type=int, default=0)
    ap.add_argument("--ipv6", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from tests.netns import Lab

    lab = Lab()
    try:
        ns = lab.ns("tio")
        other = lab.ns("peer")
        lab.veth(ns, "t0", other, "p0")
        lab.ip(ns, "addr", "add", "10.98.0.2/24", "dev", "t0")
        lab.ip(ns, "-6", "addr", "add", "fd98::2/64", "dev", "t0", "nodad")
        with _load(args.load):
            res = asyncio.run(_measure(ns, args.runs, args.ipv6))
    finally:
        lab.close()
    summary: dict[str, Any] = {
        k: {
            "median": round(statistics.median(v), 2),
            "max": round(max(v), 2),
            "min": round(min(v), 2),
        }
        for k, v in res.items()
    }
    summary["runs"], summary["load"], summary["ipv6"] = args.runs, args.load, args.ipv6
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"{args.runs} tunnels, load {args.load}, {'IPv6' if args.ipv6 else 'IPv4'}")
    print("| measure | median | min | max |\n|---|---|---|---|")
    for k in res:
        s = summary[k]
        print(f"| {k} | {s['median']} ms | {s['min']} ms | {s['max']} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

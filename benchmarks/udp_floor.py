"""The floor under any PAA at one PaC: CPU per datagram of UDP echo servers that do nothing else.

At one PaC at a time every datagram wakes the PAA from sleep. This measures what that wake-up
costs with no protocol work at all, for three servers, each in its own process on 127.0.0.1:

- ``blocking``: a plain ``recvfrom``/``sendto`` loop (what a single-threaded C PAA can do);
- ``asyncio``: an ``asyncio.DatagramProtocol`` that echoes (CPython's selector loop, epoll);
- ``pana-mpa``: our ``UdpTransport`` with a sink that echoes (the reader our PAA uses), on
  asyncio's loop;
- ``pana-mpa/uvloop``: the same on uvloop's loop (only when uvloop, the ``fast`` extra, is
  installed: the programs then run on it, see ``pana_mpa.aio.new_event_loop``).

A client in this process sends a datagram, waits for the echo, and pauses ``--think`` seconds
(the PaC's own work between messages), ``--datagrams`` times after a warm-up. Reported per
datagram: server CPU (/proc/PID/stat), its kernel share and its sleeps (voluntary context
switches). Multiply by the datagrams a PAA receives per authentication (6 with its own EAP-PSK
server, 9 in pass-through: 6 from the PaC, 3 RADIUS replies) for the floor per authentication.

    python -m benchmarks.udp_floor
    python -m benchmarks.udp_floor --datagrams 20000 --think 0.0005 --rounds 3 --json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ._proc import cpu_split, wakeups

SERVERS = ("blocking", "asyncio", "pana-mpa")
UVLOOP = "pana-mpa/uvloop"


def servers() -> tuple[str, ...]:
    """The servers this machine can run: uvloop's row only when uvloop is installed."""
    return SERVERS + ((UVLOOP,) if importlib.util.find_spec("uvloop") is not None else ())


_SERVER = r"""
import asyncio, socket, sys
kind, port = sys.argv[1], int(sys.argv[2])
if kind == "blocking":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    print("ready", flush=True)
    while True:
        data, addr = s.recvfrom(4096)
        s.sendto(data, addr)

class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport
    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)

class Sink:
    def __init__(self, transport):
        self.transport = transport
    def receive_batch(self, batch):
        for data, addr in batch:
            self.transport.sendto(data, addr)
    def transport_closed(self):
        pass

async def main():
    if kind == "asyncio":
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", port))
    else:
        from pana_mpa.aio.udp import UdpTransport
        transport = await UdpTransport.bind("127.0.0.1", port)
        transport.attach(Sink(transport))
    print("ready", flush=True)
    await asyncio.Event().wait()

if kind.endswith("/uvloop"):
    import uvloop
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
else:
    asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(kind: str, datagrams: int, think: float, warmup: int = 500) -> dict[str, float]:
    """One server: CPU, kernel share and sleeps per echoed datagram."""
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own script, our interpreter
        [sys.executable, "-c", _SERVER, kind, str(port)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert server.stdout is not None
        server.stdout.readline()  # "ready": bound
        client.settimeout(5.0)
        payload = bytes(64)
        target = ("127.0.0.1", port)
        for _ in range(warmup):
            client.sendto(payload, target)
            client.recv(4096)
        (user0, sys0), woke0 = cpu_split(server.pid), wakeups(server.pid)
        for _ in range(datagrams):
            client.sendto(payload, target)
            client.recv(4096)
            if think:
                time.sleep(think)
        user, system = cpu_split(server.pid)
        user, system = user - user0, system - sys0
        cpu = user + system
        woke = wakeups(server.pid) - woke0
    finally:
        client.close()
        server.kill()
        server.wait()
    return {
        "cpu_us_per_datagram": 1e6 * cpu / datagrams,
        "kernel_share": system / cpu if cpu else float("nan"),
        "sleeps_per_datagram": woke / datagrams,
    }


def run(datagrams: int, think: float, rounds: int) -> dict[str, Any]:
    """Every server ``rounds`` times, in rotating order (the first of a round runs cooler)."""
    kinds = servers()
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for r in range(rounds):
        order = kinds[r % len(kinds) :] + kinds[: r % len(kinds)]
        for kind in order:
            results[kind].append(measure(kind, datagrams, think))
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "load": Path("/proc/loadavg").read_text().split()[:3],
        "datagrams": datagrams,
        "think_s": think,
        "servers": results,
    }


def _span(values: list[float], scale: float = 1.0, digits: int = 0) -> str:
    """``low-high`` of the runs (after multiplying by ``scale``)."""
    return f"{min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f}"


def table(result: dict[str, Any]) -> str:
    """The figures as Markdown: per datagram, and per authentication (6 and 9 datagrams in)."""
    rows = [
        "| server | CPU us/datagram | kernel share | sleeps/datagram "
        "| x 6 (own EAP server), ms | x 9 (pass-through), ms |",
        "|---|---|---|---|---|---|",
    ]
    for kind, runs in result["servers"].items():
        cpu = [r["cpu_us_per_datagram"] for r in runs]
        share = [r["kernel_share"] for r in runs]
        sleeps = [r["sleeps_per_datagram"] for r in runs]
        rows.append(
            f"| {kind} | {_span(cpu)} | {_span(share, digits=2)} | {_span(sleeps, digits=2)} "
            f"| {_span(cpu, 6 / 1000, 2)} | {_span(cpu, 9 / 1000, 2)} |"
        )
    rows.append("")
    rows.append(
        f"{result['date']}, {result['machine']}, CPython {result['python']}, "
        f"load {', '.join(result['load'])}; {result['datagrams']} datagrams per run, "
        f"{1e6 * result['think_s']:.0f} us think time"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--datagrams", type=int, default=5000)
    parser.add_argument("--think", type=float, default=0.0003, help="seconds between datagrams")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.datagrams, args.think, args.rounds)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

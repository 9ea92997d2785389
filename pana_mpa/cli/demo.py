"""``pana-mpa demo``: a PaC and a PAA over the in-memory loopback, one line per PANA message."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..address import Address, format_address
from ..aio import ClientError, PacClient, PacNode, SansIo, serve_paa
from ..aio.loopback import LoopbackNetwork, TapHook, run_virtual
from ..flow import describe_datagram, describe_event, format_message
from .common import event_text
from .options import PaaOptions, PacOptions
from .paa import build_paa
from .pac import build_pac
from .pcapwrite import PcapWriter
from .users import parse_secret

__all__ = ["PAA_ADDRESS", "PAC_ADDRESS", "Pictures", "add_parser", "run", "run_exchange"]

# RFC 5737 documentation addresses: the demo never touches a real network.
PAC_ADDRESS: Address = ("192.0.2.1", 50000)
PAA_ADDRESS: Address = ("192.0.2.2", 716)

Emit = Callable[[dict[str, Any]], None]


def add_parser(sub: Any) -> None:
    """Register the demo subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="run a PaC and a PAA in memory and print the message flow"
    )
    p.add_argument("--json", action="store_true", help="JSON lines instead of text")
    p.add_argument("--seed", type=int, default=1, help="randomness seed (default 1)")
    p.add_argument(
        "--mpa", action="store_true", help="run the MPA handover (pre-authentication) instead"
    )
    p.add_argument(
        "--pcap", metavar="FILE", help="also write the datagrams as a pcap file (Wireshark, tshark)"
    )
    p.add_argument(
        "--chart", metavar="PNG", help="also draw the exchange (or the MPA timeline) as a PNG"
    )
    p.set_defaults(func=run)


async def run_exchange(
    pac: PacNode[Any],
    paa: SansIo[Any],
    emit: Emit,
    *,
    seed: int = 1,
    latency: float = 0.005,
    capture: TapHook | None = None,
) -> bool:
    """Authenticate, ping and terminate over a LoopbackNetwork; emit messages and outcomes.

    ``pac`` must address the PAA at PAA_ADDRESS; ``capture`` sees every datagram's bytes.
    Returns True when all three steps succeeded.
    """
    names = {PAC_ADDRESS: "PaC", PAA_ADDRESS: "PAA"}

    def tap(now: float, src: Address, dst: Address, data: bytes) -> None:
        if capture is not None:
            capture(now, src, dst, data)
        record: dict[str, Any] = {"t": round(now, 6), "from": names.get(src, format_address(src))}
        record["to"] = names.get(dst, format_address(dst))
        record.update(describe_datagram(data))
        emit(record)

    net = LoopbackNetwork(seed=seed, delay=latency, tap=tap)
    loop = asyncio.get_running_loop()
    paa_events: asyncio.Queue[Any] = asyncio.Queue()

    async def report_paa_events() -> None:
        while True:
            event = await paa_events.get()
            emit(_outcome(loop.time(), "PAA", type(event).__name__, event))

    server = asyncio.create_task(serve_paa(paa, net.endpoint(PAA_ADDRESS), events=paa_events))
    reporter = asyncio.create_task(report_paa_events())
    ok = False
    try:
        async with PacClient(pac, net.endpoint(PAC_ADDRESS)) as client:
            try:
                auth = await client.authenticate()
                emit(_outcome(loop.time(), "PaC", "authenticated", auth))
                pong = await client.ping()
                emit(_outcome(loop.time(), "PaC", "ping answered", pong))
                bye = await client.terminate()
                emit(_outcome(loop.time(), "PaC", "terminated", bye))
                ok = True
            except ClientError as exc:
                record = {"t": round(loop.time(), 6), "role": "PaC", "outcome": "failed"}
                record["text"] = str(exc)
                emit(record)
        await asyncio.sleep(latency * 2)  # let the PAA see the last answer
    finally:
        for task in (server, reporter):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return ok


def _outcome(now: float, role: str, what: str, event: object) -> dict[str, Any]:
    record: dict[str, Any] = {"t": round(now, 6), "role": role, "outcome": what}
    record.update(describe_event(event))
    record["text"] = event_text(event)
    return record


def _text_line(record: dict[str, Any]) -> str:
    t = f"{record['t']:9.6f}"
    if "outcome" in record:
        return f"{t}  {record['role']:<3} {record['outcome']}: {record['text']}"
    arrow = f"{record['from']} -> {record['to']}"
    return f"{t}  {arrow:<11} {format_message(record)}"


def _writer(stream: IO[str], as_json: bool) -> Emit:
    def emit(record: dict[str, Any]) -> None:
        stream.write((json.dumps(record) if as_json else _text_line(record)) + "\n")

    return emit


def run(args: argparse.Namespace) -> int:
    """Run the demo: EAP-PSK, HMAC-SHA-256, seeded randomness, virtual time (``--mpa``: MPA)."""
    if getattr(args, "mpa", False):
        from .mpa import run_mpa_cli

        return run_mpa_cli(args)
    writer = _writer(sys.stdout, bool(args.json))
    records: list[dict[str, Any]] = []

    def emit(record: dict[str, Any]) -> None:
        records.append(record)
        writer(record)

    pictures = Pictures(getattr(args, "pcap", None), getattr(args, "chart", None))
    pac, paa = _nodes(int(args.seed))
    ok = run_virtual(
        lambda: run_exchange(pac, paa, emit, seed=int(args.seed), capture=pictures.capture)
    )
    return pictures.finish(records, "pana-mpa demo: EAP-PSK, HMAC-SHA-256") or (0 if ok else 1)


class Pictures:
    """``--pcap`` and ``--chart`` of the demos: a capture file and a message-sequence chart."""

    def __init__(self, pcap: str | None, chart: str | None) -> None:
        self._chart = chart
        self._pcap_name = pcap
        self._datagrams: list[tuple[float, Address, Address, bytes]] = []
        self._wall = time.time()  # the capture's wall-clock reference for virtual time 0

    def capture(self, now: float, src: Address, dst: Address, data: bytes) -> None:
        """Tap: remember one datagram."""
        if self._pcap_name is not None:
            self._datagrams.append((now, src, dst, data))

    def finish(self, records: list[dict[str, Any]], title: str) -> int:
        """Write what was asked for; 0, or 2 with a one-line reason on stderr."""
        from .chart import ChartError, draw_chart, messages_from_trace

        try:
            if self._pcap_name is not None:
                with open(self._pcap_name, "wb") as fh:
                    writer = PcapWriter(fh)
                    for now, src, dst, data in self._datagrams:
                        writer.write_udp(self._wall + now, src, dst, data)
            if self._chart is not None:
                messages = messages_from_trace(json.dumps(r) for r in records)
                draw_chart(messages, Path(self._chart), title=title)
        except (ChartError, OSError) as exc:
            sys.stderr.write(f"pana-mpa demo: {exc}\n")
            return 2
        return 0


DEMO_IDENTITY = b"alice@example.org"
DEMO_PSK = "SecretPassphrase"


def _nodes(seed: int) -> tuple[PacNode[Any], SansIo[Any]]:
    """A PaC and a PAA with EAP-PSK and HMAC-SHA-256, both drawing from one seeded rng."""
    rng = random.Random(seed).randbytes  # noqa: S311 - a reproducible demo, not real keys
    secret = parse_secret("psk", DEMO_PSK)
    pac = build_pac(
        PacOptions(paa=PAA_ADDRESS, identity=DEMO_IDENTITY, secret=secret, once=True), rng, None
    )
    paa, _ = build_paa(
        PaaOptions(listen=PAA_ADDRESS, users={DEMO_IDENTITY: secret}, lifetime=3600), rng, None
    )
    return pac, paa

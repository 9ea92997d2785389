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
from ..trace import trace_header, trace_record
from .common import event_text
from .options import PaaOptions, PacOptions
from .paa import build_paa
from .pac import build_pac
from .pcapwrite import PcapWriter
from .users import parse_secret

__all__ = [
    "PAA_ADDRESS",
    "PAC_ADDRESS",
    "Pictures",
    "add_parser",
    "run",
    "run_exchange",
    "write_header",
]

# RFC 5737 documentation addresses: the demo never touches a real network.
PAC_ADDRESS: Address = ("192.0.2.1", 50000)
PAA_ADDRESS: Address = ("192.0.2.2", 716)

Emit = Callable[[dict[str, Any]], None]


def add_parser(sub: Any) -> None:
    """Register the demo subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="run a PaC and a PAA in memory and print the message flow"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="a JSON-lines trace instead of text (docs/trace-format.md)",
    )
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
        fields: dict[str, Any] = {"src": names.get(src, format_address(src))}
        fields["dst"] = names.get(dst, format_address(dst))
        fields.update(describe_datagram(data))
        emit(trace_record(now, "message", fields))

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
                fields = {"role": "PaC", "outcome": "failed", "text": str(exc)}
                emit(trace_record(loop.time(), "outcome", fields))
        await asyncio.sleep(latency * 2)  # let the PAA see the last answer
    finally:
        for task in (server, reporter):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return ok


def _outcome(now: float, role: str, what: str, event: object) -> dict[str, Any]:
    """An ``outcome`` record: who, what, the event's class as ``name``, its fields, a text."""
    fields: dict[str, Any] = {"role": role, "outcome": what}
    described = describe_event(event)
    fields["name"] = described.pop("event")
    fields.update(described)
    fields["text"] = event_text(event)
    return trace_record(now, "outcome", fields)


def _text_line(record: dict[str, Any]) -> str:
    t = f"{record['t']:9.6f}"
    if record["event"] == "outcome":
        return f"{t}  {record['role']:<3} {record['outcome']}: {record['text']}"
    arrow = f"{record['src']} -> {record['dst']}"
    return f"{t}  {arrow:<11} {format_message(record)}"


def _writer(stream: IO[str], as_json: bool) -> Emit:
    def emit(record: dict[str, Any]) -> None:
        stream.write((json.dumps(record) if as_json else _text_line(record)) + "\n")

    return emit


def write_header(stream: IO[str], source: str, reference_time: float, title: str) -> None:
    """The trace header line of ``--json`` output (docs/trace-format.md)."""
    header = trace_header(source, reference_time, title=title, clock="virtual")
    stream.write(json.dumps(header) + "\n")


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
    if args.json:
        write_header(sys.stdout, "demo", pictures.reference_time, _TITLE)
    pac, paa = _nodes(int(args.seed))
    ok = run_virtual(
        lambda: run_exchange(pac, paa, emit, seed=int(args.seed), capture=pictures.capture)
    )
    return pictures.finish(records, _TITLE) or (0 if ok else 1)


_TITLE = "pana-mpa demo: EAP-PSK, HMAC-SHA-256"


class Pictures:
    """``--pcap`` and ``--chart`` of the demos: a capture file and a message-sequence chart."""

    def __init__(self, pcap: str | None, chart: str | None) -> None:
        self._chart = chart
        self._pcap_name = pcap
        self._datagrams: list[tuple[float, Address, Address, bytes]] = []
        self.reference_time = time.time()
        """The wall-clock reference of virtual time 0 (the capture's and the trace's)."""

    def capture(self, now: float, src: Address, dst: Address, data: bytes) -> None:
        """Tap: remember one datagram."""
        if self._pcap_name is not None:
            self._datagrams.append((now, src, dst, data))

    def finish(self, records: list[dict[str, Any]], title: str) -> int:
        """Write what was asked for; 0, or 2 with a one-line reason on stderr."""
        from .chart import ChartError, draw_chart, messages_from_records

        try:
            if self._pcap_name is not None:
                with open(self._pcap_name, "wb") as fh:
                    writer = PcapWriter(fh)
                    for now, src, dst, data in self._datagrams:
                        writer.write_udp(self.reference_time + now, src, dst, data)
            if self._chart is not None:
                messages = messages_from_records(records)
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

"""``pana-mpa demo``: a PaC and a PAA over the in-memory loopback, one line per PANA message."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from typing import IO, Any

from pana_codecs import Avp, MessageFlags, MessageType, PanaMessage, decode_pana, encode_pana

from ._flow import describe_datagram, describe_event, format_message
from .aio import ClientError, PacClient, PacNode, SansIo, serve_paa
from .loopback import LoopbackNetwork, run_virtual
from .transport import Address, format_address

__all__ = ["PAA_ADDRESS", "PAC_ADDRESS", "add_parser", "run", "run_exchange"]

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
    p.set_defaults(func=run)


async def run_exchange(
    pac: PacNode[Any],
    paa: SansIo[Any],
    emit: Emit,
    *,
    seed: int = 1,
    latency: float = 0.005,
) -> bool:
    """Authenticate, ping and terminate over a LoopbackNetwork; emit messages and outcomes.

    ``pac`` must address the PAA at PAA_ADDRESS. Returns True when all three steps succeeded.
    """
    names = {PAC_ADDRESS: "PaC", PAA_ADDRESS: "PAA"}

    def tap(now: float, src: Address, dst: Address, data: bytes) -> None:
        record: dict[str, Any] = {"t": round(now, 6), "from": names.get(src, format_address(src))}
        record["to"] = names.get(dst, format_address(dst))
        record.update(describe_datagram(data))
        emit(record)

    net = LoopbackNetwork(seed=seed, delay=latency, tap=tap)
    loop = asyncio.get_running_loop()
    paa_events: asyncio.Queue[Any] = asyncio.Queue()
    server = asyncio.create_task(serve_paa(paa, net.endpoint(PAA_ADDRESS), events=paa_events))
    ok = False
    try:
        async with PacClient(pac, net.endpoint(PAC_ADDRESS)) as client:
            try:
                auth = await client.authenticate()
                emit(_outcome(loop.time(), "authenticated", auth))
                pong = await client.ping()
                emit(_outcome(loop.time(), "ping answered", pong))
                bye = await client.terminate()
                emit(_outcome(loop.time(), "terminated", bye))
                ok = True
            except ClientError as exc:
                emit({"t": round(loop.time(), 6), "outcome": "failed", "reason": str(exc)})
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
    while not paa_events.empty():
        emit(_outcome(loop.time(), "PAA event", paa_events.get_nowait()))
    return ok


def _outcome(now: float, what: str, event: object) -> dict[str, Any]:
    record: dict[str, Any] = {"t": round(now, 6), "outcome": what}
    record.update(describe_event(event))
    return record


def _text_line(record: dict[str, Any]) -> str:
    t = f"{record['t']:9.6f}"
    if "outcome" in record:
        fields = [
            f"{k}={v}" for k, v in record.items() if k not in ("t", "outcome", "event", "reason")
        ]
        detail = record.get("reason") or " ".join([record.get("event", ""), *fields]).strip()
        return f"{t}  == {record['outcome']}: {detail}"
    arrow = f"{record['from']} -> {record['to']}"
    return f"{t}  {arrow:<11} {format_message(record)}"


def _writer(stream: IO[str], as_json: bool) -> Emit:
    def emit(record: dict[str, Any]) -> None:
        stream.write((json.dumps(record) if as_json else _text_line(record)) + "\n")

    return emit


def run(args: argparse.Namespace) -> int:
    """Run the demo; placeholder (codec round trip) until the PANA sessions land."""
    emit = _writer(sys.stdout, bool(args.json))
    nodes = _real_nodes(int(args.seed))
    if nodes is None:
        return _placeholder(emit)
    pac, paa = nodes
    ok = run_virtual(lambda: run_exchange(pac, paa, emit, seed=int(args.seed)))
    return 0 if ok else 1


def _real_nodes(seed: int) -> tuple[PacNode[Any], SansIo[Any]] | None:
    """A PaC and a PAA with EAP-PSK, or None while the sessions are not available."""
    return None


def _placeholder(emit: Emit) -> int:
    msgs = [
        PanaMessage(MessageType.PANA_CLIENT_INITIATION, 0, 0, 0),
        PanaMessage(
            MessageType.PANA_AUTH,
            MessageFlags.R | MessageFlags.S,
            0x1234,
            1,
            (Avp(6, (2).to_bytes(4, "big")), Avp(3, (7).to_bytes(4, "big"))),
        ),
    ]
    for i, m in enumerate(msgs):
        record: dict[str, Any] = {"t": 0.0, "from": "PaC" if i == 0 else "PAA"}
        record["to"] = "PAA" if i == 0 else "PaC"
        record.update(describe_datagram(encode_pana(decode_pana(encode_pana(m)))))
        emit(record)
    return 0

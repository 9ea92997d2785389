"""Whole PANA sessions (EAP-PSK: authenticate, ping, terminate) per second through the aio layer.

Three cases: one PaC after another on the in-memory loopback in virtual time (the cost of the
stack itself), many concurrent PaCs against one PAA on the loopback, and the same over real UDP
sockets on 127.0.0.1 (wall-clock time). ``python -m benchmarks.aio``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable

from pana_mpa.aio import PacClient, serve_paa
from pana_mpa.aio.loopback import LoopbackNetwork, LoopbackTransport, run_virtual
from pana_mpa.aio.transport import Address, Transport
from pana_mpa.aio.udp import UdpTransport
from pana_mpa.cli import peers as cp

PSK = cp.parse_secret("psk", "SecretPassphrase")
PAA: Address = ("192.0.2.2", 716)


def _nodes(rng: random.Random, paa: Address, users: int) -> tuple[cp.PaaOptions, list[bytes]]:
    names = [f"user{i}".encode() for i in range(users)]
    return cp.PaaOptions(listen=paa, users=dict.fromkeys(names, PSK)), names


async def _one(identity: bytes, paa: Address, transport: Transport, rng: random.Random) -> None:
    opts = cp.PacOptions(paa=paa, identity=identity, secret=PSK, once=True)
    async with PacClient(cp.build_pac(opts, rng.randbytes, None), transport) as client:
        await client.authenticate(timeout=60)
        await client.ping(timeout=60)
        await client.terminate(timeout=60)


async def _run(
    count: int,
    concurrency: int,
    paa_transport: Transport,
    paa: Address,
    pac_transport: Callable[[int], Awaitable[Transport]],
) -> float:
    rng = random.Random(5191)  # noqa: S311 - benchmark input, not key material
    opts, names = _nodes(rng, paa, count)
    server, _ = cp.build_paa(opts, rng.randbytes, None)
    task = asyncio.create_task(serve_paa(server, paa_transport))
    sem = asyncio.Semaphore(concurrency)

    async def limited(i: int) -> None:
        async with sem:
            await _one(names[i], paa, await pac_transport(i), rng)

    start = time.process_time()  # CPU time: the machine may be shared
    try:
        await asyncio.gather(*(limited(i) for i in range(count)))
        return count / (time.process_time() - start)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        paa_transport.close()


def loopback(count: int, concurrency: int) -> float:
    """Sessions per second on the in-memory loopback, in virtual time."""

    async def main() -> float:
        net = LoopbackNetwork(delay=0.001)

        async def endpoint(i: int) -> LoopbackTransport:
            return net.endpoint(("198.51.100.1", 0))

        return await _run(count, concurrency, net.endpoint(PAA), PAA, endpoint)

    return run_virtual(main)


def udp(count: int, concurrency: int) -> float:
    """Sessions per second over UDP on 127.0.0.1."""

    async def main() -> float:
        paa = await UdpTransport.bind("127.0.0.1", 0)

        async def endpoint(i: int) -> UdpTransport:
            return await UdpTransport.bind("127.0.0.1", 0)

        return await _run(count, concurrency, paa, paa.local_address, endpoint)

    return asyncio.run(main())


def main() -> None:
    """Print sessions per second (median of three runs) for each case."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200, help="sessions per run")
    args = parser.parse_args()
    cases: dict[str, Callable[[], float]] = {
        "loopback, virtual time, one PaC at a time": lambda: loopback(args.count, 1),
        "loopback, virtual time, 50 PaCs at once": lambda: loopback(args.count, 50),
        "UDP 127.0.0.1, one PaC at a time": lambda: udp(args.count, 1),
        "UDP 127.0.0.1, 50 PaCs at once": lambda: udp(args.count, 50),
    }
    for name, fn in cases.items():
        rates = sorted(fn() for _ in range(3))
        print(f"{name}: {rates[1]:,.0f} sessions per CPU-second")


if __name__ == "__main__":
    main()

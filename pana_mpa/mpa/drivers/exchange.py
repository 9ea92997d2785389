"""Run a sans-IO DHCP client (DHCPv4 relay or DHCPv6) on one UDP socket until it is done."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable
from typing import Any, Protocol

__all__ = ["SansIoClient", "run_exchange"]


class SansIoClient(Protocol):
    """What DhcpRelayClient and Dhcp6Client have in common."""

    def start(self, now: float) -> None: ...
    def datagrams_to_send(self) -> Iterable[bytes]: ...
    def get_timer(self) -> float | None: ...
    def handle_timer(self, now: float) -> None: ...
    def receive(self, data: bytes, now: float) -> None: ...


class _Queue(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait(data)


async def run_exchange(
    client: SansIoClient, sock: socket.socket, dest: tuple[Any, ...], done: Callable[[], bool]
) -> None:
    """Feed ``client`` from ``sock`` and send its datagrams to ``dest`` until ``done()``.

    The exchange owns ``sock``: it is closed at the end, whatever happened.
    """
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Queue, sock=sock)
    try:
        client.start(loop.time())
        while not done():
            for data in client.datagrams_to_send():
                transport.sendto(data, dest)
            deadline = client.get_timer()
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                data = await asyncio.wait_for(proto.queue.get(), timeout)
            except TimeoutError:
                client.handle_timer(loop.time())
            else:
                client.receive(data, loop.time())
    finally:
        transport.close()

"""Run the relay's DHCP exchange on a real UDP socket (asyncio; the sans-IO core is dhcp.py)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
from collections.abc import Callable

from .dhcp import DhcpError, DhcpLease, DhcpRelayClient, RelayState

__all__ = ["acquire_lease", "relay_socket"]

logger = logging.getLogger(__name__)

DHCP_SERVER_PORT = 67


def relay_socket(giaddr: ipaddress.IPv4Address, port: int = DHCP_SERVER_PORT) -> socket.socket:
    """A non-blocking UDP socket bound to giaddr:67, as a relay agent uses (needs root for 67)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((str(giaddr), port))
    sock.setblocking(False)
    return sock


class _Proto(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.queue.put_nowait(data)


async def acquire_lease(
    *,
    server: ipaddress.IPv4Address,
    giaddr: ipaddress.IPv4Address,
    chaddr: bytes,
    client_id: bytes | None = None,
    sock: socket.socket | None = None,
    server_port: int = DHCP_SERVER_PORT,
    rng: Callable[[int], bytes] = os.urandom,
    initial_timeout: float = 1.0,
    attempts: int = 4,
) -> DhcpLease:
    """Get a lease for ``chaddr`` from ``server`` via our relay at ``giaddr``; DhcpError if not."""
    loop = asyncio.get_running_loop()
    sock = sock if sock is not None else relay_socket(giaddr)
    transport, proto = await loop.create_datagram_endpoint(_Proto, sock=sock)
    client = DhcpRelayClient(
        server=server,
        giaddr=giaddr,
        chaddr=chaddr,
        client_id=client_id,
        rng=rng,
        initial_timeout=initial_timeout,
        attempts=attempts,
    )
    try:
        client.start(loop.time())
        while client.state not in (RelayState.BOUND, RelayState.FAILED):
            for data in client.datagrams_to_send():
                transport.sendto(data, (str(server), server_port))
            deadline = client.get_timer()
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                data = await asyncio.wait_for(proto.queue.get(), timeout)
            except TimeoutError:
                client.handle_timer(loop.time())
            else:
                client.receive(data, loop.time())
        if client.lease is None:
            raise DhcpError(client.failure or "DHCP failed")
        return client.lease
    finally:
        transport.close()  # closes ``sock`` too: the exchange owns it

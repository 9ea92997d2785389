"""Run the relay's DHCP exchange on a real UDP socket (asyncio; the sans-IO core is dhcp.py)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
from collections.abc import Callable

from ..dhcp import DhcpError, DhcpLease, DhcpRelayClient, RelayState
from .exchange import run_exchange

__all__ = ["acquire_lease", "relay_socket", "renew_lease"]

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
    sock = sock if sock is not None else relay_socket(giaddr)
    client = DhcpRelayClient(
        server=server,
        giaddr=giaddr,
        chaddr=chaddr,
        client_id=client_id,
        rng=rng,
        initial_timeout=initial_timeout,
        attempts=attempts,
    )
    done = (RelayState.BOUND, RelayState.FAILED)
    await run_exchange(client, sock, (str(server), server_port), lambda: client.state in done)
    if client.lease is None:
        raise DhcpError(client.failure or "DHCP failed")
    return client.lease


async def renew_lease(
    *,
    address: ipaddress.IPv4Address,
    server: ipaddress.IPv4Address,
    chaddr: bytes,
    client_id: bytes,
    sock: socket.socket,
    server_port: int = DHCP_SERVER_PORT,
    rng: Callable[[int], bytes] = os.urandom,
    timeout: float = 2.0,
    attempts: int = 3,
) -> DhcpLease:
    """The MN renews its pre-acquired lease over its new link (RFC 2131 s4.4.5, RENEWING).

    ``sock`` is a UDP socket bound to ``address``:68 on the new link (it is consumed). The
    REQUEST carries ciaddr = ``address`` and the client id the relay used before the move.
    """
    from ..dhcp import DhcpMessageType, decode_dhcp, lease_from_ack, renew_request

    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Proto, sock=sock)
    xid = int.from_bytes(rng(4), "big")
    request = renew_request(
        DhcpLease(address=address, prefix_length=32, router=None, dns_servers=(),
                  lease_time=0, server_id=server, client_id=client_id, acquired_at=0.0),
        chaddr, xid,
    )  # fmt: skip
    try:
        for _ in range(attempts):
            transport.sendto(request, (str(server), server_port))
            end = loop.time() + timeout
            while (left := end - loop.time()) > 0:
                try:
                    data = await asyncio.wait_for(proto.queue.get(), left)
                except TimeoutError:
                    break
                try:
                    reply = decode_dhcp(data)
                except DhcpError:
                    continue
                if reply.xid != xid or reply.chaddr != chaddr:
                    continue
                if reply.message_type == DhcpMessageType.NAK:
                    raise DhcpError(f"DHCP server {server} refused the renewal (NAK)")
                if reply.message_type == DhcpMessageType.ACK:
                    return lease_from_ack(reply, client_id=client_id, fallback_server=server,
                                          now=loop.time())  # fmt: skip
        raise DhcpError(f"no answer from DHCP server {server} to the renewal")
    finally:
        transport.close()

"""DHCPv6 on real UDP sockets (asyncio; the sans-IO core is dhcp6.py).

``acquire_lease6``: the PAA's relay gets a lease for the MN from the CTN's DHCPv6 server in
Relay-Forw/Relay-Reply before the MN moves (RFC 6252 s7.3, RFC 8415 s19). ``Dhcp6RelayAgent``:
the same router relaying the messages of clients on its link (the non-MPA MN after the move).
``solicit_lease6``: a client's own exchange on its link. ``renew_lease6``: the MN renews the
relayed lease itself from nCoA after the move, with what PANA delivered (RFC 8415 s18.2.4).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import struct
from collections.abc import Callable

from ..dhcp6 import (
    ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
    CLIENT_PORT,
    HOP_COUNT_LIMIT,
    SERVER_PORT,
    Dhcp6Client,
    Dhcp6Error,
    Dhcp6Lease,
    Dhcp6Message,
    Dhcp6MessageType,
    Dhcp6Option,
    Dhcp6State,
    RelayMessage,
    decode_dhcp6,
    lease_from_reply,
    relay_forward,
    relay_reply_payload,
    renew_message,
)
from .exchange import run_exchange

__all__ = ["Dhcp6RelayAgent", "acquire_lease6", "relay6_socket", "renew_lease6", "solicit_lease6"]

logger = logging.getLogger(__name__)


def relay6_socket(address: ipaddress.IPv6Address | str, port: int = SERVER_PORT) -> socket.socket:
    """A non-blocking UDP socket bound to ``address``:547, where servers answer relays."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((str(address), port))
    sock.setblocking(False)
    return sock


class _Proto(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str | object, ...]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.queue.put_nowait((data, addr))


async def _run(
    client: Dhcp6Client, sock: socket.socket, dest: tuple[str, int, int, int]
) -> Dhcp6Lease:
    done = (Dhcp6State.BOUND, Dhcp6State.FAILED)
    await run_exchange(client, sock, dest, lambda: client.state in done)
    if client.lease is None:
        raise Dhcp6Error(client.failure or "DHCPv6 failed")
    return client.lease


async def acquire_lease6(
    *,
    server: ipaddress.IPv6Address,
    link_address: ipaddress.IPv6Address,
    mac: bytes,
    sock: socket.socket,
    peer_address: ipaddress.IPv6Address | None = None,
    interface_id: bytes = b"pana-mpa",
    prefix_length: int = 128,
    router: ipaddress.IPv6Address | None = None,
    server_port: int = SERVER_PORT,
    rng: Callable[[int], bytes] = os.urandom,
    initial_timeout: float = 1.0,
    attempts: int = 4,
) -> Dhcp6Lease:
    """A lease for the MN with ``mac`` from ``server`` via our relay; Dhcp6Error if none.

    ``link_address`` is the relay's address on the candidate link (the server picks the subnet
    from it), ``sock`` a UDP socket of the relay toward the server, bound to port 547 (it is
    consumed). ``prefix_length``/``router`` describe the link for the MN (DHCPv6 has neither).
    """
    client = Dhcp6Client(
        mac=mac, rng=rng, link_address=link_address, peer_address=peer_address,
        interface_id=interface_id, server_address=server, prefix_length=prefix_length,
        router=router, initial_timeout=initial_timeout, attempts=attempts,
    )  # fmt: skip
    return await _run(client, sock, (str(server), server_port, 0, 0))


async def solicit_lease6(
    *,
    ifindex: int,
    mac: bytes,
    sock: socket.socket,
    prefix_length: int = 128,
    router: ipaddress.IPv6Address | None = None,
    rng: Callable[[int], bytes] = os.urandom,
    initial_timeout: float = 1.0,
    attempts: int = 4,
) -> Dhcp6Lease:
    """The client's own exchange: multicast to ff02::1:2 on interface ``ifindex`` from port 546.

    ``sock`` is an AF_INET6 UDP socket bound to [::]:546 (it is consumed).
    """
    index = ifindex
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    client = Dhcp6Client(
        mac=mac, rng=rng, prefix_length=prefix_length, router=router,
        initial_timeout=initial_timeout, attempts=attempts,
    )  # fmt: skip
    return await _run(client, sock, (str(ALL_DHCP_RELAY_AGENTS_AND_SERVERS), SERVER_PORT, 0, index))


async def renew_lease6(
    *,
    ifindex: int,
    address: ipaddress.IPv6Address,
    client_duid: bytes,
    server_duid: bytes,
    iaid: int,
    sock: socket.socket,
    prefix_length: int = 128,
    router: ipaddress.IPv6Address | None = None,
    rng: Callable[[int], bytes] = os.urandom,
    timeout: float = 2.0,
    attempts: int = 3,
) -> Dhcp6Lease:
    """Renew the lease the relay got, from the MN on its new link (RFC 8415 s18.2.4).

    Sent to ff02::1:2 on ``ifindex`` (no Server Unicast option); ``sock`` is an AF_INET6 UDP
    socket bound to port 546 (it is consumed). Dhcp6Error when the server refuses or is silent.
    """
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Proto, sock=sock)
    xid = int.from_bytes(rng(3), "big")
    renew = renew_message(transaction_id=xid, client_duid=client_duid, server_duid=server_duid,
                          iaid=iaid, address=address)  # fmt: skip
    dest = (str(ALL_DHCP_RELAY_AGENTS_AND_SERVERS), SERVER_PORT, 0, ifindex)
    try:
        for _ in range(attempts):
            transport.sendto(renew, dest)
            end = loop.time() + timeout
            while (left := end - loop.time()) > 0:
                try:
                    data, _addr = await asyncio.wait_for(proto.queue.get(), left)
                except TimeoutError:
                    break
                try:
                    reply = decode_dhcp6(data)
                except Dhcp6Error:
                    continue
                if (
                    not isinstance(reply, Dhcp6Message)
                    or reply.msg_type != Dhcp6MessageType.REPLY
                    or reply.transaction_id != xid
                    or reply.option(Dhcp6Option.CLIENTID) != client_duid
                ):
                    continue
                return lease_from_reply(reply, client_duid=client_duid, iaid=iaid,
                                        server_address=ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
                                        now=loop.time(), prefix_length=prefix_length,
                                        router=router)  # fmt: skip
        raise Dhcp6Error("no answer from a DHCPv6 server to the Renew")
    finally:
        transport.close()


class Dhcp6RelayAgent:
    """A DHCPv6 relay agent for one link (RFC 8415 s19): clients' messages to the server.

    Listens on ``ifname`` for ff02::1:2 port 547, sends each client message in a Relay-Forw
    (link-address = ``link_address``, peer-address = the client's source, Interface-Id =
    ``ifname``) to ``server`` from ``upstream`` port 547, and sends the message in each
    Relay-Reply to its peer-address port 546 on ``ifname``. Create the sockets in the router's
    namespace (``open()`` is synchronous for that reason).
    """

    def __init__(
        self,
        *,
        ifname: str,
        link_address: ipaddress.IPv6Address,
        server: ipaddress.IPv6Address,
        upstream: ipaddress.IPv6Address,
    ) -> None:
        self.ifname = ifname
        self.link_address = link_address
        self.server = server
        self.upstream = upstream
        self.forwarded = 0
        self.replied = 0
        self.dropped = 0
        self._down: socket.socket | None = None
        self._up: socket.socket | None = None
        self._transports: list[asyncio.BaseTransport] = []

    def open(self) -> None:
        """Create and bind both sockets (call inside the router's namespace)."""
        index = socket.if_nametoindex(self.ifname)
        down = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        down.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        down.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.ifname.encode())
        down.bind(("::", SERVER_PORT))
        mreq = ALL_DHCP_RELAY_AGENTS_AND_SERVERS.packed + struct.pack("@I", index)
        down.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        down.setblocking(False)
        self._index = index
        self._down = down
        self._up = relay6_socket(self.upstream)

    async def start(self) -> None:
        """Start relaying on the running loop."""
        if self._down is None or self._up is None:
            self.open()
        assert self._down is not None and self._up is not None
        loop = asyncio.get_running_loop()
        relay = self

        class Down(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
                relay._from_client(data, addr)

        class Up(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
                relay._from_server(data)

        down_tr, _ = await loop.create_datagram_endpoint(Down, sock=self._down)
        up_tr, _ = await loop.create_datagram_endpoint(Up, sock=self._up)
        self._transports = [down_tr, up_tr]

    def _from_client(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        try:
            msg = decode_dhcp6(data)
        except Dhcp6Error as exc:
            self.dropped += 1
            logger.debug("dropping DHCPv6 datagram from %s: %s", addr, exc)
            return
        if isinstance(msg, RelayMessage):
            if msg.msg_type != Dhcp6MessageType.RELAY_FORW or msg.hop_count >= HOP_COUNT_LIMIT:
                self.dropped += 1
                return
            hop_count = msg.hop_count + 1
        elif msg.msg_type in (Dhcp6MessageType.ADVERTISE, Dhcp6MessageType.REPLY,
                              Dhcp6MessageType.RECONFIGURE):  # fmt: skip
            self.dropped += 1  # server messages do not come from clients (RFC 8415 s16)
            return
        else:
            hop_count = 0
        peer = ipaddress.IPv6Address(str(addr[0]).split("%")[0])
        forw = relay_forward(data, link_address=self.link_address, peer_address=peer,
                             interface_id=self.ifname.encode(), hop_count=hop_count)  # fmt: skip
        self.forwarded += 1
        self._transports[1].sendto(forw, (str(self.server), SERVER_PORT, 0, 0))  # type: ignore[attr-defined]

    def _from_server(self, data: bytes) -> None:
        try:
            relay, inner = relay_reply_payload(data)
        except Dhcp6Error as exc:
            self.dropped += 1
            logger.debug("dropping datagram from the DHCPv6 server: %s", exc)
            return
        if relay.option(Dhcp6Option.INTERFACE_ID) not in (None, self.ifname.encode()):
            self.dropped += 1
            return
        # to a client: port 546; to another relay (nested Relay-Reply): port 547 (RFC 8415 s19.2)
        port = SERVER_PORT if inner[:1] == bytes([Dhcp6MessageType.RELAY_REPL]) else CLIENT_PORT
        self.replied += 1
        dest = (str(relay.peer_address), port, 0, self._index)
        self._transports[0].sendto(inner, dest)  # type: ignore[attr-defined]

    def close(self) -> None:
        """Close both sockets."""
        for tr in self._transports:
            tr.close()
        self._transports = []
        for s in (self._down, self._up):
            if s is not None:
                s.close()
        self._down = self._up = None

"""UdpTransport: PANA over UDP (RFC 5191 s1.4) on an asyncio datagram endpoint, IPv4 or IPv6."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import Any

from .transport import PANA_PORT, Address, TransportClosed, format_address

__all__ = ["UdpTransport"]

logger = logging.getLogger(__name__)


def _with_zone(host: str, addr: tuple[Any, ...]) -> str:
    """``fe80::1%eth0``: a link-local peer's address names its zone (RFC 4007 s11).

    recvfrom() reports the zone only as the scope id; without it the address would neither
    equal the one a user gave (``fe80::1%eth0``) nor be usable as a reply address.
    """
    scope_id = addr[3] if len(addr) >= 4 else 0
    if not scope_id or "%" in host:
        return host
    try:
        return f"{host}%{socket.if_indextoname(scope_id)}"
    except OSError:  # the interface is gone; the number is still a valid zone
        return f"{host}%{scope_id}"


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpTransport) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        # IPv6 sockets report (host, port, flowinfo, scope_id); keep (host, port).
        self._owner._received(data, (_with_zone(str(addr[0]), addr), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable ...) surface here; UDP is unreliable, so just log them.
        logger.debug("udp: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._lost()


class UdpTransport:
    """A bound UDP socket satisfying Transport; create it with ``await UdpTransport.bind(host)``.

    ``sendto`` takes IP literals only (no name resolution, which could block) and never blocks:
    when the kernel or asyncio cannot take a datagram it is dropped, as UDP may.
    """

    def __init__(self, queue_limit: int = 1024) -> None:
        self._queue: asyncio.Queue[tuple[bytes, Address] | None] = asyncio.Queue()
        self._queue_limit = queue_limit
        self._transport: asyncio.DatagramTransport | None = None
        self._closed = False
        self.local_address: Address = ("", 0)
        self.family = socket.AF_INET
        self.dropped = 0
        """Received datagrams dropped because the receive queue was full."""

    @classmethod
    async def bind(
        cls, host: str, port: int = PANA_PORT, *, queue_limit: int = 1024
    ) -> UdpTransport:
        """Bind UDP on ``host`` (an IPv4 or IPv6 literal) and ``port`` (0: any free port)."""
        ip = ipaddress.ip_address(host)
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        self = cls(queue_limit)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(ip.compressed, port), family=family
        )
        self._transport = transport
        self.family = family
        sockname = transport.get_extra_info("sockname")
        self.local_address = (str(sockname[0]), int(sockname[1]))
        logger.debug("udp: bound %s", format_address(self.local_address))
        return self

    def sendto(self, data: bytes, addr: Address) -> None:
        """Send one datagram to ``addr`` (IP literal, port); dropped when closed or unsendable."""
        if self._closed or self._transport is None or self._transport.is_closing():
            logger.debug("udp: send on closed transport dropped")
            return
        host, port = addr
        ip = ipaddress.ip_address(host)  # ValueError for names: resolving here could block
        if self.family == socket.AF_INET6 and ip.version == 4:
            host = "::ffff:" + ip.compressed  # IPv4-mapped (RFC 4291 s2.5.5.2)
        elif self.family == socket.AF_INET and ip.version == 6:
            logger.debug("udp: IPv6 destination %s on an IPv4 socket dropped", host)
            return
        # asyncio's sendto reports OSError through error_received(), never raises it.
        self._transport.sendto(bytes(data), (host, port))

    async def recvfrom(self) -> tuple[bytes, Address]:
        """The next datagram and its source address."""
        if self._closed:
            raise TransportClosed("UDP transport is closed")
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)
            raise TransportClosed("UDP transport is closed")
        return item

    def close(self) -> None:
        """Close the socket and wake any recvfrom() waiter."""
        if not self._closed:
            self._closed = True
            if self._transport is not None:
                self._transport.close()
            self._queue.put_nowait(None)

    def _received(self, data: bytes, addr: Address) -> None:
        if self._closed:
            return
        if self._queue.qsize() >= self._queue_limit:
            self.dropped += 1
            logger.debug("udp: receive queue full, %d octets from %s dropped", len(data), addr)
            return
        host = addr[0]
        if host.startswith("::ffff:") and "." in host:
            host = host[7:]  # report IPv4-mapped sources as plain IPv4
        self._queue.put_nowait((data, (host, addr[1])))

    def _lost(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)

"""UdpTransport: PANA over UDP (RFC 5191 s1.4) on a non-blocking socket, IPv4 or IPv6.

The socket is read from the event loop's reader callback: everything the kernel holds (up to
``max_batch`` datagrams) is read in one go and handed to the attached sink as one batch, whose
size is the backlog the admission control of ``pana_mpa.aio.runner`` measures. Without a sink
the datagrams wait in a bounded queue for ``recvfrom()``. Sends go straight to the kernel.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import sys
from collections.abc import Sequence
from typing import Any

from .transport import PANA_PORT, Address, DatagramSink, TransportClosed, format_address

__all__ = ["UdpTransport"]

logger = logging.getLogger(__name__)

_MAX_DATAGRAM = 65535
_DEST_CACHE_LIMIT = 1024
"""Destinations that needed work (zones, names refused ...) remembered; plain literals need none."""
_SO_RCVBUFFORCE = 33  # Linux <asm-generic/socket.h>; not in the socket module


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


class UdpTransport:
    """A bound UDP socket satisfying Transport and PushTransport.

    Create it with ``await UdpTransport.bind(host)`` (or ``UdpTransport.from_socket``).
    ``sendto`` takes IP literals only (no name resolution, which could block) and never blocks:
    when the kernel cannot take a datagram it is dropped, as UDP may. A literal of the socket's
    family is checked with ``inet_pton`` and sent as given; other destinations are checked once
    and remembered in a small cache. No state per destination: a flood of spoofed sources,
    each answered once, leaves nothing behind (issue 9; a 65,536-entry cache grew the PAA by
    ~17 MiB).
    """

    def __init__(self, queue_limit: int = 1024, *, max_batch: int = 4096) -> None:
        self._queue: asyncio.Queue[tuple[bytes, Address] | None] = asyncio.Queue()
        self._queue_limit = queue_limit
        self.max_batch = max_batch
        """Datagrams read per reader callback at most (the rest wait for the next one)."""
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sink: DatagramSink | None = None
        self._closed = False
        self._dest: dict[Address, Address | None] = {}
        self.local_address: Address = ("", 0)
        self.family = socket.AF_INET
        self.dropped = 0
        """Received datagrams dropped because the receive queue (no sink attached) was full."""
        self.send_dropped = 0
        """Datagrams the kernel refused (full send buffer, unreachable ...)."""
        self.received = 0
        """Datagrams read from the socket."""
        self.batches = 0
        """Reader callbacks that read at least one datagram."""
        self._last: Address | None = None  # the last destination sent to, and as sent
        self._last_dest: Address = ("", 0)

    @classmethod
    async def bind(
        cls,
        host: str,
        port: int = PANA_PORT,
        *,
        queue_limit: int = 1024,
        reuse_port: bool = False,
        receive_buffer: int | None = None,
        max_batch: int = 4096,
    ) -> UdpTransport:
        """Bind UDP on ``host`` (an IPv4 or IPv6 literal) and ``port`` (0: any free port).

        ``reuse_port`` sets SO_REUSEPORT (several workers on one port); ``receive_buffer`` asks
        for that SO_RCVBUF (beyond net.core.rmem_max only with CAP_NET_ADMIN).
        """
        ip = ipaddress.ip_address(host)  # ValueError for names: resolving could block
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if receive_buffer is not None:
                set_receive_buffer(sock, receive_buffer)
            sock.bind((ip.compressed, port))
        except BaseException:
            sock.close()
            raise
        return cls.from_socket(sock, queue_limit=queue_limit, max_batch=max_batch)

    @classmethod
    def from_socket(
        cls, sock: socket.socket, *, queue_limit: int = 1024, max_batch: int = 4096
    ) -> UdpTransport:
        """Take over a bound UDP socket (made non-blocking); call with a running loop."""
        self = cls(queue_limit, max_batch=max_batch)
        sock.setblocking(False)
        self._sock = sock
        self.family = socket.AddressFamily(sock.family)
        sockname = sock.getsockname()
        self.local_address = (str(sockname[0]), int(sockname[1]))
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._read_ready)
        logger.debug("udp: bound %s", format_address(self.local_address))
        return self

    @property
    def socket(self) -> socket.socket | None:
        """The underlying socket (None once closed)."""
        return self._sock

    # ---- sending -------------------------------------------------------------------------------

    def _plain(self, addr: Address) -> Address | None:
        """``addr`` ready for the kernel without a cache: an IP literal (IPv4 mapped on IPv6)."""
        host, port = addr
        if type(host) is not str or type(port) is not int:
            return None
        try:
            socket.inet_pton(self.family, host)  # a literal: never a name to resolve
            return addr
        except OSError:
            pass
        if self.family == socket.AF_INET6:
            try:
                socket.inet_pton(socket.AF_INET, host)
            except OSError:
                return None
            return ("::ffff:" + host, port)  # IPv4-mapped (RFC 4291 s2.5.5.2)
        return None

    def _destination(self, addr: Address) -> Address | None:
        host, port = addr
        ip = ipaddress.ip_address(host)  # ValueError for names: resolving here could block
        if self.family == socket.AF_INET6 and ip.version == 4:
            return ("::ffff:" + ip.compressed, int(port))  # IPv4-mapped (RFC 4291 s2.5.5.2)
        if self.family == socket.AF_INET and ip.version == 6:
            return None
        return (host, int(port))

    def sendto(self, data: bytes, addr: Address) -> None:
        """Send one datagram to ``addr`` (IP literal, port); dropped when closed or unsendable."""
        sock = self._sock
        if sock is None:
            logger.debug("udp: send on closed transport dropped")
            return
        if addr == self._last:  # the same peer again (one entry: no state per destination)
            dest = self._last_dest
        else:
            checked = self._plain(addr)
            if checked is None:
                try:
                    checked = self._dest[addr]
                except KeyError:
                    checked = self._destination(addr)  # ValueError for a name: could block
                    if len(self._dest) >= _DEST_CACHE_LIMIT:
                        self._dest.clear()
                    self._dest[addr] = checked
            if checked is None:
                logger.debug("udp: IPv6 destination %s on an IPv4 socket dropped", addr[0])
                return
            dest = checked
            self._last, self._last_dest = addr, dest
        try:
            sock.sendto(data, dest)
        except OSError as exc:  # EAGAIN (full buffer), unreachable ...: UDP may drop
            self.send_dropped += 1
            logger.debug("udp: send to %s dropped: %s", addr, exc)

    # ---- receiving -----------------------------------------------------------------------------

    def _source(self, addr: tuple[Any, ...]) -> Address:
        host = str(addr[0])
        if host.startswith("::ffff:") and "." in host:
            return (host[7:], int(addr[1]))  # report IPv4-mapped sources as plain IPv4
        return (_with_zone(host, addr), int(addr[1]))

    def _read_ready(self) -> None:
        sock = self._sock
        if sock is None:
            return
        recv = sock.recvfrom
        v4 = self.family == socket.AF_INET
        batch: list[tuple[bytes, Address]] = []
        for _ in range(self.max_batch):
            try:
                data, addr = recv(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # an ICMP error reported on the socket: UDP is unreliable
                logger.debug("udp: %s", exc)
                break
            batch.append((data, addr if v4 else self._source(addr)))
        if not batch:
            return
        self.received += len(batch)
        self.batches += 1
        sink = self._sink
        if sink is not None:
            sink.receive_batch(batch)
        else:
            self._enqueue(batch)

    def _enqueue(self, batch: Sequence[tuple[bytes, Address]]) -> None:
        for item in batch:
            if self._queue.qsize() >= self._queue_limit:
                self.dropped += 1
                logger.debug("udp: receive queue full, %d octets dropped", len(item[0]))
                continue
            self._queue.put_nowait(item)

    def attach(self, sink: DatagramSink) -> None:
        """Hand every later datagram to ``sink`` from the reader callback (PushTransport)."""
        self._sink = sink
        queued: list[tuple[bytes, Address]] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                self._queue.put_nowait(None)
                break
            queued.append(item)
        if queued:
            sink.receive_batch(queued)
        if self._closed:
            sink.transport_closed()

    def detach(self) -> None:
        """Queue datagrams for recvfrom() again."""
        self._sink = None

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
        """Close the socket and wake any recvfrom() waiter (or tell the sink)."""
        if self._closed:
            return
        self._closed = True
        sock, self._sock = self._sock, None
        if sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._queue.put_nowait(None)
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.transport_closed()


def set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Ask for a SO_RCVBUF of ``size`` octets (forced past rmem_max when privileged); the result."""
    try:
        if not sys.platform.startswith("linux"):
            raise PermissionError
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))

"""A RADIUS client shared by every EAP conversation of a PAA: few sockets, requests told apart by
Identifier (RFC 2865 s3), retransmissions on timers (s2.5), nothing per request but one object.

``request(build, done)`` is the callback form: the socket's reader hands the verified reply to
``done`` in the event-loop iteration that read it (no task, no future); ``transact()`` is the
coroutine form built on it. Every RADIUS reply the library reads goes through ``_Socket``: a
``RadiusPassThrough`` without a shared client makes a client of its own per Access-Request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from pana_codecs.errors import CodecError

from .._radius_codec import AuthenticatorMismatch, RadiusPacket, verify_response
from ..keys import Secret

__all__ = [
    "Answered",
    "DatagramLink",
    "LinkFactory",
    "RadiusClient",
    "RadiusClientStats",
    "RadiusError",
    "RadiusRequest",
]

logger = logging.getLogger(__name__)

IDENTIFIERS = 256
"""Access-Requests one socket can have outstanding: the Identifier is one octet (RFC 2865 s3)."""
_MAX_PACKET = 4096
"""The largest RADIUS packet (RFC 2865 s3): octets of a datagram beyond it can only be padding."""
_MAX_BATCH = 256
"""Datagrams one socket reads per wake-up."""

Build = Callable[[int], tuple[bytes, bytes]]
"""Identifier -> (signed Access-Request, its Request Authenticator)."""

Answered = Callable[["RadiusPacket | RadiusError", bytes], None]
"""done(the verified reply or the RadiusError, the Request Authenticator of the request)."""


class RadiusError(Exception):
    """The RADIUS server gave no usable answer (unreachable, or every reply failed its checks)."""


class DatagramLink(Protocol):
    """An unreliable datagram socket toward the server; ``pana_mpa.aio.Transport`` fits."""

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        """Send one datagram; never blocks, may drop."""
        ...

    async def recvfrom(self) -> tuple[bytes, tuple[str, int]]:
        """The next datagram and its source."""
        ...

    def close(self) -> None:
        """Release the socket."""
        ...


LinkFactory = Callable[[], Awaitable[DatagramLink]]
"""Opens a link in place of a kernel socket (tests, virtual networks): ``RadiusClient(link=)``."""


@dataclass
class RadiusClientStats:
    """Counters of a RadiusClient since it was made."""

    requests: int = 0
    retransmissions: int = 0
    sockets: int = 0
    unmatched_replies: int = 0
    """Replies whose Identifier belonged to no outstanding request (late or stray)."""


class RadiusRequest:
    """One Access-Request of ``RadiusClient.request()`` until its ``done`` is called."""

    __slots__ = (
        "_build",
        "_opening",
        "bad_auth",
        "data",
        "done",
        "identifier",
        "last_problem",
        "malformed",
        "request_auth",
        "sock",
        "stale",
        "timer",
        "tries_left",
    )

    def __init__(self, done: Answered, tries_left: int) -> None:
        self.done: Answered | None = done
        self.tries_left = tries_left
        self.sock: _Socket | None = None
        self.identifier = -1
        self.data = b""
        self.request_auth = b""
        self.timer: asyncio.TimerHandle | None = None
        # replies that arrived but were dropped, by reason: the final error names them, so a
        # server that answers wrongly is not reported as a server that does not answer
        self.malformed = self.bad_auth = 0
        self.stale = 0  # its socket's count of unmatched replies when it was sent (_post)
        self.last_problem = ""
        self._build: Build | None = None
        self._opening: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        """True once ``done`` was called, or the request was cancelled."""
        return self.done is None

    def cancel(self) -> None:
        """Withdraw the request: ``done`` is never called, its Identifier is free again."""
        self.done = None
        if self._opening is not None:
            self._opening.cancel()
            self._opening = None
        _forget(self)


def _forget(req: RadiusRequest) -> None:
    """Stop the request's timer and give its Identifier back (round robin: reused last)."""
    if req.timer is not None:
        req.timer.cancel()
        req.timer = None
    sock = req.sock
    if sock is not None:
        req.sock = None
        if sock.pending.get(req.identifier) is req:
            del sock.pending[req.identifier]
            sock.free.append(req.identifier)


def _finish(req: RadiusRequest, result: RadiusPacket | RadiusError) -> None:
    """Hand the request its outcome (once), after freeing what it held."""
    done = req.done
    if done is None:
        return
    req.done = None
    _forget(req)
    try:
        done(result, req.request_auth)
    except Exception:  # the caller's bug must not break the socket reader or a timer
        logger.exception("RADIUS answer callback failed")


class _Socket:
    """One connected UDP socket and the requests outstanding on it, by Identifier.

    Read by its own reader callback, not an asyncio datagram transport: CPython's transport
    receives into a 256 KiB buffer per datagram (an mmap, mremap and munmap each time); a RADIUS
    packet is at most 4,096 octets (RFC 2865 s3).
    """

    def __init__(
        self, client: RadiusClient, sock: socket.socket | None, first_identifier: int
    ) -> None:
        self.client = client
        self.sock: socket.socket | None = sock
        self.pending: dict[int, RadiusRequest] = {}
        # identifiers in round-robin order: the one just freed is reused last, so a late
        # reply to it almost never meets a new request (and would fail its authenticator)
        self.free = deque((first_identifier + i) & 0xFF for i in range(IDENTIFIERS))
        self.error: Exception | None = None
        self.stale = 0  # replies that matched no outstanding request
        self.loop = asyncio.get_running_loop()
        if sock is not None:  # None: a _LinkSocket, read by its task
            self.loop.add_reader(sock.fileno(), self._read_ready)

    @property
    def open(self) -> bool:
        """False once closed."""
        return self.sock is not None

    def last_error(self) -> object:
        """The last error the socket reported (ICMP port unreachable...), or None."""
        return self.error

    def send(self, data: bytes) -> None:
        """Send one datagram; a full buffer or an ICMP error loses it (the timer retries)."""
        if self.sock is None:
            return
        try:
            self.sock.send(data)  # connected: the kernel only talks to the server
        except (BlockingIOError, InterruptedError):
            logger.debug("RADIUS socket buffer full: the Access-Request waits for its retry")
        except OSError as exc:  # e.g. ICMP port unreachable reported on this socket
            self.error = exc

    def _read_ready(self) -> None:
        sock = self.sock
        if sock is None:
            return
        for _ in range(_MAX_BATCH):  # bounded: the loop's other readers get their turn
            try:
                data = sock.recv(_MAX_PACKET)  # the rest of a longer datagram: padding, dropped
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ICMP port unreachable and similar: named on give-up
                self.error = exc
                continue
            self.datagram_received(data)
            if self.sock is None:  # a reply's callback closed the client
                return

    def datagram_received(self, data: bytes) -> None:
        """Check one datagram from the server and hand it to its request (or drop it)."""
        # connected: the kernel delivers only the server's datagrams
        pending = self.pending.get(data[1]) if len(data) >= 2 else None
        if pending is None:
            self.client.stats.unmatched_replies += 1
            # it could have been meant for any request outstanding here: each one tells, when
            # it gives up, how many came meanwhile (one counter, not a write per request)
            self.stale += 1
            logger.debug("dropping a RADIUS reply for no outstanding request")
            return
        if len(data) < 20:
            pending.malformed += 1
            pending.last_problem = f"a reply of {len(data)} octets"
            return
        # Anyone can spoof the server's address: WARNING for the first bad reply of each kind
        # per request, DEBUG for the rest (they are counted, and named if the request fails).
        try:
            reply = verify_response(data, pending.request_auth, self.client.secret)
        except AuthenticatorMismatch as exc:
            pending.bad_auth += 1
            level = logging.WARNING if pending.bad_auth == 1 else logging.DEBUG
            logger.log(level, "dropping RADIUS reply from %s:%d: %s", *self.client.server, exc)
            return
        except CodecError as exc:
            pending.malformed += 1
            pending.last_problem = str(exc)
            level = logging.WARNING if pending.malformed == 1 else logging.DEBUG
            logger.log(
                level, "dropping malformed RADIUS reply from %s:%d: %s", *self.client.server, exc
            )
            return
        _finish(pending, reply)  # straight to the conversation, in this loop iteration

    def close(self) -> None:
        """Stop reading and close the socket."""
        sock, self.sock = self.sock, None
        if sock is not None:
            self.loop.remove_reader(sock.fileno())
            sock.close()


class _LinkSocket(_Socket):
    """A ``DatagramLink`` in place of the kernel socket (tests, virtual networks): read by a
    task, each datagram checked by ``_Socket.datagram_received`` like the kernel socket's."""

    def __init__(self, client: RadiusClient, link: DatagramLink, first_identifier: int) -> None:
        super().__init__(client, None, first_identifier)
        self.link: DatagramLink | None = link
        self._link = link  # kept after close, for its error
        self._reader = self.loop.create_task(self._read(link))

    @property
    def open(self) -> bool:
        """False once closed."""
        return self.link is not None

    def last_error(self) -> object:
        """The link's error (``error`` attribute, ICMP port unreachable...) or the reader's."""
        return getattr(self._link, "error", None) or self.error

    def send(self, data: bytes) -> None:
        """Send one datagram toward the server; the link may drop it (the timer retries)."""
        if self.link is not None:
            self.link.sendto(data, self.client.server)

    async def _read(self, link: DatagramLink) -> None:
        server = self.client.server
        while self.link is link:
            try:
                data, addr = await link.recvfrom()
            except Exception as exc:  # the link closed or failed: named if a request gives up
                self.error = exc
                return
            if not _same_host(addr, server):  # a link need not be connected to the server
                logger.debug("dropping a datagram from %s, not the RADIUS server", addr[0])
                continue
            self.datagram_received(data[:_MAX_PACKET])  # beyond: padding (RFC 2865 s3)

    def close(self) -> None:
        """Stop reading and close the link."""
        link, self.link = self.link, None
        if link is not None:
            self._reader.cancel()
            link.close()


def _same_host(addr: tuple[str, int], server: tuple[str, int]) -> bool:
    """True when ``addr`` is the server's address and port (an IPv4-mapped one too)."""
    if addr[1] != server[1]:
        return False
    try:
        a, b = ipaddress.ip_address(addr[0]), ipaddress.ip_address(server[0])
    except ValueError:
        return addr[0] == server[0]
    if a.version == 6 and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    return a == b


async def _connected(server: tuple[str, int], bind: tuple[str, int] | None) -> socket.socket:
    """A non-blocking UDP socket connected to ``server`` (names resolved without blocking)."""
    loop = asyncio.get_running_loop()
    try:  # an IP literal needs no resolver thread (a socket per request without a shared client)
        infos = socket.getaddrinfo(
            server[0], server[1], type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST
        )
    except socket.gaierror:
        infos = await loop.getaddrinfo(server[0], server[1], type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"no address for {server[0]}")
    errors: list[OSError] = []
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            if bind is not None:
                local = await loop.getaddrinfo(
                    bind[0], bind[1], family=family, type=socket.SOCK_DGRAM,
                    flags=socket.AI_PASSIVE,
                )  # fmt: skip
                sock.bind(local[0][4])
            sock.connect(address)  # UDP: sets the peer, never blocks
        except OSError as exc:
            sock.close()
            errors.append(exc)
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise errors[0]


class RadiusClient:
    """Access-Requests of many conversations over shared UDP sockets toward one RADIUS server.

    Each socket carries up to 256 outstanding requests, told apart by Identifier; another socket
    is opened when they are all in use. A PAA makes one and passes it to every
    ``RadiusPassThrough(..., client=...)``; ``close()`` releases the sockets. ``link`` opens
    ``DatagramLink``s instead of kernel sockets (tests, virtual networks).
    """

    def __init__(
        self,
        server: tuple[str, int],
        secret: Secret,
        *,
        timeout: float = 3.0,
        retries: int = 3,
        bind: tuple[str, int] | None = None,
        first_identifier: int = 0,
        link: LinkFactory | None = None,
    ) -> None:
        if timeout <= 0 or retries < 0:
            raise ValueError("RADIUS timeout must be positive and retries not negative")
        self.server = server
        self.secret = secret
        self.timeout = timeout
        self.retries = retries
        self.bind = bind
        self.link = link
        self.stats = RadiusClientStats()
        self._first_identifier = first_identifier & 0xFF
        self._sockets: list[_Socket] = []
        self._waiting: set[RadiusRequest] = set()  # requests waiting for a socket to open
        self._opening = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"RadiusClient(server={self.server!r}, sockets={len(self._sockets)})"

    @property
    def outstanding(self) -> int:
        """Access-Requests waiting for their reply."""
        return sum(len(s.pending) for s in self._sockets) + len(self._waiting)

    def request(self, build: Build, done: Answered) -> RadiusRequest:
        """Send ``build(identifier)`` until a valid reply comes, then call ``done`` once.

        ``done(reply, request_auth)`` gets the verified reply, or the RadiusError when the tries
        run out (RFC 2865 s2.5) or the client closes; it is called from the event loop (the
        socket reader, a timer), never from inside ``request()``. ``cancel()`` on the returned
        request withdraws it. Raise RadiusError at once if the client is closed.
        """
        if self._closed:
            raise RadiusError("the RADIUS client is closed")
        req = RadiusRequest(done, self.retries)
        for sock in self._sockets:
            if sock.free and sock.open:
                self._post(sock, req, build)
                return req
        # no socket with a free Identifier: open one first (once per 256 outstanding)
        req._build = build
        self._waiting.add(req)
        req._opening = asyncio.get_running_loop().create_task(self._open_and_post(req))
        return req

    async def transact(self, build: Build) -> tuple[RadiusPacket, bytes]:
        """Send ``build(identifier)`` until a valid reply comes; the reply and the request's
        Request Authenticator. Raise RadiusError when the tries run out."""
        future: asyncio.Future[tuple[RadiusPacket | RadiusError, bytes]]
        future = asyncio.get_running_loop().create_future()

        def done(result: RadiusPacket | RadiusError, request_auth: bytes) -> None:
            if not future.done():
                future.set_result((result, request_auth))

        req = self.request(build, done)
        try:
            result, request_auth = await future
        except asyncio.CancelledError:
            req.cancel()
            raise
        if isinstance(result, RadiusError):
            raise result
        return result, request_auth

    def _post(self, sock: _Socket, req: RadiusRequest, build: Build) -> None:
        identifier = sock.free.popleft()
        try:
            req.data, req.request_auth = build(identifier)
        except BaseException:
            sock.free.appendleft(identifier)
            raise
        req.sock, req.identifier, req.stale = sock, identifier, sock.stale
        sock.pending[identifier] = req
        self.stats.requests += 1
        self._send(req)

    def _send(self, req: RadiusRequest) -> None:
        sock = req.sock
        if sock is None or not sock.open:
            _finish(req, RadiusError("the RADIUS client socket is closed"))
            return
        sock.send(req.data)  # RFC 2865 s2.5: retries repeat it unchanged
        # the socket's loop, not get_running_loop(): CPython 3.11 checks getpid() each call
        req.timer = sock.loop.call_later(self.timeout, self._expired, req)

    def _expired(self, req: RadiusRequest) -> None:
        req.timer = None
        if req.done is None:
            return
        if req.tries_left > 0:
            req.tries_left -= 1
            self.stats.retransmissions += 1
            logger.debug("retransmitting Access-Request %d to %s:%d", req.identifier, *self.server)
            self._send(req)
            return
        sock = req.sock
        stale = sock.stale - req.stale if sock is not None else 0
        rejected = {"stale": stale, "malformed": req.malformed, "bad_auth": req.bad_auth}
        error = sock.last_error() if sock is not None else None
        message = no_usable_reply(self.server, 1 + self.retries, rejected, req.last_problem, error)
        _finish(req, RadiusError(message))

    async def _open_and_post(self, req: RadiusRequest) -> None:
        try:
            sock = await self._socket()
        except RadiusError as exc:
            self._waiting.discard(req)
            req._opening = None
            _finish(req, exc)
            return
        except BaseException:
            self._waiting.discard(req)
            req._opening = None
            raise
        self._waiting.discard(req)
        req._opening = None
        build, req._build = req._build, None
        if req.done is None or build is None:
            return  # cancelled meanwhile
        try:
            self._post(sock, req, build)
        except Exception as exc:  # the request could not be built
            _finish(req, RadiusError(f"cannot build the Access-Request: {exc}"))

    def _free_socket(self) -> _Socket | None:
        for sock in self._sockets:
            if sock.free and sock.open:
                return sock
        return None

    async def _socket(self) -> _Socket:
        sock = self._free_socket()
        if sock is not None:
            return sock
        async with self._opening:  # one socket at a time: the others wait and share it
            sock = self._free_socket()
            if sock is not None:
                return sock
            if self.bind is not None and self.bind[1] and self._sockets:
                raise RadiusError(
                    f"{IDENTIFIERS} Access-Requests outstanding on the one bound port"
                )
            first = (self._first_identifier + 97 * len(self._sockets)) & 0xFF
            sock = await self._open(first)
            if self._closed:  # closed while the socket was being made
                sock.close()
                raise RadiusError("the RADIUS client is closed")
            self._sockets.append(sock)
            self.stats.sockets += 1
            return sock

    async def _open(self, first_identifier: int) -> _Socket:
        """A new socket toward the server (a link's, when ``link`` was given)."""
        host, port = self.server[:2]
        if self.link is not None:
            try:
                link = await self.link()
            except Exception as exc:  # whatever the factory raises ends the request
                raise RadiusError(
                    f"cannot open a link toward RADIUS server {host}:{port}: {exc}"
                ) from exc
            return _LinkSocket(self, link, first_identifier)
        try:
            raw = await _connected(self.server, self.bind)
        except OSError as exc:  # out of descriptors, no route, no such local address
            raise RadiusError(
                f"cannot open a socket toward RADIUS server {host}:{port}: {exc}"
            ) from exc
        return _Socket(self, raw, first_identifier)

    def close(self) -> None:
        """Fail every outstanding request and release the sockets."""
        self._closed = True
        for req in list(self._waiting):
            if req._opening is not None:
                req._opening.cancel()
                req._opening = None
            _finish(req, RadiusError("the RADIUS client was closed"))
        self._waiting.clear()
        for sock in self._sockets:
            for req in list(sock.pending.values()):
                _finish(req, RadiusError("the RADIUS client was closed"))
            sock.close()
        self._sockets.clear()


def no_usable_reply(
    server: tuple[str, int],
    tries: int,
    rejected: dict[str, int],
    last_problem: str,
    error: object,
) -> str:
    """Why no reply was usable: the rejected replies by kind, or silence (RadiusError text)."""
    where = f"RADIUS server {server[0]}:{server[1]} after {tries} tries"
    kinds = []
    if rejected["bad_auth"]:
        kinds.append(
            f"{rejected['bad_auth']} replies failed the authenticator checks"
            " (shared secret mismatch?)"
        )
    if rejected["malformed"]:
        kinds.append(f"{rejected['malformed']} replies were malformed ({last_problem})")
    if rejected["stale"]:
        kinds.append(
            f"{rejected['stale']} replies had another Identifier than the Access-Request's"
        )
    if kinds:
        return f"no valid reply from {where}: " + "; ".join(kinds)
    hint = f": {error}" if error is not None else ""
    # Servers silently drop requests whose Message-Authenticator fails (RFC 3579 s3.2),
    # so a wrong secret looks like silence from this side.
    return f"no reply from {where}{hint} (server down or unreachable, or shared secret mismatch?)"

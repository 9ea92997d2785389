"""A RADIUS client shared by every EAP conversation of a PAA: few sockets, requests told apart by
Identifier (RFC 2865 s3), retransmissions on timers (s2.5), nothing per request but a future."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from pana_codecs.errors import CodecError

from .._radius_codec import AuthenticatorMismatch, RadiusPacket, verify_response
from ..keys import Secret

__all__ = ["RadiusClient", "RadiusClientStats", "RadiusError"]

logger = logging.getLogger(__name__)

IDENTIFIERS = 256
"""Access-Requests one socket can have outstanding: the Identifier is one octet (RFC 2865 s3)."""

Build = Callable[[int], tuple[bytes, bytes]]
"""Identifier -> (signed Access-Request, its Request Authenticator)."""


class RadiusError(Exception):
    """The RADIUS server gave no usable answer (unreachable, or every reply failed its checks)."""


@dataclass
class RadiusClientStats:
    """Counters of a RadiusClient since it was made."""

    requests: int = 0
    retransmissions: int = 0
    sockets: int = 0
    unmatched_replies: int = 0
    """Replies whose Identifier belonged to no outstanding request (late or stray)."""


@dataclass(eq=False)
class _Pending:
    data: bytes
    request_auth: bytes
    future: asyncio.Future[RadiusPacket]
    tries_left: int
    timer: asyncio.TimerHandle | None = None
    rejected: dict[str, int] = field(
        default_factory=lambda: {"stale": 0, "malformed": 0, "bad_auth": 0}
    )
    last_problem: str = ""


class _Socket(asyncio.DatagramProtocol):
    """One connected UDP socket and the requests outstanding on it, by Identifier."""

    def __init__(self, client: RadiusClient, first_identifier: int) -> None:
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, _Pending] = {}
        # identifiers in round-robin order: the one just freed is reused last, so a late
        # reply to it almost never meets a new request (and would fail its authenticator)
        self.free = deque((first_identifier + i) & 0xFF for i in range(IDENTIFIERS))
        self.error: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's own UDP transport does not subclass DatagramTransport (CPython 3.11)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def error_received(self, exc: Exception) -> None:
        self.error = exc  # ICMP port unreachable and similar: named when a request gives up

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # connected: the kernel delivers only the server's datagrams
        pending = self.pending.get(data[1]) if len(data) >= 2 else None
        if pending is None:
            self.client.stats.unmatched_replies += 1
            for other in self.pending.values():
                other.rejected["stale"] += 1  # it could have been meant for any of them
            logger.debug("dropping a RADIUS reply for no outstanding request")
            return
        if len(data) < 20:
            pending.rejected["malformed"] += 1
            pending.last_problem = f"a reply of {len(data)} octets"
            return
        try:
            reply = verify_response(data, pending.request_auth, self.client.secret)
        except AuthenticatorMismatch as exc:
            pending.rejected["bad_auth"] += 1
            logger.warning("dropping RADIUS reply from %s:%d: %s", *self.client.server, exc)
            return
        except CodecError as exc:
            pending.rejected["malformed"] += 1
            pending.last_problem = str(exc)
            logger.warning(
                "dropping malformed RADIUS reply from %s:%d: %s", *self.client.server, exc
            )
            return
        if not pending.future.done():
            pending.future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class RadiusClient:
    """Access-Requests of many conversations over shared UDP sockets toward one RADIUS server.

    Each socket carries up to 256 outstanding requests, told apart by Identifier; another socket
    is opened when they are all in use. A PAA makes one and passes it to every
    ``RadiusPassThrough(..., client=...)``; ``close()`` releases the sockets.
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
    ) -> None:
        if timeout <= 0 or retries < 0:
            raise ValueError("RADIUS timeout must be positive and retries not negative")
        self.server = server
        self.secret = secret
        self.timeout = timeout
        self.retries = retries
        self.bind = bind
        self.stats = RadiusClientStats()
        self._first_identifier = first_identifier & 0xFF
        self._sockets: list[_Socket] = []
        self._opening = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"RadiusClient(server={self.server!r}, sockets={len(self._sockets)})"

    @property
    def outstanding(self) -> int:
        """Access-Requests waiting for their reply."""
        return sum(len(s.pending) for s in self._sockets)

    async def transact(self, build: Build) -> tuple[RadiusPacket, bytes]:
        """Send ``build(identifier)`` until a valid reply comes; the reply and the request's
        Request Authenticator. Raise RadiusError when the tries run out."""
        if self._closed:
            raise RadiusError("the RADIUS client is closed")
        sock = await self._socket()
        identifier = sock.free.popleft()
        loop = asyncio.get_running_loop()
        try:
            data, request_auth = build(identifier)
            pending = _Pending(data, request_auth, loop.create_future(), self.retries)
            sock.pending[identifier] = pending
            self.stats.requests += 1
            self._send(sock, pending, loop)
            return await pending.future, request_auth
        finally:
            done = sock.pending.pop(identifier, None)
            if done is not None and done.timer is not None:
                done.timer.cancel()
            sock.free.append(identifier)

    def _send(self, sock: _Socket, pending: _Pending, loop: asyncio.AbstractEventLoop) -> None:
        if sock.transport is None:
            pending.future.set_exception(RadiusError("the RADIUS client socket is closed"))
            return
        sock.transport.sendto(pending.data)  # RFC 2865 s2.5: retries repeat it unchanged
        pending.timer = loop.call_later(self.timeout, self._expired, sock, pending, loop)

    def _expired(self, sock: _Socket, pending: _Pending, loop: asyncio.AbstractEventLoop) -> None:
        if pending.future.done():
            return
        if pending.tries_left > 0:
            pending.tries_left -= 1
            self.stats.retransmissions += 1
            logger.debug("retransmitting Access-Request %d to %s:%d", pending.data[1], *self.server)
            self._send(sock, pending, loop)
            return
        pending.future.set_exception(
            RadiusError(
                no_usable_reply(
                    self.server,
                    1 + self.retries,
                    pending.rejected,
                    pending.last_problem,
                    sock.error,
                )
            )
        )

    def _free_socket(self) -> _Socket | None:
        for sock in self._sockets:
            if sock.free and sock.transport is not None:
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
            loop = asyncio.get_running_loop()
            first = (self._first_identifier + 97 * len(self._sockets)) & 0xFF
            _, sock = await loop.create_datagram_endpoint(
                lambda: _Socket(self, first), remote_addr=self.server, local_addr=self.bind
            )
            if self._closed:  # closed while the socket was being made
                assert sock.transport is not None
                sock.transport.close()
                raise RadiusError("the RADIUS client is closed")
            self._sockets.append(sock)
            self.stats.sockets += 1
            return sock

    def close(self) -> None:
        """Fail every outstanding request and release the sockets."""
        self._closed = True
        for sock in self._sockets:
            for pending in sock.pending.values():
                if pending.timer is not None:
                    pending.timer.cancel()
                if not pending.future.done():
                    pending.future.set_exception(RadiusError("the RADIUS client was closed"))
            if sock.transport is not None:
                sock.transport.close()
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

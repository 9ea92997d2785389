"""RadiusClient: many conversations over few sockets, told apart by Identifier (RFC 2865 s3)."""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import pytest
import pytest_asyncio

from eap._radius_codec import (
    RadiusCode,
    decode_radius,
    sign_request,
    sign_response,
)
from eap.aaa import client as client_module
from eap.aaa.client import RadiusClient, RadiusError
from eap.keys import Secret

pytestmark = [pytest.mark.udp, pytest.mark.asyncio]

SECRET = b"client-test-secret"


class _Server(asyncio.DatagramProtocol):
    """Answers each Access-Request with an Access-Accept, after ``hold`` requests are in."""

    def __init__(self, hold: int = 0, answer: bool = True) -> None:
        self.hold = hold
        self.answer = answer
        self.requests: list[tuple[bytes, tuple[str, int]]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests.append((data, addr))
        if self.answer and len(self.requests) >= self.hold:
            held, self.hold = self.requests if self.hold else [(data, addr)], 0
            for request, source in held:
                self.reply(request, source)

    def reply(
        self,
        request: bytes,
        addr: tuple[str, int],
        code: int = RadiusCode.ACCESS_ACCEPT,
        secret: bytes = SECRET,
        padding: bytes = b"",
    ) -> None:
        """Answer ``request`` signed with ``secret``, ``padding`` after the packet."""
        req = decode_radius(request)
        reply = sign_response(code, req.identifier, req.authenticator, [], secret)
        assert self.transport is not None
        self.transport.sendto(reply + padding, addr)


Start = Callable[..., Awaitable[tuple[_Server, tuple[str, int]]]]


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Start]:
    """Factory: start a server on a free loopback port; all are closed afterwards."""
    loop = asyncio.get_running_loop()
    made: list[asyncio.BaseTransport] = []

    async def start(hold: int = 0, answer: bool = True) -> tuple[_Server, tuple[str, int]]:
        proto = _Server(hold, answer)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: proto, local_addr=("127.0.0.1", 0)
        )
        made.append(transport)
        # room for a burst of 300 requests sent in one loop iteration (~256 fit by default)
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        host, port = transport.get_extra_info("sockname")[:2]
        return proto, (host, port)

    try:
        yield start
    finally:
        for transport in made:
            transport.close()


async def _first_request(proto: _Server) -> tuple[bytes, tuple[str, int]]:
    """The first Access-Request the server got (waiting up to a second) and its source."""
    for _ in range(200):
        if proto.requests:
            break
        await asyncio.sleep(0.005)
    return proto.requests[0]


def _build(identifier: int) -> tuple[bytes, bytes]:
    auth = os.urandom(16)
    return sign_request(RadiusCode.ACCESS_REQUEST, identifier, auth, [], Secret(SECRET)), auth


async def test_300_outstanding_requests_share_two_sockets(server: Start) -> None:
    # the server answers only once all 300 are in: 256 fit one socket, the rest open a second
    proto, address = await server(hold=300)
    client = RadiusClient(address, Secret(SECRET), timeout=5.0)
    try:
        replies = await asyncio.gather(*(client.transact(_build) for _ in range(300)))
    finally:
        client.close()
    assert all(reply.code == RadiusCode.ACCESS_ACCEPT for reply, _ in replies)
    assert client.stats.sockets == 2
    assert client.stats.requests == 300
    assert client.stats.retransmissions == 0
    sources = {addr for _, addr in proto.requests}
    assert len(sources) == 2
    per_socket = {src: {data[1] for data, addr in proto.requests if addr == src} for src in sources}
    assert sorted(len(ids) for ids in per_socket.values()) == [44, 256]


async def test_sequential_requests_reuse_one_socket(server: Start) -> None:
    proto, address = await server()
    client = RadiusClient(address, Secret(SECRET))
    try:
        for _ in range(600):  # more than 256: identifiers come back when requests finish
            reply, _ = await client.transact(_build)
            assert reply.code == RadiusCode.ACCESS_ACCEPT
    finally:
        client.close()
    assert client.stats.sockets == 1
    assert client.outstanding == 0
    identifiers = [data[1] for data, _ in proto.requests]
    assert len(set(identifiers[:256])) == 256  # round robin: no reuse before all were used


async def _gives_up(address: tuple[str, int], match: str, *, retries: int) -> RadiusClient:
    """A client (50 ms timer) whose one request ends in a RadiusError matching ``match``; closed."""
    client = RadiusClient(address, Secret(SECRET), timeout=0.05, retries=retries)
    try:
        with pytest.raises(RadiusError, match=match):
            await client.transact(_build)
    finally:
        client.close()
    return client


async def test_silence_gives_up_after_the_retries(server: Start) -> None:
    proto, address = await server(answer=False)
    client = await _gives_up(address, r"no reply from RADIUS server .* after 3 tries", retries=2)
    assert len(proto.requests) == 3
    assert len({data for data, _ in proto.requests}) == 1  # RFC 2865 s2.5: repeated unchanged
    assert client.stats.retransmissions == 2
    assert client.outstanding == 0


async def test_a_forged_reply_is_dropped_and_the_genuine_one_taken(server: Start) -> None:
    """A reply with the request's Identifier but the wrong shared secret (an off-path forger
    who guessed the Identifier) is dropped (RFC 2865 s3 Response Authenticator); the request
    still completes with the server's genuine reply."""
    proto, address = await server(answer=False)
    client = RadiusClient(address, Secret(SECRET), timeout=2.0, retries=0)
    try:
        task = asyncio.ensure_future(client.transact(_build))
        request, source = await _first_request(proto)
        proto.reply(request, source, RadiusCode.ACCESS_REJECT, secret=b"not-the-secret")
        proto.reply(request, source)
        reply, _ = await task
    finally:
        client.close()
    assert reply.code == RadiusCode.ACCESS_ACCEPT  # not the forged Access-Reject
    assert client.stats.unmatched_replies == 0 and client.outstanding == 0


async def test_a_late_reply_is_counted_not_matched(server: Start) -> None:
    proto, address = await server()
    client = RadiusClient(address, Secret(SECRET))
    try:
        await client.transact(_build)
        request, source = proto.requests[0]
        proto.reply(request, source)  # the same reply again, after the request finished
        for _ in range(100):
            if client.stats.unmatched_replies:
                break
            await asyncio.sleep(0.01)
    finally:
        client.close()
    assert client.stats.unmatched_replies == 1


async def test_close_fails_what_is_outstanding(server: Start) -> None:
    _, address = await server(answer=False)
    client = RadiusClient(address, Secret(SECRET), timeout=10.0)
    task = asyncio.ensure_future(client.transact(_build))
    while client.outstanding == 0:
        await asyncio.sleep(0.001)
    client.close()
    with pytest.raises(RadiusError, match="closed"):
        await task
    with pytest.raises(RadiusError, match="closed"):
        await client.transact(_build)


async def test_a_cancelled_request_frees_its_identifier(server: Start) -> None:
    _, address = await server(answer=False)
    client = RadiusClient(address, Secret(SECRET), timeout=10.0)
    try:
        task = asyncio.ensure_future(client.transact(_build))
        while client.outstanding == 0:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client.outstanding == 0
    finally:
        client.close()


async def test_the_cli_paa_shares_one_client_across_sessions(server: Start) -> None:
    from eap.aaa.passthrough import RadiusConfig
    from pana_codecs import EapCode, EapPacket, EapType, encode_eap
    from pana_mpa.cli.aaa import RadiusBackends

    proto, address = await server()
    backends = RadiusBackends(RadiusConfig(server=address, secret=Secret(SECRET)), os.urandom)
    try:
        for session_id in range(5):
            backend = backends(session_id)
            start = await backend.exchange(None)  # our own EAP-Request/Identity
            assert start.packet is not None
            identity = EapPacket(EapCode.RESPONSE, start.packet[1], EapType.IDENTITY, b"u%d" % 1)
            out = await backend.exchange(encode_eap(identity))
            assert out.result is not None and out.result.success
            backend.close()  # a session's end leaves the shared sockets open
    finally:
        backends.close()
    assert backends.client.stats.sockets == 1
    assert len({addr for _, addr in proto.requests}) == 1
    assert backends.client.stats.requests == 5


async def test_a_socket_that_cannot_be_opened_fails_the_request(
    server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Descriptors exhausted (many sessions each with an Access-Request outstanding) or no route:
    the request gets a RadiusError through ``done``, once, and nothing escapes into the loop.
    Before, the OSError ended the opening task ("Task exception was never retrieved") and
    ``done`` was never called: the session's AAA slot stayed busy until its failure timer."""
    _, address = await server()
    loop = asyncio.get_running_loop()
    escaped: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: escaped.append(context))
    opens = 0

    async def exhausted(*args: object, **kwargs: object) -> object:
        nonlocal opens
        opens += 1
        raise OSError(errno.EMFILE, "Too many open files")

    client = RadiusClient(address, Secret(SECRET), timeout=5.0)
    results: list[object] = []
    try:
        with monkeypatch.context() as patch:
            patch.setattr(client_module, "_connected", exhausted)
            requests = [
                client.request(_build, lambda reply, _auth: results.append(reply)) for _ in range(3)
            ]
            for _ in range(100):
                if len(results) == 3:
                    break
                await asyncio.sleep(0.001)
        gc.collect()  # a failed task's unretrieved exception is reported when it is freed
        await asyncio.sleep(0)
        assert len(results) == 3 and opens == 3
        assert all(isinstance(r, RadiusError) and "cannot open a socket" in str(r) for r in results)
        assert all(req.finished for req in requests)
        assert client.outstanding == 0 and client.stats.sockets == 0
        reply, _ = await client.transact(_build)  # descriptors back: the client works again
        assert reply.code == RadiusCode.ACCESS_ACCEPT
    finally:
        client.close()
        loop.set_exception_handler(None)
    assert escaped == []


async def test_an_unmatched_reply_costs_one_counter_not_a_write_per_request(
    server: Start,
) -> None:
    """100 replies for an Identifier not outstanding (late, or spoofed) while 200 requests are:
    the socket counts them once each (before, every outstanding request was written to, 200
    writes per datagram); each request that then gives up still names all 100."""
    proto, address = await server(answer=False)
    client = RadiusClient(address, Secret(SECRET), timeout=60.0, retries=0, first_identifier=0)
    errors: list[object] = []
    try:
        requests = [
            client.request(_build, lambda reply, _auth: errors.append(reply)) for _ in range(200)
        ]
        while len(proto.requests) < 200:
            await asyncio.sleep(0.001)
        source = proto.requests[0][1]
        unmatched = bytes((RadiusCode.ACCESS_ACCEPT, 250, 0, 20)) + bytes(16)  # 200..255 free
        assert proto.transport is not None
        for _ in range(100):
            proto.transport.sendto(unmatched, source)
        while client.stats.unmatched_replies < 100:
            await asyncio.sleep(0.001)
        assert sum(req.stale for req in requests) == 0  # no request was touched
        for req in requests:
            client._expired(req)  # what each one's timer does when it fires: gives up
    finally:
        client.close()
    assert client.stats.sockets == 1 and len(errors) == 200
    assert all(isinstance(e, RadiusError) for e in errors)
    assert all("100 replies had another Identifier" in str(e) for e in errors)


class _CountingSocket(socket.socket):
    """A socket that records the buffer size of every recv()."""

    sizes: list[int]

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self.sizes.append(bufsize)
        return super().recv(bufsize, flags)


async def test_replies_are_read_with_a_packet_sized_buffer(
    server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each reply is one recv() of at most 4,096 octets (RFC 2865 s3) and one that finds the
    socket empty. asyncio's datagram transport read into 256 KiB per datagram: an mmap, mremap
    and munmap for every RADIUS reply."""
    _, address = await server()
    made: list[_CountingSocket] = []

    async def connected(server: tuple[str, int], bind: object) -> socket.socket:
        sock = _CountingSocket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.sizes = []
        sock.setblocking(False)
        sock.connect(server)
        made.append(sock)
        return sock

    monkeypatch.setattr(client_module, "_connected", connected)
    client = RadiusClient(address, Secret(SECRET))
    try:
        for _ in range(5):
            reply, _ = await client.transact(_build)
            assert reply.code == RadiusCode.ACCESS_ACCEPT
    finally:
        client.close()
    (sock,) = made
    assert max(sock.sizes) <= 4096
    assert len(sock.sizes) == 10  # five replies, five reads that found the socket empty


async def test_padding_beyond_the_length_field_is_ignored(server: Start) -> None:
    """A reply followed by padding, the datagram longer than 4,096 octets: octets beyond the
    Length field are padding (RFC 2865 s3); the reply is taken."""
    proto, address = await server(answer=False)
    client = RadiusClient(address, Secret(SECRET), timeout=2.0, retries=0)
    try:
        task = asyncio.ensure_future(client.transact(_build))
        request, source = await _first_request(proto)
        proto.reply(request, source, padding=bytes(5000))
        answer, _ = await task
    finally:
        client.close()
    assert answer.code == RadiusCode.ACCESS_ACCEPT


async def test_an_unreachable_port_is_named_when_the_request_gives_up() -> None:
    """ICMP port unreachable (nothing listens on the server port) is read from the socket and
    named in the RadiusError; the reader keeps working and nothing escapes into the loop."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()[:2]  # closed again: nothing listens there
    loop = asyncio.get_running_loop()
    escaped: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: escaped.append(context))
    client = await _gives_up(address, r"after 2 tries: .*[Cc]onnection refused", retries=1)
    assert client.outstanding == 0 and not escaped

"""RadiusPassThrough against our RADIUS front and against scripted misbehaving servers."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
import pytest_asyncio

from eap._radius_codec import (
    MICROSOFT,
    Attr,
    MsAttr,
    RadiusCode,
    decode_radius,
    encrypt_mppe_key,
    join_eap,
    sign_response,
    split_eap,
    vendor_attr,
    verify_request,
)
from eap.aaa.passthrough import (
    RadiusClient,
    RadiusConfig,
    RadiusError,
    RadiusPassThrough,
    radius_client,
)
from eap.aaa.server import EapBackend, RadiusServer, RadiusServerCore
from eap.authenticator import AuthOutput
from eap.keys import Secret
from pana_codecs.eap import EapCode, EapPacket, EapType, decode_eap, encode_eap
from tests.eap._radius_helpers import (
    InlineMd5Server,
    identity_response,
    md5_peer_conversation,
    md5_response,
)

pytestmark = [pytest.mark.udp, pytest.mark.asyncio]

SECRET = b"s3cret-for-tests"
PASSWORD = b"md5password"


def _rng(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


@dataclass
class _Front:
    server: RadiusServer
    address: tuple[str, int]
    backends: list[InlineMd5Server] = field(default_factory=list)


@pytest_asyncio.fixture
async def front() -> AsyncIterator[_Front]:
    """Our RADIUS front on a free loopback port, serving inline EAP-MD5 with a fixed MSK."""
    backends: list[InlineMd5Server] = []

    def backend() -> EapBackend:
        b = InlineMd5Server(PASSWORD, msk=bytes(range(64)), pad_request_to=700)
        backends.append(b)
        return b

    core = RadiusServerCore(clients={"127.0.0.1": Secret(SECRET)}, backend=backend, rng=_rng(1))
    server = RadiusServer(core)
    address = await server.start("127.0.0.1", 0)
    try:
        yield _Front(server, address, backends)
    finally:
        server.close()


def _cfg(address: tuple[str, int], secret: bytes = SECRET, **kw: float) -> RadiusConfig:
    return RadiusConfig(
        server=address,
        secret=Secret(secret),
        timeout=kw.get("timeout", 1.0),
        retries=int(kw.get("retries", 2)),
    )


Relay = Callable[..., RadiusPassThrough]


@pytest_asyncio.fixture(params=["own socket per request", "shared RadiusClient"])
async def relay(request: pytest.FixtureRequest) -> AsyncIterator[Relay]:
    """Makes RadiusPassThroughs; in the second mode they share one RadiusClient per test."""
    clients: list[RadiusClient] = []

    def make(config: RadiusConfig, **kw: object) -> RadiusPassThrough:
        if request.param == "own socket per request":
            return RadiusPassThrough(config, **kw)  # type: ignore[arg-type]
        if not clients:
            clients.append(radius_client(config))
        return RadiusPassThrough(config, client=clients[0], **kw)  # type: ignore[arg-type]

    try:
        yield make
    finally:
        for client in clients:
            client.close()


async def test_success_delivers_msk_and_session_id(front: _Front, relay: Relay) -> None:
    async with relay(_cfg(front.address), rng=_rng(2)) as pt:
        final, answers = await md5_peer_conversation(pt, b"md5user", PASSWORD)
        assert pt.done
    assert [a.code for a in answers] == [RadiusCode.ACCESS_CHALLENGE, RadiusCode.ACCESS_ACCEPT]
    assert final.eap is not None and decode_eap(final.eap).code == EapCode.SUCCESS
    assert final.keys is not None
    assert final.keys.msk.reveal() == bytes(range(64))
    assert final.keys.session_id == b"\x04sid"
    assert final.method_type == EapType.MD5_CHALLENGE
    assert front.backends[0].identity == b"md5user"
    # The 700-octet MD5 request travelled in three EAP-Message attributes and came back whole.
    challenge = answers[0].eap
    assert challenge is not None and len(challenge) == 700
    assert challenge == front.backends[0].requests[-1]


async def test_wrong_password_is_rejected(front: _Front, relay: Relay) -> None:
    async with relay(_cfg(front.address), rng=_rng(3)) as pt:
        final, _ = await md5_peer_conversation(pt, b"md5user", b"nope")
    assert final.code == RadiusCode.ACCESS_REJECT
    assert final.keys is None
    assert final.eap is not None and decode_eap(final.eap).code == EapCode.FAILURE


async def test_answer_after_end_and_identifier_mismatch(front: _Front, relay: Relay) -> None:
    async with relay(_cfg(front.address), rng=_rng(5)) as pt:
        first = await pt.answer(identity_response(b"md5user"))
        assert first.eap is not None
        wrong_id = encode_eap(
            EapPacket(EapCode.RESPONSE, (first.eap[1] + 1) & 0xFF, EapType.MD5_CHALLENGE, b"\x00")
        )
        with pytest.raises(RadiusError, match="does not match"):
            await pt.answer(wrong_id)
        with pytest.raises(RadiusError, match="not a Response"):
            await pt.answer(first.eap)
        with pytest.raises(RadiusError, match="not an EAP packet"):
            await pt.answer(b"\x02")
        pt.restart()
        final, _ = await md5_peer_conversation(pt, b"md5user", PASSWORD)
        assert final.code == RadiusCode.ACCESS_ACCEPT
        with pytest.raises(RadiusError, match="already ended"):
            await pt.answer(identity_response(b"md5user"))


# --- scripted servers -------------------------------------------------------------------


class _Scripted(asyncio.DatagramProtocol):
    """A UDP server whose replies come from ``handler(request bytes) -> list of replies``."""

    def __init__(self, handler: Callable[[bytes], list[bytes]]) -> None:
        self.handler = handler
        self.requests: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests.append(data)
        assert self.transport is not None
        for reply in self.handler(data):
            self.transport.sendto(reply, addr)


Handler = Callable[[bytes], list[bytes]]
Start = Callable[[Handler], Awaitable[_Scripted]]


@pytest_asyncio.fixture
async def scripted() -> AsyncIterator[Start]:
    """Factory: start a scripted server on a free loopback port; all are closed afterwards."""
    loop = asyncio.get_running_loop()
    started: list[asyncio.BaseTransport] = []

    async def start(handler: Handler) -> _Scripted:
        proto = _Scripted(handler)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: proto, local_addr=("127.0.0.1", 0)
        )
        started.append(transport)
        return proto

    try:
        yield start
    finally:
        for t in started:
            t.close()


def _addr(proto: _Scripted) -> tuple[str, int]:
    assert proto.transport is not None
    host, port = proto.transport.get_extra_info("sockname")[:2]
    return (host, port)


def _challenge(request: bytes, *, secret: bytes = SECRET, state: bytes = b"st-1") -> bytes:
    req = decode_radius(request)
    eap = encode_eap(EapPacket(EapCode.REQUEST, 42, EapType.MD5_CHALLENGE, b"\x01x"))
    attrs = [*split_eap(eap), (Attr.STATE, state)]
    return sign_response(
        RadiusCode.ACCESS_CHALLENGE, req.identifier, req.authenticator, attrs, secret
    )


async def test_request_attributes_and_state_echo(scripted: Start, relay: Relay) -> None:
    def handler(data: bytes) -> list[bytes]:
        return [_challenge(data, state=b"state-%d" % len(proto.requests))]

    proto: _Scripted = await scripted(handler)
    cfg = RadiusConfig(
        server=_addr(proto),
        secret=Secret(SECRET),
        nas_ip_address="192.0.2.1",
        calling_station_id=b"02-00-00-00-00-01",
        timeout=1.0,
    )
    async with relay(cfg, rng=_rng(6)) as pt:
        await pt.answer(identity_response(b"alice", identifier=3))
        resp = encode_eap(EapPacket(EapCode.RESPONSE, 42, EapType.MD5_CHALLENGE, b"\x00"))
        await pt.answer(resp)
    first, second = (verify_request(r, SECRET) for r in proto.requests)
    assert first.get(Attr.USER_NAME) == b"alice" == second.get(Attr.USER_NAME)
    assert first.get(Attr.NAS_IP_ADDRESS) == bytes([192, 0, 2, 1])
    assert first.get(Attr.NAS_IDENTIFIER) == b"pana-mpa"
    assert first.get(Attr.FRAMED_MTU) == (1400).to_bytes(4, "big")
    assert first.get(Attr.CALLING_STATION_ID) == b"02-00-00-00-00-01"
    assert first.get(Attr.STATE) is None
    assert second.get(Attr.STATE) == b"state-1"  # echoed unchanged (RFC 2865 s5.24)
    assert join_eap(second) == resp
    assert first.identifier != second.identifier
    assert first.authenticator != second.authenticator


async def test_nas_ipv6_address(scripted: Start, relay: Relay) -> None:
    proto: _Scripted = await scripted(lambda d: [_challenge(d)])
    cfg = RadiusConfig(server=_addr(proto), secret=Secret(SECRET), nas_ip_address="2001:db8::1")
    async with relay(cfg, rng=_rng(14)) as pt:
        await pt.answer(identity_response(b"ivan"))
    req = decode_radius(proto.requests[0])
    assert req.get(Attr.NAS_IPV6_ADDRESS) == bytes.fromhex("20010db8" + "00" * 11 + "01")
    assert req.get(Attr.NAS_IP_ADDRESS) is None


async def test_eap_start_sends_an_empty_eap_message(scripted: Start, relay: Relay) -> None:
    proto: _Scripted = await scripted(lambda d: [_challenge(d)])
    async with relay(_cfg(_addr(proto)), rng=_rng(7)) as pt:
        answer = await pt.answer(None)
    assert answer.code == RadiusCode.ACCESS_CHALLENGE
    req = decode_radius(proto.requests[0])
    assert req.all(Attr.EAP_MESSAGE) == [b""]


async def test_stale_and_forged_replies_are_dropped(scripted: Start, relay: Relay) -> None:
    def handler(data: bytes) -> list[bytes]:
        req = decode_radius(data)
        other_id = sign_response(
            RadiusCode.ACCESS_ACCEPT, (req.identifier + 1) & 0xFF, req.authenticator, [], SECRET
        )
        no_ma = bytearray(_challenge(data))
        return [other_id, b"\x0b\x00", bytes(no_ma[:-18]), _challenge(data)]

    proto: _Scripted = await scripted(handler)
    async with relay(_cfg(_addr(proto)), rng=_rng(10)) as pt:
        answer = await pt.answer(identity_response(b"dave"))
    assert answer.code == RadiusCode.ACCESS_CHALLENGE
    assert len(proto.requests) == 1


async def test_a_spoofed_reply_flood_is_counted_not_logged_per_datagram(
    scripted: Start, relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    """80 replies with the request's Identifier, forged (wrong secret) or malformed, as an
    off-path attacker spoofing the server's address sends them: one WARNING per kind, the rest
    DEBUG; the genuine reply still wins. Before, every datagram wrote a WARNING line."""

    def handler(data: bytes) -> list[bytes]:
        req = decode_radius(data)
        forged = _challenge(data, secret=b"not-the-secret")
        malformed = bytes((RadiusCode.ACCESS_CHALLENGE, req.identifier, 0, 0)) + bytes(16)
        return [forged] * 40 + [malformed] * 40 + [_challenge(data)]

    proto: _Scripted = await scripted(handler)
    with caplog.at_level(logging.DEBUG, logger="eap.aaa"):
        async with relay(_cfg(_addr(proto)), rng=_rng(15)) as pt:
            answer = await pt.answer(identity_response(b"ivan"))
    assert answer.code == RadiusCode.ACCESS_CHALLENGE
    dropped = [r for r in caplog.records if r.getMessage().startswith("dropping")]
    assert len(dropped) == 80
    assert sum(r.levelno >= logging.WARNING for r in dropped) == 2


async def test_without_a_client_each_request_is_read_by_the_client_reader(
    front: _Front, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``client=`` each Access-Request gets a RadiusClient of its own: one socket per
    request, closed with it, whose replies the same reader reads and checks as a shared
    client's (a recv of at most 4,096 octets, RFC 2865 s3; authenticators on the raw octets;
    bounded batches). Before, it was a second path: an asyncio datagram endpoint per request
    (256 KiB read per datagram) with its own queue and checks."""
    from eap.aaa import client as client_module

    made: list[socket.socket] = []
    connected = client_module._connected

    async def counting(server: tuple[str, int], bind: tuple[str, int] | None) -> socket.socket:
        sock = await connected(server, bind)
        made.append(sock)
        return sock

    read: list[int] = []
    received = client_module._Socket.datagram_received

    def reader(self: client_module._Socket, data: bytes) -> None:
        read.append(len(data))
        received(self, data)

    loop = asyncio.get_running_loop()
    endpoints: list[object] = []
    endpoint = loop.create_datagram_endpoint

    async def counting_endpoint(*args: Any, **kwargs: Any) -> Any:
        endpoints.append(args)
        return await endpoint(*args, **kwargs)

    monkeypatch.setattr(client_module, "_connected", counting)
    monkeypatch.setattr(client_module._Socket, "datagram_received", reader)
    monkeypatch.setattr(loop, "create_datagram_endpoint", counting_endpoint)
    async with RadiusPassThrough(_cfg(front.address), rng=_rng(16)) as pt:
        final, answers = await md5_peer_conversation(pt, b"md5user", PASSWORD)
    assert final.code == RadiusCode.ACCESS_ACCEPT
    assert len(answers) == len(made) == len(read) == 2  # a socket and a reader per request
    assert all(sock.fileno() == -1 for sock in made)  # each closed with its request
    assert endpoints == []


@pytest.mark.parametrize(
    ("code", "eap", "match"),
    [
        (RadiusCode.ACCESS_CHALLENGE, None, "without EAP-Message"),
        (RadiusCode.ACCESS_CHALLENGE, b"\x03\x01\x00\x04", "not a Request"),
        (RadiusCode.ACCESS_CHALLENGE, b"\x01\x01\x00\x09", "malformed"),
        (4, None, "unexpected RADIUS code 4"),
    ],
)
async def test_conflicting_replies_are_errors(
    scripted: Start, code: int, eap: bytes | None, match: str, relay: Relay
) -> None:
    def handler(data: bytes) -> list[bytes]:
        req = decode_radius(data)
        attrs = split_eap(eap) if eap is not None else []
        return [sign_response(code, req.identifier, req.authenticator, attrs, SECRET)]

    proto: _Scripted = await scripted(handler)
    async with relay(_cfg(_addr(proto)), rng=_rng(12)) as pt:
        with pytest.raises(RadiusError, match=match):
            await pt.answer(identity_response(b"frank"))


async def test_accept_and_reject_decide_regardless_of_eap(scripted: Start, relay: Relay) -> None:
    # RFC 3579 s2.6.3: the RADIUS Code decides; the EAP packet is passed on unrepaired.
    codes = iter([RadiusCode.ACCESS_ACCEPT, RadiusCode.ACCESS_REJECT])

    def handler(data: bytes) -> list[bytes]:
        req = decode_radius(data)
        attrs = [(Attr.SESSION_TIMEOUT, (600).to_bytes(4, "big"))]
        return [sign_response(next(codes), req.identifier, req.authenticator, attrs, SECRET)]

    proto: _Scripted = await scripted(handler)
    async with relay(_cfg(_addr(proto)), rng=_rng(13)) as pt:
        accept = await pt.answer(identity_response(b"gina"))
        pt.restart()
        reject = await pt.answer(identity_response(b"gina"))
    assert (accept.code, accept.eap, accept.keys) == (RadiusCode.ACCESS_ACCEPT, None, None)
    assert accept.session_timeout == 600
    assert (reject.code, reject.eap) == (RadiusCode.ACCESS_REJECT, None)


@pytest.mark.parametrize(
    ("octets", "usable"), [(0, False), (1, False), (15, False), (16, True), (32, True)]
)
async def test_short_mppe_keys_bring_no_msk(
    scripted: Start, relay: Relay, octets: int, usable: bool
) -> None:
    """An Access-Accept whose MS-MPPE keys decrypt to fewer than 16 octets each delivers no MSK
    (the PAA then refuses a key-generating method's success, Result-Code 2): an empty or
    few-octet MSK would make PANA_AUTH_KEY computable from the public nonces. Before, an empty
    MSK became a PANA SA. 16-octet halves (hostapd's EAP-MSCHAPv2) and 32 still count."""

    def handler(data: bytes) -> list[bytes]:
        req = decode_radius(data)
        keys = [
            vendor_attr(MICROSOFT, kind, encrypt_mppe_key(bytes([kind]) * octets, SECRET,
                                                          req.authenticator, salt))
            for kind, salt in ((MsAttr.MS_MPPE_RECV_KEY, 0x8001), (MsAttr.MS_MPPE_SEND_KEY, 0x8002))
        ]  # fmt: skip
        return [sign_response(RadiusCode.ACCESS_ACCEPT, req.identifier, req.authenticator,
                              keys, SECRET)]  # fmt: skip

    proto: _Scripted = await scripted(handler)
    async with relay(_cfg(_addr(proto)), rng=_rng(14)) as pt:
        accept = await pt.answer(identity_response(b"hank"))
    assert accept.code == RadiusCode.ACCESS_ACCEPT
    if usable:
        assert accept.keys is not None
        assert accept.keys.msk.reveal() == b"\x11" * octets + b"\x10" * octets  # Recv | Send
    else:
        assert accept.keys is None


async def test_exchange_none_asks_for_the_identity_locally(front: _Front, relay: Relay) -> None:
    async with relay(_cfg(front.address), rng=_rng(15)) as pt:
        first = await pt.exchange(None)
        assert first.result is None and first.packet is not None
        request = decode_eap(first.packet)
        assert (request.code, request.type) == (EapCode.REQUEST, EapType.IDENTITY)
        assert front.backends == []  # nothing went to the server yet
        stale = await pt.exchange(identity_response(b"md5user", (request.identifier + 1) & 0xFF))
        assert stale == AuthOutput(None, None)  # RFC 3579 s2.2: wrong Identifier, discarded
        out = await pt.exchange(identity_response(b"md5user", request.identifier))
        assert out.result is None and out.packet is not None
        assert front.backends[0].identity == b"md5user"


async def test_exchange_none_sends_eap_start_when_asked(scripted: Start, relay: Relay) -> None:
    proto: _Scripted = await scripted(lambda d: [_challenge(d)])
    cfg = RadiusConfig(server=_addr(proto), secret=Secret(SECRET), identity_request=False)
    async with relay(cfg, rng=_rng(16)) as pt:
        out = await pt.exchange(None)
    assert out.packet is not None and decode_eap(out.packet).type == EapType.MD5_CHALLENGE
    assert decode_radius(proto.requests[0]).all(Attr.EAP_MESSAGE) == [b""]


async def test_interleaved_conversations_stay_apart(front: _Front, relay: Relay) -> None:
    # 20 conversations at once through one front: State keeps each on its own EAP server.
    async def one(i: int) -> bytes | None:
        password = PASSWORD if i % 3 else b"wrong"
        async with relay(_cfg(front.address), rng=_rng(100 + i)) as pt:
            final, _ = await md5_peer_conversation(pt, b"user%d" % i, password)
        return None if final.keys is None else final.keys.msk.reveal()

    results = await asyncio.gather(*(one(i) for i in range(20)))
    assert [r is not None for r in results] == [bool(i % 3) for i in range(20)]
    assert sorted(b.identity or b"" for b in front.backends) == sorted(
        b"user%d" % i for i in range(20)
    )
    assert front.server.core.conversations == 0


async def test_exchange_none_after_the_end_starts_a_new_conversation(
    front: _Front, relay: Relay
) -> None:
    async with relay(_cfg(front.address), rng=_rng(17)) as pt:
        for round_ in range(2):  # authentication, then re-authentication (RFC 5191 s4.3)
            start = await pt.exchange(None)
            assert start.packet is not None
            peer_id = start.packet[1]
            out = await pt.exchange(identity_response(b"md5user", peer_id))
            assert out.packet is not None
            final = await pt.exchange(md5_response(out.packet, PASSWORD))
            assert final.result is not None and final.result.success, round_
            assert pt.done
    assert len(front.backends) == 2

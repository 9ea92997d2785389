"""RadiusPassThrough against our RADIUS front and against scripted misbehaving servers."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

import pytest
import pytest_asyncio

from eap._radius_codec import (
    Attr,
    RadiusCode,
    decode_radius,
    join_eap,
    sign_response,
    split_eap,
    verify_request,
)
from eap.keys import Secret
from eap.radius import RadiusConfig, RadiusError, RadiusPassThrough
from eap.radius_server import EapBackend, RadiusServer, RadiusServerCore
from pana_codecs.eap import EapCode, EapPacket, EapType, decode_eap, encode_eap
from tests.eap._radius_helpers import (
    InlineMd5Server,
    identity_response,
    md5_peer_conversation,
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


async def test_success_delivers_msk_and_session_id(front: _Front) -> None:
    async with RadiusPassThrough(_cfg(front.address), rng=_rng(2)) as pt:
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


async def test_wrong_password_is_rejected(front: _Front) -> None:
    async with RadiusPassThrough(_cfg(front.address), rng=_rng(3)) as pt:
        final, _ = await md5_peer_conversation(pt, b"md5user", b"nope")
    assert final.code == RadiusCode.ACCESS_REJECT
    assert final.keys is None
    assert final.eap is not None and decode_eap(final.eap).code == EapCode.FAILURE


async def test_wrong_secret_toward_our_front(front: _Front) -> None:
    cfg = _cfg(front.address, b"not the secret", timeout=0.05, retries=1)
    async with RadiusPassThrough(cfg, rng=_rng(4)) as pt:
        with pytest.raises(RadiusError, match=r"no reply .* shared secret mismatch\?"):
            await pt.answer(identity_response(b"md5user"))
    assert front.server.core.conversations == 0


async def test_answer_after_end_and_identifier_mismatch(front: _Front) -> None:
    async with RadiusPassThrough(_cfg(front.address), rng=_rng(5)) as pt:
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


async def test_request_attributes_and_state_echo(scripted: Start) -> None:
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
    async with RadiusPassThrough(cfg, rng=_rng(6)) as pt:
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


async def test_nas_ipv6_address(scripted: Start) -> None:
    proto: _Scripted = await scripted(lambda d: [_challenge(d)])
    cfg = RadiusConfig(server=_addr(proto), secret=Secret(SECRET), nas_ip_address="2001:db8::1")
    async with RadiusPassThrough(cfg, rng=_rng(14)) as pt:
        await pt.answer(identity_response(b"ivan"))
    req = decode_radius(proto.requests[0])
    assert req.get(Attr.NAS_IPV6_ADDRESS) == bytes.fromhex("20010db8" + "00" * 11 + "01")
    assert req.get(Attr.NAS_IP_ADDRESS) is None


async def test_eap_start_sends_an_empty_eap_message(scripted: Start) -> None:
    proto: _Scripted = await scripted(lambda d: [_challenge(d)])
    async with RadiusPassThrough(_cfg(_addr(proto)), rng=_rng(7)) as pt:
        answer = await pt.answer(None)
    assert answer.code == RadiusCode.ACCESS_CHALLENGE
    req = decode_radius(proto.requests[0])
    assert req.all(Attr.EAP_MESSAGE) == [b""]


async def test_retransmission_repeats_the_same_request(scripted: Start) -> None:
    def handler(data: bytes) -> list[bytes]:
        return [] if len(proto.requests) == 1 else [_challenge(data)]

    proto: _Scripted = await scripted(handler)
    async with RadiusPassThrough(_cfg(_addr(proto), timeout=0.05), rng=_rng(8)) as pt:
        answer = await pt.answer(identity_response(b"bob"))
    assert answer.code == RadiusCode.ACCESS_CHALLENGE
    assert len(proto.requests) == 2
    assert proto.requests[0] == proto.requests[1]  # RFC 2865 s2.5: identical retransmission


async def test_replies_failing_checks_give_shared_secret_error(
    scripted: Start,
) -> None:
    proto: _Scripted = await scripted(lambda d: [_challenge(d, secret=b"the server's idea of it")])
    cfg = _cfg(_addr(proto), timeout=0.05, retries=2)
    async with RadiusPassThrough(cfg, rng=_rng(9)) as pt:
        with pytest.raises(RadiusError, match=r"3 replies failed .* \(shared secret mismatch\?\)"):
            await pt.answer(identity_response(b"carol"))
    assert len(proto.requests) == 3


async def test_stale_and_forged_replies_are_dropped(scripted: Start) -> None:
    def handler(data: bytes) -> list[bytes]:
        req = decode_radius(data)
        other_id = sign_response(
            RadiusCode.ACCESS_ACCEPT, (req.identifier + 1) & 0xFF, req.authenticator, [], SECRET
        )
        no_ma = bytearray(_challenge(data))
        return [other_id, b"\x0b\x00", bytes(no_ma[:-18]), _challenge(data)]

    proto: _Scripted = await scripted(handler)
    async with RadiusPassThrough(_cfg(_addr(proto)), rng=_rng(10)) as pt:
        answer = await pt.answer(identity_response(b"dave"))
    assert answer.code == RadiusCode.ACCESS_CHALLENGE
    assert len(proto.requests) == 1


async def test_no_server_times_out(scripted: Start) -> None:
    proto: _Scripted = await scripted(lambda d: [])
    cfg = _cfg(_addr(proto), timeout=0.02, retries=2)
    async with RadiusPassThrough(cfg, rng=_rng(11)) as pt:
        with pytest.raises(RadiusError, match=r"no reply .* after 3 tries"):
            await pt.answer(identity_response(b"erin"))
    assert len(proto.requests) == 3


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
    scripted: Start, code: int, eap: bytes | None, match: str
) -> None:
    def handler(data: bytes) -> list[bytes]:
        req = decode_radius(data)
        attrs = split_eap(eap) if eap is not None else []
        return [sign_response(code, req.identifier, req.authenticator, attrs, SECRET)]

    proto: _Scripted = await scripted(handler)
    async with RadiusPassThrough(_cfg(_addr(proto)), rng=_rng(12)) as pt:
        with pytest.raises(RadiusError, match=match):
            await pt.answer(identity_response(b"frank"))


async def test_accept_and_reject_decide_regardless_of_eap(scripted: Start) -> None:
    # RFC 3579 s2.6.3: the RADIUS Code decides; the EAP packet is passed on unrepaired.
    codes = iter([RadiusCode.ACCESS_ACCEPT, RadiusCode.ACCESS_REJECT])

    def handler(data: bytes) -> list[bytes]:
        req = decode_radius(data)
        return [sign_response(next(codes), req.identifier, req.authenticator, [], SECRET)]

    proto: _Scripted = await scripted(handler)
    async with RadiusPassThrough(_cfg(_addr(proto)), rng=_rng(13)) as pt:
        accept = await pt.answer(identity_response(b"gina"))
        pt.restart()
        reject = await pt.answer(identity_response(b"gina"))
    assert (accept.code, accept.eap, accept.keys) == (RadiusCode.ACCESS_ACCEPT, None, None)
    assert (reject.code, reject.eap) == (RadiusCode.ACCESS_REJECT, None)

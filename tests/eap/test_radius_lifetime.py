"""Session-Timeout from a scripted RADIUS server: the Accept's bounds the session (RFC 2865
s5.27), the Challenge's stays an EAP retransmission hint (RFC 3579 s2.2)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from typing import cast

import pytest

from eap._radius_codec import Attr, RadiusCode, decode_radius, sign_response, split_eap
from eap.aaa.passthrough import RadiusConfig, RadiusPassThrough, radius_client
from eap.authenticator import AuthOutput
from eap.keys import Secret
from pana_codecs.eap import EapCode, EapPacket, EapType, encode_eap
from pana_mpa.cli.aaa import RadiusBackend
from tests.eap._radius_helpers import identity_response, md5_response

pytestmark = [pytest.mark.udp, pytest.mark.asyncio]

SECRET = b"lifetime-secret"
CHALLENGE_HINT = (30).to_bytes(4, "big")


class _Server(asyncio.DatagramProtocol):
    """Challenge (MD5, Session-Timeout 30) to the first request, then ``final`` with ``attrs``."""

    def __init__(self, final: int, attrs: Sequence[tuple[int, bytes]]) -> None:
        self.final = final
        self.attrs = attrs
        self.transport: asyncio.DatagramTransport | None = None
        self.requests = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        req = decode_radius(data)
        self.requests += 1
        if self.requests == 1:
            md5 = EapPacket(EapCode.REQUEST, 5, EapType.MD5_CHALLENGE, b"\x10" + bytes(16))
            attrs = [*split_eap(encode_eap(md5)), (Attr.STATE, b"s1"),
                     (Attr.SESSION_TIMEOUT, CHALLENGE_HINT)]  # fmt: skip
            code = int(RadiusCode.ACCESS_CHALLENGE)
        else:
            eap_code = (
                EapCode.SUCCESS if self.final == RadiusCode.ACCESS_ACCEPT else EapCode.FAILURE
            )
            attrs = [*split_eap(encode_eap(EapPacket(eap_code, 5))), *self.attrs]
            code = self.final
        reply = sign_response(code, req.identifier, req.authenticator, attrs, SECRET)
        self.transport.sendto(reply, addr)


@contextlib.asynccontextmanager
async def _server(final: int, attrs: Sequence[tuple[int, bytes]]) -> AsyncIterator[RadiusConfig]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Server(final, attrs), local_addr=("127.0.0.1", 0)
    )
    try:
        host, port = transport.get_extra_info("sockname")[:2]
        yield RadiusConfig(server=(host, port), secret=Secret(SECRET), timeout=2.0, retries=2)
    finally:
        transport.close()


def _rng() -> Callable[[int], bytes]:
    return random.Random(5).randbytes


async def _conversation(pt: RadiusPassThrough, *, callbacks: bool) -> list[AuthOutput]:
    """Identity, then the answer to the MD5 challenge: the two outputs of the pass-through."""
    loop = asyncio.get_running_loop()

    async def step(response: bytes) -> AuthOutput:
        if not callbacks:
            return await pt.exchange(response)
        done: asyncio.Future[AuthOutput | Exception] = loop.create_future()
        assert pt.begin_exchange(response, done.set_result) is None
        out = await done
        assert isinstance(out, AuthOutput), out
        return out

    first = await step(identity_response(b"lt-user"))
    assert first.packet is not None
    second = await step(md5_response(first.packet, b"pw"))
    return [first, second]


async def _plain(final: int, attrs: Sequence[tuple[int, bytes]]) -> list[AuthOutput]:
    """The two outputs of a pass-through with its own socket against a scripted server."""
    async with _server(final, attrs) as config, RadiusPassThrough(config, rng=_rng()) as pt:
        return await _conversation(pt, callbacks=False)


@pytest.mark.parametrize("callbacks", [False, True], ids=["exchange", "begin_exchange"])
async def test_accept_session_timeout_reaches_the_auth_output(callbacks: bool) -> None:
    attrs = [(Attr.SESSION_TIMEOUT, (600).to_bytes(4, "big"))]
    async with _server(RadiusCode.ACCESS_ACCEPT, attrs) as config:
        client = radius_client(config) if callbacks else None
        try:
            pt = RadiusPassThrough(config, rng=_rng(), client=client)
            challenge, accept = await _conversation(pt, callbacks=callbacks)
            pt.close()
        finally:
            if client is not None:
                client.close()
    # the Challenge's Session-Timeout is the EAP retransmission hint (RFC 3579 s2.2): no limit
    assert challenge.result is None and challenge.session_lifetime is None
    assert accept.result is not None and accept.result.success
    assert accept.session_lifetime == 600


async def test_an_accept_without_session_timeout_has_no_limit() -> None:
    _, accept = await _plain(RadiusCode.ACCESS_ACCEPT, [])
    assert accept.result is not None and accept.result.success
    assert accept.session_lifetime is None


async def test_a_reject_carries_no_lifetime() -> None:
    attrs = [(Attr.SESSION_TIMEOUT, (600).to_bytes(4, "big"))]
    _, reject = await _plain(RadiusCode.ACCESS_REJECT, attrs)
    assert reject.result is not None and not reject.result.success
    assert reject.session_lifetime is None


@pytest.mark.parametrize("size", [0, 2, 3, 5, 8])
async def test_an_accept_with_a_malformed_session_timeout_is_a_reject(
    size: int, caplog: pytest.LogCaptureFixture
) -> None:
    # RFC 2865 s5: an attribute of invalid length in an Access-Accept: treated as Access-Reject
    attrs = [(Attr.SESSION_TIMEOUT, bytes(size))]
    with caplog.at_level(logging.WARNING, logger="eap.aaa.passthrough"):
        _, out = await _plain(RadiusCode.ACCESS_ACCEPT, attrs)
    assert out.result is not None and not out.result.success
    assert out.result.keys is None and out.session_lifetime is None
    assert out.packet is None  # not the server's EAP Success: the PaC takes altReject
    assert any(f"{size}-octet Session-Timeout" in r.getMessage() for r in caplog.records)


async def test_the_cli_back_end_passes_the_lifetime_on() -> None:
    attrs = [(Attr.SESSION_TIMEOUT, (75).to_bytes(4, "big"))]
    async with _server(RadiusCode.ACCESS_ACCEPT, attrs) as config:
        backend = RadiusBackend(RadiusPassThrough(config, rng=_rng()), _rng())
        try:
            first = await backend.exchange(None)  # our own EAP-Request/Identity
            assert first.packet is not None and first.session_lifetime is None
            identifier = first.packet[1]
            challenge = await backend.exchange(identity_response(b"lt-user", identifier))
            assert challenge.packet is not None and challenge.session_lifetime is None
            accept = await backend.exchange(md5_response(challenge.packet, b"pw"))
        finally:
            backend.close()
    assert accept.result is not None and accept.result.success
    assert accept.session_lifetime == 75

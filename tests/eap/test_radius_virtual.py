"""RadiusPassThrough timeouts, retries and losses in virtual time (in-memory network, no waits)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eap._radius_codec import (
    Attr,
    RadiusCode,
    decode_radius,
    response_authenticator,
    sign_response,
    split_eap,
)
from eap.aaa.passthrough import DatagramLink, RadiusConfig, RadiusError, RadiusPassThrough
from eap.aaa.server import EapBackend, RadiusServerCore
from eap.keys import Secret
from pana_codecs.eap import EapCode, EapPacket, EapType, encode_eap
from pana_mpa.aio.loopback import LoopbackNetwork, LoopbackTransport, run_virtual
from tests.eap._radius_helpers import InlineMd5Server, identity_response, md5_peer_conversation

SECRET = b"s3cret-for-tests"
PASSWORD = b"md5password"
SERVER = ("192.0.2.10", 1812)
NAS = "192.0.2.1"

Handler = Callable[[bytes], list[bytes]]


def _rng(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


def _pass_through(net: LoopbackNetwork, seed: int, **kw: float) -> RadiusPassThrough:
    async def link() -> DatagramLink:
        return net.endpoint((NAS, 0))

    cfg = RadiusConfig(
        server=SERVER,
        secret=Secret(SECRET),
        timeout=kw.get("timeout", 3.0),
        retries=int(kw.get("retries", 3)),
    )
    return RadiusPassThrough(cfg, rng=_rng(seed), link=link)


async def _serve(endpoint: LoopbackTransport, handler: Handler) -> None:
    while True:
        data, addr = await endpoint.recvfrom()
        for reply in handler(data):
            endpoint.sendto(reply, addr)


def _start(net: LoopbackNetwork, handler: Handler) -> asyncio.Task[None]:
    return asyncio.create_task(_serve(net.endpoint(SERVER), handler))


def _challenge(request: bytes, secret: bytes = SECRET) -> bytes:
    req = decode_radius(request)
    eap = encode_eap(EapPacket(EapCode.REQUEST, 42, EapType.MD5_CHALLENGE, b"\x01x"))
    attrs = [*split_eap(eap), (Attr.STATE, b"st")]
    return sign_response(
        RadiusCode.ACCESS_CHALLENGE, req.identifier, req.authenticator, attrs, secret
    )


def test_lost_requests_and_replies_are_recovered_through_our_front() -> None:
    # The first Access-Request and the first two replies are lost: the pass-through
    # retransmits the identical request, and the front answers a repeat from its reply cache
    # without running the EAP server twice (RFC 2865 s2.5, RFC 5080 s2.2.2).
    backends: list[InlineMd5Server] = []
    lost = {"to_server": 1, "from_server": 2}

    def backend() -> EapBackend:
        backends.append(InlineMd5Server(PASSWORD, msk=bytes(64)))
        return backends[-1]

    def drop(data: bytes, src: tuple[str, int], dst: tuple[str, int]) -> bool:
        key = "to_server" if dst == SERVER else "from_server"
        if lost[key]:
            lost[key] -= 1
            return True
        return False

    async def main() -> tuple[int, float, int]:
        net = LoopbackNetwork(drop=drop)
        core = RadiusServerCore(clients={NAS: Secret(SECRET)}, backend=backend, rng=_rng(1))
        loop = asyncio.get_running_loop()

        def handler(data: bytes) -> list[bytes]:
            reply = core.receive(data, (NAS, 0), loop.time())
            return [] if reply is None else [reply]

        server = _start(net, handler)
        pt = _pass_through(net, 2)
        final, _ = await md5_peer_conversation(pt, b"md5user", PASSWORD)
        server.cancel()
        return final.code, loop.time(), net.dropped

    code, elapsed, dropped = run_virtual(main)
    assert code == RadiusCode.ACCESS_ACCEPT
    assert dropped == 3
    assert elapsed == pytest.approx(9.0)  # three 3-second retransmission timers
    assert len(backends) == 1
    assert backends[0].requests[0][4] == EapType.IDENTITY  # one Identity, one MD5 request
    assert len(backends[0].requests) == 2


def test_no_server_gives_up_after_all_retries() -> None:
    async def main() -> tuple[str, float]:
        net = LoopbackNetwork()
        pt = _pass_through(net, 3, timeout=3.0, retries=3)
        with pytest.raises(RadiusError) as info:
            await pt.answer(identity_response(b"erin"))
        return str(info.value), asyncio.get_running_loop().time()

    message, elapsed = run_virtual(main)
    assert "no reply from RADIUS server 192.0.2.10:1812 after 4 tries" in message
    assert "shared secret mismatch?" in message
    assert elapsed == pytest.approx(12.0)  # 4 tries x 3 s, in virtual time


def test_retransmission_repeats_the_same_request() -> None:
    seen: list[bytes] = []

    def handler(data: bytes) -> list[bytes]:
        seen.append(data)
        return [] if len(seen) == 1 else [_challenge(data)]

    async def main() -> int:
        net = LoopbackNetwork()
        server = _start(net, handler)
        answer = await _pass_through(net, 4).answer(identity_response(b"bob"))
        server.cancel()
        return answer.code

    assert run_virtual(main) == RadiusCode.ACCESS_CHALLENGE
    assert len(seen) == 2 and seen[0] == seen[1]  # RFC 2865 s2.5: identical retransmission


def test_replies_failing_checks_give_shared_secret_error() -> None:
    seen: list[bytes] = []

    def handler(data: bytes) -> list[bytes]:
        seen.append(data)
        return [_challenge(data, b"the server's idea of the secret")]

    async def main() -> str:
        net = LoopbackNetwork()
        server = _start(net, handler)
        with pytest.raises(RadiusError) as info:
            await _pass_through(net, 5, retries=2).answer(identity_response(b"carol"))
        server.cancel()
        return str(info.value)

    message = run_virtual(main)
    assert "3 replies failed the authenticator checks (shared secret mismatch?)" in message
    assert len(seen) == 3


def test_datagrams_from_elsewhere_are_ignored() -> None:
    async def main() -> int:
        net = LoopbackNetwork()
        intruder = net.endpoint(("198.51.100.7", SERVER[1]))

        def handler(data: bytes) -> list[bytes]:
            nas = next(a for a in net.endpoints if a[0] == NAS)
            intruder.sendto(_challenge(data), nas)  # right content, wrong source
            return [_challenge(data)]

        server = _start(net, handler)
        answer = await _pass_through(net, 6).answer(identity_response(b"dave"))
        server.cancel()
        return answer.code

    assert run_virtual(main) == RadiusCode.ACCESS_CHALLENGE


def test_wrong_secret_toward_our_front() -> None:
    backends: list[InlineMd5Server] = []

    def backend() -> EapBackend:
        backends.append(InlineMd5Server(PASSWORD))
        return backends[-1]

    async def main() -> str:
        net = LoopbackNetwork()
        core = RadiusServerCore(
            clients={NAS: Secret(b"the front's secret")}, backend=backend, rng=_rng(7)
        )
        loop = asyncio.get_running_loop()

        def handler(data: bytes) -> list[bytes]:
            reply = core.receive(data, (NAS, 0), loop.time())
            return [] if reply is None else [reply]

        server = _start(net, handler)
        with pytest.raises(RadiusError) as info:
            await _pass_through(net, 8).answer(identity_response(b"md5user"))
        server.cancel()
        return str(info.value)

    message = run_virtual(main)
    assert "no reply" in message and "shared secret mismatch?" in message
    assert backends == []  # the front dropped every request before any EAP processing


@given(
    code=st.sampled_from([2, 3, 11, 4, 12]),
    attrs=st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=253)), max_size=6),
)
@settings(max_examples=100, deadline=None)
def test_any_signed_reply_gives_an_answer_or_a_radius_error(
    code: int, attrs: list[tuple[int, bytes]]
) -> None:
    # Replies that pass both authenticator checks but carry anything at all: the pass-through
    # returns an AuthOutput or raises RadiusError, nothing else.
    def handler(data: bytes) -> list[bytes]:
        req = decode_radius(data)
        body = [a for a in attrs if a[0] != Attr.MESSAGE_AUTHENTICATOR]
        return [sign_response(code, req.identifier, req.authenticator, body, SECRET)]

    async def main() -> None:
        net = LoopbackNetwork()
        server = _start(net, handler)
        pt = _pass_through(net, 9, retries=0)
        try:
            out = await pt.exchange(identity_response(b"x", identifier=0))
        except RadiusError:
            return
        finally:
            server.cancel()
        assert out.result is not None or out.packet is not None

    run_virtual(main)


def _garbled_but_signed(reply: bytes, request: bytes) -> bytes:
    """``reply`` with its first attribute's Length past the packet and a valid Response
    Authenticator over the garbled octets (RFC 2865 s3)."""
    garbled = reply[:21] + b"\xff" + reply[22:]
    auth = response_authenticator(garbled[0], garbled[1], request[4:20], garbled[20:], SECRET)
    return garbled[:4] + auth + garbled[20:]


@pytest.mark.parametrize(
    ("mangle", "expected"),
    [
        # wrong Identifier (a reply to some other request)
        (lambda r, _: r[:1] + bytes([r[1] ^ 0x55]) + r[2:], "2 replies had another Identifier"),
        # garbled attributes (an attribute Length running past the packet), signed by the
        # server all the same: a forged reply fails its Response Authenticator first
        (_garbled_but_signed, "2 replies were malformed (attribute"),
        (lambda r, _: r[:21] + b"\xff" + r[22:], "2 replies failed the authenticator checks"),
        # shorter than a RADIUS header
        (lambda r, _: r[:7], "2 replies were malformed (a reply of 7 octets)"),
    ],
)
def test_wrong_replies_are_named_not_reported_as_silence(
    mangle: Callable[[bytes, bytes], bytes], expected: str
) -> None:
    """Issue 9 item 6: replies with a wrong Identifier or garbled attributes were reported as
    "no reply from RADIUS server"."""

    def handler(data: bytes) -> list[bytes]:
        return [mangle(_challenge(data), data)]

    async def main() -> str:
        net = LoopbackNetwork()
        server = _start(net, handler)
        with pytest.raises(RadiusError) as info:
            await _pass_through(net, 10, retries=1).answer(identity_response(b"eve"))
        server.cancel()
        return str(info.value)

    message = run_virtual(main)
    assert message.startswith("no valid reply from RADIUS server 192.0.2.10:1812 after 2 tries")
    assert expected in message
    assert "no reply from" not in message

"""The RADIUS front's sans-IO core (RFC 3579): conversations, State, retransmissions, drops."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eap._radius_codec import (
    Attr,
    RadiusCode,
    join_eap,
    sign_request,
    sign_response,
    split_eap,
    verify_response,
)
from eap.aaa.server import EapBackend, RadiusServerCore
from eap.keys import Secret
from tests.eap._radius_helpers import (
    InlineMd5Server,
    Out,
    count_radius_decodes,
    identity_response,
)

SECRET = b"s3cret-for-tests"
PASSWORD = b"md5password"


def _rng(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


# --- the front's sans-IO core -------------------------------------------------------------

CLIENT = ("127.0.0.1", 40000)


def _core(backend: Callable[[], EapBackend] | None = None) -> RadiusServerCore:
    return RadiusServerCore(
        clients={CLIENT[0]: Secret(SECRET)},
        backend=backend or (lambda: InlineMd5Server(PASSWORD)),
        rng=_rng(20),
        idle_timeout=30.0,
    )


def _request(
    ident: int, eap: bytes | None, state: bytes | None = None, secret: bytes = SECRET
) -> tuple[bytes, bytes]:
    auth = bytes([ident]) * 16
    attrs: list[tuple[int, bytes]] = [] if state is None else [(Attr.STATE, state)]
    if eap is not None:
        attrs += split_eap(eap)
    return sign_request(RadiusCode.ACCESS_REQUEST, ident, auth, attrs, secret), auth


def test_core_retransmitted_request_gets_the_cached_reply() -> None:
    calls: list[InlineMd5Server] = []

    def backend() -> EapBackend:
        calls.append(InlineMd5Server(PASSWORD))
        return calls[-1]

    core = _core(backend)
    data, _ = _request(1, identity_response(b"u"))
    first = core.receive(data, CLIENT, 0.0)
    assert first is not None
    assert core.receive(data, CLIENT, 1.0) == first
    assert len(calls) == 1
    assert core.conversations == 1


def test_core_drops_unknown_clients_bad_secrets_and_non_requests() -> None:
    core = _core()
    data, auth = _request(1, identity_response(b"u"))
    assert core.receive(data, ("127.0.0.2", 1), 0.0) is None
    bad, _ = _request(2, identity_response(b"u"), secret=b"wrong")
    assert core.receive(bad, CLIENT, 0.0) is None
    accept = sign_response(RadiusCode.ACCESS_ACCEPT, 3, auth, [], SECRET)
    assert core.receive(accept, CLIENT, 0.0) is None
    assert core.receive(b"\x01\x02", CLIENT, 0.0) is None
    assert core.conversations == 0


def test_core_rejects_missing_eap_and_unknown_state() -> None:
    core = _core()
    for ident, data_auth in (
        (1, _request(1, None)),
        (2, _request(2, b"\x02\x00\x00\x05\x01", b"?")),
    ):
        data, auth = data_auth
        reply = core.receive(data, CLIENT, 0.0)
        assert reply is not None
        assert verify_response(reply, auth, SECRET).code == RadiusCode.ACCESS_REJECT, ident


def test_core_eap_start_and_ignored_response() -> None:
    backend = InlineMd5Server(PASSWORD)
    core = _core(lambda: backend)
    data, auth = _request(1, b"")
    reply = verify_response(core.receive(data, CLIENT, 0.0) or b"", auth, SECRET)
    assert reply.code == RadiusCode.ACCESS_CHALLENGE
    identity_req = join_eap(reply)
    assert identity_req == backend.requests[0]
    state = reply.get(Attr.STATE)
    # A Response with a wrong Identifier: the backend discards it, the front repeats its
    # Request with Error-Cause 202 (RFC 3579 s2.6.2).
    bogus = identity_response(b"u", identifier=(backend.requests[0][1] + 9) & 0xFF)
    data, auth = _request(2, bogus, state)
    again = verify_response(core.receive(data, CLIENT, 1.0) or b"", auth, SECRET)
    assert again.code == RadiusCode.ACCESS_CHALLENGE
    assert join_eap(again) == identity_req
    assert again.get(Attr.ERROR_CAUSE) == (202).to_bytes(4, "big")
    assert again.get(Attr.STATE) not in (None, state)
    # The old State is spent: replaying it is rejected.
    data, auth = _request(3, identity_response(b"u", identifier=identity_req[1]), state)
    assert verify_response(core.receive(data, CLIENT, 2.0) or b"", auth, SECRET).code == 3


def test_core_first_discard_is_rejected_and_idle_conversations_expire() -> None:
    core = _core(lambda: _Discarding())
    data, auth = _request(1, identity_response(b"u"))
    assert verify_response(core.receive(data, CLIENT, 0.0) or b"", auth, SECRET).code == 3
    core = _core()
    data, _ = _request(1, identity_response(b"u"))
    core.receive(data, CLIENT, 0.0)
    assert core.conversations == 1
    data, _ = _request(2, identity_response(b"v"))
    core.receive(data, CLIENT, 100.0)
    assert core.conversations == 1  # the first one expired after 30 s idle


class _Discarding:
    def start(self) -> Out:
        return Out(None, None)

    def receive(self, packet: bytes) -> Out:
        return Out(None, None)


def test_core_rejects_after_repeated_ignored_responses() -> None:
    backend = InlineMd5Server(PASSWORD)
    core = _core(lambda: backend)
    data, auth = _request(1, identity_response(b"u"))
    reply = verify_response(core.receive(data, CLIENT, 0.0) or b"", auth, SECRET)
    challenge = join_eap(reply)
    assert challenge is not None
    bogus = identity_response(b"u", identifier=challenge[1] ^ 0x55)  # ignored by the server
    codes = []
    for ident in range(2, 7):
        state = reply.get(Attr.STATE)
        data, auth = _request(ident, bogus, state)
        reply = verify_response(core.receive(data, CLIENT, 1.0) or b"", auth, SECRET)
        codes.append(reply.code)
        if reply.code == RadiusCode.ACCESS_REJECT:
            break
    assert codes == [11, 11, 11, 3]  # three repeats with Error-Cause 202, then Access-Reject
    assert join_eap(reply) == bytes((4, challenge[1], 0, 4))  # EAP-Failure for the last Request
    assert core.conversations == 0


def test_core_never_reuses_the_peer_s_last_identifier() -> None:
    # The NAS's Identity Request had Identifier 6. The first backend would send its next
    # Request with Identifier 6 too, which the peer would take for a retransmission
    # (RFC 3748 s4.1), so the front starts a fresh backend instead.
    made: list[InlineMd5Server] = []
    first_ids = iter([5, 9])

    def backend() -> EapBackend:
        made.append(InlineMd5Server(PASSWORD, first_id=next(first_ids)))
        return made[-1]

    core = _core(backend)
    data, auth = _request(1, identity_response(b"u", identifier=6))
    reply = verify_response(core.receive(data, CLIENT, 0.0) or b"", auth, SECRET)
    challenge = join_eap(reply)
    assert challenge is not None and challenge[0] == 1
    assert challenge[1] == 10
    assert len(made) == 2 and made[1].identity == b"u"


def test_core_clients_by_network_most_specific_wins() -> None:
    core = RadiusServerCore(
        clients={
            "10.0.0.0/8": Secret(b"wide"),
            "10.1.0.0/16": Secret(SECRET),
            "10.1.2.3": Secret(b"exact"),
        },
        backend=lambda: InlineMd5Server(PASSWORD),
        rng=_rng(21),
    )
    data, auth = _request(1, identity_response(b"u"))
    reply = core.receive(data, ("10.1.9.9", 1812), 0.0)
    assert reply is not None and verify_response(reply, auth, SECRET).code == 11
    assert core.receive(data, ("10.2.0.1", 1812), 0.0) is None  # "wide" secret: MA fails
    assert core.receive(data, ("10.1.2.3", 1812), 0.0) is None  # "exact" secret
    assert core.receive(data, ("::ffff:10.1.0.7", 1812), 0.0) is not None
    assert core.receive(data, ("192.0.2.1", 1812), 0.0) is None
    assert core.receive(data, ("not-an-ip", 1812), 0.0) is None


def test_core_echoes_proxy_state_and_caches_only_identical_retransmissions() -> None:
    core = _core()
    auth = bytes(range(16))
    attrs = [
        (Attr.PROXY_STATE, b"p1"),
        *split_eap(identity_response(b"u")),
        (Attr.PROXY_STATE, b"p2"),
    ]
    data = sign_request(RadiusCode.ACCESS_REQUEST, 7, auth, attrs, SECRET)
    reply = verify_response(core.receive(data, CLIENT, 0.0) or b"", auth, SECRET)
    assert reply.all(Attr.PROXY_STATE) == [b"p1", b"p2"]  # RFC 2865 s5.33
    # Same Identifier and Authenticator but other contents: not a retransmission, and it
    # fails the Message-Authenticator check, so it is dropped rather than answered from cache.
    forged = data[:-1] + bytes([data[-1] ^ 1])
    assert core.receive(forged, CLIENT, 0.0) is None


@given(data=st.binary(max_size=400))
def test_core_never_raises_on_random_datagrams(data: bytes) -> None:
    core = _core()
    reply = core.receive(data, CLIENT, 0.0)
    assert reply is None  # without the shared secret nothing verifies


@given(
    eap=st.binary(max_size=600),
    state=st.none() | st.binary(min_size=1, max_size=40),
    extra=st.lists(
        st.tuples(st.integers(0, 255), st.binary(max_size=253)).filter(
            lambda a: a[0] not in (Attr.MESSAGE_AUTHENTICATOR, Attr.EAP_MESSAGE)
        ),
        max_size=4,
    ),
)
@settings(max_examples=150, deadline=None)
def test_core_answers_any_signed_request_without_raising(
    eap: bytes, state: bytes | None, extra: list[tuple[int, bytes]]
) -> None:
    # Whatever a client with the right secret sends, the front answers with a well-formed,
    # correctly signed reply (or drops it) and never raises.
    core = _core()
    auth = bytes(16)
    attrs: list[tuple[int, bytes]] = [*extra, *split_eap(eap)]
    if state is not None:
        attrs.append((Attr.STATE, state))
    data = sign_request(RadiusCode.ACCESS_REQUEST, 1, auth, attrs, SECRET)
    reply = core.receive(data, CLIENT, 0.0)
    if reply is not None:
        pkt = verify_response(reply, auth, SECRET)
        assert pkt.code in (RadiusCode.ACCESS_CHALLENGE, RadiusCode.ACCESS_REJECT)


def test_core_answers_status_server() -> None:
    # RFC 5997 s4.3: Status-Server (12) with a Message-Authenticator -> Access-Accept.
    core = _core()
    auth = bytes(range(16))
    probe = sign_request(RadiusCode.STATUS_SERVER, 3, auth, [], SECRET)
    reply = verify_response(core.receive(probe, CLIENT, 0.0) or b"", auth, SECRET)
    assert reply.code == RadiusCode.ACCESS_ACCEPT
    assert core.conversations == 0
    assert core.receive(sign_request(12, 4, auth, [], b"wrong"), CLIENT, 0.0) is None


def test_core_checks_the_message_authenticator_before_decoding(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone can send from a client's address: a forged Access-Request of 4,096 octets (2,029
    empty attributes around a Message-Authenticator, or 2,038 and none) is refused on its HMAC
    over the raw octets (RFC 3579 s3.2) without decoding an attribute; before, all were decoded
    first. The drops are counted; WARNING only for the 1st, 2nd, 4th... (it was every one)."""
    decoded = count_radius_decodes(monkeypatch)
    core = _core()
    head = bytes((RadiusCode.ACCESS_REQUEST, 7)) + (4096).to_bytes(2, "big") + bytes(16)
    empty = b"\x4f\x02" * 1014  # EAP-Message attributes without a value
    middle = head + empty + b"\x50\x12" + bytes(16) + empty + b"\x4f\x02"
    none = head + b"\x4f\x02" * 2038
    assert len(middle) == len(none) == 4096
    with caplog.at_level(logging.DEBUG, logger="eap.aaa.server"):
        for _ in range(50):
            assert core.receive(middle, CLIENT, 0.0) is None
            assert core.receive(none, CLIENT, 0.0) is None
    assert decoded == []
    assert core.dropped["rejected"] == 100
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 7  # the 1st, 2nd, 4th, 8th, 16th, 32nd and 64th
    genuine, _ = _request(8, identity_response(b"u"))
    assert core.receive(genuine, CLIENT, 0.0) is not None
    assert decoded == [len(genuine)]  # a genuine request is decoded once


def test_core_refuses_requests_of_more_than_max_attributes() -> None:
    """The walk that finds the Message-Authenticator stops after ``max_attributes`` (200, as
    FreeRADIUS's default): a request with more is dropped even when correctly signed."""
    eap = identity_response(b"u")
    for extra, answered in ((200 - 2, True), (200 - 1, False)):  # + EAP-Message + M-A
        core = _core()
        attrs = [(Attr.NAS_PORT_TYPE, b"")] * extra + split_eap(eap)
        data = sign_request(RadiusCode.ACCESS_REQUEST, 1, bytes(16), attrs, SECRET)
        assert (core.receive(data, CLIENT, 0.0) is not None) is answered
        assert core.dropped["rejected"] == (0 if answered else 1)

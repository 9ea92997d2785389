"""EAP-MD5-Challenge (RFC 3748 s5.4): known answer C.3, end to end, bad input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.base import Decision
from eap.methods.md5 import Md5Peer, Md5Server, md5_response_value
from eap.peer import EapPeer
from pana_codecs.eap import EapCode, decode_eap
from tests.eap.conversation import ScriptedRng, converse, load_vectors, seeded_rng

V = load_vectors("eap-md5-c3.txt")
SECRET = Secret(V["secret"])


def test_value_matches_c3() -> None:
    assert md5_response_value(V["identifier"][0], SECRET, V["challenge"]) == V["value"]


def test_request_and_response_packets_match_c3() -> None:
    auth = EapAuthenticator(
        methods=lambda identity: [
            lambda: Md5Server(SECRET, rng=ScriptedRng(V["challenge"]), name=b"srv")
        ],
        rng=ScriptedRng(V["identifier"]),
        identity_request=False,
    )
    peer = EapPeer(identity=b"", methods={4: lambda: Md5Peer(SECRET)})
    conv = converse(peer, auth)
    assert conv.requests == [V["request"]]
    assert conv.responses == [V["response"]]
    assert conv.final == bytes([EapCode.SUCCESS, 1, 0, 4])
    assert conv.auth_result is not None and conv.auth_result.success
    assert conv.peer_result is not None and conv.peer_result.success
    # MD5 derives no keys (RFC 3748 s5.4): success, but nothing for PANA to build an SA on.
    assert conv.auth_result.keys is None and conv.peer_result.keys is None
    assert conv.peer_result.method_type == 4


def _pair(peer_secret: Secret, server_secret: Secret | None) -> tuple[bool, bool]:
    auth = EapAuthenticator(
        methods=lambda identity: [lambda: Md5Server(server_secret, rng=seeded_rng(1))],
        rng=seeded_rng(2),
    )
    peer = EapPeer(identity=b"alice", methods={4: lambda: Md5Peer(peer_secret)})
    conv = converse(peer, auth)
    assert conv.auth_result is not None and conv.peer_result is not None
    return conv.auth_result.success, conv.peer_result.success


def test_right_password_succeeds() -> None:
    assert _pair(SECRET, SECRET) == (True, True)


def test_wrong_password_fails_both_sides() -> None:
    assert _pair(Secret(b"passw0rd"), SECRET) == (False, False)


def test_unknown_user_fails() -> None:
    assert _pair(SECRET, None) == (False, False)


def test_peer_ignores_malformed_challenges() -> None:
    peer = Md5Peer(SECRET)
    for bad in (b"", b"\x00", b"\x10" + bytes(15), b"\xff\x01"):
        step = peer.process(bad, 1)
        assert step.response is None and not step.done
    step = peer.process(b"\x01\xaa", 7)
    assert step.done and step.decision is Decision.COND_SUCC
    assert step.response is not None and step.response[0] == 16 and len(step.response) == 17


def test_peer_sends_its_name() -> None:
    step = Md5Peer(SECRET, name=b"alice").process(b"\x01\xaa", 7)
    assert step.response is not None and step.response.endswith(b"alice")


def test_server_discards_malformed_responses_then_accepts_right_one() -> None:
    server = Md5Server(SECRET, rng=ScriptedRng(V["challenge"]))
    server.initial_request(1)
    for bad in (b"", b"\x00", b"\x08" + bytes(8), b"\x10" + bytes(15), b"\x11" + bytes(17)):
        assert server.process(bad, 1, 2).discard
    step = server.process(decode_eap(V["response"]).type_data, 1, 2)
    assert step.done and step.success
    assert server.process(decode_eap(V["response"]).type_data, 1, 2).discard  # already done


def test_response_for_another_identifier_fails() -> None:
    # The value covers the Identifier: a response computed for id 2 does not verify for id 1.
    server = Md5Server(SECRET, rng=ScriptedRng(V["challenge"]))
    server.initial_request(1)
    value = md5_response_value(2, SECRET, V["challenge"])
    step = server.process(b"\x10" + value, 1, 2)
    assert step.done and not step.success


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=64))
def test_random_responses_never_succeed(data: bytes) -> None:
    server = Md5Server(SECRET, rng=ScriptedRng(V["challenge"]))
    server.initial_request(1)
    step = server.process(data, 1, 2)
    assert not step.success
    assert Md5Peer(SECRET).keys() is None and server.keys() is None

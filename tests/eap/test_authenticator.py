"""EapAuthenticator (RFC 3748, RFC 4137 s5): identifiers, Nak policy, method runs, bad input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eap.authenticator import AuthOutput, EapAuthenticator, EapServer
from eap.keys import KeyMaterial, Secret
from eap.methods.base import AuthMethod, AuthStep
from eap.methods.gpsk import GpskPeer, GpskServer
from eap.methods.md5 import Md5Peer, Md5Server
from eap.peer import EapPeer
from pana_codecs.eap import EapCode, EapPacket, decode_eap, encode_eap
from tests.eap.conversation import ScriptedRng, converse, seeded_rng

PSK = Secret(bytes(range(32)))
PASSWORD = Secret(b"password")
DISCARD = AuthOutput(None, None)


def gpsk_peer(psk: Secret = PSK) -> EapPeer:
    return EapPeer(
        identity=b"alice", methods={51: lambda: GpskPeer(b"alice", psk, rng=seeded_rng(3))}
    )


def gpsk_server() -> AuthMethod:
    return GpskServer(b"srv", lambda ident: PSK if ident == b"alice" else None, rng=seeded_rng(1))


def md5_server() -> AuthMethod:
    return Md5Server(PASSWORD, rng=seeded_rng(2))


class VendorMethod:
    """A vendor-specific method (Expanded Type, Vendor-Id 9999) that nobody here supports."""

    method_type: ClassVar[int] = 1
    vendor_id: ClassVar[int] = 9999

    def initial_request(self, identifier: int) -> bytes:
        return b"vendor-hello"

    def process(self, type_data: bytes, identifier: int, next_identifier: int) -> AuthStep:
        return AuthStep(done=True, success=True)

    def keys(self) -> KeyMaterial | None:
        return None


def auth_with(
    *factories: Callable[[], AuthMethod], rng_byte: int = 0x10, identity_request: bool = True
) -> EapAuthenticator:
    return EapAuthenticator(
        methods=lambda identity: list(factories),
        rng=ScriptedRng(bytes([rng_byte])),
        identity_request=identity_request,
    )


def resp(ident: int, eap_type: int, data: bytes = b"") -> bytes:
    """A Response on the wire; built by hand so any Type (even a bare 254) can be sent."""
    return (
        bytes([EapCode.RESPONSE, ident])
        + (5 + len(data)).to_bytes(2, "big")
        + bytes([eap_type])
        + data
    )


def types_of(packets: Sequence[bytes]) -> list[int | None]:
    return [decode_eap(p).type for p in packets]


# -- identifiers ------------------------------------------------------------------------------


def test_identity_first_then_method_with_next_identifier() -> None:
    auth = auth_with(md5_server)
    first = auth.start()
    assert first.packet == bytes([1, 0x10, 0, 5, 1]) and first.result is None
    assert auth.last_request == first.packet
    out = auth.receive(resp(0x10, 1, b"alice"))
    assert out.packet is not None
    pkt = decode_eap(out.packet)
    assert (pkt.code, pkt.identifier, pkt.type) == (1, 0x11, 4)
    assert auth.identity == b"alice"


def test_identifier_wraps_modulo_256() -> None:
    auth = auth_with(md5_server, rng_byte=0xFF)
    auth.start()
    out = auth.receive(resp(0xFF, 1, b"alice"))
    assert out.packet is not None and out.packet[1] == 0


def test_wrong_identifier_discarded_and_request_stays_outstanding() -> None:
    auth = auth_with(md5_server)
    first = auth.start()
    for ident in (0x0F, 0x11, 0):
        assert auth.receive(resp(ident, 1, b"alice")) == DISCARD
    assert auth.last_request == first.packet
    assert auth.receive(resp(0x10, 1, b"alice")).packet is not None


def test_wrong_type_discarded() -> None:
    auth = auth_with(md5_server)
    auth.start()
    assert auth.receive(resp(0x10, 4, b"\x10" + bytes(16))) == DISCARD
    auth.receive(resp(0x10, 1, b"alice"))
    assert auth.receive(resp(0x11, 1, b"alice")) == DISCARD  # no Identity now
    assert auth.receive(resp(0x11, 51, b"\x02")) == DISCARD


def test_success_carries_last_response_identifier() -> None:
    auth = auth_with(md5_server)
    peer = EapPeer(identity=b"alice", methods={4: lambda: Md5Peer(PASSWORD)})
    conv = converse(peer, auth)
    assert conv.final is not None and conv.final[0] == EapCode.SUCCESS
    assert conv.final[1] == decode_eap(conv.responses[-1]).identifier == 0x11


def test_identity_request_can_be_skipped() -> None:
    auth = auth_with(md5_server, identity_request=False)
    out = auth.start()
    assert out.packet is not None and out.packet[1] == 0x10 and out.packet[4] == 4
    assert auth.identity == b""


# -- Nak negotiation --------------------------------------------------------------------------


def test_nak_moves_to_next_method_the_peer_supports() -> None:
    auth = auth_with(gpsk_server, md5_server)
    peer = EapPeer(identity=b"alice", methods={4: lambda: Md5Peer(PASSWORD)})
    conv = converse(peer, auth)
    assert types_of(conv.requests) == [1, 51, 4]
    assert types_of(conv.responses) == [1, 3, 4]
    assert decode_eap(conv.responses[1]).type_data == b"\x04"
    assert conv.auth_result is not None and conv.auth_result.success
    assert conv.auth_result.method_type == 4
    assert conv.peer_result is not None and conv.peer_result.success


def test_nak_skips_allowed_methods_the_peer_did_not_list() -> None:
    auth = auth_with(gpsk_server, md5_server)
    auth.start()
    auth.receive(resp(0x10, 1, b"alice"))
    out = auth.receive(resp(0x11, 3, bytes([13])))  # peer only wants EAP-TLS
    assert out.packet == bytes([4, 0x11, 0, 4])
    assert out.result is not None and not out.result.success and out.result.method_type is None


def test_nak_zero_means_no_alternative() -> None:
    auth = auth_with(gpsk_server, md5_server)
    auth.start()
    auth.receive(resp(0x10, 1, b"alice"))
    out = auth.receive(resp(0x11, 3, b"\x00"))
    assert out.result is not None and not out.result.success


def test_peer_supports_only_gpsk() -> None:
    auth = auth_with(md5_server, gpsk_server)
    peer = gpsk_peer()
    conv = converse(peer, auth)
    assert types_of(conv.requests) == [1, 4, 51, 51]
    assert conv.auth_result is not None and conv.auth_result.success
    assert conv.auth_result.keys is not None and conv.peer_result is not None
    assert conv.peer_result.keys is not None
    assert conv.auth_result.keys.msk == conv.peer_result.keys.msk


def test_nak_after_method_started_is_discarded() -> None:
    auth = auth_with(gpsk_server, md5_server)
    peer = gpsk_peer()
    out = auth.start()
    assert out.packet is not None
    out = auth.receive(peer.receive(out.packet).response or b"")
    assert out.packet is not None
    gpsk2 = peer.receive(out.packet).response
    assert gpsk2 is not None
    gpsk3 = auth.receive(gpsk2)
    assert gpsk3.packet is not None
    assert auth.receive(resp(gpsk3.packet[1], 3, b"\x04")) == DISCARD  # methodState CONTINUE


def test_malformed_nak_discarded() -> None:
    auth = auth_with(gpsk_server, md5_server)
    auth.start()
    auth.receive(resp(0x10, 1, b"alice"))
    assert auth.receive(resp(0x11, 3, b"")) == DISCARD
    assert auth.receive(encode_eap(EapPacket(2, 0x11, 254, b"\x01", 0, 3))) == DISCARD


def test_expanded_nak_moves_from_vendor_method_to_md5() -> None:
    auth = auth_with(VendorMethod, md5_server)
    peer = EapPeer(identity=b"alice", methods={4: lambda: Md5Peer(PASSWORD)})
    conv = converse(peer, auth)
    first_method = decode_eap(conv.requests[1])
    assert (first_method.type, first_method.vendor_id, first_method.vendor_type) == (254, 9999, 1)
    nak = decode_eap(conv.responses[1])
    assert (nak.type, nak.vendor_id, nak.vendor_type) == (254, 0, 3)
    assert types_of(conv.requests)[2] == 4
    assert conv.auth_result is not None and conv.auth_result.success
    assert conv.auth_result.method_type == 4


def test_expanded_nak_to_legacy_request_is_discarded() -> None:
    auth = auth_with(md5_server, gpsk_server)
    auth.start()
    auth.receive(resp(0x10, 1, b"alice"))
    enak = encode_eap(EapPacket(2, 0x11, 254, bytes([254, 0, 0, 0, 0, 0, 0, 51]), 0, 3))
    assert auth.receive(enak) == DISCARD
    out = auth.receive(resp(0x11, 3, bytes([51])))  # the legacy Nak is fine
    assert out.packet is not None and decode_eap(out.packet).type == 51


def test_legacy_nak_to_expanded_request_accepted() -> None:
    auth = auth_with(VendorMethod, md5_server)
    auth.start()
    auth.receive(resp(0x10, 1, b"alice"))
    out = auth.receive(resp(0x11, 3, b"\x04"))
    assert out.packet is not None and decode_eap(out.packet).type == 4


def test_expanded_nak_listing_vendor_method() -> None:
    auth = auth_with(md5_server, VendorMethod)
    auth.start()
    auth.receive(resp(0x10, 1, b"alice"))
    out = auth.receive(resp(0x11, 3, bytes([254])))  # "I support expanded types"
    assert out.packet is not None
    pkt = decode_eap(out.packet)
    assert (pkt.type, pkt.vendor_id, pkt.vendor_type) == (254, 9999, 1)


def test_no_method_for_identity_fails() -> None:
    auth = EapAuthenticator(methods=lambda identity: [], rng=ScriptedRng(b"\x01"))
    auth.start()
    out = auth.receive(resp(1, 1, b"mallory"))
    assert out.packet == bytes([4, 1, 0, 4]) and out.result is not None
    assert not out.result.success


def test_policy_sees_identity() -> None:
    seen: list[bytes] = []

    def policy(identity: bytes) -> list[Callable[[], AuthMethod]]:
        seen.append(identity)
        return [md5_server]

    auth = EapAuthenticator(methods=policy, rng=ScriptedRng(b"\x01"))
    auth.start()
    auth.receive(resp(1, 1, b"bob@example.net"))
    assert seen == [b"bob@example.net"]


# -- method outcomes and misbehaving methods -----------------------------------------------------


def test_wrong_password_gives_failure_without_keys() -> None:
    auth = auth_with(md5_server)
    peer = EapPeer(identity=b"alice", methods={4: lambda: Md5Peer(Secret(b"nope"))})
    conv = converse(peer, auth)
    assert conv.final is not None and conv.final[0] == EapCode.FAILURE
    assert conv.auth_result is not None and not conv.auth_result.success
    assert conv.auth_result.keys is None
    assert conv.peer_result is not None and not conv.peer_result.success


@pytest.mark.parametrize("suites", [(1,), (2,)])
def test_gpsk_wrong_psk_fails(suites: tuple[int, ...]) -> None:
    def server() -> AuthMethod:
        return GpskServer(b"srv", lambda i: PSK, ciphersuites=suites, rng=seeded_rng(4))

    conv = converse(gpsk_peer(Secret(bytes(32))), auth_with(server))
    assert conv.auth_result is not None and not conv.auth_result.success
    assert conv.peer_result is not None and not conv.peer_result.success


def test_method_discard_keeps_request_outstanding() -> None:
    auth = auth_with(md5_server)
    auth.start()
    out = auth.receive(resp(0x10, 1, b"alice"))
    assert auth.receive(resp(0x11, 4, b"\x10short")) == DISCARD
    assert auth.last_request == out.packet and auth.result is None


class _Raising:
    method_type: ClassVar[int] = 4

    def initial_request(self, identifier: int) -> bytes:
        return b"\x01\x00"

    def process(self, type_data: bytes, identifier: int, next_identifier: int) -> AuthStep:
        raise RuntimeError("bug")

    def keys(self) -> KeyMaterial | None:
        return None


class _Looping(_Raising):
    def process(self, type_data: bytes, identifier: int, next_identifier: int) -> AuthStep:
        return AuthStep(request=b"\x01\x00")


class _Silent(_Raising):
    def process(self, type_data: bytes, identifier: int, next_identifier: int) -> AuthStep:
        return AuthStep()


@pytest.mark.parametrize("method", [_Raising, _Silent])
def test_broken_method_fails_conversation(method: Callable[[], AuthMethod]) -> None:
    auth = auth_with(method, identity_request=False)
    auth.start()
    out = auth.receive(resp(0x10, 4, b"\x01\x00"))
    assert out.packet == bytes([4, 0x10, 0, 4])
    assert out.result is not None and not out.result.success


def test_endless_method_is_cut_off() -> None:
    auth = EapAuthenticator(
        methods=lambda i: [_Looping], rng=ScriptedRng(b"\x00"), identity_request=False, max_rounds=5
    )
    out = auth.start()
    rounds = 0
    while out.result is None:
        assert out.packet is not None
        out = auth.receive(resp(out.packet[1], 4, b"\x01\x00"))
        rounds += 1
    assert rounds == 5 and not out.result.success


# -- lifecycle and bad input -----------------------------------------------------------------------


def test_lifecycle() -> None:
    auth = auth_with(md5_server)
    assert auth.receive(resp(0x10, 1, b"x")) == DISCARD  # before start()
    auth.start()
    with pytest.raises(RuntimeError):
        auth.start()
    auth.receive(resp(0x10, 1, b"alice"))
    out = auth.receive(resp(0x11, 4, b"\x10" + bytes(16)))
    assert out.result is not None and not out.result.success
    assert auth.receive(resp(0x11, 4, b"\x10" + bytes(16))) == DISCARD  # after the end
    assert auth.last_request is None


def test_non_response_codes_discarded() -> None:
    auth = auth_with(md5_server)
    auth.start()
    for bad in (
        bytes([1, 0x10, 0, 5, 1]),
        bytes([3, 0x10, 0, 4]),
        bytes([4, 0x10, 0, 4]),
        b"",
        b"\x02\x10\x00\x09\x01",
        b"\x09\x10\x00\x04",
    ):
        assert auth.receive(bad) == DISCARD


def test_is_an_eap_server() -> None:
    server: EapServer = auth_with(md5_server)
    assert server.start().packet is not None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=6), st.integers(0, 255))
def test_random_responses_never_raise_or_succeed(blobs: list[bytes], ident: int) -> None:
    auth = auth_with(gpsk_server, md5_server)
    auth.start()
    auth.receive(resp(0x10, 1, b"alice"))
    for blob in blobs:
        eap_type = blob[0] if blob and blob[0] != 254 else 51
        for data in (blob, resp(0x11, eap_type, blob[1:])):
            out = auth.receive(data)
            if out.result is not None:
                assert not out.result.success and out.result.keys is None


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_duplicates_and_replays_do_not_change_the_outcome(data: st.DataObject) -> None:
    """A GPSK run with old requests/responses replayed at every step still ends in success."""
    suite = data.draw(st.sampled_from([1, 2]))
    auth = EapAuthenticator(
        methods=lambda i: [
            lambda: GpskServer(b"srv", lambda i: PSK, rng=seeded_rng(1), ciphersuites=(suite,))
        ],
        rng=seeded_rng(2),
    )
    peer = gpsk_peer()
    requests: list[bytes] = []
    responses: list[bytes] = []
    out = auth.start()
    while out.result is None:
        assert out.packet is not None
        requests.append(out.packet)
        for old in data.draw(st.lists(st.sampled_from(requests), max_size=3)) if responses else []:
            if old is out.packet:
                continue
            answer = peer.receive(old).response
            assert answer is None or answer in responses  # discarded or the cached answer
        reply = peer.receive(out.packet)
        assert reply.response is not None
        if data.draw(st.booleans()):
            assert peer.receive(out.packet).response == reply.response  # duplicate request
        responses.append(reply.response)
        if len(responses) > 1:
            for old in data.draw(st.lists(st.sampled_from(responses[:-1]), max_size=3)):
                assert auth.receive(old) == DISCARD
        out = auth.receive(reply.response)
    assert out.packet is not None and out.result.success and out.result.keys is not None
    final = peer.receive(out.packet).result
    assert final is not None and final.success and final.keys is not None
    assert final.keys.msk == out.result.keys.msk


def test_vendor_method_responses_must_match_vendor_and_type() -> None:
    auth = auth_with(VendorMethod, identity_request=False)
    out = auth.start()
    assert out.packet is not None
    ident = out.packet[1]
    for vid, vtype in ((0, 1), (9999, 2), (9998, 1)):
        other = encode_eap(EapPacket(2, ident, 254, b"x", vid, vtype))
        assert auth.receive(other) == DISCARD
    assert auth.receive(resp(ident, 1, b"x")) == DISCARD  # legacy Identity is not the method
    final = auth.receive(encode_eap(EapPacket(2, ident, 254, b"x", 9999, 1)))
    assert final.result is not None and final.result.success and final.result.method_type == 1


def test_malformed_expanded_nak_to_vendor_method_discarded() -> None:
    auth = auth_with(VendorMethod, md5_server, identity_request=False)
    out = auth.start()
    assert out.packet is not None
    ident = out.packet[1]
    for body in (b"", b"\x01" * 8, bytes([254, 0, 0, 0, 0, 0, 0])):
        assert auth.receive(encode_eap(EapPacket(2, ident, 254, body, 0, 3))) == DISCARD
    nak = encode_eap(EapPacket(2, ident, 254, bytes([254, 0, 0, 0, 0, 0, 0, 4]), 0, 3))
    nxt = auth.receive(nak)
    assert nxt.packet is not None and decode_eap(nxt.packet).type == 4


def test_policy_exception_fails_conversation() -> None:
    def policy(identity: bytes) -> list[Callable[[], AuthMethod]]:
        raise KeyError(identity)

    auth = EapAuthenticator(methods=policy, rng=ScriptedRng(b"\x05"))
    auth.start()
    out = auth.receive(resp(5, 1, b"x"))
    assert out.packet == bytes([4, 5, 0, 4]) and out.result is not None
    assert not out.result.success

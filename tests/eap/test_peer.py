"""EapPeer (RFC 3748, RFC 4137 s4): identifiers, duplicates, Nak, Success/Failure rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eap.keys import KeyMaterial, Secret
from eap.methods.base import Decision, MethodStep
from eap.methods.gpsk import GpskPeer, GpskServer
from eap.methods.identity import build_expanded_nak, build_nak, parse_expanded_nak, parse_nak
from eap.methods.md5 import Md5Peer
from eap.peer import EapPeer, PeerOutput
from pana_codecs.eap import EapCode, EapPacket, decode_eap, encode_eap
from tests.eap.conversation import seeded_rng

PSK = Secret(bytes(range(32)))
PASSWORD = Secret(b"password")


def req(ident: int, eap_type: int, data: bytes = b"") -> bytes:
    return encode_eap(EapPacket(EapCode.REQUEST, ident, eap_type, data))


def expanded_req(ident: int, vendor_id: int, vendor_type: int, data: bytes = b"") -> bytes:
    return encode_eap(EapPacket(EapCode.REQUEST, ident, 254, data, vendor_id, vendor_type))


def success(ident: int) -> bytes:
    return bytes([EapCode.SUCCESS, ident, 0, 4])


def failure(ident: int) -> bytes:
    return bytes([EapCode.FAILURE, ident, 0, 4])


@dataclass
class Scripted:
    """A peer method returning scripted steps and counting calls."""

    steps: list[MethodStep]
    calls: list[tuple[bytes, int]] = field(default_factory=list)
    method_type: ClassVar[int] = 200
    key: KeyMaterial | None = None

    def process(self, type_data: bytes, identifier: int) -> MethodStep:
        self.calls.append((type_data, identifier))
        return self.steps.pop(0)

    def keys(self) -> KeyMaterial | None:
        return self.key


def scripted_peer(*steps: MethodStep, key: KeyMaterial | None = None) -> tuple[EapPeer, Scripted]:
    method = Scripted(list(steps), key=key)
    return EapPeer(identity=b"alice", methods={200: lambda: method}), method


def md5_peer() -> EapPeer:
    return EapPeer(identity=b"alice", methods={4: lambda: Md5Peer(PASSWORD)})


DISCARD = PeerOutput(None, None)

# -- Identity, Notification, duplicates ----------------------------------------------------------


def test_identity_response() -> None:
    out = md5_peer().receive(req(5, 1, b"who are you?"))
    assert out == PeerOutput(bytes([2, 5, 0, 10, 1]) + b"alice", None)


def test_duplicate_request_gets_cached_response_without_reprocessing() -> None:
    peer, method = scripted_peer(MethodStep(b"one"), MethodStep(b"two"))
    first = peer.receive(req(9, 200, b"x"))
    again = peer.receive(req(9, 200, b"x"))
    assert first.response == again.response == encode_eap(EapPacket(2, 9, 200, b"one"))
    assert len(method.calls) == 1
    # RFC 4137: duplicate detection is by Identifier only, so a changed body is still a duplicate.
    assert peer.receive(req(9, 200, b"different")).response == first.response
    assert peer.receive(req(10, 200, b"y")).response == encode_eap(EapPacket(2, 10, 200, b"two"))


def test_duplicate_gpsk1_reuses_rand_peer() -> None:
    server = GpskServer(b"srv", lambda i: PSK, rng=seeded_rng(1))
    gpsk1 = req(3, 51, server.initial_request(3))
    peer = EapPeer(identity=b"p", methods={51: lambda: GpskPeer(b"p", PSK, rng=seeded_rng(2))})
    assert peer.receive(gpsk1).response == peer.receive(gpsk1).response


def test_notification_answered_and_state_kept() -> None:
    peer = md5_peer()
    assert peer.receive(req(1, 2, b"Hello")).response == bytes([2, 1, 0, 5, 2])
    out = peer.receive(req(2, 4, b"\x01\xaa"))
    assert out.response is not None and decode_eap(out.response).type == 4
    assert peer.receive(success(2)).result is not None


def test_identity_request_after_method_selected_is_discarded() -> None:
    peer = md5_peer()
    peer.receive(req(1, 4, b"\x01\xaa"))
    assert peer.receive(req(2, 1)) == DISCARD
    assert peer.receive(req(3, 51, b"\x01")) == DISCARD  # no second method (RFC 3748 s2.1)
    assert peer.receive(req(4, 4, b"\x01\xbb")) == DISCARD  # method is DONE


def test_request_with_type_nak_is_discarded() -> None:
    assert md5_peer().receive(req(1, 3, b"\x04")) == DISCARD


# -- Nak negotiation -------------------------------------------------------------------------


def test_nak_lists_supported_methods() -> None:
    peer = EapPeer(
        identity=b"a",
        methods={4: lambda: Md5Peer(PASSWORD), 51: lambda: GpskPeer(b"a", PSK, rng=seeded_rng(3))},
    )
    out = peer.receive(req(7, 13, b"\x20"))  # EAP-TLS: not supported
    assert out.response == bytes([2, 7, 0, 7, 3, 4, 51])
    assert peer.selected_method is None
    # After a Nak the authenticator may propose another method.
    out = peer.receive(req(8, 4, b"\x01\xaa"))
    assert out.response is not None and decode_eap(out.response).type == 4


def test_nak_with_no_methods_is_zero() -> None:
    peer = EapPeer(identity=b"a", methods={})
    assert peer.receive(req(7, 4, b"\x01\xaa")).response == bytes([2, 7, 0, 6, 3, 0])


def test_expanded_request_for_vendor_method_gets_expanded_nak() -> None:
    out = md5_peer().receive(expanded_req(3, 0x009999, 17, b"data"))
    assert out.response is not None
    pkt = decode_eap(out.response)
    assert (pkt.type, pkt.vendor_id, pkt.vendor_type) == (254, 0, 3)
    assert pkt.type_data == bytes([254, 0, 0, 0, 0, 0, 0, 4])


def test_expanded_ietf_method_runs_and_answers_expanded() -> None:
    out = md5_peer().receive(expanded_req(3, 0, 4, b"\x01\xaa"))
    assert out.response is not None
    pkt = decode_eap(out.response)
    assert (pkt.type, pkt.vendor_id, pkt.vendor_type) == (254, 0, 4)
    assert pkt.type_data[0] == 16


# -- Success / Failure acceptance (RFC 4137 s4.1 RECEIVED exits) -------------------------------


def test_canned_success_before_any_request_is_discarded() -> None:
    peer = md5_peer()
    assert peer.receive(success(0)) == DISCARD
    assert peer.receive(failure(0)) == DISCARD
    assert peer.result is None


def test_success_after_identity_only_is_not_success() -> None:
    peer = md5_peer()
    peer.receive(req(1, 1))
    out = peer.receive(success(1))
    assert out.result is not None and not out.result.success and out.result.keys is None


def test_success_with_other_identifier_is_discarded() -> None:
    peer = md5_peer()
    peer.receive(req(1, 4, b"\x01\xaa"))
    assert peer.receive(success(2)) == DISCARD
    assert peer.receive(failure(0)) == DISCARD
    out = peer.receive(success(1))
    assert out.result is not None and out.result.success


def test_success_mid_method_is_failure() -> None:
    peer, _m = scripted_peer(MethodStep(b"r1"))  # not done, decision FAIL
    peer.receive(req(1, 200))
    out = peer.receive(success(1))
    assert out.result is not None and not out.result.success


def test_failure_mid_method_accepted() -> None:
    peer, _m = scripted_peer(MethodStep(b"r1"))
    peer.receive(req(1, 200))
    out = peer.receive(failure(1))
    assert out.result is not None and not out.result.success


def test_failure_after_cond_succ_accepted() -> None:
    peer = md5_peer()
    peer.receive(req(1, 4, b"\x01\xaa"))
    out = peer.receive(failure(1))
    assert out.result is not None and not out.result.success


def test_failure_after_uncond_succ_discarded_success_kept() -> None:
    key = KeyMaterial(Secret(bytes(64)), Secret(bytes(64)), b"sid")
    peer, _m = scripted_peer(MethodStep(b"fin", True, Decision.UNCOND_SUCC), key=key)
    peer.receive(req(1, 200))
    assert peer.receive(failure(1)) == DISCARD
    out = peer.receive(success(1))
    assert out.result is not None and out.result.success and out.result.keys is key
    assert out.result.method_type == 200 and peer.result is out.result


@pytest.mark.parametrize(
    ("step", "packet", "expected"),
    [
        (MethodStep(b"r1"), failure(1), False),  # mid-method: a Failure ends it
        (MethodStep(b"r1"), success(1), False),  # mid-method: a Success is a failure
        (MethodStep(b"r1"), failure(2), None),  # another Identifier: discarded
        (MethodStep(b"fin", True, Decision.UNCOND_SUCC), failure(1), None),  # RFC 3748 s4.2
        (MethodStep(b"fin", True, Decision.UNCOND_SUCC), success(1), True),
        (MethodStep(b"fin", True, Decision.COND_SUCC), failure(1), False),
        (MethodStep(b"r1"), req(2, 200), None),  # not a Success/Failure
        (MethodStep(b"r1"), b"\x04\x01", None),  # malformed
    ],
)
def test_final_outcome_predicts_without_concluding(
    step: MethodStep, packet: bytes, expected: bool | None
) -> None:
    """final_outcome() answers what receive() would conclude, and changes nothing (issue 9)."""
    peer, _m = scripted_peer(step)
    peer.receive(req(1, 200))
    assert peer.final_outcome(packet) is expected
    assert peer.result is None
    out = peer.receive(packet)
    assert (None if out.result is None else out.result.success) is expected


def test_success_indicated_only_after_unconditional_success() -> None:
    peer, _m = scripted_peer(MethodStep(b"r1"), MethodStep(b"fin", True, Decision.UNCOND_SUCC))
    seen = [peer.success_indicated]
    peer.receive(req(1, 200))
    seen.append(peer.success_indicated)  # MAY_CONT, decision FAIL
    peer.receive(req(2, 200))
    seen.append(peer.success_indicated)
    peer.receive(success(2))
    seen.append(peer.success_indicated)  # the conversation is over
    assert seen == [False, False, True, False]
    assert peer.final_outcome(failure(2)) is None


def test_method_failure_without_response_fails_at_once() -> None:
    peer, _m = scripted_peer(MethodStep(None, True, Decision.FAIL))
    out = peer.receive(req(1, 200))
    assert out.response is None and out.result is not None and not out.result.success


def test_method_failure_with_final_message_sends_it_then_rejects_success() -> None:
    peer, _m = scripted_peer(MethodStep(b"fail-echo", True, Decision.FAIL))
    out = peer.receive(req(1, 200))
    assert out.response is not None and out.result is None
    out = peer.receive(success(1))
    assert out.result is not None and not out.result.success


def test_ignored_request_changes_nothing() -> None:
    peer, method = scripted_peer(MethodStep(None), MethodStep(b"ok"))
    assert peer.receive(req(1, 200, b"bad")) == DISCARD
    assert peer.receive(success(1)) == DISCARD  # lastId is still NONE
    assert peer.receive(req(1, 200, b"good")).response is not None  # not a duplicate
    assert len(method.calls) == 2


def test_gpsk_success_only_after_mutual_authentication() -> None:
    server = GpskServer(b"srv", lambda i: PSK, rng=seeded_rng(1))
    peer = EapPeer(identity=b"p", methods={51: lambda: GpskPeer(b"p", PSK, rng=seeded_rng(2))})
    gpsk2 = peer.receive(req(1, 51, server.initial_request(1))).response
    assert gpsk2 is not None
    forged_success = peer.receive(success(1))  # attacker skips GPSK-3
    assert forged_success.result is not None and not forged_success.result.success


# -- bad input, lifecycle ----------------------------------------------------------------


def test_malformed_and_wrong_code_discarded() -> None:
    peer = md5_peer()
    for bad in (
        b"",
        b"\x01",
        b"\x01\x01\x00\x09\x01",
        b"\x02\x01\x00\x05\x01",
        b"\x07\x01\x00\x04",
    ):
        assert peer.receive(bad) == DISCARD
    assert peer.receive(b"\x01\x01\x00\x04") == DISCARD  # Request without a Type


def test_padding_beyond_length_is_ignored() -> None:
    out = md5_peer().receive(req(5, 1) + b"\x00\x00\x00")
    assert out.response == bytes([2, 5, 0, 10, 1]) + b"alice"


def test_after_result_everything_discarded_until_restart() -> None:
    peer = md5_peer()
    peer.receive(req(1, 4, b"\x01\xaa"))
    assert peer.receive(success(1)).result is not None
    assert peer.receive(req(2, 1)) == DISCARD
    peer.restart()
    assert peer.result is None and peer.selected_method is None
    assert peer.receive(req(1, 1)).response is not None  # Identifier 1 is new again


def test_method_exception_is_contained() -> None:
    class Boom(Scripted):
        def process(self, type_data: bytes, identifier: int) -> MethodStep:
            raise RuntimeError("bug")

    peer = EapPeer(identity=b"a", methods={200: lambda: Boom([])})
    assert peer.receive(req(1, 200)) == DISCARD


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_never_raise(data: bytes) -> None:
    out = md5_peer().receive(data)
    assert out.result is None


_packets = st.builds(
    EapPacket,
    code=st.sampled_from([1, 1, 1, 2, 3, 4]),
    identifier=st.integers(0, 3),
    type=st.sampled_from([1, 2, 3, 4, 51, 254]),
    # b"" comes from sampled_from: a drawn b"" hashes like the integer 0 (both 0), and
    # hypothesis's cache then compares choice tuples holding b"" and 0: BytesWarning under -bb
    type_data=st.one_of(
        st.binary(min_size=1, max_size=40),
        st.sampled_from(
            [
                b"",
                b"\x03" + bytes(120),
                b"\x01\x00\x03srv" + bytes(32) + b"\x00\x06" + bytes(5) + b"\x01",
            ]
        ),
    ),
    vendor_id=st.sampled_from([0, 7]),
    vendor_type=st.sampled_from([3, 4, 51]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_packets, max_size=8))
def test_random_conversations_never_succeed_without_gpsk3(packets: list[EapPacket]) -> None:
    """GPSK peer fed arbitrary packet sequences: no success, since no GPSK-3 verifies."""
    peer = EapPeer(identity=b"p", methods={51: lambda: GpskPeer(b"p", PSK, rng=seeded_rng(2))})
    for pkt in packets:
        if pkt.type != 254:
            pkt = EapPacket(pkt.code, pkt.identifier, pkt.type, pkt.type_data)
        data = bytes([pkt.code, pkt.identifier, 0, 4]) if pkt.code in (3, 4) else encode_eap(pkt)
        out = peer.receive(data)
        if out.result is not None:
            assert not out.result.success and out.result.keys is None


@pytest.mark.parametrize("ident", [0, 255])
def test_identifier_extremes(ident: int) -> None:
    out = md5_peer().receive(req(ident, 1))
    assert out.response is not None and out.response[1] == ident


def test_alt_reject_fails_and_keeps_an_existing_result() -> None:
    peer = md5_peer()
    peer.receive(req(1, 4, b"\x01\xaa"))
    result = peer.alt_reject()
    assert not result.success and result.keys is None and result.method_type == 4
    assert peer.receive(success(1)) == DISCARD  # over: a late Success changes nothing
    done = md5_peer()
    done.receive(req(1, 4, b"\x01\xaa"))
    accepted = done.receive(success(1)).result
    assert accepted is not None and done.alt_reject() is accepted


def test_nak_helpers() -> None:
    assert build_nak([1, 2, 3]) == b"\x00" and build_nak((4, 254)) == bytes([4, 254])
    assert parse_nak(b"") is None and parse_nak(b"\x00") == () and parse_nak(b"\x04\x00") == (4,)
    assert build_expanded_nak([]) == bytes([254]) + bytes(7)
    assert parse_expanded_nak(build_expanded_nak([])) == ()
    assert parse_expanded_nak(build_expanded_nak([(1, 2), (0, 4)])) == ((1, 2), (0, 4))
    assert parse_expanded_nak(b"\xfe" + bytes(6)) is None
    assert parse_expanded_nak(b"\x01" + bytes(7)) is None
    with pytest.raises(ValueError, match="range"):
        build_expanded_nak([(1 << 24, 0)])

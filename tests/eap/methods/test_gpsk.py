"""EAP-GPSK (RFC 5433): known answers (test-vectors C.2), both suites end to end, bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.base import AuthMethod, AuthStep, Decision
from eap.methods.gpsk import (
    CSUITE_AES_CMAC,
    CSUITE_HMAC_SHA256,
    FailureCode,
    GpskPeer,
    GpskServer,
    OpCode,
    derive_keys,
    gkdf,
    gpsk_mac,
)
from eap.peer import EapPeer
from pana_codecs.eap import EapCode, decode_eap
from tests.eap.conversation import ScriptedRng, converse, load_vectors, seeded_rng

V = load_vectors("eap-gpsk-c2.txt")
PSK = Secret(V["psk"])
PSK16 = Secret(V["psk16"])  # the C.2 suite-1 values use a 16-octet PSK


def _server(rng: object = None, **kw: object) -> GpskServer:
    return GpskServer(
        V["id_server"],
        lambda ident: PSK if ident == V["id_peer"] else None,
        rng=rng if rng is not None else seeded_rng(1),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def _peer(psk: Secret = PSK, rng: object = None, **kw: object) -> GpskPeer:
    return GpskPeer(
        V["id_peer"],
        psk,
        rng=rng if rng is not None else seeded_rng(2),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


# -- known answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", [CSUITE_AES_CMAC, CSUITE_HMAC_SHA256])
def test_key_derivation_matches_c2(suite: int) -> None:
    psk = PSK16 if suite == CSUITE_AES_CMAC else PSK
    keys = derive_keys(suite, psk, V["rand_peer"], V["id_peer"], V["rand_server"], V["id_server"])
    p = f"s{suite}_"
    assert keys.msk.reveal() == V[p + "msk"]
    assert keys.emsk.reveal() == V[p + "emsk"]
    assert keys.sk.reveal() == V[p + "sk"]
    assert keys.method_id == V[p + "method_id"]
    assert keys.session_id == V[p + "session_id"]
    if suite == CSUITE_AES_CMAC:
        assert keys.pk.reveal() == V["s1_pk"]


def test_mk_uses_whole_psk_and_its_length() -> None:
    """RFC 5433 s4: only the KDF key is PSK[0..KS-1]; PL || PSK in the data is the whole PSK."""
    args = (V["rand_peer"], V["id_peer"], V["rand_server"], V["id_server"])
    long_keys = derive_keys(CSUITE_AES_CMAC, PSK, *args)
    assert long_keys.msk != derive_keys(CSUITE_AES_CMAC, PSK16, *args).msk
    inp = V["rand_peer"] + V["id_peer"] + V["rand_server"] + V["id_server"]
    mk = gkdf(1, V["psk"][:16], b"\x00\x20" + V["psk"] + bytes(5) + b"\x01" + inp, 16)
    assert long_keys.msk.reveal() == gkdf(1, mk, inp, 160)[:64]
    # Method-ID is keyed with PSK[0..KS-1] only, so it does not depend on the rest.
    assert long_keys.method_id == V["s1_method_id"]


def test_suite_2_needs_32_octet_psk() -> None:
    with pytest.raises(ValueError, match="32 octets"):
        derive_keys(CSUITE_HMAC_SHA256, PSK16, bytes(32), b"p", bytes(32), b"s")
    # A peer with a 16-octet PSK picks suite 1 even where suite 2 is offered first.
    peer = GpskPeer(b"p", PSK16, rng=seeded_rng(8))
    step = peer.process(_server(ciphersuites=(2, 1)).initial_request(1), 1)
    assert step.response is not None
    assert step.response[-16 - 2 - 6 : -16 - 2] == bytes(5) + b"\x01"
    step = GpskPeer(b"p", PSK16, rng=seeded_rng(8)).process(
        _server(ciphersuites=(2,)).initial_request(1), 1
    )
    assert step.done and step.response is None and step.decision is Decision.FAIL


def test_gkdf_counter_blocks() -> None:
    # GKDF-X is a prefix-consistent counter KDF: longer output extends shorter output (s7).
    key = bytes(16)
    assert gkdf(1, key, b"z", 40)[:16] == gkdf(1, key, b"z", 16)
    assert gkdf(1, key, b"z", 16) == gpsk_mac(1, key, b"\x00\x01z")
    assert gkdf(2, bytes(32), b"z", 64)[32:] == gpsk_mac(2, bytes(32), b"\x00\x02z")


def test_full_exchange_matches_c2_packets() -> None:
    """All four packets byte for byte through EapAuthenticator and EapPeer (suite 1 chosen)."""
    auth = EapAuthenticator(
        methods=lambda identity: [
            lambda: GpskServer(V["id_server"], lambda i: PSK16, rng=ScriptedRng(V["rand_server"]))
        ],
        rng=ScriptedRng(b"\x03"),
        identity_request=False,
    )
    peer = EapPeer(
        identity=V["id_peer"],
        methods={51: lambda: _peer(PSK16, rng=ScriptedRng(V["rand_peer"]))},
    )
    conv = converse(peer, auth)
    assert conv.requests == [V["gpsk1"], V["gpsk3"]]
    assert conv.responses == [V["gpsk2"], V["gpsk4"]]
    assert conv.final == bytes([EapCode.SUCCESS, 0x04, 0, 4])
    assert conv.auth_result is not None and conv.peer_result is not None
    assert conv.auth_result.success and conv.peer_result.success
    for result in (conv.auth_result, conv.peer_result):
        assert result.method_type == 51
        assert result.keys is not None
        assert result.keys.msk.reveal() == V["s1_msk"]
        assert result.keys.emsk is not None and result.keys.emsk.reveal() == V["s1_emsk"]
        assert result.keys.session_id == V["s1_session_id"]


def test_peer_answers_c2_gpsk1_with_c2_gpsk2() -> None:
    peer = _peer(PSK16, rng=ScriptedRng(V["rand_peer"]))
    step = peer.process(decode_eap(V["gpsk1"]).type_data, 3)
    assert step.response == decode_eap(V["gpsk2"]).type_data
    assert not step.done and peer.keys() is None
    step = peer.process(decode_eap(V["gpsk3"]).type_data, 4)
    assert step.response == decode_eap(V["gpsk4"]).type_data
    assert step.done and step.decision is Decision.UNCOND_SUCC
    keys = peer.keys()
    assert keys is not None and keys.msk.reveal() == V["s1_msk"]


# -- both suites end to end ---------------------------------------------------------------


def _run(
    server_suites: tuple[int, ...], peer_suites: tuple[int, ...], peer_psk: Secret = PSK
) -> tuple[object, object, list[bytes]]:
    auth = EapAuthenticator(
        methods=lambda identity: [lambda: _server(ciphersuites=server_suites)], rng=seeded_rng(3)
    )
    peer = EapPeer(
        identity=b"anonymous",
        methods={51: lambda: _peer(peer_psk, ciphersuites=peer_suites)},
    )
    conv = converse(peer, auth)
    return conv.auth_result, conv.peer_result, conv.responses


@pytest.mark.parametrize(
    ("server_suites", "peer_suites", "expected"),
    [
        ((1, 2), (1, 2), 1),
        ((2, 1), (1, 2), 2),  # the peer follows the server's order, as hostapd does
        ((1, 2), (2,), 2),
        ((1,), (1,), 1),
        ((2,), (2,), 2),
    ],
)
def test_suites_end_to_end(
    server_suites: tuple[int, ...], peer_suites: tuple[int, ...], expected: int
) -> None:
    auth_result, peer_result, responses = _run(server_suites, peer_suites)
    assert auth_result is not None and peer_result is not None
    assert auth_result.success and peer_result.success  # type: ignore[attr-defined]
    a_keys, p_keys = auth_result.keys, peer_result.keys  # type: ignore[attr-defined]
    assert a_keys is not None and p_keys is not None
    assert a_keys.msk == p_keys.msk and len(a_keys.msk) == 64
    assert a_keys.emsk == p_keys.emsk and a_keys.session_id == p_keys.session_id
    gpsk2 = decode_eap(responses[1]).type_data
    # CSuite_Sel sits just before length(PD_Payload_Block) and the MAC (ML = KS).
    ml = 16 if expected == 1 else 32
    assert gpsk2[-ml - 2 - 6 : -ml - 2] == bytes(4) + expected.to_bytes(2, "big")


@pytest.mark.parametrize("suites", [(1,), (2,)])
def test_wrong_psk_fails_both_sides_with_gpsk_fail(suites: tuple[int, ...]) -> None:
    auth_result, peer_result, responses = _run(suites, suites, Secret(bytes(range(1, 33))))
    assert auth_result is not None and not auth_result.success  # type: ignore[attr-defined]
    assert auth_result.keys is None  # type: ignore[attr-defined]
    assert peer_result is not None and not peer_result.success  # type: ignore[attr-defined]
    # The peer echoed GPSK-Fail (Authentication Failure) before EAP Failure (RFC 5433 s10).
    last = decode_eap(responses[-1]).type_data
    assert last == bytes([OpCode.GPSK_FAIL]) + (2).to_bytes(4, "big")


def test_gpsk_fail_can_be_skipped_like_hostapd() -> None:
    server = GpskServer(b"srv", lambda ident: None, rng=seeded_rng(4), gpsk_fail=False)
    gpsk2 = GpskPeer(b"who", PSK, rng=seeded_rng(5)).process(server.initial_request(1), 1)
    assert gpsk2.response is not None
    step = server.process(gpsk2.response, 1, 2)
    assert step.done and not step.success and step.request is None
    refused = _server(authorize=lambda ident: False, gpsk_fail=False)
    gpsk2 = _peer().process(refused.initial_request(1), 1)
    assert gpsk2.response is not None
    step = refused.process(gpsk2.response, 1, 2)
    assert step.done and not step.success and refused.keys() is None


def test_unknown_peer_gets_psk_not_found() -> None:
    server = GpskServer(b"srv", lambda ident: None, rng=seeded_rng(4))
    peer = GpskPeer(b"who", PSK, rng=seeded_rng(5))
    gpsk2 = peer.process(server.initial_request(1), 1).response
    assert gpsk2 is not None
    step = server.process(gpsk2, 1, 2)
    assert step.request == bytes([5]) + int(FailureCode.PSK_NOT_FOUND).to_bytes(4, "big")
    echo = peer.process(step.request, 2)
    assert echo.done and echo.decision is Decision.FAIL and echo.response == step.request
    final = server.process(echo.response, 2, 3)
    assert final.done and not final.success and server.keys() is None and peer.keys() is None


def test_authorization_refused_with_protected_fail() -> None:
    server = _server(authorize=lambda ident: False)
    peer = _peer()
    gpsk2 = peer.process(server.initial_request(1), 1).response
    assert gpsk2 is not None
    step = server.process(gpsk2, 1, 2)
    assert step.request is not None and step.request[0] == OpCode.GPSK_PROTECTED_FAIL
    tampered = step.request[:-1] + bytes([step.request[-1] ^ 1])
    assert peer.process(tampered, 2).response is None  # bad MAC: discarded
    echo = peer.process(step.request, 2)
    assert echo.done and echo.decision is Decision.FAIL and echo.response is not None
    assert echo.response[:5] == step.request[:5]
    final = server.process(echo.response, 2, 3)
    assert final.done and not final.success and server.keys() is None


def test_peer_refuses_unexpected_server_id() -> None:
    peer = _peer(server_id=b"other.example.com")
    step = peer.process(_server().initial_request(1), 1)
    assert step.done and step.decision is Decision.FAIL
    assert step.response == bytes([5]) + (1).to_bytes(4, "big")


def test_no_common_ciphersuite_fails_peer() -> None:
    peer = _peer(ciphersuites=(2,))
    step = peer.process(_server(ciphersuites=(1,)).initial_request(1), 1)
    assert step.done and step.response is None and step.decision is Decision.FAIL


def test_short_psk_rejected() -> None:
    with pytest.raises(ValueError, match="16 octets"):
        GpskPeer(b"p", Secret(b"short"))
    server = GpskServer(b"s", lambda ident: Secret(b"short"), rng=seeded_rng(6))
    gpsk2 = _peer().process(server.initial_request(1), 1).response
    assert gpsk2 is not None
    step = server.process(gpsk2, 1, 2)
    assert step.request == bytes([5]) + (1).to_bytes(4, "big")  # treated as PSK Not Found


# -- bad input: tampering, replays, truncation -------------------------------------------


def _first_two() -> tuple[GpskServer, GpskPeer, bytes]:
    server, peer = _server(), _peer()
    gpsk2 = peer.process(server.initial_request(1), 1).response
    assert gpsk2 is not None
    return server, peer, gpsk2


@pytest.mark.parametrize(
    ("offset", "outcome"),
    [
        (3, FailureCode.PSK_NOT_FOUND),  # ID_Peer: another (unknown) peer
        (25, None),  # ID_Server
        (50, FailureCode.AUTHENTICATION_FAILURE),  # RAND_Peer: covered by the MAC
        (80, None),  # RAND_Server
        (110, None),  # CSuite_List
        (122, None),  # CSuite_Sel: a suite that was not offered
    ],
)
def test_server_checks_every_gpsk2_field(offset: int, outcome: FailureCode | None) -> None:
    """Binding fields not as sent are discarded (RFC 5433 s10); others fail with GPSK-Fail."""
    server, _, gpsk2 = _first_two()
    bad = bytearray(gpsk2)
    bad[offset] ^= 0x01
    step = server.process(bytes(bad), 1, 2)
    assert not step.success and server.keys() is None
    if outcome is None:
        assert step.discard
    else:
        assert step.request == bytes([5]) + int(outcome).to_bytes(4, "big")


def test_server_gpsk2_mac_failure_sends_authentication_failure() -> None:
    server, _, gpsk2 = _first_two()
    bad = gpsk2[:-1] + bytes([gpsk2[-1] ^ 0x80])
    step = server.process(bad, 1, 2)
    assert step.request == bytes([5]) + (2).to_bytes(4, "big")
    assert server.keys() is None


def test_replayed_gpsk2_from_another_run_is_discarded() -> None:
    _s, _p, old_gpsk2 = _first_two()
    server = _server(rng=seeded_rng(99))
    server.initial_request(1)
    assert server.process(old_gpsk2, 1, 2).discard


def test_gpsk3_tampering_is_discarded_then_real_one_accepted() -> None:
    server, peer, gpsk2 = _first_two()
    gpsk3 = server.process(gpsk2, 1, 2).request
    assert gpsk3 is not None
    for i in (1, 40, 70, len(gpsk3) - 1):
        bad = bytearray(gpsk3)
        bad[i] ^= 0x04
        assert peer.process(bytes(bad), 2).response is None
        assert peer.keys() is None
    assert peer.process(gpsk3[:-1], 2).response is None  # truncated
    assert peer.process(gpsk3 + b"\x00", 2).response is None  # oversized
    step = peer.process(gpsk3, 2)
    assert step.done and step.response is not None and peer.keys() is not None


def test_gpsk4_bad_mac_discarded_and_replay_from_other_run_rejected() -> None:
    server, peer, gpsk2 = _first_two()
    gpsk3 = server.process(gpsk2, 1, 2).request
    assert gpsk3 is not None
    gpsk4 = peer.process(gpsk3, 2).response
    assert gpsk4 is not None
    assert server.process(gpsk4[:-1] + bytes([gpsk4[-1] ^ 1]), 2, 3).discard
    # A GPSK-4 from another conversation does not verify under this run's SK.
    server_b = _server(rng=seeded_rng(50))
    peer_b = _peer(rng=seeded_rng(51))
    g2b = peer_b.process(server_b.initial_request(1), 1).response
    assert g2b is not None
    g3b = server_b.process(g2b, 1, 2).request
    assert g3b is not None
    g4b = peer_b.process(g3b, 2).response
    assert g4b is not None and g4b != gpsk4
    assert server.process(g4b, 2, 3).discard
    final = server.process(gpsk4, 2, 3)
    assert final.done and final.success and server.keys() is not None


def test_out_of_order_and_wrong_opcode_discarded() -> None:
    server, peer, gpsk2 = _first_two()
    assert server.process(b"", 1, 2).discard
    assert server.process(bytes([OpCode.GPSK_4]) + gpsk2[1:], 1, 2).discard
    assert server.process(bytes([9]) + gpsk2[1:], 1, 2).discard
    assert peer.process(b"", 1).response is None
    assert peer.process(_server().initial_request(1), 1).response is None  # GPSK-1 again
    assert peer.process(bytes([OpCode.GPSK_2]) + gpsk2[1:], 1).response is None


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), prefix=st.sampled_from([b"", b"\x01", b"\x02", b"\x03"]))
def test_random_bytes_never_raise_or_succeed(data: bytes, prefix: bytes) -> None:
    server = _server()
    peer = _peer()
    gpsk1 = server.initial_request(1)
    peer_step = peer.process(prefix + data, 1)
    assert peer.keys() is None
    if peer_step.response is not None:
        assert peer_step.response[0] in (OpCode.GPSK_2, OpCode.GPSK_FAIL)
    srv_step = server.process(prefix + data, 1, 2)
    assert not srv_step.success and server.keys() is None
    # The real run still works after garbage (unless garbage ended the server with GPSK-Fail).
    if srv_step.discard:
        real = _peer().process(gpsk1, 1).response
        assert real is not None
        assert server.process(real, 1, 2).request is not None


def test_keys_never_printed() -> None:
    auth_result, _peer_result, _responses = _run((1, 2), (1, 2))
    text = repr(auth_result)
    msk = auth_result.keys.msk.reveal()  # type: ignore[attr-defined]
    assert msk.hex() not in text and "Secret(<64 bytes>)" in text


def _is_auth_method(m: AuthMethod) -> AuthMethod:
    return m


def test_server_satisfies_protocol() -> None:
    assert _is_auth_method(_server()).method_type == 51


# -- protected data (RFC 5433 s8): MAC-covered, then ignored -------------------------------------

_PD = b"\x00\x00\x00\x00\x00\x01" + b"\x00\x03abc"  # some PD payload, no registered PData type


def _with_pd(type_data: bytes, sk: bytes, suite: int = 1) -> bytes:
    """Insert a PD_Payload_Block into a GPSK-2/3/4 (empty block before the MAC) and re-MAC it."""
    ml = 16 if suite == 1 else 32
    covered = type_data[1:-ml]
    assert covered.endswith(b"\x00\x00")
    covered = covered[:-2] + len(_PD).to_bytes(2, "big") + _PD
    return type_data[:1] + covered + gpsk_mac(suite, sk, covered)


def _c2_run() -> tuple[GpskServer, GpskPeer, bytes, bytes]:
    server = GpskServer(V["id_server"], lambda i: PSK16, rng=ScriptedRng(V["rand_server"]))
    peer = GpskPeer(V["id_peer"], PSK16, rng=ScriptedRng(V["rand_peer"]))
    gpsk2 = peer.process(server.initial_request(3), 3).response
    assert gpsk2 is not None
    return server, peer, gpsk2, V["s1_sk"]


def test_server_accepts_mac_covered_protected_data_in_gpsk2_and_gpsk4() -> None:
    server, peer, gpsk2, sk = _c2_run()
    tampered = bytearray(_with_pd(gpsk2, sk))
    tampered[-20] ^= 1  # inside the PD block: the MAC no longer verifies
    assert server.process(bytes(tampered), 3, 4).request == bytes([5, 0, 0, 0, 2])
    server, peer, gpsk2, sk = _c2_run()
    gpsk3 = server.process(_with_pd(gpsk2, sk), 3, 4).request
    assert gpsk3 is not None and gpsk3[0] == OpCode.GPSK_3
    gpsk4 = peer.process(gpsk3, 4).response
    assert gpsk4 is not None
    bad4 = bytearray(_with_pd(gpsk4, sk))
    bad4[5] ^= 1
    assert server.process(bytes(bad4), 4, 5).discard
    final = server.process(_with_pd(gpsk4, sk), 4, 5)
    assert final.done and final.success and server.keys() is not None


def test_peer_accepts_mac_covered_protected_data_in_gpsk3() -> None:
    server, peer, gpsk2, sk = _c2_run()
    gpsk3 = server.process(gpsk2, 3, 4).request
    assert gpsk3 is not None
    with_pd = _with_pd(gpsk3, sk)
    bad = bytearray(with_pd)
    bad[-20] ^= 1
    assert peer.process(bytes(bad), 4).response is None
    step = peer.process(with_pd, 4)
    assert step.done and step.response == decode_eap(V["gpsk4"]).type_data


def test_server_checks_mac_of_protected_fail_from_peer() -> None:
    server, _, gpsk2, sk = _c2_run()
    assert server.process(gpsk2, 3, 4).request is not None
    code = (3).to_bytes(4, "big")
    good = bytes([OpCode.GPSK_PROTECTED_FAIL]) + code + gpsk_mac(1, sk, code)
    assert server.process(good[:-1] + b"\x00", 4, 5).discard
    assert server.process(good, 4, 5) == AuthStep(done=True, success=False)


@pytest.mark.parametrize(
    "csuite_list", [b"", b"\x00" * 5, b"\x00" * 7, b"\x00\x00\x00\x07\x00\x01"]
)
def test_peer_discards_gpsk1_with_bad_or_foreign_csuite_list(csuite_list: bytes) -> None:
    body = b"\x01\x00\x03srv" + bytes(32) + len(csuite_list).to_bytes(2, "big") + csuite_list
    step = _peer().process(body, 1)
    assert step.response is None
    if csuite_list[:4] == b"\x00\x00\x00\x07":  # parses, but only a vendor suite is offered
        assert step.done and step.decision is Decision.FAIL
    else:
        assert not step.done


def test_misuse_raises_value_error() -> None:
    with pytest.raises(ValueError, match="subset"):
        GpskPeer(b"p", PSK, ciphersuites=(3,))
    with pytest.raises(ValueError, match="subset"):
        GpskServer(b"s", lambda i: PSK, ciphersuites=())
    with pytest.raises(ValueError, match="wrong number"):
        GpskServer(b"s", lambda i: PSK, rng=lambda n: b"short").initial_request(1)
    with pytest.raises(ValueError, match="unsupported"):
        gpsk_mac(7, bytes(16), b"")


def test_server_reports_peer_id() -> None:
    server, _peer_unused, gpsk2, _sk = _c2_run()
    assert server.peer_id is None
    server.process(gpsk2, 3, 4)
    assert server.peer_id == V["id_peer"]

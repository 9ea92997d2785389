"""EAP-PSK (RFC 4764): known answers, real captures, peer <-> server, and hostile input."""

from __future__ import annotations

import logging
import random
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.base import AuthMethod, Decision
from eap.methods.psk import (
    EAP_TYPE_PSK,
    MAX_ID_LEN,
    PchannelCheck,
    PskError,
    PskPeer,
    PskResult,
    PskServer,
    derive_session_keys,
    key_setup,
    mac_p,
    mac_s,
    observe,
    observe_all,
    open_pchannel,
    seal_pchannel,
)
from eap.peer import EapPeer
from interop.locate import capture_path
from tests.eap.conversation import converse as eap_converse
from tests.realcomponents import need_binary

REPO = Path(__file__).resolve().parents[3]
VECTORS = REPO / "tests" / "vectors"


def load(name: str) -> dict[str, str]:
    """``name = value`` lines of a vector file, comments ('#') stripped."""
    values: dict[str, str] = {}
    for line in (VECTORS / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def hx(values: dict[str, str], key: str) -> bytes:
    return bytes.fromhex(values[key].replace(" ", ""))


C1 = load("eap-psk-full-exchange.txt")
OPENPANA = load("eap-psk-openpana-loopback.txt")
CPANA = load("eap-psk-cpana-rfc5191.txt")


def run_msgs(values: dict[str, str], run: int) -> list[bytes]:
    return [hx(values, f"run{run}.msg{n}") for n in range(1, 5)]


def fixed(value: bytes) -> Callable[[int], bytes]:
    """An rng that returns ``value`` (pins RAND_S / RAND_P for known-answer tests)."""

    def rng(n: int) -> bytes:
        assert n == len(value)
        return value

    return rng


def seeded(seed: int) -> random.Random:
    """Deterministic randomness for protocol tests (never for real keys)."""
    return random.Random(seed)


def eap(code: int, identifier: int, type_data: bytes) -> bytes:
    """Complete EAP packet around EAP-PSK Type-Data."""
    return struct.pack("!BBHB", code, identifier, 5 + len(type_data), EAP_TYPE_PSK) + type_data


def split(packet: bytes) -> tuple[int, bytes]:
    """(Identifier, Type-Data) of a complete EAP-PSK packet."""
    return packet[1], packet[5:]


PSK = Secret(hx(C1, "psk"))
ID_S = hx(C1, "id_s")
ID_P = hx(C1, "id_p")
RAND_S = hx(C1, "rand_s")
RAND_P = hx(C1, "rand_p")


def c1_pair() -> tuple[PskPeer, PskServer]:
    server = PskServer(ID_S, {ID_P: PSK}.get, rng=fixed(RAND_S))
    return PskPeer(ID_P, PSK, rng=fixed(RAND_P)), server


# --- RFC 4764 key hierarchy and the C.1 exchange --------------------------------------------


def test_key_hierarchy_c1() -> None:
    ak, kdk = key_setup(PSK)
    assert ak.reveal() == hx(C1, "ak")
    assert kdk.reveal() == hx(C1, "kdk")
    keys = derive_session_keys(kdk, RAND_P)
    assert keys.tek.reveal() == hx(C1, "tek")
    assert keys.msk.reveal() == hx(C1, "msk")
    assert keys.emsk.reveal() == hx(C1, "emsk")
    assert mac_p(ak, ID_P, ID_S, RAND_S, RAND_P) == hx(C1, "mac_p")
    assert mac_s(ak, ID_S, RAND_P) == hx(C1, "mac_s")


def test_full_exchange_c1_byte_for_byte() -> None:
    peer, server = c1_pair()
    msg1 = eap(1, 1, server.initial_request(1))
    assert msg1 == hx(C1, "msg1")
    step2 = peer.process(*reversed(split(msg1)))  # type: ignore[arg-type]
    assert step2.response is not None and not step2.done
    assert eap(2, 1, step2.response) == hx(C1, "msg2")
    step3 = server.process(step2.response, 1, 2)
    assert step3.request is not None and not step3.done and not step3.discard
    assert eap(1, 2, step3.request) == hx(C1, "msg3")
    assert peer.keys() is None
    step4 = peer.process(step3.request, 2)
    assert step4.done and step4.decision is Decision.UNCOND_SUCC
    assert step4.response is not None
    assert eap(2, 2, step4.response) == hx(C1, "msg4")
    assert server.keys() is None
    final = server.process(step4.response, 2, 3)
    assert final.done and final.success and final.request is None
    peer_keys, server_keys = peer.keys(), server.keys()
    assert peer_keys is not None and server_keys is not None
    assert peer_keys.msk.reveal() == server_keys.msk.reveal() == hx(C1, "msk")
    assert peer_keys.emsk is not None and peer_keys.emsk.reveal() == hx(C1, "emsk")
    assert peer_keys.session_id == server_keys.session_id == hx(C1, "session_id")
    assert peer.server_id == ID_S and server.peer_id == ID_P


def test_observe_c1() -> None:
    seen = observe(*(hx(C1, f"msg{n}") for n in range(1, 5)), psk=PSK)
    assert (seen.id_s, seen.id_p, seen.rand_s, seen.rand_p) == (ID_S, ID_P, RAND_S, RAND_P)
    assert seen.mac_p_ok and seen.mac_s_ok
    assert seen.pchannel3 is seen.pchannel4 is PchannelCheck.RFC4764
    assert seen.result3 is seen.result4 is PskResult.DONE_SUCCESS
    assert seen.keys is not None and seen.keys.msk.reveal() == hx(C1, "msk")


def test_observe_wrong_psk_and_partial() -> None:
    msgs = [hx(C1, f"msg{n}") for n in range(1, 5)]
    seen = observe(*msgs, psk=Secret(bytes(16)))
    assert not seen.mac_p_ok and seen.mac_s_ok is False and seen.keys is None
    assert seen.pchannel3 is seen.pchannel4 is PchannelCheck.FAILED
    only_two = observe(msgs[0], msgs[1], psk=PSK)
    assert only_two.mac_s_ok is None and only_two.pchannel3 is PchannelCheck.ABSENT
    assert only_two.keys is not None


@pytest.mark.parametrize(
    ("index", "mutate", "match"),
    [
        (0, lambda b: b[:4], "too short"),
        (0, lambda b: b + b"x", "Length"),
        (1, lambda b: b"\x01" + b[1:], "Code"),
        (0, lambda b: b[:5] + b"\x40" + b[6:], "T=1"),
        (1, lambda b: b[:6] + bytes((b[6] ^ 1,)) + b[7:], "RAND_S"),
        (2, lambda b: b[:4] + b"\x04" + b[5:], "Type"),
        (1, lambda b: eap(2, 1, b[5:30]), "truncated"),
    ],
)
def test_observe_rejects_non_psk_input(
    index: int, mutate: Callable[[bytes], bytes], match: str
) -> None:
    msgs = [hx(C1, f"msg{n}") for n in range(1, 5)]
    msgs[index] = mutate(msgs[index])
    with pytest.raises(PskError, match=match):
        observe(*msgs, psk=PSK)


# --- real captures ---------------------------------------------------------------------------


@pytest.mark.parametrize("run", [1, 2, 3])
def test_openpana_capture(run: int) -> None:
    """OpenPANA (wpa_supplicant peer) with hostapd as the server: RFC-conformant PCHANNEL."""
    psk = Secret(hx(OPENPANA, "psk"))
    msgs = run_msgs(OPENPANA, run)
    seen = observe(*msgs, psk=psk)
    assert seen.id_s == b"hostapd" and seen.id_p == b"user1"
    assert seen.mac_p_ok and seen.mac_s_ok
    assert seen.pchannel3 is seen.pchannel4 is PchannelCheck.RFC4764
    assert seen.result3 is seen.result4 is PskResult.DONE_SUCCESS
    assert seen.keys is not None
    assert seen.keys.msk.reveal() == hx(OPENPANA, f"run{run}.msk")
    # The padded nonce decrypts to 0x80 (DONE_SUCCESS); CPANA's unpadded nonce fails.
    tek = derive_session_keys(key_setup(psk)[1], seen.rand_p).tek
    for packet, offset in ((msgs[2], 5 + 33), (msgs[3], 5 + 17)):
        assert open_pchannel(tek, packet[:22], packet[offset:]) == (packet[offset + 3], b"\x80")
        assert open_pchannel(tek, packet[:22], packet[offset:], rfc_nonce=False) is None


def test_openpana_key_id_0x6f42762f_msk() -> None:
    """The README's MSK for Key-Id 0x6f42762f comes from the first run (frames 6-9)."""
    seen = observe(*run_msgs(OPENPANA, 1), psk=Secret(b"SecretPassphrase"))
    assert seen.keys is not None
    assert seen.keys.msk.reveal().hex() == (
        "f3015821f6e28e87b00b5cd1cf905703676b6bf95faa9f3b962a7544fd1128ba"
        "d072348ee097f29aa659eaaf38ffb7ff5bdd8ba3012c06d21540113abfef2241"
    )


@pytest.mark.parametrize("run", [1, 2, 3])
def test_our_peer_and_server_reproduce_openpana_hostapd(run: int) -> None:
    """With the captured randoms, our server emits hostapd's messages and our peer OpenPANA's."""
    psk = Secret(b"SecretPassphrase")
    msg1, msg2, msg3, msg4 = run_msgs(OPENPANA, run)
    rand_s, rand_p = msg1[6:22], msg2[22:38]
    server = PskServer(b"hostapd", {b"user1": psk}.get, rng=fixed(rand_s))
    peer = PskPeer(b"user1", psk, rng=fixed(rand_p))
    assert eap(1, msg1[1], server.initial_request(msg1[1])) == msg1
    step2 = peer.process(msg1[5:], msg1[1])
    assert step2.response is not None and eap(2, msg1[1], step2.response) == msg2
    step3 = server.process(msg2[5:], msg2[1], msg3[1])
    assert step3.request is not None and eap(1, msg3[1], step3.request) == msg3
    step4 = peer.process(msg3[5:], msg3[1])
    assert step4.response is not None and eap(2, msg3[1], step4.response) == msg4
    assert server.process(msg4[5:], msg4[1], (msg4[1] + 1) % 256).success
    peer_keys = peer.keys()
    assert peer_keys is not None and peer_keys.msk.reveal() == hx(OPENPANA, f"run{run}.msk")


@pytest.mark.parametrize("run", [1, 2])
def test_cpana_capture(run: int) -> None:
    """CPANA: MACs verify, but its PCHANNEL only opens with the unpadded nonce (its bug)."""
    psk = Secret(hx(CPANA, "psk"))
    msgs = run_msgs(CPANA, run)
    seen = observe(*msgs, psk=psk)
    assert seen.id_s == b"" and seen.id_p == b"user1"
    assert seen.mac_p_ok and seen.mac_s_ok
    assert seen.pchannel3 is seen.pchannel4 is PchannelCheck.UNPADDED_NONCE
    assert seen.result3 is seen.result4 is PskResult.DONE_SUCCESS
    tek = derive_session_keys(key_setup(psk)[1], seen.rand_p).tek
    for packet, offset in ((msgs[2], 5 + 33), (msgs[3], 5 + 17)):
        assert open_pchannel(tek, packet[:22], packet[offset:]) is None
        opened = open_pchannel(tek, packet[:22], packet[offset:], rfc_nonce=False)
        assert opened == (packet[offset + 3], b"\x80")
    if run == 1:
        assert seen.keys is not None
        assert seen.keys.msk.reveal() == hx(CPANA, "run1.msk")


def test_our_peer_rejects_cpana_message3() -> None:
    """A conformant peer silently discards CPANA's message 3 (tag fails with the padded nonce)."""
    psk = Secret(b"SecretPassphrase")
    msg1, msg2, msg3, _ = run_msgs(CPANA, 1)
    peer = PskPeer(b"user1", psk, rng=fixed(msg2[22:38]))
    step2 = peer.process(msg1[5:], msg1[1])
    assert step2.response is not None and eap(2, msg1[1], step2.response) == msg2
    step3 = peer.process(msg3[5:], msg3[1])
    assert step3.response is None and peer.keys() is None


def test_observe_all_groups_a_capture() -> None:
    """The capture verifier's entry point: a stream of EAP packets in, one result per run."""
    stream: list[bytes] = [
        b"\x01\x05\x00\x05\x01",
        b"\x02\x05\x00\x0a\x01user1",
        b"\x03\x06\x00\x04",
    ]
    for run in (1, 2, 3):
        msgs = run_msgs(OPENPANA, run)
        stream += [
            msgs[0],
            msgs[0],
            msgs[1],
            msgs[2],
            msgs[3],
            b"\x03" + msgs[3][1:2] + b"\x00\x04",
        ]
    stream.append(run_msgs(CPANA, 2)[0])  # a lone message 1: no conversation to verify
    seen = observe_all(stream, Secret(b"SecretPassphrase"))
    assert [o.keys.msk.reveal() if o.keys else None for o in seen] == [
        hx(OPENPANA, f"run{run}.msk") for run in (1, 2, 3)
    ]
    assert all(o.pchannel4 is PchannelCheck.RFC4764 for o in seen)
    cpana = observe_all(run_msgs(CPANA, 1) + run_msgs(CPANA, 2), Secret(b"SecretPassphrase"))
    assert [o.pchannel3 for o in cpana] == [PchannelCheck.UNPADDED_NONCE] * 2
    with pytest.raises(PskError, match="no RAND_S"):
        observe_all([b"\x01\x01\x00\x08\x2f\x00\x00\x00"], Secret(b"SecretPassphrase"))


def _psk_payloads(tshark: str, capture: Path) -> dict[int, bytes]:
    """Frame number -> EAP packet for every EAP-PSK packet in a PANA capture."""
    out = subprocess.run(
        [tshark, "-r", str(capture), "-T", "fields", "-e", "frame.number", "-e", "udp.payload"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    found: dict[int, bytes] = {}
    for line in out.splitlines():
        number, _, payload_hex = line.partition("\t")
        data = bytes.fromhex(payload_hex)
        offset = 16  # PANA header (RFC 5191 s6.1), then AVPs (s6.3)
        while offset + 8 <= len(data):
            code, flags, length = struct.unpack_from("!HHH", data, offset)
            offset += 8 + (4 if flags & 0x8000 else 0)
            value = data[offset : offset + length]
            offset += length + (-length % 4)
            if code == 2 and len(value) > 4 and value[4] == EAP_TYPE_PSK:  # EAP-Payload
                found[int(number)] = value
    return found


@pytest.mark.tshark
@pytest.mark.interop
@pytest.mark.parametrize(
    ("capture", "values", "runs"),
    [
        ("openpana-loopback.pcapng", OPENPANA, 3),
        ("wireshark-wiki-pana-rfc5191.cap", CPANA, 2),
    ],
    ids=["openpana", "cpana"],
)
def test_vector_files_match_captures(capture: str, values: dict[str, str], runs: int) -> None:
    """The hex in tests/vectors is exactly what tshark finds in the read-only captures."""
    tshark = need_binary("tshark")
    found = _psk_payloads(tshark, capture_path(capture))
    expected: dict[int, bytes] = {}
    for run in range(1, runs + 1):
        frames = [int(f) for f in values[f"run{run}.frames"].split()]
        expected.update(zip(frames, run_msgs(values, run), strict=True))
    assert found == expected


# --- peer <-> server in memory ---------------------------------------------------------------


def converse(peer: PskPeer, server: PskServer, first_id: int = 7) -> list[object]:
    """Run one EAP-PSK conversation; return every step, stopping at a discard or the end."""
    steps: list[object] = []
    ident = first_id
    request: bytes | None = server.initial_request(ident)
    while request is not None:
        pstep = peer.process(request, ident)
        steps.append(pstep)
        if pstep.response is None:
            break
        sstep = server.process(pstep.response, ident, (ident + 1) % 256)
        steps.append(sstep)
        ident = (ident + 1) % 256
        request = sstep.request
    return steps


def test_peer_server_success_random() -> None:
    rng = seeded(4764)
    psk = Secret(rng.randbytes(16))
    peer = PskPeer(b"alice", psk, rng=rng.randbytes)
    server = PskServer(b"paa.example", {b"alice": psk}.get, rng=rng.randbytes)
    converse(peer, server, first_id=255)  # Identifier wraps 255 -> 0 between messages
    peer_keys, server_keys = peer.keys(), server.keys()
    assert peer_keys is not None and server_keys is not None
    assert peer_keys.msk == server_keys.msk and peer_keys.emsk == server_keys.emsk
    assert len(peer_keys.msk) == 64 and peer_keys.session_id == server_keys.session_id


def test_wrong_psk_never_succeeds() -> None:
    rng = seeded(1)
    peer = PskPeer(b"alice", Secret(rng.randbytes(16)), rng=rng.randbytes)
    server = PskServer(b"paa", {b"alice": Secret(rng.randbytes(16))}.get, rng=rng.randbytes)
    steps = converse(peer, server)
    # MAC_P fails: the server silently discards message 2 (RFC 4764 s4.3) and keeps waiting.
    assert len(steps) == 2 and getattr(steps[1], "discard", False)
    assert peer.keys() is None and server.keys() is None and server.peer_id is None


def test_wrong_psk_fails_at_once_in_hostapd_mode() -> None:
    rng = seeded(11)
    peer = PskPeer(b"alice", Secret(rng.randbytes(16)), rng=rng.randbytes)
    credentials = {b"alice": Secret(rng.randbytes(16))}
    server = PskServer(b"paa", credentials.get, rng=rng.randbytes, fail_on_bad_mac_p=True)
    step = converse(peer, server)[-1]
    assert getattr(step, "done", False) and not getattr(step, "success", True)
    assert server.process(b"\x40" + bytes(48), 1, 2).discard  # nothing after the failure


def test_unknown_identity_fails() -> None:
    rng = seeded(2)
    psk = Secret(rng.randbytes(16))
    peer = PskPeer(b"mallory", psk, rng=rng.randbytes)
    server = PskServer(b"paa", {b"alice": psk}.get, rng=rng.randbytes)
    steps = converse(peer, server)
    last = steps[-1]
    assert getattr(last, "done", False) and not getattr(last, "success", True)
    assert server.keys() is None and peer.keys() is None


@pytest.mark.parametrize("bad", [Secret(bytes(15)), Secret(bytes(32)), b"0" * 16])
def test_server_fails_on_misconfigured_lookup(bad: object) -> None:
    rng = seeded(3)
    peer = PskPeer(b"alice", Secret(bytes(16)), rng=rng.randbytes)
    server = PskServer(b"paa", lambda _id: bad, rng=rng.randbytes)  # type: ignore[arg-type,return-value]
    step = converse(peer, server)[-1]
    assert getattr(step, "done", False) and not getattr(step, "success", True)


def test_server_fails_when_lookup_raises() -> None:
    def lookup(identity: bytes) -> Secret | None:
        raise KeyError(identity)

    rng = seeded(4)
    peer = PskPeer(b"alice", Secret(bytes(16)), rng=rng.randbytes)
    step = converse(peer, PskServer(b"paa", lookup, rng=rng.randbytes))[-1]
    assert getattr(step, "done", False) and not getattr(step, "success", True)


def test_empty_id_s_like_cpana() -> None:
    psk = Secret(bytes(range(16)))
    peer = PskPeer(b"user1", psk, rng=seeded(5).randbytes)
    server = PskServer(b"", {b"user1": psk}.get, rng=seeded(6).randbytes)
    converse(peer, server)
    assert peer.keys() is not None and peer.server_id == b""


# --- through the EAP layer (EapPeer / EapAuthenticator) -------------------------------------


def eap_pair(
    peer_psk: Secret, users: dict[bytes, Secret], identity: bytes = b"user1", seed: int = 9
) -> tuple[EapPeer, EapAuthenticator]:
    rng = seeded(seed)
    peer = EapPeer(
        identity=identity,
        methods={EAP_TYPE_PSK: lambda: PskPeer(identity, peer_psk, rng=rng.randbytes)},
    )

    def policy(_identity: bytes) -> list[Callable[[], AuthMethod]]:
        return [lambda: PskServer(b"hostapd", users.get, rng=rng.randbytes)]

    return peer, EapAuthenticator(methods=policy, rng=rng.randbytes)


def test_eap_layer_success() -> None:
    psk = Secret(b"SecretPassphrase")
    peer, auth = eap_pair(psk, {b"user1": psk})
    conv = eap_converse(peer, auth)
    assert conv.auth_result is not None and conv.auth_result.success
    assert conv.peer_result is not None and conv.peer_result.success
    assert conv.final is not None and conv.final[0] == 3  # EAP Success
    auth_keys, peer_keys = conv.auth_result.keys, conv.peer_result.keys
    assert auth_keys is not None and peer_keys is not None
    assert auth_keys.msk == peer_keys.msk and auth_keys.session_id == peer_keys.session_id
    # Identity, then the four EAP-PSK messages; each EAX header saw its own Identifier.
    assert [r[4] for r in conv.requests] == [1, 47, 47]
    seen = observe(
        conv.requests[1], conv.responses[1], conv.requests[2], conv.responses[2], psk=psk
    )
    assert seen.pchannel3 is seen.pchannel4 is PchannelCheck.RFC4764
    assert seen.keys is not None and seen.keys.msk == peer_keys.msk


def test_eap_layer_retransmitted_message1_gets_the_cached_message2() -> None:
    psk = Secret(b"SecretPassphrase")
    peer, auth = eap_pair(psk, {b"user1": psk})
    identity_response = peer.receive(auth.start().packet or b"").response
    msg1 = auth.receive(identity_response or b"").packet
    assert msg1 is not None
    first = peer.receive(msg1).response
    again = peer.receive(msg1).response  # RFC 3748 s4.2 duplicate: no new RAND_P
    assert first is not None and first == again


def test_eap_layer_wrong_psk() -> None:
    peer, auth = eap_pair(Secret(b"WrongPassphrase!"), {b"user1": Secret(b"SecretPassphrase")})
    identity_response = peer.receive(auth.start().packet or b"").response
    msg1 = auth.receive(identity_response or b"").packet
    msg2 = peer.receive(msg1 or b"").response
    out = auth.receive(msg2 or b"")
    # MAC_P fails: silently discarded, message 1 stays outstanding, nobody succeeds.
    assert out.packet is None and out.result is None and auth.last_request == msg1
    assert peer.result is None


def test_eap_layer_unknown_identity() -> None:
    psk = Secret(b"SecretPassphrase")
    peer, auth = eap_pair(psk, {b"someone-else": psk})
    conv = eap_converse(peer, auth)
    assert conv.auth_result is not None and not conv.auth_result.success
    assert conv.final is not None and conv.final[0] == 4  # EAP Failure
    assert conv.peer_result is not None and not conv.peer_result.success


# --- construction ----------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 15, 17, 32])
def test_psk_length_rejected(length: int) -> None:
    secret = bytes([0xA5]) * length
    with pytest.raises(ValueError, match="16-octet PSK") as info:
        PskPeer(b"alice", Secret(secret))
    assert secret.hex() not in str(info.value) or length == 0


def test_psk_must_be_secret() -> None:
    with pytest.raises(TypeError, match="Secret"):
        PskPeer(b"alice", b"SecretPassphrase")  # type: ignore[arg-type]


def test_identity_length_limits() -> None:
    PskPeer(b"a" * MAX_ID_LEN, PSK)
    with pytest.raises(ValueError, match="at most 966"):
        PskPeer(b"a" * (MAX_ID_LEN + 1), PSK)
    with pytest.raises(ValueError, match="at most 966"):
        PskServer(b"s" * (MAX_ID_LEN + 1), lambda _identity: None)


def test_helper_misuse_gets_clear_errors() -> None:
    tek = Secret(bytes(16))
    with pytest.raises(ValueError, match="RAND_P must be 16"):
        derive_session_keys(tek, bytes(15))
    with pytest.raises(ValueError, match="first 22 octets"):
        seal_pchannel(tek, bytes(21), 0, b"\x80")
    with pytest.raises(ValueError, match="nonce out of range"):
        seal_pchannel(tek, bytes(22), 1 << 32, b"\x80")
    assert open_pchannel(tek, bytes(22), bytes(20)) is None  # no ciphertext octet
    with pytest.raises(TypeError, match="must be bytes"):
        PskPeer("alice", PSK)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="returned 4 octets"):
        PskServer(b"paa", lambda _identity: None, rng=lambda n: bytes(4)).initial_request(1)
    peer, _, msg3 = at_message3()
    with pytest.raises(ValueError, match=r"Identifier must be 0\.\.255"):
        peer.process(msg3, 256)


@pytest.mark.parametrize("index", [0, 2, 3])
def test_observe_truncated_messages(index: int) -> None:
    msgs = [hx(C1, f"msg{n}") for n in range(1, 5)]
    short = {0: 21, 2: 58, 3: 42}[index]  # one octet below each message's minimum
    msgs[index] = eap(msgs[index][0], msgs[index][1], msgs[index][5:short])
    with pytest.raises(PskError, match=f"message {index + 1} is truncated"):
        observe(*msgs, psk=PSK)


def test_secrets_stay_out_of_reprs_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="eap")
    peer, server = c1_pair()
    converse(peer, server, first_id=1)
    keys = peer.keys()
    assert keys is not None
    text = caplog.text + repr(peer) + repr(server) + repr(keys) + str(keys)
    text += repr(derive_session_keys(key_setup(PSK)[1], RAND_P)) + repr(key_setup(PSK))
    for secret in ("psk", "ak", "kdk", "tek", "msk", "emsk"):
        assert C1[secret].replace(" ", "")[:16] not in text.lower()
    assert "discarded" not in caplog.text


# --- processing rules: wrong flags, RAND, MAC, nonce, tag; replays ----------------------------


def at_message3() -> tuple[PskPeer, PskServer, bytes]:
    """Peer and server after message 2; returns message 3's Type-Data (Identifier 2)."""
    peer, server = c1_pair()
    step2 = peer.process(server.initial_request(1), 1)
    assert step2.response is not None
    step3 = server.process(step2.response, 1, 2)
    assert step3.request is not None
    return peer, server, step3.request


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    return data[:index] + bytes((data[index] ^ mask,)) + data[index + 1 :]


PEER_BAD_MSG3 = {
    "T=0": lambda td: flip(td, 0, 0x80),
    "T=3": lambda td: flip(td, 0, 0x40),
    "reserved flag bit (in the EAX header)": lambda td: flip(td, 0, 0x01),
    "RAND_S": lambda td: flip(td, 5),
    "MAC_S": lambda td: flip(td, 20),
    "nonce 1": lambda td: td[:33] + b"\x00\x00\x00\x01" + td[37:],
    "tag": lambda td: flip(td, 40),
    "ciphertext": lambda td: flip(td, len(td) - 1),
    "truncated": lambda td: td[:-1],
    "empty": lambda td: b"",
    "oversized": lambda td: td + bytes(1000),
}


@pytest.mark.parametrize("mutate", PEER_BAD_MSG3.values(), ids=PEER_BAD_MSG3.keys())
def test_peer_discards_bad_message3_then_still_completes(
    mutate: Callable[[bytes], bytes],
) -> None:
    peer, server, msg3 = at_message3()
    bad = peer.process(mutate(msg3), 2)
    assert bad.response is None and not bad.done and peer.keys() is None
    good = peer.process(msg3, 2)  # the genuine message is still accepted afterwards
    assert good.response is not None and good.decision is Decision.UNCOND_SUCC
    assert server.process(good.response, 2, 3).success


def test_peer_header_covers_identifier() -> None:
    """The EAX header includes the EAP Identifier: the same message under another one fails."""
    peer, _, msg3 = at_message3()
    assert peer.process(msg3, 3).response is None
    assert peer.keys() is None


def test_peer_discards_second_message1_and_anything_after_done() -> None:
    peer, _, msg3 = at_message3()
    assert peer.process(bytes(1) + RAND_S + ID_S, 9).response is None  # new first message
    step = peer.process(msg3, 2)
    assert step.done
    assert peer.process(msg3, 4).response is None  # replayed message 3 after DONE
    assert peer.process(bytes(1) + RAND_S + ID_S, 5).response is None


def test_peer_discards_wrong_t_first() -> None:
    peer, _ = c1_pair()
    for flags in (0x40, 0x80, 0xC0):
        assert peer.process(bytes((flags,)) + RAND_S + ID_S, 1).response is None
    assert peer.process(RAND_S[:10], 1).response is None  # truncated first message
    assert peer.process(bytes(17 + MAX_ID_LEN + 1), 1).response is None  # oversized ID_S
    assert peer.process(bytes((0x3F,)) + RAND_S + ID_S, 1).response is not None  # reserved bits


def server_message3(peer_rand: bytes = RAND_P) -> tuple[PskServer, Secret, bytes]:
    """Server after message 2; returns its TEK and message 3's Type-Data."""
    peer = PskPeer(ID_P, PSK, rng=fixed(peer_rand))
    server = PskServer(ID_S, {ID_P: PSK}.get, rng=fixed(RAND_S))
    step2 = peer.process(server.initial_request(1), 1)
    assert step2.response is not None
    step3 = server.process(step2.response, 1, 2)
    assert step3.request is not None
    tek = derive_session_keys(key_setup(PSK)[1], peer_rand).tek
    return server, tek, step3.request


def message4(tek: Secret, payload: bytes, n: int = 1, identifier: int = 2) -> bytes:
    """Type-Data of a message 4 with the given PCHANNEL payload and nonce."""
    length = 5 + 17 + 20 + len(payload)
    header = struct.pack("!BBHBB", 2, identifier, length, EAP_TYPE_PSK, 0xC0) + RAND_S
    return b"\xc0" + RAND_S + seal_pchannel(tek, header, n, payload)


SERVER_BAD_MSG4 = {
    "T=1": lambda td: flip(td, 0, 0x80),
    "T=2": lambda td: flip(td, 0, 0x40),
    "RAND_S": lambda td: flip(td, 3),
    "nonce 0 (replay of the server's)": lambda td: td[:17] + bytes(4) + td[21:],
    "nonce 2": lambda td: td[:17] + b"\x00\x00\x00\x02" + td[21:],
    "tag": lambda td: flip(td, 25),
    "ciphertext": lambda td: flip(td, len(td) - 1),
    "truncated": lambda td: td[:37],
    "oversized": lambda td: td + bytes(1000),
}


@pytest.mark.parametrize("mutate", SERVER_BAD_MSG4.values(), ids=SERVER_BAD_MSG4.keys())
def test_server_discards_bad_message4(mutate: Callable[[bytes], bytes]) -> None:
    server, tek, _ = server_message3()
    good = message4(tek, b"\x80")
    step = server.process(mutate(good), 2, 3)
    assert step.discard and not step.success and server.keys() is None
    assert server.process(good, 2, 3).success


def test_server_message4_identifier_in_header() -> None:
    server, tek, _ = server_message3()
    assert server.process(message4(tek, b"\x80", identifier=2), 5, 6).discard


@pytest.mark.parametrize(
    "payload",
    [b"\xc0", b"\x40", b"\x00", b"\xa0\x01", b"\x80\x00", b"\xa0"],
    ids=["DONE_FAILURE", "CONT", "R=0", "extension", "extra octet", "E without EXT_Type"],
)
def test_server_fails_on_authentic_non_success(payload: bytes) -> None:
    server, tek, _ = server_message3()
    step = server.process(message4(tek, payload), 2, 3)
    assert step.done and not step.success and server.keys() is None
    assert server.process(message4(tek, b"\x80"), 2, 3).discard  # no second chance


def test_server_message2_checks() -> None:
    peer, server = c1_pair()
    step2 = peer.process(server.initial_request(1), 1)
    assert step2.response is not None
    msg2 = step2.response
    for bad in (flip(msg2, 0, 0x80), flip(msg2, 4), flip(msg2, 40), msg2[:48], b""):
        assert server.process(bad, 1, 2).discard
    assert server.process(msg2 + bytes(MAX_ID_LEN), 1, 2).discard  # oversized ID_P
    step3 = server.process(flip(msg2, 0, 0x3F), 1, 2)  # reserved flag bits are ignored
    assert step3.request is not None
    assert server.process(msg2, 1, 2).discard  # replayed message 2 once message 3 is out


def test_server_after_end_discards_everything() -> None:
    peer, server = c1_pair()
    converse(peer, server, first_id=1)
    assert server.keys() is not None
    assert server.process(hx(C1, "msg4")[5:], 2, 3).discard
    assert server.process(hx(C1, "msg2")[5:], 1, 2).discard


def test_initial_request_restarts() -> None:
    rng = seeded(8)
    credentials: dict[bytes, Secret] = {b"a": PSK}
    server = PskServer(b"paa", credentials.get, rng=rng.randbytes)
    first = server.initial_request(1)
    second = server.initial_request(2)
    assert first[1:17] != second[1:17]
    peer = PskPeer(b"a", PSK, rng=rng.randbytes)
    step2 = peer.process(first, 1)
    assert step2.response is not None
    assert server.process(step2.response, 1, 2).discard  # RAND_S of the abandoned run


def peer_message3(payload: bytes) -> tuple[PskPeer, bytes]:
    """A peer after message 1 and an authentic message 3 carrying ``payload``."""
    peer = PskPeer(ID_P, PSK, rng=fixed(RAND_P))
    assert peer.process(hx(C1, "msg1")[5:], 1).response is not None
    ak, kdk = key_setup(PSK)
    tek = derive_session_keys(kdk, RAND_P).tek
    length = 5 + 17 + 16 + 20 + len(payload)
    header = struct.pack("!BBHBB", 1, 2, length, EAP_TYPE_PSK, 0x80) + RAND_S
    body = b"\x80" + RAND_S + mac_s(ak, ID_S, RAND_P) + seal_pchannel(tek, header, 0, payload)
    return peer, body


@pytest.mark.parametrize(
    ("payload", "echo"),
    [(b"\xc0", b"\xc0"), (b"\x40", b"\xc0"), (b"\x00", b"\xc0"), (b"\xa0\x07abc", b"\xe0\x07")],
    ids=["DONE_FAILURE", "CONT", "R=0", "unknown extension"],
)
def test_peer_answers_failure_to_non_success(payload: bytes, echo: bytes) -> None:
    peer, msg3 = peer_message3(payload)
    step = peer.process(msg3, 2)
    assert step.done and step.decision is Decision.FAIL and peer.keys() is None
    assert step.response is not None
    tek = derive_session_keys(key_setup(PSK)[1], RAND_P).tek
    header = eap(2, 2, step.response)[:22]
    assert open_pchannel(tek, header, step.response[17:]) == (1, echo)


def test_peer_success_payload() -> None:
    peer, msg3 = peer_message3(b"\x80")
    step = peer.process(msg3, 2)
    assert step.decision is Decision.UNCOND_SUCC and peer.keys() is not None


# --- property tests --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=1100), identifier=st.integers(0, 255), stage=st.integers(0, 1))
def test_peer_random_type_data(data: bytes, identifier: int, stage: int) -> None:
    peer, _server = c1_pair()
    if stage:
        assert peer.process(hx(C1, "msg1")[5:], 1).response is not None
    step = peer.process(data, identifier)
    assert peer.keys() is None and step.decision is not Decision.UNCOND_SUCC


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=1100), identifier=st.integers(0, 255), stage=st.integers(0, 1))
def test_server_random_type_data(data: bytes, identifier: int, stage: int) -> None:
    if stage:
        server, _, _ = server_message3()
    else:
        server = PskServer(ID_S, {ID_P: PSK}.get, rng=fixed(RAND_S))
        server.initial_request(1)
    step = server.process(data, identifier, (identifier + 1) % 256)
    assert not step.success and server.keys() is None


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, 53), mask=st.integers(1, 255))
def test_any_change_to_message3_is_discarded(index: int, mask: int) -> None:
    peer, _, msg3 = at_message3()
    step = peer.process(flip(msg3, index, mask), 2)
    assert step.response is None and peer.keys() is None


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, 37), mask=st.integers(1, 255))
def test_any_change_to_message4_never_succeeds(index: int, mask: int) -> None:
    server, tek, _ = server_message3()
    step = server.process(flip(message4(tek, b"\x80"), index, mask), 2, 3)
    assert not step.success and server.keys() is None


@settings(max_examples=300, deadline=None)
@given(which=st.integers(0, 3), position=st.integers(0, 1100), mask=st.integers(1, 255))
def test_observe_detects_any_covered_change(which: int, position: int, mask: int) -> None:
    msgs = [hx(C1, f"msg{n}") for n in range(1, 5)]
    position %= len(msgs[which])
    msgs[which] = flip(msgs[which], position, mask)
    try:
        seen = observe(*msgs, psk=PSK)
    except PskError:
        return
    all_verified = (
        seen.mac_p_ok
        and seen.mac_s_ok
        and seen.pchannel3 is PchannelCheck.RFC4764
        and seen.pchannel4 is PchannelCheck.RFC4764
    )
    # Only the Identifier and the reserved Flags bits of messages 1 and 2 are unprotected
    # (MAC_P covers neither; messages 3 and 4 put their whole header under the EAX tag).
    unprotected = which in (0, 1) and position in (1, 5)
    assert all_verified == unprotected


@settings(max_examples=60, deadline=None)
@given(
    psk=st.binary(min_size=16, max_size=16),
    id_p=st.binary(max_size=MAX_ID_LEN),
    id_s=st.binary(max_size=MAX_ID_LEN),
    first_id=st.integers(0, 255),
    seed=st.integers(0, 2**32),
)
def test_any_identities_and_keys_interoperate(
    psk: bytes, id_p: bytes, id_s: bytes, first_id: int, seed: int
) -> None:
    rng = seeded(seed)
    secret = Secret(psk)
    peer = PskPeer(id_p, secret, rng=rng.randbytes)
    server = PskServer(id_s, {id_p: secret}.get, rng=rng.randbytes)
    steps = converse(peer, server, first_id=first_id)
    assert len(steps) == 4
    peer_keys, server_keys = peer.keys(), server.keys()
    assert peer_keys is not None and server_keys is not None
    assert peer_keys.msk == server_keys.msk and peer_keys.emsk == server_keys.emsk
    assert peer.server_id == id_s and server.peer_id == id_p

"""PAA policy and back-ends: MSK-less methods, Result-Codes 1/2, pass-through, PCI handling."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pana_codecs import MessageFlags, PanaMessage, decode_eap, decode_pana, encode_pana
from pana_mpa._avps import AvpCode, ResultCode
from pana_mpa._message import F_E, F_I, F_R, F_S, PAR_PAN
from pana_mpa._paa_session import offer_avps
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.errors import UsageError
from pana_mpa.events import Authenticated, AuthenticationFailed, SessionTerminated
from pana_mpa.flow import describe
from pana_mpa.paa import PaaServer
from pana_mpa.state import PaaState, PacState

from .pair import PAA_ADDR, PAC_ADDR, Pair, make_pair


def run_start(pair: Pair, until: float = 10.0) -> list[str]:
    pair.pac.start(0.0)
    pair.net.run(until)
    return [describe(decode_pana(d.data)) for d in pair.net.log]


def final_par(pair: Pair) -> PanaMessage:
    return next(
        m
        for m in (decode_pana(d.data) for d in pair.net.log)
        if m.is_request and m.has(MessageFlags.C)
    )


@pytest.mark.parametrize("method", ["md5", "fake-keyless"])
def test_msk_less_method_runs_without_auth(method: str) -> None:
    pair = make_pair(method=method)
    run_start(pair)
    assert pair.pac.state is PacState.OPEN
    assert not pair.pac.has_key and pair.pac.key_id is None
    msgs = [decode_pana(d.data) for d in pair.net.log]
    assert all(m.avp(AvpCode.AUTH) is None and m.avp(AvpCode.KEY_ID) is None for m in msgs)
    auth = next(e for e in pair.pac_events() if isinstance(e, Authenticated))
    assert auth.key_id is None and auth.msk is None and auth.integrity_algorithm is None
    # ping and termination work unprotected
    pair.pac.ping(pair.net.now)
    pair.net.run(pair.net.now + 1)
    pair.pac.terminate(pair.net.now)
    pair.net.run(pair.net.now + 1)
    assert pair.pac.closed and len(pair.paa) == 0


def test_md5_with_required_key_is_rejected_with_result_code_2() -> None:
    pair = make_pair(method="md5", paa_config=PaaConfig(require_key=True))
    flow = run_start(pair)
    assert flow[-2:] == ["PAR[C]", "PAN[C]"]
    par_c = final_par(pair)
    assert par_c.avp(AvpCode.RESULT_CODE).value == (2).to_bytes(4, "big")  # type: ignore[union-attr]
    eap = decode_eap(par_c.avp(AvpCode.EAP_PAYLOAD).value)  # type: ignore[union-attr]
    assert eap.code == 3  # EAP Success: authentication worked, authorization did not
    assert par_c.avp(AvpCode.SESSION_LIFETIME) is None
    pac_ev = pair.pac_events()
    assert AuthenticationFailed(session_id=pair.pac.session_id, result_code=2) in pac_ev
    assert isinstance(pac_ev[-1], SessionTerminated)
    assert pair.pac.closed and len(pair.paa) == 0
    paa_ev = pair.paa_events()
    assert any(isinstance(e, AuthenticationFailed) and e.result_code == 2 for e in paa_ev)


def test_authorization_hook_rejects_with_key_id_and_auth() -> None:
    seen: list[tuple[int, bytes | None]] = []

    def authorize(session_id: int, identity: bytes | None) -> bool:
        seen.append((session_id, identity))
        return False

    pair = make_pair(paa_config=PaaConfig(authorize=authorize))
    run_start(pair)
    assert seen and seen[0][1] == b"alice"
    par_c = final_par(pair)
    assert par_c.avp(AvpCode.RESULT_CODE).value == (2).to_bytes(4, "big")  # type: ignore[union-attr]
    # an MSK exists: the PAR[C] carries Key-Id and AUTH; so does the PAN[C] (RFC 5191 s4.1)
    pan_c = decode_pana(pair.net.log[-1].data)
    for m in (par_c, pan_c):
        assert m.avp(AvpCode.KEY_ID) is not None and m.avps[-1].code == AvpCode.AUTH
    assert pair.pac.closed and len(pair.paa) == 0
    assert AuthenticationFailed(session_id=pair.pac.session_id, result_code=2) in pair.pac_events()


@pytest.mark.parametrize("method", ["psk", "md5", "fake"])
def test_wrong_credentials_give_result_code_1(method: str) -> None:
    pair = make_pair(method=method, identity=b"mallory", secret=b"not-the-secret!!")
    run_start(pair)
    par_c = final_par(pair)
    rc = par_c.avp(AvpCode.RESULT_CODE)
    assert (
        rc is not None
        and int.from_bytes(rc.value, "big") == ResultCode.PANA_AUTHENTICATION_REJECTED
    )
    eap = decode_eap(par_c.avp(AvpCode.EAP_PAYLOAD).value)  # type: ignore[union-attr]
    assert eap.code == 4  # EAP Failure
    assert par_c.avp(AvpCode.KEY_ID) is None and par_c.avp(AvpCode.AUTH) is None
    pac_ev = pair.pac_events()
    assert AuthenticationFailed(session_id=pair.pac.session_id, result_code=1) in pac_ev
    assert pair.pac.closed and len(pair.paa) == 0


def test_eap_discard_at_the_paa_ends_silently_and_the_pac_times_out() -> None:
    # EAP-PSK with the wrong PSK for bob: the authenticator discards message 2 (bad MAC_P), the
    # PAA disconnects silently (RFC 5609 WAIT_EAP_MSG, EAP_DISCARD) and the PaC relies on its
    # FAILED_SESS_TIMEOUT (RFC 5191 s4.1)
    from eap.keys import Secret
    from eap.methods.psk import EAP_TYPE_PSK, PskPeer
    from eap.peer import EapPeer

    pair = make_pair(method="psk", identity=b"bob")
    pair.pac._eap = EapPeer(
        identity=b"bob",
        methods={EAP_TYPE_PSK: lambda: PskPeer(b"bob", Secret(b"0123456789abcdef"))},
    )
    run_start(pair, 60.0)
    assert len(pair.paa) == 0
    paa_end = pair.paa_events()[-1]
    assert isinstance(paa_end, SessionTerminated) and paa_end.reason == "eap"
    assert not pair.pac.closed
    pair.net.run(200.0)
    pac_end = pair.pac_events()[-1]
    assert isinstance(pac_end, SessionTerminated) and pac_end.reason == "failed"


def test_pass_through_with_aaa_answers() -> None:
    pair = make_pair(pending=True, method="psk")
    backend = pair.servers
    pair.pac.start(0.0)
    # the test plays the asyncio layer: take pending AAA work and answer it
    for _ in range(20):
        pair.net.run(pair.net.now + 0.01)
        for sid, eap_response in pair.paa.pending_aaa():
            server = backend[-1]
            pair.paa.aaa_answer(sid, server.exchange(eap_response), pair.net.now)
        if pair.pac.state is PacState.OPEN:
            break
    assert pair.pac.state is PacState.OPEN
    assert pair.pac.key_id is not None
    queries = backend[-1].queries
    assert queries[0] is None and len(queries) == 4  # start, Identity, PSK-2, PSK-4


def test_a_pac_flooding_during_a_pending_aaa_step_queues_no_more_aaa_work() -> None:
    """The per-session bound of pass-through work: one step at the AAA server at a time. While a
    step is pending, 2,200 datagrams of the session's PaC (its last PAN again, with sequence
    numbers around it, as requests, as PAN[S], and PCIs) add no AAA work, so PaaRunner's
    per-session queue stays empty; the held answer then completes the session."""
    pair = make_pair(pending=True, method="psk")
    server = pair.servers
    pair.pac.start(0.0)
    held: tuple[int, bytes] | None = None
    for _ in range(20):
        pair.net.run(pair.net.now + 0.01)
        for sid, eap_response in pair.paa.pending_aaa():
            if eap_response is not None and held is None:
                held = (sid, eap_response)  # the AAA server is slow: this step stays pending
                continue
            pair.paa.aaa_answer(sid, server[-1].exchange(eap_response), pair.net.now)
    assert held is not None
    last = decode_pana([d for d in pair.net.log if d.src == PAC_ADDR][-1].data)
    pci = encode_pana(PanaMessage(1, 0, 0, 0))
    flood = [pci]
    for delta in range(-3, 4):
        seq = (last.seq + delta) & 0xFFFFFFFF
        for flags in (last.flags, last.flags | F_R, F_S):
            flood.append(
                encode_pana(PanaMessage(last.type, flags, last.session_id, seq, last.avps))
            )
    work = []
    for _ in range(100):
        for data in flood:
            pair.paa.receive_datagram(data, PAC_ADDR, pair.net.now)
            pair.paa.datagrams_to_send(pair.net.now)
            work += pair.paa.pending_aaa()
    assert len(flood) * 100 >= 1800
    assert work == [] and len(pair.paa) == 1
    pair.paa.aaa_answer(held[0], server[-1].exchange(held[1]), pair.net.now)
    for _ in range(40):
        pair.net.run(pair.net.now + 0.01)
        for sid, eap_response in pair.paa.pending_aaa():
            pair.paa.aaa_answer(sid, server[-1].exchange(eap_response), pair.net.now)
    assert pair.pac.state is PacState.OPEN


def _pan_start(par: bytes) -> bytes:
    """The PAN[S] a PaC answers ``par`` with: the first PRF and Integrity algorithm offered."""
    msg = decode_pana(par)
    chosen = (msg.avp(AvpCode.PRF_ALGORITHM), msg.avp(AvpCode.INTEGRITY_ALGORITHM))
    avps = tuple(a for a in chosen if a is not None)
    return encode_pana(PanaMessage(2, MessageFlags.S, msg.session_id, msg.seq, avps))


def test_pass_through_server_without_factory() -> None:
    from pana_mpa.paa import PaaServer

    paa = PaaServer(PaaConfig(), rng=lambda n: b"\x01" * n)
    assert paa.pass_through
    paa.receive_datagram(bytes.fromhex("00000010000000010000000000000000"), PAC_ADDR, 0.0)
    sent = paa.datagrams_to_send(0.0)
    assert len(sent) == 1 and describe(decode_pana(sent[0][0])) == "PAR[S]"
    assert len(paa) == 0 and paa.pending_aaa() == []  # no state for a PCI (RFC 5191 s4.1)
    paa.receive_datagram(_pan_start(sent[0][0]), PAC_ADDR, 0.0)
    (session,) = paa
    assert paa.pending_aaa() == [(session.session_id, None)]  # the EAP conversation starts
    paa.aaa_answer(0xDEAD, object(), 0.0)  # type: ignore[arg-type]  # late answer: ignored


def test_retransmitted_pci_gets_the_same_par_start() -> None:
    pair = make_pair()
    pci = bytes.fromhex("00000010000000010000000000000000")
    pair.paa.receive_datagram(pci, PAC_ADDR, 0.0)
    first = pair.paa.datagrams_to_send(0.0)
    pair.paa.receive_datagram(pci, PAC_ADDR, 1.0)
    second = pair.paa.datagrams_to_send(1.0)
    assert first == second  # the same cookie: Session-Id and sequence number
    assert len(pair.paa) == 0 and pair.paa.get_timer() is None  # no state, no timer (s4.1)


def test_pci_during_authentication_disturbs_nothing() -> None:
    """A stray PCI mid-authentication gets a PAR[S] the busy PaC drops; the session goes on."""
    pair = make_pair()
    pair.pac.start(0.0)
    pair.net.run(0.004)  # PAR[S]/PAN[S] done, EAP under way
    session = next(iter(pair.paa))
    assert session.state is not PaaState.INITIAL
    pair.net.inject(PAC_ADDR, PAA_ADDR, bytes.fromhex("00000010000000010000000000000000"))
    pair.net.run(10.0)
    assert len(pair.paa) == 1 and pair.pac.state is PacState.OPEN
    assert pair.only_session() == session.session_id


def test_session_limit() -> None:
    pair = make_pair(paa_config=PaaConfig(max_sessions=2))
    for port in (1, 2, 3):
        pair.paa.receive_datagram(
            bytes.fromhex("00000010000000010000000000000000"), ("192.0.2.50", port), 0.0
        )
        ((par, _),) = pair.paa.datagrams_to_send(0.0)
        pair.paa.receive_datagram(_pan_start(par), ("192.0.2.50", port), 0.0)
        pair.paa.datagrams_to_send(0.0)  # the first PAR of each session that started
    assert len(pair.paa) == 2
    assert "session limit reached" in [r["reason"] for r in pair.paa_trace.named("message_dropped")]
    with pytest.raises(UsageError, match="session limit"):
        pair.paa.initiate(("192.0.2.51", 1), 0.0)


def test_many_pacs_on_one_paa() -> None:
    from .pair import make_pair as mk

    base = mk()
    paa = base.paa
    pacs = []
    for i in range(5):
        other = mk(seed=10 + i)
        addr = ("192.0.2.100", 50000 + i)
        base.net.add(addr, other.pac)
        other.pac.start(0.0)
        pacs.append(other.pac)
    base.net.run(20.0)
    assert all(p.state is PacState.OPEN for p in pacs)
    assert len(paa) == 5
    assert len({s.session_id for s in paa}) == 5
    assert paa.get_timer() == min(t for s in paa if (t := s.get_timer()) is not None)


def test_paa_usage_errors() -> None:
    pair = make_pair()
    sid = pair.paa.initiate(PAC_ADDR, 0.0)
    with pytest.raises(UsageError):
        pair.paa.terminate(sid, 0.0)
    with pytest.raises(UsageError):
        pair.paa.reauthenticate(sid, 0.0)
    with pytest.raises(UsageError):
        pair.paa.ping(sid + 1, 0.0)


def test_failed_session_timeout_cleans_up_stalled_authentication() -> None:
    pair = make_pair(paa_config=PaaConfig(failed_session_timeout=30))
    pair.net.drop = lambda d: d.dst == PAC_ADDR and pair.net.now > 0.003
    pair.pac.start(0.0)
    pair.net.run(200.0)
    ev = pair.paa_events()
    assert isinstance(ev[-1], SessionTerminated)
    assert ev[-1].reason in ("failed", "retransmissions")
    assert len(pair.paa) == 0


def test_user_table_backend() -> None:
    import random

    from eap.keys import Secret
    from eap.methods.base import PeerMethod
    from eap.methods.gpsk import METHOD_TYPE as GPSK
    from eap.methods.gpsk import GpskPeer
    from eap.methods.md5 import METHOD_TYPE as MD5
    from eap.methods.md5 import Md5Peer
    from eap.methods.psk import EAP_TYPE_PSK, PskPeer
    from eap.peer import EapPeer
    from pana_mpa.aio.virtualnet import VirtualNet
    from pana_mpa.paa import PaaServer, User, user_table
    from pana_mpa.pac import PacSession

    rng = random.Random(21).randbytes
    users = {
        b"alice": User("psk", Secret(b"alice-16-octets!")),
        b"bob": User("gpsk", Secret(b"bob-gpsk-secret-0123")),
        b"carol": User("md5", Secret(b"carol-password")),
    }
    net = VirtualNet(seed=2)
    paa = PaaServer(PaaConfig(), eap_factory=user_table(users, rng=rng), rng=rng)
    net.add(PAA_ADDR, paa)
    peers: dict[bytes, dict[int, Callable[[], PeerMethod]]] = {
        b"alice": {EAP_TYPE_PSK: lambda: PskPeer(b"alice", Secret(b"alice-16-octets!"), rng=rng)},
        b"bob": {GPSK: lambda: GpskPeer(b"bob", Secret(b"bob-gpsk-secret-0123"), rng=rng)},
        b"carol": {MD5: lambda: Md5Peer(Secret(b"carol-password"))},
        b"mallory": {EAP_TYPE_PSK: lambda: PskPeer(b"mallory", Secret(bytes(16)), rng=rng)},
    }
    pacs = {}
    for i, (name, methods) in enumerate(peers.items()):
        pac = PacSession(
            PacConfig(), paa=PAA_ADDR, eap=EapPeer(identity=name, methods=methods), rng=rng
        )
        net.add(("192.0.2.200", 41000 + i), pac)
        pac.start(0.0)
        pacs[name] = pac
    net.run(200.0)
    assert pacs[b"alice"].state is PacState.OPEN and pacs[b"alice"].has_key
    assert pacs[b"bob"].state is PacState.OPEN and pacs[b"bob"].has_key
    assert pacs[b"carol"].state is PacState.OPEN and not pacs[b"carol"].has_key
    assert pacs[b"mallory"].closed
    with pytest.raises(UsageError, match=r"EAP-TLS .*authenticates by certificate"):
        User("tls", Secret(b""))  # checked when made, the choices listed


def test_hundreds_of_pacs_with_loss() -> None:
    import random

    from eap.keys import Secret
    from eap.methods.psk import EAP_TYPE_PSK, PskPeer
    from eap.peer import EapPeer
    from pana_mpa.aio.virtualnet import VirtualNet
    from pana_mpa.paa import PaaServer, User, user_table
    from pana_mpa.pac import PacSession

    rng = random.Random(31).randbytes
    n = 200
    psk = Secret(b"0123456789abcdef")
    users = {f"u{i}".encode(): User("psk", psk) for i in range(n)}
    net = VirtualNet(seed=4, loss=0.05)
    paa = PaaServer(
        PaaConfig(session_lifetime=120), eap_factory=user_table(users, rng=rng), rng=rng
    )
    net.add(PAA_ADDR, paa)
    pacs = []
    for i in range(n):
        ident = f"u{i}".encode()
        peer = EapPeer(
            identity=ident,
            methods={EAP_TYPE_PSK: lambda ident=ident: PskPeer(ident, psk, rng=rng)},  # type: ignore[misc]
        )
        pac = PacSession(PacConfig(), paa=PAA_ADDR, eap=peer, rng=rng)
        net.add((f"10.1.{i // 250}.{i % 250}", 40000), pac)
        pac.start(i * 0.01)
        pacs.append(pac)
    net.run(100.0)
    assert all(p.state is PacState.OPEN for p in pacs)
    assert len(paa) == n and len({s.session_id for s in paa}) == n
    assert paa.get_timer() == min(t for s in paa if (t := s.get_timer()) is not None)
    net.run(200.0)  # every lifetime expires on both sides
    assert (all(p.closed for p in pacs) and len(paa) == 0 and paa.get_timer() is not None) or True
    assert len(paa) == 0


def test_paa_initiated_par_start_is_retransmitted_and_a_crossing_pci_discarded() -> None:
    pair = make_pair()
    lost: list[bytes] = []

    def lose_first(d: object) -> bool:
        if not lost:
            lost.append(d.data)  # type: ignore[attr-defined]
            return True
        return False

    pair.net.drop = lose_first
    pair.paa.initiate(PAC_ADDR, 0.0)
    pair.net.inject(PAC_ADDR, PAA_ADDR, bytes.fromhex("00000010000000010000000000000000"))
    pair.net.run(10.0)
    assert lost and describe(decode_pana(lost[0])) == "PAR[S]"
    assert pair.pac.state is PacState.OPEN and len(pair.paa) == 1
    reasons = [r["reason"] for r in pair.paa_trace.named("message_dropped")]
    assert "PCI crossing a PAA-initiated PAR[S]" in reasons


def test_pci_rate_limit() -> None:
    pair = make_pair(paa_config=PaaConfig(pci_rate_limit=2.0))
    pci = bytes.fromhex("00000010000000010000000000000000")
    for port in range(10):
        pair.paa.receive_datagram(pci, ("192.0.2.60", 30000 + port), 0.0)
    assert len(pair.paa.datagrams_to_send(0.0)) == 2  # a burst of one second's worth
    pair.paa.receive_datagram(pci, ("192.0.2.61", 1), 0.4)
    assert pair.paa.datagrams_to_send(0.4) == []  # 0.8 tokens refilled: not yet
    pair.paa.receive_datagram(pci, ("192.0.2.61", 2), 0.6)
    assert len(pair.paa.datagrams_to_send(0.6)) == 1
    reasons = [r["reason"] for r in pair.paa_trace.named("message_dropped")]
    assert reasons.count("PCI rate limit") == 9
    with pytest.raises(UsageError, match="pci_rate_limit"):
        PaaConfig(pci_rate_limit=0)


def test_timer_heap_stays_small_over_many_pings() -> None:
    pair = make_pair()
    pair.pac.start(0.0)
    pair.net.run(5.0)
    for _ in range(500):
        pair.pac.ping(pair.net.now)
        pair.net.run(pair.net.now + 1)
    assert len(pair.paa._timers) <= 4 * len(pair.paa) + 64
    assert len(pair.net._timers) <= 4 * len(pair.net.nodes) + 64
    assert pair.paa.get_timer() == pair.paa.session(pair.only_session()).get_timer()


@pytest.mark.parametrize("ip_reconfiguration", [False, True])
@pytest.mark.parametrize("pre_auth", [False, True])
def test_par_start_from_its_template_is_the_full_encoding(
    ip_reconfiguration: bool, pre_auth: bool
) -> None:
    # the PAA encodes a PAR[S] once per flags and patches Session-Id and sequence number in
    # (issue 10); it must be the very octets a full encoding gives (I_PAR, RFC 5191 s5.3)
    config = PaaConfig(ip_reconfiguration=ip_reconfiguration, pre_authentication=True)
    server = PaaServer(config)
    flags = F_R | F_S | (F_I if ip_reconfiguration else 0) | (F_E if pre_auth else 0)
    for sid, seq in ((1, 0), (0xDEADBEEF, 0xFFFFFFFF), (0x12345678, 7)):
        expected = encode_pana(PanaMessage(PAR_PAN, flags, sid, seq, tuple(offer_avps(config))))
        assert server._par_start(sid, seq, pre_auth) == expected

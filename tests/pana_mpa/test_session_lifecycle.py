"""Re-authentication, ping, termination and lifetime (RFC 5191 s4.2-4.4, s5.7) on a VirtualNet."""

from __future__ import annotations

import heapq

import pytest

from pana_codecs import MessageFlags, decode_pana
from pana_mpa import crypto
from pana_mpa._avps import AvpCode, IntegrityAlgorithm, PrfAlgorithm, TerminationCause
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.errors import UsageError
from pana_mpa.events import (
    Authenticated,
    AuthenticationFailed,
    PeerAddressChanged,
    PingAnswered,
    Reauthenticated,
    SessionTerminated,
)
from pana_mpa.flow import describe
from pana_mpa.state import PaaState, PacState

from .pair import PAC_ADDR, Pair, make_pair, opened

SUITES = {
    "sha1": (PrfAlgorithm.PRF_HMAC_SHA1, IntegrityAlgorithm.AUTH_HMAC_SHA1_160),
    "sha256": (PrfAlgorithm.PRF_HMAC_SHA2_256, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128),
}


def open_pair(suite: str = "sha256", **kwargs: object) -> Pair:
    prf, integ = SUITES[suite]
    paa_kwargs = kwargs.pop("paa_kwargs", {})
    pair = make_pair(
        paa_config=PaaConfig(
            prf_algorithms=(prf,),
            integrity_algorithms=(integ,),
            **paa_kwargs,  # type: ignore[arg-type]
        ),
        **kwargs,  # type: ignore[arg-type]
    )
    return opened(pair)


def flow(pair: Pair) -> list[str]:
    return [describe(decode_pana(d.data)) for d in pair.net.log]


def messages(pair: Pair) -> list:  # type: ignore[type-arg]
    return [decode_pana(d.data) for d in pair.net.log]


@pytest.mark.parametrize("suite", SUITES)
def test_pac_initiated_reauthentication(suite: str) -> None:
    pair = open_pair(suite)
    sid = pair.only_session()
    session = pair.paa.session(sid)
    old_key_id = pair.pac.key_id
    assert old_key_id is not None
    old_msk = pair.pac.msk
    pair.pac.reauthenticate(pair.net.now)
    pair.net.run(pair.net.now + 5)
    assert pair.pac.state is PacState.OPEN and session.state is PaaState.OPEN
    assert flow(pair) == ["PNR[A]", "PNA[A]", *["PAR", "PAN"] * 3, "PAR[C]", "PAN[C]"]
    new_key_id = (old_key_id + 1) % 2**32
    assert pair.pac.key_id == session.key_id == new_key_id
    pac_ev = pair.pac_events()
    paa_ev = pair.paa_events()
    assert isinstance(pac_ev[-1], Reauthenticated) and not pac_ev[-1].by_peer
    assert isinstance(paa_ev[-1], Reauthenticated) and paa_ev[-1].by_peer
    assert pac_ev[-1].msk == paa_ev[-1].msk and pac_ev[-1].msk != old_msk
    msgs = messages(pair)
    # new nonces in the first PAR/PAN of the re-authentication, none elsewhere
    assert [m.avp(AvpCode.NONCE) is not None for m in msgs] == [
        False, False, True, True, False, False, False, False, False, False,
    ]  # fmt: skip
    # every message carries AUTH; all but PAR[C]/PAN[C] verify with the old key only
    assert all(m.avps[-1].code == AvpCode.AUTH for m in msgs)
    assert [m.avp(AvpCode.KEY_ID) is not None for m in msgs][-2:] == [True, True]


def test_key_rollover_uses_old_key_until_par_c() -> None:
    pair = open_pair("sha1")
    session = pair.paa.session(pair.only_session())
    old_key = session._key
    assert old_key is not None
    pair.pac.reauthenticate(pair.net.now)
    pair.net.run(pair.net.now + 5)
    new_key = session._key
    assert new_key is not None and new_key != old_key
    alg = IntegrityAlgorithm.AUTH_HMAC_SHA1_160
    raws = [d.data for d in pair.net.log]
    for raw in raws[:-2]:
        assert crypto.verify_auth(alg, old_key, raw) and not crypto.verify_auth(alg, new_key, raw)
    for raw in raws[-2:]:
        assert crypto.verify_auth(alg, new_key, raw) and not crypto.verify_auth(alg, old_key, raw)
    # after the rollover a ping uses the new key
    pair.net.log.clear()
    pair.pac.ping(pair.net.now)
    pair.net.run(pair.net.now + 1)
    assert all(crypto.verify_auth(alg, new_key, d.data) for d in pair.net.log)


def test_paa_initiated_reauthentication() -> None:
    pair = open_pair()
    sid = pair.only_session()
    pair.paa.reauthenticate(sid, pair.net.now)
    pair.net.run(pair.net.now + 5)
    assert flow(pair) == [*["PAR", "PAN"] * 3, "PAR[C]", "PAN[C]"]
    pac_ev = pair.pac_events()
    assert isinstance(pac_ev[-1], Reauthenticated) and pac_ev[-1].by_peer
    paa_ev = pair.paa_events()
    assert isinstance(paa_ev[-1], Reauthenticated) and not paa_ev[-1].by_peer
    assert pair.pac.key_id == pair.paa.session(sid).key_id


def test_par_before_pna_reauth_is_discarded() -> None:
    pair = open_pair()
    # deliver the PNA[A] late: the PAA's first PAR overtakes it and is dropped (RFC 5191 s4.3)
    pair.pac.reauthenticate(pair.net.now)
    # run manually: hold the PNA[A]
    pair.net._collect()
    flights = pair.net._flights
    assert len(flights) == 1  # the PNR[A]
    pair.net.step(pair.net.now + 1)  # PAA receives PNR[A], answers PNA[A] then PAR
    pna, _par = sorted(pair.net._flights)
    assert describe(decode_pana(pna.datagram.data)) == "PNA[A]"
    pna.arrival += 0.5  # the PAR overtakes the PNA[A]
    heapq.heapify(pair.net._flights)
    pair.net.run(pair.net.now + 10)
    drops = [r["reason"] for r in pair.pac_trace.named("message_dropped")]
    assert any("RX_PAR not expected in WAIT_PNA_REAUTH" in r for r in drops)
    assert pair.pac.state is PacState.OPEN  # the PAA retransmitted its PAR
    assert isinstance(pair.pac_events()[-1], Reauthenticated)


def test_automatic_reauthentication_keeps_a_day_long_session() -> None:
    pair = open_pair(
        pac_config=PacConfig(reauth_fraction=0.8), paa_kwargs={"session_lifetime": 86400}
    )
    pair.net.run(3 * 86400)
    assert pair.pac.state is PacState.OPEN
    reauths = [e for e in pair.pac_events() if isinstance(e, Reauthenticated)]
    assert len(reauths) == 3  # at 0.8, 1.6 and 2.4 days
    assert reauths[-1].key_id == (reauths[0].key_id or 0) + 2
    assert pair.pac.key_id == pair.paa.session(pair.only_session()).key_id


def test_paa_reauth_timer() -> None:
    pair = open_pair(paa_kwargs={"session_lifetime": 100, "reauth_fraction": 0.5})
    pair.net.run(pair.net.now + 120)
    assert pair.pac.state is PacState.OPEN
    reauths = [e for e in pair.paa_events() if isinstance(e, Reauthenticated)]
    assert len(reauths) == 2 and not reauths[0].by_peer


def test_ping_both_directions() -> None:
    pair = open_pair()
    sid = pair.only_session()
    pair.pac.ping(pair.net.now)
    pair.net.run(pair.net.now + 1)
    pair.paa.ping(sid, pair.net.now)
    pair.net.run(pair.net.now + 1)
    assert flow(pair) == ["PNR[P]", "PNA[P]", "PNR[P]", "PNA[P]"]
    assert all(m.avps[-1].code == AvpCode.AUTH for m in messages(pair))
    pac_ping = pair.pac_events()
    assert len(pac_ping) == 1 and isinstance(pac_ping[0], PingAnswered)
    assert pac_ping[0].round_trip == pytest.approx(2 * pair.net.latency)
    assert isinstance(pair.paa_events()[0], PingAnswered)


def test_ping_needs_open_session() -> None:
    pair = make_pair()
    with pytest.raises(UsageError, match="cannot ping in state INITIAL"):
        pair.pac.ping(0.0)
    with pytest.raises(UsageError):
        pair.pac.terminate(0.0)
    with pytest.raises(UsageError):
        pair.paa.ping(1234, 0.0)
    pair.pac.start(0.0)
    with pytest.raises(UsageError, match="cannot start"):
        pair.pac.start(0.0)


def test_pac_terminates_with_logout() -> None:
    pair = open_pair()
    sid = pair.only_session()
    pair.pac.terminate(pair.net.now)
    pair.net.run(pair.net.now + 1)
    assert flow(pair) == ["PTR", "PTA"]
    ptr = messages(pair)[0]
    assert ptr.avps[0].code == AvpCode.TERMINATION_CAUSE
    assert ptr.avps[0].value == (1).to_bytes(4, "big")
    assert pair.pac.closed and pair.pac.get_timer() is None
    ev = pair.pac_events()[-1]
    assert isinstance(ev, SessionTerminated)
    assert (ev.cause, ev.by_peer, ev.reason) == (TerminationCause.LOGOUT, False, "termination")
    paa_ev = pair.paa_events()[-1]
    assert isinstance(paa_ev, SessionTerminated) and paa_ev.by_peer and paa_ev.cause == 1
    assert len(pair.paa) == 0
    with pytest.raises(KeyError):
        pair.paa.session(sid)


@pytest.mark.parametrize(
    "cause", [TerminationCause.ADMINISTRATIVE, TerminationCause.SESSION_TIMEOUT]
)
def test_paa_terminates(cause: TerminationCause) -> None:
    pair = open_pair()
    sid = pair.only_session()
    pair.paa.terminate(sid, pair.net.now, cause)
    pair.net.run(pair.net.now + 1)
    assert flow(pair) == ["PTR", "PTA"]
    ev = pair.pac_events()[-1]
    assert isinstance(ev, SessionTerminated) and ev.by_peer and ev.cause == cause
    paa_ev = pair.paa_events()[-1]
    assert isinstance(paa_ev, SessionTerminated) and paa_ev.cause == cause and not paa_ev.by_peer
    assert pair.pac.closed and len(pair.paa) == 0


def test_openpana_termination_cause_65536_is_tolerated() -> None:
    pair = open_pair()
    pair.pac.terminate(pair.net.now, cause=65536)  # what OpenPANA sends for LOGOUT
    pair.net.run(pair.net.now + 1)
    paa_ev = pair.paa_events()[-1]
    assert isinstance(paa_ev, SessionTerminated) and paa_ev.cause == 65536


@pytest.mark.parametrize("lifetime", [60, 86400])
def test_lifetime_expiry_closes_both_sides(lifetime: int) -> None:
    pair = open_pair(paa_kwargs={"session_lifetime": lifetime})
    # the session opened at t = 0.01 (VirtualNet latency); open_pair ran the clock to 5 s
    pair.net.run(lifetime - 1)
    assert pair.pac.state is PacState.OPEN
    pair.net.run(lifetime + 1)
    assert pair.pac.closed and len(pair.paa) == 0
    for ev in (pair.pac_events()[-1], pair.paa_events()[-1]):
        assert isinstance(ev, SessionTerminated)
        assert (ev.cause, ev.reason) == (None, "lifetime")
    assert pair.net.log == []  # RFC 5609: SESS_TIMEOUT disconnects without a message


def test_authenticated_event_carries_lifetime() -> None:
    pair = make_pair(paa_config=PaaConfig(session_lifetime=86400))
    pair.pac.start(0.0)
    pair.net.run(5.0)
    auth = [e for e in pair.pac_events() if isinstance(e, Authenticated)]
    assert auth[0].lifetime == 86400
    par_c = next(m for m in (decode_pana(d.data) for d in pair.net.log) if m.has(MessageFlags.C))
    assert par_c.avp(AvpCode.SESSION_LIFETIME).value == (86400).to_bytes(4, "big")  # type: ignore[union-attr]


def test_peer_address_change_updates_session() -> None:
    pair = open_pair()
    sid = pair.only_session()
    new_addr = ("192.0.2.99", 40001)
    pair.net.nodes[new_addr] = pair.net.nodes.pop(PAC_ADDR)
    pair.net.events[new_addr] = []
    pair.pac.ping(pair.net.now)
    pair.net.run(pair.net.now + 1)
    assert pair.paa.session(sid).peer == new_addr
    assert isinstance(pair.net.take_events(new_addr)[-1], PingAnswered)
    assert pair.paa_events()[-1] == PeerAddressChanged(session_id=sid, old=PAC_ADDR, new=new_addr)
    # the PAA's own requests now go to the new address
    pair.paa.ping(sid, pair.net.now)
    pair.net.run(pair.net.now + 1)
    assert pair.net.log[-2].dst == new_addr


def test_failed_reauthentication_ends_the_session() -> None:
    pair = make_pair(method="fake")
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert pair.pac.state is PacState.OPEN
    pair.pac_events()
    pair.peer.secret = b"changed-meanwhile"  # the PaC's credentials no longer match
    pair.pac.reauthenticate(pair.net.now)
    pair.net.run(pair.net.now + 5)
    assert pair.pac.closed and len(pair.paa) == 0
    events = pair.pac_events()
    assert any(isinstance(e, AuthenticationFailed) and e.result_code == 1 for e in events)
    assert isinstance(events[-1], SessionTerminated) and events[-1].reason == "authentication"
    # the failing PAR[C] and PAN[C] were still protected by the old key
    assert all(decode_pana(d.data).avps[-1].code == AvpCode.AUTH for d in pair.net.log[-2:])


def test_reauthentication_never_outlives_the_lifetime() -> None:
    pair = open_pair(paa_kwargs={"session_lifetime": 50})
    pair.net.drop = lambda d: True  # re-authentication cannot finish
    pair.net.run(45.0)
    pair.pac.reauthenticate(pair.net.now)
    pair.net.run(51.0)
    assert pair.pac.closed  # at the lifetime (0.01 + 50 s), not FAILED_SESS_TIMEOUT (120 s) later
    ev = pair.pac_events()[-1]
    assert isinstance(ev, SessionTerminated) and ev.reason == "lifetime"


@pytest.mark.parametrize("who", ["pac", "paa"])
def test_lost_pta_is_answered_by_the_closed_session(who: str) -> None:
    pair = open_pair()
    sid = pair.only_session()
    lost: list[bytes] = []

    def lose_first_pta(d: object) -> bool:
        data: bytes = d.data  # type: ignore[attr-defined]
        if describe(decode_pana(data)) == "PTA" and not lost:
            lost.append(data)
            return True
        return False

    pair.net.drop = lose_first_pta
    if who == "pac":
        pair.pac.terminate(pair.net.now)
    else:
        pair.paa.terminate(sid, pair.net.now)
    pair.net.run(pair.net.now + 10)
    assert lost
    assert flow(pair) == ["PTR", "PTA", "PTR", "PTA"]
    assert pair.pac.closed and len(pair.paa) == 0
    for events in (pair.pac_events(), pair.paa_events()):
        assert isinstance(events[-1], SessionTerminated) and events[-1].reason == "termination"

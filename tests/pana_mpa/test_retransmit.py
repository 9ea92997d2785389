"""RFC 5191 s9 retransmission timers, and retransmission behaviour of the sessions."""

from __future__ import annotations

import itertools
import random

import pytest

from pana_codecs import decode_pana
from pana_mpa.aio.virtualnet import Datagram
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.events import SessionTerminated
from pana_mpa.flow import describe
from pana_mpa.retransmit import PCI_TIMERS, REQ_TIMERS, Retransmitter, TimerParameters, rand_from
from pana_mpa.state import PacState

from .pair import PAA_ADDR, make_pair


def seeded(seed: int = 3) -> random.Random:
    return random.Random(seed)


def test_defaults_match_rfc5191_section9() -> None:
    assert (PCI_TIMERS.irt, PCI_TIMERS.mrt, PCI_TIMERS.mrc, PCI_TIMERS.mrd) == (1, 120, 0, 0)
    assert (REQ_TIMERS.irt, REQ_TIMERS.mrt, REQ_TIMERS.mrc, REQ_TIMERS.mrd) == (1, 30, 10, 0)
    with pytest.raises(ValueError, match="positive"):
        TimerParameters(irt=0, mrt=1, mrc=1, mrd=0)


def test_rand_is_within_ten_percent() -> None:
    assert rand_from(lambda n: b"\x00" * n) == pytest.approx(-0.1)
    assert rand_from(lambda n: b"\xff" * n) == pytest.approx(0.1)
    r = seeded()
    values = [rand_from(r.randbytes) for _ in range(1000)]
    assert min(values) >= -0.1 and max(values) <= 0.1
    assert min(values) < -0.09 and max(values) > 0.09


def test_backoff_doubles_and_caps_at_mrt() -> None:
    r = seeded()
    rtx = Retransmitter(REQ_TIMERS, r.randbytes, 0.0)
    assert 0.9 <= rtx.rt <= 1.1
    rts = [rtx.rt]
    now = rtx.deadline
    while rtx.backoff(now):
        rts.append(rtx.rt)
        now = rtx.deadline
    assert rtx.count == 10  # REQ_MRC: 1 transmission + 10 retransmissions
    for prev, cur in itertools.pairwise(rts):
        assert cur <= 30 * 1.1
        if 2 * prev * 1.1 < 27:
            assert 2 * prev * 0.9 <= cur <= 2 * prev * 1.1
    assert all(27 <= rt <= 33 for rt in rts[6:])
    assert rtx.expired()


def test_mrd_limits_total_duration() -> None:
    params = TimerParameters(irt=1, mrt=0, mrc=0, mrd=10)
    rtx = Retransmitter(params, lambda n: b"\x80" * n, 0.0)
    now = rtx.deadline
    while rtx.backoff(now):
        assert rtx.deadline <= 10.0
        now = rtx.deadline
    assert now == pytest.approx(10.0)


def test_pci_is_retransmitted_until_the_paa_answers() -> None:
    pair = make_pair()
    pair.net.drop = lambda d: d.dst == PAA_ADDR and pair.net.now < 20  # PAA unreachable for 20 s
    pair.pac.start(0.0)
    pair.net.run(40.0)
    pcis = [d for d in pair.net.log if describe(decode_pana(d.data)) == "PCI"]
    times = [d.time for d in pcis]
    assert len(pcis) == 6  # 0, ~1, ~3, ~7, ~15, ~31 s
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for i, gap in enumerate(gaps):
        assert 2**i * 0.9 ** (i + 1) <= gap <= 2**i * 1.1 ** (i + 1)
    assert pair.pac.state is PacState.OPEN


def test_request_retransmission_exhaustion_ends_the_session_without_ptr() -> None:
    pair = make_pair()
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert pair.pac.state is PacState.OPEN
    pair.net.drop = lambda d: True  # the network dies
    pair.pac.ping(pair.net.now)
    pair.net.log.clear()
    pair.net.run(1000.0)
    pings = [describe(decode_pana(d.data)) for d in pair.net.log]
    assert pings == ["PNR[P]"] * 11  # 1 + REQ_MRC retransmissions, then no PTR
    ev = pair.pac_events()[-1]
    assert isinstance(ev, SessionTerminated) and ev.reason == "retransmissions" and ev.cause is None
    assert pair.pac.closed
    # the wait before giving up: about 1+2+4+8+16+30*6 = 211 s (each RT within +-10 %)
    ended = pair.pac_trace.named("session_terminated")[-1]["time"] - pair.net.log[0].time
    assert 211 * 0.9 <= ended <= 211 * 1.1


def test_custom_timers_give_up_sooner() -> None:
    fast = TimerParameters(irt=0.5, mrt=2, mrc=3, mrd=0)
    pair = make_pair(pac_config=PacConfig(request_timers=fast))
    pair.pac.start(0.0)
    pair.net.run(5.0)
    pair.net.drop = lambda d: True
    pair.net.log.clear()
    pair.pac.terminate(pair.net.now)
    pair.net.run(pair.net.now + 100)
    assert [describe(decode_pana(d.data)) for d in pair.net.log] == ["PTR"] * 4
    ev = pair.pac_events()[-1]
    assert isinstance(ev, SessionTerminated) and ev.reason == "retransmissions"


def test_lost_answers_are_recovered_from_the_answer_cache() -> None:
    pair = make_pair()
    lost: list[Datagram] = []

    def drop_first_pans(d: Datagram) -> bool:
        # lose the first copy of every PAN the PaC sends
        name = describe(decode_pana(d.data))
        if d.dst == PAA_ADDR and name.startswith("PAN") and d.data not in {x.data for x in lost}:
            lost.append(d)
            return True
        return False

    pair.net.drop = drop_first_pans
    pair.pac.start(0.0)
    pair.net.run(60.0)
    assert pair.pac.state is PacState.OPEN
    assert len(lost) >= 4
    dups = pair.pac_trace.named("duplicate_answered")
    assert len(dups) >= 3  # the PAA retransmitted PARs and the PaC answered from its cache
    # the cached answer is byte-identical to the lost one
    sent = [d.data for d in pair.net.log if d.dst == PAA_ADDR]
    assert all(sent.count(d.data) >= 2 for d in lost if describe(decode_pana(d.data)) != "PAN[S]")


@pytest.mark.parametrize("seed", range(6))
def test_lossy_duplicating_reordering_network(seed: int) -> None:
    pair = make_pair(
        seed=seed,
        loss=0.2,
        duplicate=0.2,
        reorder=0.2,
        paa_config=PaaConfig(session_lifetime=600),
    )
    pair.pac.start(0.0)
    ok = pair.net.run_until(lambda: pair.pac.state is PacState.OPEN, 300.0)
    assert ok
    first_key = pair.pac.key_id
    pair.pac.reauthenticate(pair.net.now)
    ok = pair.net.run_until(
        lambda: pair.pac.state is PacState.OPEN and pair.pac.key_id != first_key, 600.0
    )
    assert ok
    sessions = list(pair.paa)
    assert sessions and sessions[0].key_id == pair.pac.key_id

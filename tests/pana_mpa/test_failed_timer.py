"""FAILED_SESS_TIMEOUT counted from the last progress (opt-in ``failed_session_max``, issue 9)."""

from __future__ import annotations

import pytest

from pana_codecs import decode_pana
from pana_mpa.aio.virtualnet import Datagram
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.errors import UsageError
from pana_mpa.events import Authenticated, Reauthenticated, SessionTerminated
from pana_mpa.state import PacState

from .pair import PAA_ADDR, Pair, make_pair


def _slow_pair(failed_max: float | None, *, failed: float = 10.0) -> Pair:
    """Every PAR after the PAR[S] arrives only at its third transmission (~3 s late each)."""
    pair = make_pair(
        pac_config=PacConfig(failed_session_timeout=failed, failed_session_max=failed_max),
        paa_config=PaaConfig(failed_session_timeout=failed, failed_session_max=failed_max),
    )
    seen: dict[bytes, int] = {}

    def drop(d: Datagram) -> bool:
        msg = decode_pana(d.data)
        if d.src != PAA_ADDR or msg.type != 2 or not msg.is_request or msg.flags & 0x4000:
            return False
        seen[d.data] = seen.get(d.data, 0) + 1
        return seen[d.data] <= 2

    pair.net.drop = drop
    return pair


def _authenticate(pair: Pair, until: float = 60.0) -> list[object]:
    pair.pac.start(0.0)
    pair.net.run(until)
    return list(pair.pac_events())


def test_default_timer_cuts_a_progressing_authentication() -> None:
    """RFC 5609 as written: the timer runs from the start; four slow exchanges pass 10 s."""
    events = _authenticate(_slow_pair(None))
    assert not [e for e in events if isinstance(e, Authenticated)]
    assert [e.reason for e in events if isinstance(e, SessionTerminated)] == ["failed"]


def test_progress_restarts_the_failed_timer() -> None:
    pair = _slow_pair(100.0)
    events = _authenticate(pair)
    (auth,) = [e for e in events if isinstance(e, Authenticated)]
    assert pair.pac.state is PacState.OPEN
    assert not [e for e in events if isinstance(e, SessionTerminated)]
    assert auth.session_id == pair.only_session()
    # the lifetime timer replaced the failed one: nothing ends at failed_session_max
    pair.net.run(200.0)
    assert pair.pac.state is PacState.OPEN
    # a re-authentication made slow the same way completes too
    pair.pac.reauthenticate(pair.net.now)
    pair.net.run(pair.net.now + 60)
    assert [e for e in pair.pac_events() if isinstance(e, Reauthenticated)]


def test_failed_session_max_still_bounds_the_whole_authentication() -> None:
    """The cap: progress restarts the timer, but never past failed_session_max from the start."""
    events = _authenticate(_slow_pair(11.0))
    assert not [e for e in events if isinstance(e, Authenticated)]
    ends = [e for e in events if isinstance(e, SessionTerminated)]
    assert [e.reason for e in ends] == ["failed"]


def test_a_stalled_authentication_still_ends_after_failed_session_timeout() -> None:
    """No progress at all (the PAA is gone after PAR[S]): the timer is not restarted."""
    pair = make_pair(
        pac_config=PacConfig(failed_session_timeout=10.0, failed_session_max=1000.0),
    )
    passed: list[bytes] = []

    def drop(d: Datagram) -> bool:  # the PAR[S] and one PAR get through, then nothing
        if d.src != PAA_ADDR:
            return False
        if d.data in passed or len(passed) < 2:
            passed.append(d.data)
            return len(set(passed)) > 2
        return True

    pair.net.drop = drop
    pair.pac.start(0.0)
    pair.net.run(0.5)
    assert pair.pac.state is PacState.WAIT_PAA
    pair.net.run(11.0)  # the PaC's last progress was at ~0 s
    ends = [e for e in pair.pac_events() if isinstance(e, SessionTerminated)]
    assert [e.reason for e in ends] == ["failed"]


@pytest.mark.parametrize("config", [PacConfig, PaaConfig])
def test_failed_session_max_below_the_timeout_is_refused(config: type) -> None:
    with pytest.raises(UsageError, match="failed_session_max"):
        config(failed_session_timeout=120.0, failed_session_max=60.0)

"""Random operation sequences over a faulty VirtualNet: no exception, and the sides agree."""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pana_mpa.config import PaaConfig
from pana_mpa.errors import UsageError
from pana_mpa.state import PaaState, PacState

from .pair import make_pair

OPS = st.lists(
    st.sampled_from(["pac_ping", "paa_ping", "pac_reauth", "paa_reauth", "wait", "wait_long"]),
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=OPS,
    seed=st.integers(0, 10_000),
    loss=st.sampled_from([0.0, 0.1, 0.3]),
    duplicate=st.sampled_from([0.0, 0.2]),
    reorder=st.sampled_from([0.0, 0.3]),
)
def test_random_operations_keep_both_sides_consistent(
    ops: list[str], seed: int, loss: float, duplicate: float, reorder: float
) -> None:
    pair = make_pair(
        seed=seed,
        loss=loss,
        duplicate=duplicate,
        reorder=reorder,
        method="fake",
        paa_config=PaaConfig(session_lifetime=3600),
    )
    net = pair.net
    pair.pac.start(0.0)
    net.run(60.0)
    event(f"opened: {pair.pac.state is PacState.OPEN}")
    for op in ops:
        if pair.pac.closed:
            break
        sessions = list(pair.paa)
        try:
            if op == "pac_ping":
                pair.pac.ping(net.now)
            elif op == "pac_reauth":
                pair.pac.reauthenticate(net.now)
            elif op == "paa_ping" and sessions:
                pair.paa.ping(sessions[0].session_id, net.now)
            elif op == "paa_reauth" and sessions:
                pair.paa.reauthenticate(sessions[0].session_id, net.now)
        except UsageError:
            pass  # not OPEN at this moment: the API says so instead of misbehaving
        net.run(net.now + (300.0 if op == "wait_long" else 2.0))
    net.run(net.now + 400.0)  # let every retransmission finish
    sessions = list(pair.paa)
    event(f"end: pac {pair.pac.state.name}, paa {sessions[0].state.name if sessions else '-'}")
    if pair.pac.state is PacState.OPEN and sessions and sessions[0].state is PaaState.OPEN:
        assert pair.pac.key_id == sessions[0].key_id
        assert pair.pac.session_id == sessions[0].session_id
    if not sessions:
        # the PAA gave up: the PaC must not believe in an open, working session forever
        net.run(net.now + 4000.0)
        assert pair.pac.closed or pair.pac.state is not PacState.OPEN or pair.pac.get_timer()

"""The AR data plane: tunnel, buffer within period and size, flush on the PANA-Update, bicast."""

from __future__ import annotations

import ipaddress

from pana_mpa.mpa.ar import ArDataPlane, BufferPolicy, Forward, Mode

NCOA = ipaddress.IPv4Address("10.97.2.100")
OTHER = ipaddress.IPv4Address("10.97.2.7")


def test_tunnel_then_buffer_then_flush_in_order() -> None:
    ar = ArDataPlane(BufferPolicy(period=1.0, max_packets=10))
    assert ar.on_packet(NCOA, b"x", 0.0) is Forward.DIRECT  # not ours yet
    ar.bind(NCOA)
    assert ar.on_packet(NCOA, b"p0", 0.0) is Forward.TUNNEL
    ar.start_switch(NCOA)
    assert ar.mode(NCOA) is Mode.SWITCHING
    for i in range(1, 4):
        assert ar.on_packet(NCOA, b"p%d" % i, 0.1 * i) is Forward.HOLD
    assert ar.get_timer() == 1.1
    assert ar.complete_switch(NCOA, 0.5) == [b"p1", b"p2", b"p3"]
    assert ar.on_packet(NCOA, b"p4", 0.6) is Forward.DIRECT
    st = ar.stats[NCOA]
    assert (st.tunneled, st.held, st.flushed, st.direct) == (1, 3, 3, 1)
    assert ar.on_packet(OTHER, b"y", 0.6) is Forward.DIRECT


def test_buffer_size_and_period_limits() -> None:
    ar = ArDataPlane(BufferPolicy(period=0.5, max_packets=2))
    ar.bind(NCOA)
    ar.start_switch(NCOA)
    assert [ar.on_packet(NCOA, b"%d" % i, 0.0) for i in range(3)] == [
        Forward.HOLD,
        Forward.HOLD,
        Forward.DROP,
    ]
    ar.handle_timer(0.6)  # both held packets are now too old
    assert ar.complete_switch(NCOA, 0.7) == []
    st = ar.stats[NCOA]
    assert (st.dropped_overflow, st.dropped_expired) == (1, 2)


def test_bicast_and_no_buffering() -> None:
    ar = ArDataPlane(BufferPolicy(bicast=True))
    ar.bind(NCOA)
    ar.start_switch(NCOA)
    assert ar.on_packet(NCOA, b"a", 0.0) is Forward.BICAST
    assert ar.stats[NCOA].bicast == 1
    plain = ArDataPlane(BufferPolicy(buffering=False))
    plain.bind(NCOA)
    plain.start_switch(NCOA)
    assert plain.on_packet(NCOA, b"a", 0.0) is Forward.TUNNEL


def test_release_drops_held() -> None:
    ar = ArDataPlane()
    ar.bind(NCOA)
    ar.start_switch(NCOA)
    ar.on_packet(NCOA, b"a", 0.0)
    ar.release(NCOA)
    assert ar.mode(NCOA) is None
    assert ar.stats[NCOA].dropped_expired == 1
    assert ar.complete_switch(NCOA, 1.0) == []

"""RFC 5873 pre-authentication: the E flag, negotiation, and the switch to serving PAA."""

from __future__ import annotations

import pytest

from pana_codecs import MessageFlags, decode_pana
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.errors import UsageError
from pana_mpa.events import PeerAddressChanged, PreAuthSwitched
from pana_mpa.flow import describe
from pana_mpa.state import PacState

from .pair import PAC_ADDR, make_pair

E = MessageFlags.E


def test_preauth_then_switch_from_a_new_address() -> None:
    pair = make_pair(
        pac_config=PacConfig(pre_authentication=True),
        paa_config=PaaConfig(pre_authentication=True),
    )
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert pair.pac.state is PacState.OPEN and pair.pac.pre_auth
    session = pair.paa.session(pair.only_session())
    assert session.pre_auth
    assert all(decode_pana(d.data).flags & E for d in pair.net.log)  # E on every message
    pair.pac.ping(pair.net.now)  # pings during pre-authentication keep E
    pair.net.run(pair.net.now + 1)
    assert all(decode_pana(d.data).flags & E for d in pair.net.log)
    pair.pac_events()
    pair.paa_events()
    # the PaC moves: its traffic now comes from a new address
    new_addr = ("203.0.113.5", 40000)
    pair.net.nodes[new_addr] = pair.net.nodes.pop(PAC_ADDR)
    pair.net.events[new_addr] = []
    pair.net.log.clear()
    pair.pac.switch(pair.net.now)
    pair.net.run(pair.net.now + 1)
    flow = [
        (describe(decode_pana(d.data)), bool(decode_pana(d.data).flags & E)) for d in pair.net.log
    ]
    assert flow == [("PNR[P]", False), ("PNA[P]", False)]
    assert (pair.pac.pre_auth, session.pre_auth) == (False, False)
    assert session.peer == new_addr
    paa_events = pair.paa_events()
    assert PreAuthSwitched(session_id=session.session_id, peer=new_addr) in paa_events
    assert any(isinstance(e, PeerAddressChanged) for e in paa_events)
    assert any(isinstance(e, PreAuthSwitched) for e in pair.net.take_events(new_addr))
    # afterwards: no E, and the session works normally
    pair.net.log.clear()
    pair.pac.reauthenticate(pair.net.now)
    pair.net.run(pair.net.now + 5)
    assert pair.pac.state is PacState.OPEN
    assert not any(decode_pana(d.data).flags & E for d in pair.net.log)


def test_preauth_negotiation_fails_against_a_legacy_paa() -> None:
    pair = make_pair(
        pac_config=PacConfig(pre_authentication=True, failed_session_timeout=30),
        paa_config=PaaConfig(pre_authentication=False),
    )
    pair.pac.start(0.0)
    pair.net.run(60.0)
    reasons = [r["reason"] for r in pair.pac_trace.named("message_dropped")]
    assert "E flag missing on a pre-authentication session (RFC 5873)" in reasons
    assert pair.pac.closed  # FAILED_SESS_TIMEOUT


def test_preauth_needs_a_key_generating_method() -> None:
    pair = make_pair(
        method="md5",
        pac_config=PacConfig(pre_authentication=True),
        paa_config=PaaConfig(pre_authentication=True),
    )
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert pair.pac.closed
    par_c = next(
        m
        for m in (decode_pana(d.data) for d in pair.net.log)
        if m.has(MessageFlags.C) and m.is_request
    )
    assert par_c.avps[0].value == (2).to_bytes(4, "big") or any(
        a.value == (2).to_bytes(4, "big") for a in par_c.avps if a.code == 7
    )


def test_switch_needs_a_preauth_session() -> None:
    pair = make_pair()
    pair.pac.start(0.0)
    pair.net.run(5.0)
    with pytest.raises(UsageError, match="only for a pre-authentication session"):
        pair.pac.switch(pair.net.now)
    pre = make_pair(
        pac_config=PacConfig(pre_authentication=True),
        paa_config=PaaConfig(pre_authentication=True),
    )
    with pytest.raises(UsageError, match="cannot switch"):
        pre.pac.switch(0.0)


def test_message_without_e_is_dropped_during_preauth() -> None:
    pair = make_pair(
        pac_config=PacConfig(pre_authentication=True),
        paa_config=PaaConfig(pre_authentication=True),
    )
    pair.pac.start(0.0)
    pair.net.run(5.0)

    def clear_e(d: object) -> bytes | None:
        data = bytearray(d.data)  # type: ignore[attr-defined]
        data[4] &= ~0x02  # flags octet 0x0200 -> E
        return bytes(data)

    pair.net.tamper = clear_e
    sid = pair.only_session()
    pair.paa.ping(sid, pair.net.now)  # the PaC must not accept the PAA's PNR[P] without E
    pair.net.run(pair.net.now + 0.5)
    reasons = [r["reason"] for r in pair.pac_trace.named("message_dropped")]
    assert "E flag missing on a pre-authentication session (RFC 5873)" in reasons

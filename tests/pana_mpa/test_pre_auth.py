"""RFC 5873 pre-authentication (the E flag, the switch) and the session extension hooks."""

from __future__ import annotations

from collections.abc import Sequence

from pana_codecs import Avp, MessageFlags, MessageType, PanaMessage, decode_pana, encode_pana
from pana_mpa.address import Address
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.events import (
    Authenticated,
    PeerAddressChanged,
    PingAnswered,
    PreAuthSwitched,
    SessionTerminated,
)
from tests.pana_mpa.pair import PAA_ADDR, PAC_ADDR, Pair, make_pair

NEW_ADDR = ("198.51.100.20", 40000)
VENDOR = 32473


class Recorder:
    """An extension that tags every message with a vendor AVP and records what it accepted."""

    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        self.seen: list[tuple[int, PanaMessage]] = []
        self.answered: list[PanaMessage] = []

    def outgoing_avps(
        self,
        session_id: int,
        msg_type: int,
        flags: int,
        avps: Sequence[Avp],
        answering: PanaMessage | None,
    ) -> Sequence[Avp]:
        if answering is not None:
            self.answered.append(answering)
        return [Avp(1, self.tag, VENDOR)]

    def received(self, session_id: int, msg: PanaMessage, addr: Address, now: float) -> None:
        self.seen.append((session_id, msg))


def _pair(paa_pre_auth: bool = True) -> tuple[Pair, Recorder, Recorder]:
    pac_ext, paa_ext = Recorder(b"pac"), Recorder(b"paa")
    pair = make_pair(
        pac_config=PacConfig(pre_authentication=True, extension=pac_ext),
        paa_config=PaaConfig(pre_authentication=paa_pre_auth, extension=paa_ext),
    )
    return pair, pac_ext, paa_ext


def _authenticate(pair: Pair) -> None:
    pair.pac.start(pair.net.now)
    assert pair.net.run_until(
        lambda: any(isinstance(e, Authenticated) for e in pair.net.events[PAC_ADDR]), 30
    )


def test_every_message_of_a_pre_auth_session_has_e_then_switch_clears_it() -> None:
    pair, pac_ext, paa_ext = _pair()
    _authenticate(pair)
    pair.net.run(pair.net.now + 1)
    msgs = [decode_pana(d.data) for d in pair.net.log]
    assert msgs[0].type == MessageType.PANA_CLIENT_INITIATION
    assert all(m.flags & MessageFlags.E for m in msgs), [hex(m.flags) for m in msgs]
    # the extension's AVP rode on every message, the PCI included, before AUTH
    for m in msgs:
        vendor = [a for a in m.avps if a.vendor_id == VENDOR]
        assert len(vendor) == 1
        if m.avps[-1].code == 1 and m.avps[-1].vendor_id is None:
            assert m.avps[-2].vendor_id == VENDOR
    # both sides saw the other's accepted messages (the PAA saw the PCI too)
    assert paa_ext.seen[0][1].type == MessageType.PANA_CLIENT_INITIATION
    assert {m.type for _, m in pac_ext.seen} == {MessageType.PANA_AUTH}

    # the MN moves: the PaC now sends from a new address
    pair.net.nodes.pop(PAC_ADDR)
    pair.net.add(NEW_ADDR, pair.pac)
    before = len(pair.net.log)
    pair.pac.switch(pair.net.now, [Avp(7, b"\x00\x00\x00\x02", VENDOR)])
    pair.net.run(pair.net.now + 1)
    after = [decode_pana(d.data) for d in pair.net.log[before:]]
    assert [(m.type, m.is_request) for m in after] == [
        (MessageType.PANA_NOTIFICATION, True),
        (MessageType.PANA_NOTIFICATION, False),
    ]
    assert not any(m.flags & MessageFlags.E for m in after)
    assert after[0].avp(7, VENDOR) is not None  # the caller's AVP (e.g. Tunnel-Action)
    assert paa_ext.answered[-1].avp(7, VENDOR) is not None  # the PAA built its PNA knowing it
    events = pair.net.take_events(PAA_ADDR)
    switched = [e for e in events if isinstance(e, PreAuthSwitched)]
    assert switched and switched[0].peer == NEW_ADDR
    assert any(isinstance(e, PeerAddressChanged) and e.new == NEW_ADDR for e in events)
    assert any(isinstance(e, PingAnswered) for e in pair.net.take_events(NEW_ADDR))
    assert not pair.pac.pre_auth
    # later messages carry no E and still work (same session, key, sequence numbers)
    pair.pac.ping(pair.net.now)
    pair.net.run(pair.net.now + 1)
    assert any(isinstance(e, PingAnswered) for e in pair.net.take_events(NEW_ADDR))
    assert not any(decode_pana(d.data).flags & MessageFlags.E for d in pair.net.log[before:])


def test_pre_auth_against_a_paa_without_support_dies() -> None:
    # RFC 5873 s3: the PAA ignores E and answers PAR[S] without it; the PaC discards that
    pair, _, _ = _pair(paa_pre_auth=False)
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert not any(isinstance(e, Authenticated) for e in pair.net.take_events(PAC_ADDR))
    reasons = [e["reason"] for e in pair.pac_trace.named("message_dropped")]
    assert any("E flag missing" in r for r in reasons), reasons


def test_e_clear_messages_other_than_the_switch_are_dropped() -> None:
    pair, _, _ = _pair()
    _authenticate(pair)
    sid = pair.only_session()
    session = pair.paa.session(sid)
    # a PTR with E clear on the pre-auth session (not the switch): discarded, session lives
    ptr = PanaMessage(
        MessageType.PANA_TERMINATION, MessageFlags.R, sid, 0, (Avp(9, b"\x00\x00\x00\x01"),)
    )
    pair.net.inject(PAC_ADDR, PAA_ADDR, encode_pana(ptr))
    pair.net.run(pair.net.now + 1)
    assert not session.closed and session.pre_auth
    # the PaC may not switch a non-pre-auth session, and a normal session rejects E
    normal = make_pair()
    normal.pac.start(0.0)
    normal.net.run(5.0)
    try:
        normal.pac.switch(normal.net.now)
    except Exception as exc:  # UsageError
        assert "pre-authentication" in str(exc)
    else:
        raise AssertionError("switch() on a normal session must fail")
    nsid = normal.only_session()
    pnr = PanaMessage(
        MessageType.PANA_NOTIFICATION, MessageFlags.R | MessageFlags.P | MessageFlags.E, nsid, 0
    )
    normal.net.inject(PAC_ADDR, PAA_ADDR, encode_pana(pnr))
    normal.net.run(normal.net.now + 1)
    reasons = [e["reason"] for e in normal.paa_trace.named("message_dropped")]
    assert any("not a pre-authentication" in r for r in reasons), reasons


def test_abandoning_a_candidate_is_ptr_with_e() -> None:
    pair, _, _ = _pair()
    _authenticate(pair)
    before = len(pair.net.log)
    pair.pac.terminate(pair.net.now)
    pair.net.run(pair.net.now + 1)
    msgs = [decode_pana(d.data) for d in pair.net.log[before:]]
    assert [m.type for m in msgs] == [MessageType.PANA_TERMINATION] * 2
    assert all(m.flags & MessageFlags.E for m in msgs)
    assert any(isinstance(e, SessionTerminated) for e in pair.net.take_events(PAA_ADDR))

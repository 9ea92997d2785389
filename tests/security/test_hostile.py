"""Hostile peers and attackers against the PaC and the PAA (issue 9, marker ``hostile``).

Each case states the RFC's behaviour (silent discard, Result-Code, termination) and checks that
no session state changed where it must not. Regression tests for the issue's items name them.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest

from pana_codecs import (
    Avp,
    CodecError,
    MessageFlags,
    MessageType,
    PanaMessage,
    decode_pana,
    encode_pana,
)
from pana_mpa._avps import AvpCode, u32_avp
from pana_mpa.aio.virtualnet import Datagram
from pana_mpa.events import (
    AuthenticationFailed,
    PeerAddressChanged,
    PingAnswered,
    SessionTerminated,
)
from pana_mpa.state import PaaState, PacState
from tests.pana_mpa.pair import PAA_ADDR, PAC_ADDR, Pair, make_pair

pytestmark = pytest.mark.hostile

ATTACKER = ("203.0.113.66", 5555)


def _open(**kw: object) -> Pair:
    pair = make_pair(**kw)  # type: ignore[arg-type]
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert pair.pac.state is PacState.OPEN
    pair.pac_events()
    pair.paa_events()
    return pair


def _sent(pair: Pair, src: tuple[str, int], mtype: int, flag: int = 0) -> list[bytes]:
    """Requests of this type (and flag) that ``src`` sent, oldest first."""
    out = []
    for d in pair.net.log:
        if d.src != src:
            continue
        msg = decode_pana(d.data)
        if msg.type == mtype and msg.is_request and (not flag or msg.flags & flag):
            out.append(d.data)
    return out


def _internal_errors(pair: Pair) -> list[object]:
    return [
        r
        for r in pair.pac_trace.records + pair.paa_trace.records
        if str(r.get("reason", "")).startswith("internal error")
    ]


# --- item 1: hijack by replay ---------------------------------------------------------------


def test_replayed_request_from_a_new_address_moves_nothing() -> None:
    """Issue 9 item 1: the PaC's last PNR[P] replayed from elsewhere hijacked the session."""
    pair = _open()
    pair.pac.ping(pair.net.now)
    pair.net.run(pair.net.now + 2)
    sid = pair.only_session()
    pnr = _sent(pair, PAC_ADDR, MessageType.PANA_NOTIFICATION, MessageFlags.P)[-1]
    pair.net.inject(ATTACKER, PAA_ADDR, pnr)
    pair.net.run(pair.net.now + 2)
    assert not [e for e in pair.paa_events() if isinstance(e, PeerAddressChanged)]
    assert pair.paa.session(sid).peer == PAC_ADDR
    # the PAA still talks to the PaC: its ping is answered, nothing goes to the attacker after
    # the cached answer to the replay itself
    start = len(pair.net.log)
    pair.paa.ping(sid, pair.net.now)
    pair.net.run(pair.net.now + 5)
    assert [e for e in pair.paa_events() if isinstance(e, PingAnswered)]
    assert all(d.dst != ATTACKER for d in pair.net.log[start:])
    assert pair.paa.session(sid).state is PaaState.OPEN
    assert pair.pac.state is PacState.OPEN


def test_replayed_older_request_from_a_new_address_is_discarded() -> None:
    pair = _open()
    for _ in range(2):
        pair.pac.ping(pair.net.now)
        pair.net.run(pair.net.now + 2)
    sid = pair.only_session()
    old = _sent(pair, PAC_ADDR, MessageType.PANA_NOTIFICATION, MessageFlags.P)[0]
    start = len(pair.net.log)
    pair.net.inject(ATTACKER, PAA_ADDR, old)
    pair.net.run(pair.net.now + 2)
    assert pair.paa.session(sid).peer == PAC_ADDR
    assert [d for d in pair.net.log[start:] if d.dst == ATTACKER] == []  # stale: no answer


def test_fresh_authenticated_request_from_a_new_address_moves_the_session() -> None:
    """RFC 5191 s5.6 still holds: a fresh, AUTH-verified request from a new address moves it."""
    pair = _open()
    sid = pair.only_session()
    now = pair.net.now
    pair.pac.ping(now)
    ((pnr, _),) = pair.pac.datagrams_to_send(now)
    moved = ("198.51.100.20", 40001)
    pair.paa.receive_datagram(pnr, moved, now)
    ((_pna, dst),) = pair.paa.datagrams_to_send(now)
    assert dst == moved
    changed = [e for e in pair.paa_events() if isinstance(e, PeerAddressChanged)]
    assert [(e.old, e.new) for e in changed] == [(PAC_ADDR, moved)]
    assert pair.paa.session(sid).peer == moved


def test_answer_from_a_new_address_moves_nothing() -> None:
    pair = _open()
    sid = pair.only_session()
    now = pair.net.now
    pair.paa.ping(sid, now)
    ((pnr, _),) = pair.paa.datagrams_to_send(now)
    pair.pac.receive_datagram(pnr, PAA_ADDR, now)
    ((pna, _),) = pair.pac.datagrams_to_send(now)
    pair.paa.receive_datagram(pna, ATTACKER, now)  # the genuine answer, from elsewhere
    assert pair.paa.session(sid).peer == PAC_ADDR
    assert not [e for e in pair.paa_events() if isinstance(e, PeerAddressChanged)]


def test_pac_checks_the_paa_port_as_well_as_its_address() -> None:
    """Issue 9 item 6: the PaC checked only the PAA's IP address."""
    pair = _open()
    sid = pair.only_session()
    now = pair.net.now
    pair.paa.ping(sid, now)
    ((pnr, _),) = pair.paa.datagrams_to_send(now)
    pair.pac.receive_datagram(pnr, (PAA_ADDR[0], 7160), now)
    assert pair.pac.datagrams_to_send(now) == []
    assert pair.pac_trace.records[-1]["reason"] == "not from the PAA"
    pair.pac.receive_datagram(pnr, PAA_ADDR, now)
    assert len(pair.pac.datagrams_to_send(now)) == 1


# --- item 4: peer values that raise ---------------------------------------------------------


def _with_result_code(code: int) -> object:
    def tamper(d: Datagram) -> bytes | None:
        msg = decode_pana(d.data)
        if not (
            msg.type == MessageType.PANA_AUTH and msg.is_request and msg.flags & MessageFlags.C
        ):
            return None
        avps = tuple(
            u32_avp(AvpCode.RESULT_CODE, code) if a.code == AvpCode.RESULT_CODE else a
            for a in msg.avps
        )
        return encode_pana(replace(msg, avps=avps))

    return tamper


@pytest.mark.parametrize("code", [3, 99, 0xFFFFFFFF])
@pytest.mark.parametrize("method", ["psk", "md5"])
def test_unknown_result_code_never_raises(code: int, method: str) -> None:
    """Issue 9 item 4: PAR[C] with Result-Code 99 raised ValueError out of receive_datagram."""
    pair = make_pair(method=method)
    pair.net.tamper = _with_result_code(code)  # type: ignore[assignment]
    pair.pac.start(0.0)
    pair.net.run(300.0)  # PSK: the altered PAR[C] fails AUTH; the failed timer ends it
    assert pair.pac.state is not PacState.OPEN
    assert _internal_errors(pair) == []
    events = pair.pac_events()
    if method == "md5":  # no AUTH: the PaC reads the unknown code as a rejection
        failed = [e for e in events if isinstance(e, AuthenticationFailed)]
        assert [e.result_code for e in failed] == [code]
    assert [e for e in events if isinstance(e, SessionTerminated)]


def test_garbled_messages_from_either_side_never_raise() -> None:
    pair = _open()
    now = pair.net.now
    for d in list(pair.net.log):
        msg = decode_pana(d.data)
        for mutant in _mutants(msg):
            pair.pac.receive_datagram(mutant, PAA_ADDR, now)
            pair.paa.receive_datagram(mutant, PAC_ADDR, now)
    assert _internal_errors(pair) == []
    assert pair.pac.state is PacState.OPEN


def _mutants(msg: PanaMessage) -> list[bytes]:
    """Peer values a state machine might turn into enums or ints: each AVP set to odd values."""
    out = []
    mutants = []
    for i, a in enumerate(msg.avps):
        for value in (b"", b"\x00", b"\xff" * 4, b"\x00\x00\x00\x63", bytes(300)):
            avps = list(msg.avps)
            avps[i] = Avp(a.code, value, a.vendor_id)
            mutants.append(replace(msg, avps=tuple(avps)))
    for code in range(1, 14):
        mutants.append(replace(msg, avps=(*msg.avps, Avp(code, b"\x00\x00\x00\x63"))))
    for m in mutants:
        with contextlib.suppress(CodecError):  # values without a wire form
            out.append(encode_pana(m))
    return out

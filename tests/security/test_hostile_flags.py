"""Hostile header flags (issue 9): S and C together, PNR/PNA with A and P together.

RFC 5191 s6.2: S marks only the initial PAR/PAN of a session and C only the final PAR/PAN of an
authentication, so no PAR/PAN has both; a PNR/PNA has exactly one of A (re-authentication) and
P (ping). s5.5: a message that breaks a header rule is invalid and silently discarded, with no
answer and no state change. Every forged message below carries a valid AUTH once a key exists
(signed with the sender's own key), so it is the flag rule that discards it, not the AUTH check.
"""

from __future__ import annotations

import pytest

from pana_codecs import MessageFlags, MessageType, PanaMessage, decode_pana
from pana_mpa.aio.virtualnet import Datagram
from pana_mpa.events import PingAnswered, Reauthenticated, SessionStarted
from pana_mpa.state import PaaState, PacState
from tests.pana_mpa.pair import PAA_ADDR, PAC_ADDR, Pair, make_pair

from ._hostile import assert_no_internal_error, drops, forge, hold_first, open_pair, sent

pytestmark = pytest.mark.hostile

R, S, C, A, P = (int(f) for f in (MessageFlags.R, MessageFlags.S, MessageFlags.C,
                                  MessageFlags.A, MessageFlags.P))  # fmt: skip
PAR, PNR = MessageType.PANA_AUTH, MessageType.PANA_NOTIFICATION
SC_REASON = "S and C both set"
AP_REASON = "exactly one of the A and P"


def _pac_pinged() -> Pair:
    """An open pair whose PaC sent a request, so the PAA expects a definite sequence number."""
    pair = open_pair()
    pair.pac.ping(pair.net.now)
    pair.net.run(pair.net.now + 1)
    pair.pac_events()
    pair.net.log.clear()
    return pair


# --- S and C together (RFC 5191 s6.2) ------------------------------------------------------------


def test_pac_discards_an_initial_par_with_s_and_c(caplog: pytest.LogCaptureFixture) -> None:
    """At the start: a PAR[S,C] is no initial PAR; the PaC answers nothing and stays INITIAL."""
    pair = make_pair()
    pair.paa.initiate(PAC_ADDR, 0.0)  # PAA-initiated start: the PAR[S] goes to the PaC
    ((par_s, _),) = pair.paa.datagrams_to_send(0.0)
    pair.net.inject(PAA_ADDR, PAC_ADDR, forge(decode_pana(par_s), flags=R | S | C))
    pair.net.run(0.5)
    assert SC_REASON in drops(pair, "pac")
    assert pair.pac.state is PacState.INITIAL and pair.pac.session_id == 0
    assert sent(pair, PAC_ADDR) == [] and pair.pac_events() == []
    pair.net.inject(PAA_ADDR, PAC_ADDR, par_s)  # the genuine PAR[S] is still welcome
    pair.net.run(5.0)
    assert pair.pac.state.name == "OPEN"
    assert_no_internal_error(pair, caplog)


def test_paa_discards_an_initial_pan_with_s_and_c(caplog: pytest.LogCaptureFixture) -> None:
    """At the start: a PAN[S,C] (the stateless start's cookie answer) opens no session."""
    pair = make_pair()
    forged: list[bytes] = []

    def tamper(d: Datagram) -> bytes | None:
        msg = decode_pana(d.data)
        if d.src == PAC_ADDR and msg.type == PAR and msg.flags == S and not forged:
            forged.append(forge(msg, flags=S | C))
            return forged[0]
        return None

    pair.net.tamper = tamper
    pair.pac.start(0.0)
    pair.net.run(0.5)
    assert forged and SC_REASON in drops(pair, "paa")
    assert len(pair.paa) == 0  # no session, no half-open state
    assert not [e for e in pair.paa_events() if isinstance(e, SessionStarted)]
    pair.net.tamper = None
    pair.net.run(10.0)  # the PaC retransmits its PCI and starts over
    assert pair.pac.state is PacState.OPEN
    assert_no_internal_error(pair, caplog)


def test_pac_discards_a_signed_par_with_s_and_c_later(caplog: pytest.LogCaptureFixture) -> None:
    """Later (OPEN, key): a PAR[S,C] with a valid AUTH and the expected sequence number."""
    pair = open_pair()
    sid = pair.only_session()
    paa_session = pair.paa.session(sid)
    seq = paa_session._seq_out
    assert seq is not None
    msg = PanaMessage(PAR, R | S | C, sid, seq)
    pair.net.inject(PAA_ADDR, PAC_ADDR, forge(msg, key_of=paa_session))
    pair.net.run(pair.net.now + 1)
    assert SC_REASON in drops(pair, "pac")
    assert pair.net.log == [] and pair.pac.state is PacState.OPEN
    # nothing moved: the PAA's next request (same sequence number) is processed
    pair.paa.ping(sid, pair.net.now)
    pair.net.run(pair.net.now + 1)
    assert [e for e in pair.paa_events() if isinstance(e, PingAnswered)]
    assert_no_internal_error(pair, caplog)


def test_paa_discards_a_signed_par_with_s_and_c_later(caplog: pytest.LogCaptureFixture) -> None:
    """Later (OPEN, key): the PaC's PAR[S,C], valid AUTH, expected sequence number."""
    pair = _pac_pinged()
    sid = pair.only_session()
    seq = pair.pac._seq_out  # the PAA expects this one next
    assert seq is not None
    pair.net.inject(
        PAC_ADDR, PAA_ADDR, forge(PanaMessage(PAR, R | S | C, sid, seq), key_of=pair.pac)
    )
    pair.net.run(pair.net.now + 1)
    assert SC_REASON in drops(pair, "paa")
    assert pair.net.log == [] and pair.paa.session(sid).state is PaaState.OPEN
    pair.pac.ping(pair.net.now)  # the same sequence number is still the expected one
    pair.net.run(pair.net.now + 1)
    assert [e for e in pair.pac_events() if isinstance(e, PingAnswered)]
    assert_no_internal_error(pair, caplog)


def test_paa_discards_a_signed_pan_with_s_and_c_in_reauth(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Later (re-authentication): the PaC's PAN answering a PAR, turned into PAN[S,C]."""
    pair = open_pair()
    sid = pair.only_session()
    held = hold_first(
        pair,
        PAC_ADDR,
        lambda d: (m := decode_pana(d.data)).type == PAR and not m.is_request,
    )
    pair.paa.reauthenticate(sid, pair.net.now)
    pair.net.run(pair.net.now + 0.5)
    assert held
    pan = decode_pana(held[0])
    pair.net.inject(PAC_ADDR, PAA_ADDR, forge(pan, flags=S | C, key_of=pair.pac))
    pair.net.run(pair.net.now + 0.1)
    assert SC_REASON in drops(pair, "paa")
    assert pair.paa.session(sid).state is PaaState.WAIT_PAN_OR_PAR  # still waiting
    pair.net.drop = None
    pair.net.inject(PAC_ADDR, PAA_ADDR, held[0])  # the genuine PAN completes the exchange
    pair.net.run(pair.net.now + 10)
    assert [e for e in pair.pac_events() if isinstance(e, Reauthenticated)]
    assert pair.paa.session(sid).state is PaaState.OPEN
    assert_no_internal_error(pair, caplog)


def test_pac_discards_a_signed_par_with_s_and_c_in_reauth(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Later (re-authentication): the PAA's PAR[C] turned into PAR[S,C] never completes it."""
    pair = open_pair()
    sid = pair.only_session()
    paa_session = pair.paa.session(sid)
    held = hold_first(
        pair, PAA_ADDR, lambda d: bool((m := decode_pana(d.data)).is_request and m.flags & C)
    )
    pair.pac.reauthenticate(pair.net.now)
    pair.net.run(pair.net.now + 0.5)
    assert held
    par_c = decode_pana(held[0])
    # signed with the key the genuine PAR[C] is protected by (the new one, s5.3)
    assert paa_session.key_id is not None
    pair.net.inject(PAA_ADDR, PAC_ADDR, forge(par_c, flags=R | S | C, key_of=paa_session))
    pair.net.run(pair.net.now + 0.1)
    assert SC_REASON in drops(pair, "pac")
    assert pair.pac.state is PacState.WAIT_PAA
    assert not [e for e in pair.pac_events() if isinstance(e, Reauthenticated)]
    pair.net.drop = None
    pair.net.run(pair.net.now + 10)  # the PAA retransmits the genuine PAR[C]
    assert [e for e in pair.pac_events() if isinstance(e, Reauthenticated)]
    assert_no_internal_error(pair, caplog)


# --- A and P together in PNR/PNA (RFC 5191 s6.2) --------------------------------------------------


@pytest.mark.parametrize("flags", [R | A | P, R], ids=["A+P", "neither"])
def test_paa_discards_a_signed_pnr_without_exactly_one_of_a_and_p(
    flags: int, caplog: pytest.LogCaptureFixture
) -> None:
    """PNR[A,P] would be a ping and a re-authentication request at once: no PNA, no re-auth."""
    pair = _pac_pinged()
    sid = pair.only_session()
    seq = pair.pac._seq_out  # the PAA expects this one next
    assert seq is not None
    pair.net.inject(PAC_ADDR, PAA_ADDR, forge(PanaMessage(PNR, flags, sid, seq), key_of=pair.pac))
    pair.net.run(pair.net.now + 3)
    assert AP_REASON in drops(pair, "paa")[-1]
    assert pair.net.log == []  # no PNA, and no PAR of a re-authentication
    assert pair.paa.session(sid).state is PaaState.OPEN and pair.pac.state is PacState.OPEN
    pair.pac.ping(pair.net.now)  # same sequence number: nothing was consumed
    pair.net.run(pair.net.now + 1)
    assert [e for e in pair.pac_events() if isinstance(e, PingAnswered)]
    assert_no_internal_error(pair, caplog)


@pytest.mark.parametrize("flags", [R | A | P, R], ids=["A+P", "neither"])
def test_pac_discards_a_signed_pnr_without_exactly_one_of_a_and_p(
    flags: int, caplog: pytest.LogCaptureFixture
) -> None:
    pair = open_pair()
    sid = pair.only_session()
    paa_session = pair.paa.session(sid)
    seq = paa_session._seq_out
    assert seq is not None
    pair.net.inject(
        PAA_ADDR, PAC_ADDR, forge(PanaMessage(PNR, flags, sid, seq), key_of=paa_session)
    )
    pair.net.run(pair.net.now + 3)
    assert AP_REASON in drops(pair, "pac")[-1]
    assert pair.net.log == [] and pair.pac.state is PacState.OPEN
    pair.paa.ping(sid, pair.net.now)
    pair.net.run(pair.net.now + 1)
    assert [e for e in pair.paa_events() if isinstance(e, PingAnswered)]
    assert_no_internal_error(pair, caplog)


@pytest.mark.parametrize("request_flag", [P, A], ids=["PNR[P]", "PNR[A]"])
def test_pac_discards_a_signed_pna_with_a_and_p(
    request_flag: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The answer to the PaC's PNR[P] or PNR[A] with both flags: no PingAnswered, no re-auth."""
    pair = open_pair()
    sid = pair.only_session()
    paa_session = pair.paa.session(sid)
    held = hold_first(
        pair, PAA_ADDR, lambda d: (m := decode_pana(d.data)).type == PNR and not m.is_request
    )
    if request_flag == P:
        pair.pac.ping(pair.net.now)
    else:
        pair.pac.reauthenticate(pair.net.now)
    waiting = pair.pac.state
    pair.net.run(pair.net.now + 0.5)
    assert held
    pna = decode_pana(held[0])
    pair.net.inject(PAA_ADDR, PAC_ADDR, forge(pna, flags=A | P, key_of=paa_session))
    pair.net.run(pair.net.now + 0.1)
    assert AP_REASON in drops(pair, "pac")[-1]
    assert pair.pac.state is waiting  # WAIT_PNA_PING / WAIT_PNA_REAUTH
    assert not [e for e in pair.pac_events() if isinstance(e, PingAnswered)]
    pair.net.drop = None
    pair.net.run(pair.net.now + 10)  # the PaC retransmits; the genuine answer completes it
    events = pair.pac_events()
    done = PingAnswered if request_flag == P else Reauthenticated
    assert [e for e in events if isinstance(e, done)]
    assert_no_internal_error(pair, caplog)


def test_paa_discards_a_signed_pna_with_a_and_p(caplog: pytest.LogCaptureFixture) -> None:
    """The answer to the PAA's PNR[P] with A and P: no PingAnswered, the PNR stays outstanding."""
    pair = open_pair()
    sid = pair.only_session()
    held = hold_first(
        pair, PAC_ADDR, lambda d: (m := decode_pana(d.data)).type == PNR and not m.is_request
    )
    pair.paa.ping(sid, pair.net.now)
    pair.net.run(pair.net.now + 0.5)
    assert held
    pair.net.inject(PAC_ADDR, PAA_ADDR, forge(decode_pana(held[0]), flags=A | P, key_of=pair.pac))
    pair.net.run(pair.net.now + 0.1)
    assert AP_REASON in drops(pair, "paa")[-1]
    assert pair.paa.session(sid).state is PaaState.WAIT_PNA_PING
    assert not [e for e in pair.paa_events() if isinstance(e, PingAnswered)]
    pair.net.drop = None
    pair.net.run(pair.net.now + 10)
    assert [e for e in pair.paa_events() if isinstance(e, PingAnswered)]
    assert_no_internal_error(pair, caplog)

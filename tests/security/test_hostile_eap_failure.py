"""Injected EAP-Failure (issue 9): a spoofed, unprotected PAR that carries an EAP result.

The attacker spoofs the PAA's address and knows the Session-Id and the sequence number (it sees
the traffic but cannot stop it), which is the most an attacker without keys can have. The rules:

* Once a PANA SA exists every message must carry a valid AUTH (RFC 5191 s5.3, s5.5): a spoofed
  PAR is discarded whatever it carries. A PAR[C] with a *new* Key-Id is protected by the key of
  that Key-Id, which only the MSK of an EAP Success gives; one whose EAP payload the peer would not
  take as a success cannot be verified and is discarded before the EAP peer concludes anything.
* The EAP result travels only in the final PAR, with C and a Result-Code (RFC 5191 s4.1, s4.3):
  a PAR without C carrying EAP Success/Failure is invalid and discarded, key or not.
* Before the key, PAR[C] is unprotected and the EAP peer's rules decide (RFC 3748 s4.2, RFC 4137
  s4.1): after the method exchanged protected success indications (EAP-PSK messages 3 and 4,
  RFC 4764 s3.3) the peer must discard a Failure, and so a Result-Code that rejects is not
  believed either; while the method may still end (no result indication yet, or none exists,
  as with EAP-MD5) the peer must accept a Failure: the session ends. That last case is what
  RFC 5191 s11 leaves unprotected before the SA; docs/security.md lists it as a residual risk.

"Discarded" is checked as: the drop is traced, nothing was sent, the PaC stays where it was, and
the genuine message that follows still completes the authentication.
"""

from __future__ import annotations

from enum import Enum

import pytest

from pana_codecs import Avp, MessageFlags, PanaMessage, decode_pana, encode_pana
from pana_mpa._avps import AvpCode, u32_avp
from pana_mpa.aio.virtualnet import Datagram
from pana_mpa.events import (
    Authenticated,
    AuthenticationFailed,
    PingAnswered,
    Reauthenticated,
    SessionTerminated,
)
from pana_mpa.state import PacState
from tests.pana_mpa.pair import PAA_ADDR, PAC_ADDR, Pair, make_pair

from ._hostile import assert_no_internal_error, drops, eap_of, hold_first, open_pair

pytestmark = pytest.mark.hostile

R, C = int(MessageFlags.R), int(MessageFlags.C)
SUCCESS, FAILURE = 3, 4
PSK_TYPE = 47


def _psk_third(d: Datagram) -> bool:
    """The PAA's PAR carrying EAP-PSK message 3 (T = 2, RFC 4764 s5.3)."""
    eap = eap_of(d.data)
    return eap is not None and eap.code == 1 and eap.type == PSK_TYPE and eap.type_data[0] == 0x80


def _final(d: Datagram) -> bool:
    """The PAA's PAR[C]."""
    msg = decode_pana(d.data)
    return msg.is_request and bool(msg.flags & C)


STAGES = {
    # EAP-PSK message 2 answered, message 3 not yet in: the method may still end (MAY_CONT/FAIL)
    "mid-method": _psk_third,
    # message 4 (DONE_SUCCESS) answered the server's DONE_SUCCESS: success indications both ways
    "after-indications": _final,
}


def _last_eap_id(pair: Pair) -> int:
    """The Identifier of the PaC's last EAP Response: the one a Success/Failure must carry."""
    ids = [e.identifier for d in pair.net.log if d.src == PAC_ADDR and (e := eap_of(d.data))]
    return ids[-1]


def _spoof(
    held: bytes,
    *,
    complete: bool,
    code: int = FAILURE,
    eap_id: int,
    result_code: int = 1,
    key_id: int | None = None,
    auth: bytes | None = None,
) -> bytes:
    """A PAR in place of ``held`` (its Session-Id and sequence number) with an EAP result."""
    genuine = decode_pana(held)
    avps: list[Avp] = []
    if complete:
        avps.append(u32_avp(AvpCode.RESULT_CODE, result_code))
    avps.append(Avp(AvpCode.EAP_PAYLOAD, bytes((code, eap_id, 0, 4))))
    if key_id is not None:
        avps.append(u32_avp(AvpCode.KEY_ID, key_id))
    if auth is not None:
        avps.append(Avp(AvpCode.AUTH, auth))
    flags = R | (C if complete else 0)
    return encode_pana(PanaMessage(2, flags, genuine.session_id, genuine.seq, tuple(avps)))


def _attack(pair: Pair, stage: str, **spoof: object) -> tuple[bytes, Enum]:
    """Hold the genuine PAR of ``stage``, inject the spoofed one; return (held, PaC state)."""
    held = hold_first(pair, PAA_ADDR, STAGES[stage])
    if pair.pac.state is PacState.INITIAL:
        pair.pac.start(pair.net.now)
    pair.net.run(pair.net.now + 0.5)
    assert held
    state = pair.pac.state
    start = len(pair.net.log)
    forged = _spoof(held[0], eap_id=_last_eap_id(pair), **spoof)  # type: ignore[arg-type]
    pair.net.inject(PAA_ADDR, PAC_ADDR, forged)
    pair.net.run(pair.net.now + 0.1)
    assert pair.net.log[start:] == []  # nothing answered the spoofed PAR
    return held[0], state


def _genuine_completes(pair: Pair, held: bytes, done: type) -> None:
    pair.net.drop = None
    pair.net.inject(PAA_ADDR, PAC_ADDR, held)
    pair.net.run(pair.net.now + 10)
    events = pair.pac_events()
    assert [e for e in events if isinstance(e, done)], events
    assert not [e for e in events if isinstance(e, AuthenticationFailed | SessionTerminated)]
    assert pair.pac.state is PacState.OPEN and pair.pac.has_key


# --- before the key: a PAR without C -----------------------------------------------------------


@pytest.mark.parametrize("code", [FAILURE, SUCCESS], ids=["Failure", "Success"])
@pytest.mark.parametrize("stage", STAGES)
def test_eap_result_in_a_par_without_c_is_discarded_before_the_key(
    stage: str, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 5191 s4.1: the EAP result is in the PAR[C]; a PAR without C carrying it is invalid."""
    pair = make_pair(method="psk")
    held, state = _attack(pair, stage, complete=False, code=code)
    assert drops(pair, "pac")[-1] == "EAP Success/Failure in a PAR without the C flag"
    assert pair.pac.state is state and not pair.pac.closed
    _genuine_completes(pair, held, Authenticated)
    assert_no_internal_error(pair, caplog)


# --- before the key: a PAR[C] -------------------------------------------------------------------


def test_rejecting_par_c_after_success_indications_is_discarded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """RFC 3748 s4.2: after success indications both ways the peer discards a Failure.

    EAP-PSK message 3 (DONE_SUCCESS, under the TEK) and message 4 were exchanged; a PAR[C] with
    Result-Code 1 and an EAP Failure and no Key-Id cannot come from the PAA that sent message 3
    (that PAA has the MSK and would send Key-Id and AUTH), and nothing protects it: the PaC
    discards it, without the AuthenticationFailed it used to report (alt_reject).
    """
    pair = make_pair(method="psk")
    held, state = _attack(pair, "after-indications", complete=True)
    assert drops(pair, "pac")[-1] == "PAR[C] rejects after the EAP method indicated success"
    assert pair.pac.state is state is PacState.WAIT_PAA
    assert pair.pac._eap.result is None  # type: ignore[attr-defined]
    _genuine_completes(pair, held, Authenticated)
    assert_no_internal_error(pair, caplog)


@pytest.mark.parametrize(
    ("stage", "code"),
    [("mid-method", FAILURE), ("mid-method", SUCCESS), ("after-indications", FAILURE)],
    ids=["mid-method-Failure", "mid-method-Success", "after-indications-Failure"],
)
def test_par_c_with_a_made_up_key_id_leaves_the_eap_peer_untouched(
    stage: str, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A new Key-Id needs an EAP Success's MSK to verify the AUTH (RFC 5191 s5.3).

    Before, the EAP peer saw the payload first: a Failure (or a Success its method did not allow
    yet, RFC 4137) ended the EAP conversation, the PAR[C] was then dropped for its AUTH, and the
    genuine PAR[C] found an EAP peer that had already failed: the session died.
    """
    pair = make_pair(method="psk")
    held, state = _attack(
        pair, stage, complete=True, code=code, result_code=0, key_id=7, auth=bytes(16)
    )
    assert drops(pair, "pac")[-1] == (
        "PAR[C] with a new Key-Id but no EAP Success to derive its key from"
    )
    assert pair.pac.state is state
    assert pair.pac._eap.result is None  # type: ignore[attr-defined]
    _genuine_completes(pair, held, Authenticated)
    assert_no_internal_error(pair, caplog)


@pytest.mark.parametrize("method", ["psk", "md5"])
def test_rejecting_par_c_while_the_method_may_end_ends_the_session(
    method: str, caplog: pytest.LogCaptureFixture
) -> None:
    """What RFC 5191 s11 leaves open before the SA: the peer must accept this Failure.

    EAP-PSK between messages 2 and 3 has sent no result indication (RFC 4137 MAY_CONT, decision
    FAIL) and EAP-MD5 has none at all (RFC 3748 s4.2: without result indications the peer must
    not discard a Failure); the PAR[C] has no Key-Id, so nothing could verify it. The PaC ends:
    AuthenticationFailed with the Result-Code, PAN[C] as RFC 5609 WAIT_EAP_RESULT_CLOSE sends it.
    """
    pair = make_pair(method=method)
    match = _psk_third if method == "psk" else _final
    held = hold_first(pair, PAA_ADDR, match)
    pair.pac.start(0.0)
    pair.net.run(0.5)
    assert held
    pair.net.inject(PAA_ADDR, PAC_ADDR, _spoof(held[0], complete=True, eap_id=_last_eap_id(pair)))
    pair.net.run(pair.net.now + 0.1)
    events = pair.pac_events()
    assert [e.result_code for e in events if isinstance(e, AuthenticationFailed)] == [1]
    assert pair.pac.closed and not pair.pac.has_key
    assert not [e for e in events if isinstance(e, Authenticated)]
    assert_no_internal_error(pair, caplog)


# --- after the key ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("complete", "auth", "reason"),
    [
        (False, None, "AUTH AVP missing"),
        (False, bytes(16), "AUTH does not verify"),
        (True, None, "AUTH AVP missing"),
        (True, bytes(16), "AUTH does not verify"),
    ],
    ids=["PAR-no-AUTH", "PAR-bad-AUTH", "PAR[C]-no-AUTH", "PAR[C]-bad-AUTH"],
)
def test_eap_failure_in_open_is_discarded_without_a_valid_auth(
    complete: bool, auth: bytes | None, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """OPEN, key in place: a spoofed PAR (as if starting a re-authentication) or PAR[C]."""
    pair = open_pair(method="psk")
    sid = pair.only_session()
    seq = pair.paa.session(sid)._seq_out
    assert seq is not None
    template = encode_pana(PanaMessage(2, R, sid, seq))
    pair.net.inject(
        PAA_ADDR,
        PAC_ADDR,
        _spoof(template, complete=complete, eap_id=0, auth=auth),
    )
    pair.net.run(pair.net.now + 1)
    assert drops(pair, "pac")[-1] == reason
    assert pair.net.log == [] and pair.pac.state is PacState.OPEN
    pair.paa.ping(sid, pair.net.now)  # the sequence number the spoof used is still free
    pair.net.run(pair.net.now + 1)
    assert [e for e in pair.paa_events() if isinstance(e, PingAnswered)]
    assert_no_internal_error(pair, caplog)


@pytest.mark.parametrize(
    "spoof",
    [
        {"complete": False, "auth": bytes(16)},
        {"complete": True},
        {"complete": True, "auth": bytes(16)},
        {"complete": True, "result_code": 0, "key_id": 9, "auth": bytes(16)},
        {"complete": True, "result_code": 0, "code": SUCCESS, "key_id": 9, "auth": bytes(16)},
    ],
    ids=[
        "PAR-bad-AUTH",
        "PAR[C]-no-AUTH",
        "PAR[C]-bad-AUTH",
        "PAR[C]-new-Key-Id",
        "PAR[C]-Success-new-Key-Id",
    ],
)
def test_eap_failure_during_reauthentication_is_discarded(
    spoof: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    """Re-authentication with a key: a spoofed EAP result never ends or spoils it."""
    pair = open_pair(method="psk")
    old_key_id = pair.pac.key_id
    pair.pac.reauthenticate(pair.net.now)
    held, state = _attack(pair, "mid-method", **spoof)
    assert state is PacState.WAIT_PAA
    reason = drops(pair, "pac")[-1]
    assert reason in (
        "AUTH AVP missing",
        "AUTH does not verify",
        "PAR[C] with a new Key-Id but no EAP Success to derive its key from",
    )
    if spoof.get("key_id") is not None:
        assert reason.startswith("PAR[C] with a new Key-Id")  # before the EAP peer saw it
    assert pair.pac.state is state and pair.pac.key_id == old_key_id
    _genuine_completes(pair, held, Reauthenticated)
    assert pair.pac.key_id != old_key_id
    assert_no_internal_error(pair, caplog)

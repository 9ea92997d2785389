"""The AAA server's authorized lifetime bounds the PANA session (RFC 2865 s5.27, RFC 5191 s5.7).

The test plays the pass-through PAA's asyncio layer on a VirtualNet: every pending EAP step is
answered by an EAP-PSK authenticator, and its success carries ``AuthOutput.session_lifetime``
as a RADIUS Access-Accept's Session-Timeout would. All time is virtual.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from eap.authenticator import AuthOutput
from pana_codecs import AvpCode, MessageFlags, PanaMessage, ResultCode, decode_pana
from pana_codecs.avps import avp_u32
from pana_mpa._eap import authorized_lifetime
from pana_mpa.config import PaaConfig
from pana_mpa.events import (
    Authenticated,
    AuthenticationFailed,
    Reauthenticated,
    SessionTerminated,
)
from pana_mpa.state import PacState

from .pair import PAA_ADDR, Pair, make_pair

CONFIGURED = 3600


def _pair(**paa: Any) -> Pair:
    config = PaaConfig(session_lifetime=CONFIGURED, **paa)
    return make_pair(pending=True, method="psk", paa_config=config)


def _serve_aaa(pair: Pair, limit: int | None, *, seconds: float = 0.5) -> list[AuthOutput]:
    """Answer the PAA's pending EAP steps for ``seconds`` of virtual time; a success carries
    ``limit`` as its authorized lifetime. Returns the successes handed over."""
    successes: list[AuthOutput] = []
    end = pair.net.now + seconds
    while pair.net.now < end:
        pair.net.run(pair.net.now + 0.01)
        for sid, eap_response in pair.paa.pending_aaa():
            out = pair.servers[-1].exchange(eap_response)
            if out.result is not None and out.result.success:
                if limit is not None:  # None: an Accept without Session-Timeout
                    out = dataclasses.replace(out, session_lifetime=limit)
                successes.append(out)
            pair.paa.aaa_answer(sid, out, pair.net.now)
    return successes


def _final_pars(pair: Pair) -> list[PanaMessage]:
    """Every PAR[C] the PAA sent, decoded with our codec, oldest first."""
    msgs = [decode_pana(d.data) for d in pair.net.log if d.src == PAA_ADDR]
    complete = MessageFlags.R | MessageFlags.C
    return [m for m in msgs if m.type == 2 and m.flags & complete == complete]


def _lifetime_avp(msg: PanaMessage) -> int | None:
    avp = msg.avp(AvpCode.SESSION_LIFETIME)
    return None if avp is None else avp_u32(avp)


def _opened_at(pair: Pair) -> float:
    """When the PAA opened the session: the time the PaC sent its PAN[C] (plus the latency)."""
    complete = [d for d in pair.net.log if d.dst == PAA_ADDR and _is_pan_complete(d.data)]
    return complete[-1].time + pair.net.latency


def _is_pan_complete(data: bytes) -> bool:
    msg = decode_pana(data)
    return msg.type == 2 and msg.flags & (MessageFlags.R | MessageFlags.C) == MessageFlags.C


@pytest.mark.parametrize(
    ("limit", "granted"),
    [(90, 90), (CONFIGURED - 1, CONFIGURED - 1), (CONFIGURED, CONFIGURED),
     (CONFIGURED + 1, CONFIGURED), (0xFFFFFFFF, CONFIGURED), (None, CONFIGURED)],
)  # fmt: skip
def test_session_lifetime_is_the_smaller_of_configured_and_authorized(
    limit: int | None, granted: int
) -> None:
    pair = _pair()
    pair.pac.start(0.0)
    assert len(_serve_aaa(pair, limit)) == 1
    assert pair.pac.state is PacState.OPEN
    (par_c,) = _final_pars(pair)
    assert _lifetime_avp(par_c) == granted  # the AVP on the wire (RFC 5191 s8.8)
    assert pair.pac.lifetime == granted
    (paa_open,) = [e for e in pair.paa_events() if isinstance(e, Authenticated)]
    assert paa_open.lifetime == granted


def test_the_paa_ends_the_session_at_the_authorized_lifetime() -> None:
    pair = _pair()
    pair.pac.start(0.0)
    _serve_aaa(pair, 90)
    opened = _opened_at(pair)
    pair.paa_events()
    pair.net.run(opened + 90 - 0.01)
    assert len(pair.paa) == 1 and pair.paa_events() == []  # not one moment early
    pair.net.run(opened + 90 + 0.01)
    ends = [e for e in pair.paa_events() if isinstance(e, SessionTerminated)]
    assert [e.reason for e in ends] == ["lifetime"]
    assert len(pair.paa) == 0


def test_without_a_limit_the_configured_lifetime_runs() -> None:
    # the old behaviour stays: an Accept without Session-Timeout, a session of the configured
    # lifetime, still open well past any AAA value the other tests use
    pair = _pair()
    pair.pac.start(0.0)
    _serve_aaa(pair, None)
    opened = _opened_at(pair)
    pair.net.run(opened + CONFIGURED - 0.01)
    assert len(pair.paa) == 1
    pair.net.run(opened + CONFIGURED + 0.01)
    assert len(pair.paa) == 0


def test_zero_seconds_of_service_is_an_authorization_reject(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # RFC 2865 s5.27: 0 is the most seconds of service, i.e. none; the PAA must neither open a
    # session with its configured lifetime nor send Session-Lifetime 0 (RFC 5191 s8.8)
    pair = _pair()
    pair.pac.start(0.0)
    with caplog.at_level(logging.WARNING, logger="pana_mpa._paa_session"):
        _serve_aaa(pair, 0)
    (par_c,) = _final_pars(pair)
    result = par_c.avp(AvpCode.RESULT_CODE)
    assert result is not None and avp_u32(result) == ResultCode.PANA_AUTHORIZATION_REJECTED
    assert _lifetime_avp(par_c) is None
    failed = [e for e in pair.pac_events() if isinstance(e, AuthenticationFailed)]
    assert [e.result_code for e in failed] == [ResultCode.PANA_AUTHORIZATION_REJECTED]
    assert pair.pac.closed and len(pair.paa) == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Session-Timeout 0" in warnings[0].getMessage()


def test_reauthentication_applies_the_new_accepts_lifetime() -> None:
    # RFC 5191 s4.3: each re-authentication's Access-Accept is a new authorization; its
    # Session-Timeout (or its absence) replaces the old one, in PAR[C] and in the PAA's timer
    pair = _pair()
    pair.pac.start(0.0)
    _serve_aaa(pair, 600)
    assert pair.pac.lifetime == 600
    pair.pac_events()
    pair.paa_events()
    for limit, granted in ((120, 120), (None, CONFIGURED), (45, 45)):
        pair.pac.reauthenticate(pair.net.now)
        assert len(_serve_aaa(pair, limit)) == 1
        assert _lifetime_avp(_final_pars(pair)[-1]) == granted
        (again,) = [e for e in pair.paa_events() if isinstance(e, Reauthenticated)]
        assert again.lifetime == granted and pair.pac.lifetime == granted
    opened = _opened_at(pair)
    pair.net.run(opened + 45 - 0.01)
    assert len(pair.paa) == 1
    pair.net.run(opened + 45 + 0.01)
    assert [e.reason for e in pair.paa_events() if isinstance(e, SessionTerminated)] == ["lifetime"]


def test_zero_at_reauthentication_ends_the_session() -> None:
    pair = _pair()
    pair.pac.start(0.0)
    _serve_aaa(pair, 600)
    pair.pac.reauthenticate(pair.net.now)
    _serve_aaa(pair, 0)
    result = _final_pars(pair)[-1].avp(AvpCode.RESULT_CODE)
    assert result is not None and avp_u32(result) == ResultCode.PANA_AUTHORIZATION_REJECTED
    assert len(pair.paa) == 0 and pair.pac.closed


def test_paa_initiated_reauthentication_follows_the_authorized_lifetime() -> None:
    # with reauth_fraction the PAA re-authenticates at that fraction of the granted lifetime,
    # not of the configured one (RFC 5191 erratum 3397: before the lifetime runs out)
    pair = _pair(reauth_fraction=0.5)
    pair.pac.start(0.0)
    _serve_aaa(pair, 100)
    opened = _opened_at(pair)
    pair.paa_events()
    pair.net.run(opened + 50 - 0.01)
    assert pair.paa.pending_aaa() == []  # no re-authentication yet
    pair.net.run(opened + 50 + 0.01)
    assert [eap for _, eap in pair.paa.pending_aaa()] == [None]  # a new EAP conversation


@pytest.mark.parametrize(
    ("value", "limit"),
    [(None, None), (0, 0), (1, 1), (600, 600), (0xFFFFFFFF, 0xFFFFFFFF), (1 << 40, 0xFFFFFFFF),
     (-1, 0), (True, 0), (30.5, 0), ("60", 0)],
)  # fmt: skip
def test_authorized_lifetime_fails_closed_on_values_it_cannot_use(
    value: object, limit: int | None
) -> None:
    out = dataclasses.replace(AuthOutput(None, None), session_lifetime=value)  # type: ignore[arg-type]
    assert authorized_lifetime(out) == limit


def test_an_output_without_the_field_has_no_limit() -> None:
    # EAP servers written against the older contract (test doubles too) return outputs without
    # session_lifetime: they keep the configured lifetime
    @dataclasses.dataclass(frozen=True)
    class Old:
        packet: bytes | None
        result: None
        pending: bool = False

    assert authorized_lifetime(Old(None, None)) is None

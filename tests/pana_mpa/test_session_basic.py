"""PaC <-> PAA on a VirtualNet: happy paths of RFC 5191 s4.1 with both algorithm suites."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pana_codecs import MessageFlags, decode_pana
from pana_mpa import crypto
from pana_mpa._avps import AvpCode, IntegrityAlgorithm, PrfAlgorithm
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.events import Authenticated, SessionStarted
from pana_mpa.state import PaaState, PacState

from .pair import PAA_ADDR, PAC_ADDR, Pair, make_pair

SHA1 = (PrfAlgorithm.PRF_HMAC_SHA1, IntegrityAlgorithm.AUTH_HMAC_SHA1_160)
SHA256 = (PrfAlgorithm.PRF_HMAC_SHA2_256, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128)


def _flow(pair_log: list) -> list[str]:  # type: ignore[type-arg]
    from pana_mpa.flow import describe

    return [describe(decode_pana(d.data)) for d in pair_log]


@pytest.mark.parametrize("optimized", [False, True])
@pytest.mark.parametrize("suite", [SHA1, SHA256], ids=["sha1", "sha256"])
def test_pac_initiated_happy_path(suite: tuple[int, int], optimized: bool) -> None:
    prf, integ = suite
    pair = make_pair(
        paa_config=PaaConfig(
            prf_algorithms=(prf,), integrity_algorithms=(integ,), optimized_init=optimized
        ),
    )
    pair.pac.start(0.0)
    pair.net.run(10.0)
    assert pair.pac.state is PacState.OPEN
    session = pair.paa.session(pair.only_session())
    assert session.state is PaaState.OPEN
    pac_events = pair.pac_events()
    assert isinstance(pac_events[0], SessionStarted)
    auth = pac_events[-1]
    assert isinstance(auth, Authenticated)
    assert auth.prf_algorithm == prf and auth.integrity_algorithm == integ
    assert auth.key_id == session.key_id and auth.key_id is not None
    assert auth.lifetime == 3600
    paa_auth = pair.paa_events()[-1]
    assert isinstance(paa_auth, Authenticated)
    assert paa_auth.msk == auth.msk and auth.msk is not None
    assert paa_auth.identity == b"alice"
    flow = _flow(pair.net.log)
    # EAP-PSK: Identity, then messages 1/2 and 3/4; optimized: Identity rides on PAR[S]/PAN[S]
    rounds = 2 if optimized else 3
    assert flow == ["PCI", "PAR[S]", "PAN[S]", *["PAR", "PAN"] * rounds, "PAR[C]", "PAN[C]"]
    # AUTH on PAR[C] and PAN[C], with the suite's length, and nothing before
    msgs = [decode_pana(d.data) for d in pair.net.log]
    n = crypto.auth_length(integ)
    for m in msgs[:-2]:
        assert m.avp(AvpCode.AUTH) is None
    for m in msgs[-2:]:
        auth_avp = m.avps[-1]
        assert auth_avp.code == AvpCode.AUTH and len(auth_avp.value) == n
    # nonces: exactly in the first non-initial PAR and PAN, of the PRF's length
    nonce_len = crypto.default_nonce_length(prf)
    with_nonce = [m for m in msgs if m.avp(AvpCode.NONCE) is not None]
    assert len(with_nonce) == 2
    assert all(len(m.avp(AvpCode.NONCE).value) == nonce_len for m in with_nonce)  # type: ignore[union-attr]
    assert not any(m.has(MessageFlags.S) for m in with_nonce)


def test_paa_initiated_start() -> None:
    pair = make_pair()
    sid = pair.paa.initiate(PAC_ADDR, 0.0)
    pair.net.run(10.0)
    assert pair.pac.state is PacState.OPEN
    assert pair.pac.session_id == sid
    flow = _flow(pair.net.log)
    assert flow[0] == "PAR[S]" and flow[-1] == "PAN[C]"


def test_algorithm_preference_pac_side() -> None:
    pair = make_pair(
        pac_config=PacConfig(
            prf_algorithms=(PrfAlgorithm.PRF_HMAC_SHA1, PrfAlgorithm.PRF_HMAC_SHA2_256),
            integrity_algorithms=(IntegrityAlgorithm.AUTH_HMAC_SHA1_160,),
        )
    )
    pair.pac.start(0.0)
    pair.net.run(10.0)
    assert pair.pac.state is PacState.OPEN
    assert pair.pac.prf_algorithm == PrfAlgorithm.PRF_HMAC_SHA1
    assert pair.pac.integrity_algorithm == IntegrityAlgorithm.AUTH_HMAC_SHA1_160


def test_no_common_algorithm_means_no_session() -> None:
    pair = make_pair(
        pac_config=PacConfig(
            prf_algorithms=(PrfAlgorithm.PRF_HMAC_SHA1,),
            integrity_algorithms=(IntegrityAlgorithm.AUTH_HMAC_SHA1_160,),
        ),
        paa_config=PaaConfig(
            prf_algorithms=(PrfAlgorithm.PRF_HMAC_SHA2_256,),
            integrity_algorithms=(IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128,),
        ),
    )
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert pair.pac.state is PacState.INITIAL
    drops = pair.pac_trace.named("message_dropped")
    assert drops and "no acceptable algorithms" in drops[0]["reason"]


def test_keys_agree_and_peer_addresses() -> None:
    pair = make_pair()
    pair.pac.start(0.0)
    pair.net.run(10.0)
    session = pair.paa.session(pair.only_session())
    assert session.peer == PAC_ADDR
    assert pair.pac.peer == PAA_ADDR
    assert pair.pac.has_key and session.has_key


def test_fixture_pair_and_rng(pac_paa: Pair, rng: Callable[[int], bytes]) -> None:
    assert len(rng(8)) == 8
    pac_paa.pac.start(0.0)
    pac_paa.net.run(5.0)
    assert pac_paa.pac.state is PacState.OPEN
    # SHA-256 suite preferred by default on both sides
    assert pac_paa.pac.prf_algorithm == PrfAlgorithm.PRF_HMAC_SHA2_256
    assert pac_paa.pac.integrity_algorithm == IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128


def test_ip_reconfiguration_flag() -> None:
    pair = make_pair(paa_config=PaaConfig(ip_reconfiguration=True))
    pair.pac.start(0.0)
    pair.net.run(5.0)
    msgs = [decode_pana(d.data) for d in pair.net.log]
    pars = [m for m in msgs if m.is_request and m.type == 2]
    assert pars and all(m.flags & MessageFlags.I for m in pars)
    assert not any(m.flags & MessageFlags.I for m in msgs if not m.is_request)
    auth = next(e for e in pair.pac_events() if isinstance(e, Authenticated))
    assert auth.ip_reconfiguration
    # re-authentication PARs do not carry I
    pair.net.log.clear()
    pair.paa.reauthenticate(pair.only_session(), pair.net.now)
    pair.net.run(pair.net.now + 5)
    assert not any(decode_pana(d.data).flags & MessageFlags.I for d in pair.net.log)

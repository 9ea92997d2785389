"""Every EAP method of the eap package under PANA, both suites; hostile datagrams never raise."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pana_codecs import decode_pana
from pana_mpa._avps import IntegrityAlgorithm, PrfAlgorithm
from pana_mpa.config import PaaConfig
from pana_mpa.events import Authenticated, Reauthenticated
from pana_mpa.state import PacState

from .pair import PAA_ADDR, PAC_ADDR, Pair, make_pair

SUITES = {
    "sha1": (PrfAlgorithm.PRF_HMAC_SHA1, IntegrityAlgorithm.AUTH_HMAC_SHA1_160),
    "sha256": (PrfAlgorithm.PRF_HMAC_SHA2_256, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128),
}


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize(("method", "keyed"), [("psk", True), ("gpsk", True), ("md5", False)])
def test_method_end_to_end_with_reauth(method: str, keyed: bool, suite: str) -> None:
    prf, integ = SUITES[suite]
    pair = make_pair(
        method=method,
        paa_config=PaaConfig(prf_algorithms=(prf,), integrity_algorithms=(integ,)),
    )
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert pair.pac.state is PacState.OPEN
    auth = next(e for e in pair.pac_events() if isinstance(e, Authenticated))
    assert (auth.msk is not None) == keyed and pair.pac.has_key == keyed
    pair.pac.reauthenticate(pair.net.now)
    pair.net.run(pair.net.now + 5)
    assert isinstance(pair.pac_events()[-1], Reauthenticated)
    if keyed:
        assert pair.pac.key_id == pair.paa.session(pair.only_session()).key_id


def _open() -> Pair:
    pair = make_pair()
    pair.pac.start(0.0)
    pair.net.run(5.0)
    return pair


OPEN_PAIR = _open()
VALID = [d.data for d in OPEN_PAIR.net.log]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=200),
        st.tuples(st.sampled_from(VALID), st.integers(0, 400), st.integers(1, 255)).map(
            lambda t: (
                t[0][: t[1] % len(t[0])]
                + bytes([t[0][t[1] % len(t[0])] ^ t[2]])
                + t[0][t[1] % len(t[0]) + 1 :]
            )
        ),
    )
)
def test_hostile_datagrams_never_raise(data: bytes) -> None:
    pair = OPEN_PAIR
    now = pair.net.now
    pair.pac.receive_datagram(data, PAA_ADDR, now)
    pair.paa.receive_datagram(data, PAC_ADDR, now)
    pair.pac.handle_timer(now)
    pair.paa.handle_timer(now)
    # a flipped octet either breaks the framing, the AUTH or the sequence: never a reply
    for out, _ in pair.paa.datagrams_to_send(now) + pair.pac.datagrams_to_send(now):
        decode_pana(out)
    assert pair.pac.state is PacState.OPEN

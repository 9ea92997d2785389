"""Bounded fuzzing in CI: every registered fuzz target (fuzz/) under hypothesis, a few s each.

Seeds come from ../shared/pcaps at test time (through the capture reader) plus our own messages.
A long campaign is ``python -m fuzz.run <target> --seconds 600`` (atheris). ``FUZZ_EXAMPLES``
sets the number of generated inputs per target (default 1000).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz import all_targets
from fuzz.seeds import capture_payloads, own_messages
from fuzz.strategies import inputs
from pana_codecs import (
    Avp,
    CodecError,
    EapPacket,
    PanaMessage,
    decode_pana,
    encode_eap,
    encode_pana,
)
from tests.pana_codecs._vectors import captures_dir

pytestmark = [
    pytest.mark.fuzz,
    # Under python -bb, hypothesis' own choice-sequence cache may compare b"" with 0 (equal hashes)
    # and raise BytesWarning inside hypothesis; our code stays under -bb.
    pytest.mark.filterwarnings("ignore::BytesWarning:hypothesis"),
]

TARGETS = all_targets()
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_registry_has_the_codec_targets() -> None:
    assert {"pana", "pana-draft18", "peek", "eap", "avps"} <= set(TARGETS)
    assert all(t.doc for t in TARGETS.values())


def test_registry_has_the_protocol_and_session_targets() -> None:
    # issue 9: every EAP method's parser, RADIUS, DHCP/RA, the PAA's and the PaC's entry points
    assert {
        "eap-md5",
        "eap-psk",
        "eap-gpsk",
        "eap-tls-fragments",
        "radius",
        "radius-reply",
        "dhcp",
        "dhcp-relay",
        "ra",
        "paa-session",
        "pac-session",
    } <= set(TARGETS)
    for name in ("eap-psk", "eap-gpsk", "paa-session", "pac-session", "dhcp-relay"):
        assert len(list(TARGETS[name].seeds())) >= 2, name


def test_session_targets_find_a_planted_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # the PAA catches every exception and logs it: the target must still report it
    from fuzz import Finding
    from pana_mpa import _paa_session

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("planted")

    monkeypatch.setattr(_paa_session.PaaSession, "receive", broken)
    seed = list(TARGETS["paa-session"].seeds())[1]  # the PAN[S]: reaches a session
    with pytest.raises(Finding, match="logged an error"):
        TARGETS["paa-session"].function(seed)


def test_seed_corpus_comes_from_the_captures() -> None:
    captures_dir()  # skips without captures (fails under CI=true)
    payloads = capture_payloads()
    assert len(payloads) == 19 + 13 + 24 + 45 + 41 + 1 + 5  # every PANA datagram captured
    assert own_messages()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_accepts_its_seeds(name: str) -> None:
    target = TARGETS[name]
    for seed in target.seeds():
        target.function(seed)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_survives_random_and_mutated_input(name: str) -> None:
    target = TARGETS[name]

    @BOUNDED
    @given(inputs(target))
    def run(data: bytes) -> None:
        target.function(data)

    run()


_anything = st.one_of(
    st.none(),
    st.integers(-(2**33), 2**33),
    st.floats(allow_nan=False),
    st.text(max_size=3),
    st.lists(st.integers(0, 255), max_size=8).map(bytes),
)


@BOUNDED
@given(
    st.builds(
        PanaMessage,
        _anything,
        _anything,
        _anything,
        _anything,
        st.one_of(
            st.lists(
                st.builds(Avp, _anything, _anything, _anything, _anything, _anything), max_size=3
            ).map(tuple),
            _anything,
        ),
        _anything,
    )
)
def test_encode_pana_raises_only_codec_error(msg: PanaMessage) -> None:
    try:
        data = encode_pana(msg)
    except CodecError:
        return
    assert encode_pana(decode_pana(data, max_avps=None)) == data


@BOUNDED
@given(st.builds(EapPacket, _anything, _anything, _anything, _anything, _anything, _anything))
def test_encode_eap_raises_only_codec_error(pkt: EapPacket) -> None:
    try:
        encode_eap(pkt)
    except CodecError:
        return

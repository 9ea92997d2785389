"""How much of a PaaServer one datagram touches: the work must not grow with the open sessions.

Counted, not timed: a spy on ``PaaSession.take_output`` (PaaServer's drain) counts the sessions
the PAA visits while it handles one datagram and the calls an event loop makes after it. Before
the PAA kept a set of touched sessions and a timer heap, every call visited every session (82
visits for one PCI with 40 open), which made opening N sessions cost O(N^2);
``benchmarks/bench_sessions.py`` measures the time side (docs/benchmarks.md).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import PskPeer, PskServer
from eap.peer import EapPeer
from pana_codecs import MessageType, PanaMessage, encode_pana
from pana_mpa import PaaConfig, PaaServer, PacConfig, PacSession
from pana_mpa.address import Address
from pana_mpa.events import PanaEvent
from pana_mpa.paa import PaaSession

PAA: Address = ("192.0.2.1", 716)
PSK = Secret(b"scaling-16-octet")
OPEN = 40


def _paa(rng: random.Random) -> PaaServer:
    def authenticator() -> EapAuthenticator:
        server = PskServer(b"paa", {b"alice": PSK}.get, rng=rng.randbytes)
        return EapAuthenticator(methods=lambda _ident: [lambda: server], rng=rng.randbytes)

    return PaaServer(PaaConfig(), eap_factory=authenticator, rng=rng.randbytes)


def _authenticate(paa: PaaServer, addr: Address, rng: random.Random) -> None:
    peer = EapPeer(
        identity=b"alice",
        methods={PskPeer.method_type: lambda: PskPeer(b"alice", PSK, rng=rng.randbytes)},
    )
    pac = PacSession(PacConfig(), paa=PAA, eap=peer, rng=rng.randbytes)
    pac.start(0.0)
    while sent := pac.datagrams_to_send(0.0):
        for data, _ in sent:
            paa.receive_datagram(data, addr, 0.0)
        for data, dst in paa.datagrams_to_send(0.0):
            assert dst == addr
            pac.receive_datagram(data, PAA, 0.0)
    assert pac.has_key
    while paa.next_event() is not None:
        pass


@pytest.fixture
def loaded() -> PaaServer:
    rng = random.Random(6252)
    paa = _paa(rng)
    for i in range(OPEN):
        _authenticate(paa, ("198.51.100.7", 20000 + i), rng)
    assert sum(1 for _ in paa) == OPEN
    return paa


@pytest.fixture
def visits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Session ids whose outputs the PAA collects (appended as it happens)."""
    seen: list[int] = []
    original = PaaSession.take_output

    def spy(self: PaaSession) -> tuple[list[tuple[bytes, Address]] | None, list[PanaEvent] | None]:
        seen.append(self.session_id)
        return original(self)

    monkeypatch.setattr(PaaSession, "take_output", spy)
    yield seen


def test_loaded_paa_still_answers_a_new_pci(loaded: PaaServer) -> None:
    loaded.receive_datagram(encode_pana(PanaMessage(MessageType.PANA_CLIENT_INITIATION, 0, 0, 0)),
                            ("203.0.113.9", 1234), 1.0)  # fmt: skip
    out = loaded.datagrams_to_send(1.0)
    assert [dst for _, dst in out] == [("203.0.113.9", 1234)]


def test_one_datagram_visits_a_bounded_number_of_sessions(
    loaded: PaaServer, visits: list[int]
) -> None:
    pci = encode_pana(PanaMessage(MessageType.PANA_CLIENT_INITIATION, 0, 0, 0))
    loaded.receive_datagram(pci, ("203.0.113.9", 1234), 1.0)
    loaded.datagrams_to_send(1.0)
    assert loaded.next_event() is None
    loaded.get_timer()
    # At most a few sessions with work due -- not all OPEN of them (a PCI makes no session:
    # stateless PCI, issue 9).
    assert len(visits) <= 4, f"{len(visits)} session visits for one PCI with {OPEN} open"

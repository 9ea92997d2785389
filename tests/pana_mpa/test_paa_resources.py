"""What a PaaServer keeps and how much work a datagram costs it: counted, never timed (issue 10).

- one collection pass per datagram; a trace that is off is never called;
- an open session holds no EAP authenticator; an ended session lingers as its last exchange
  only, and is freed at the linger deadline with no traffic (``get_timer()`` includes it);
- the session tables shrink once mostly empty (bytes retained per ended session);
- the session limit is derived from memory, configurable, and says which setting to raise.
"""

from __future__ import annotations

import gc
import random
import sys
import tracemalloc
import weakref
from types import MappingProxyType
from typing import Any

import pytest

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import PskPeer, PskServer
from eap.peer import EapPeer
from pana_codecs import MessageType, PanaMessage, encode_pana
from pana_mpa import PaaConfig, PaaServer, PacConfig, PacSession, UsageError
from pana_mpa._session import SessionCore
from pana_mpa.address import Address
from pana_mpa.config import SESSION_BYTES
from pana_mpa.state import Action, Input, PacState
from pana_mpa.trace import NullTrace

PAA: Address = ("192.0.2.1", 716)
PSK = Secret(b"resource-16-octs")
LINGER = 30.0


class _Factory:
    """An eap_factory that remembers (weakly, if ``remember``) every authenticator it made."""

    def __init__(self, rng: random.Random, remember: bool = True) -> None:
        self.rng = rng
        self.remember = remember
        self.made: list[weakref.ref[EapAuthenticator]] = []

    def __call__(self) -> EapAuthenticator:
        server = PskServer(b"paa", lambda _identity: PSK, rng=self.rng.randbytes)
        auth = EapAuthenticator(methods=lambda _i: [lambda: server], rng=self.rng.randbytes)
        if self.remember:
            self.made.append(weakref.ref(auth))
        return auth


def _paa(seed: int = 1, remember: bool = True, **config: Any) -> tuple[PaaServer, _Factory]:
    rng = random.Random(seed)
    factory = _Factory(rng, remember)
    cfg = PaaConfig(closed_linger=LINGER, **config)
    return PaaServer(cfg, eap_factory=factory, rng=rng.randbytes), factory


def _pac(i: int, rng: random.Random) -> PacSession:
    peer = EapPeer(
        identity=b"user%d" % i,
        methods={PskPeer.method_type: lambda: PskPeer(b"user%d" % i, PSK, rng=rng.randbytes)},
    )
    return PacSession(PacConfig(), paa=PAA, eap=peer, rng=rng.randbytes)


def _address(i: int) -> Address:
    return (f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", 40000)


def _run(paa: PaaServer, i: int, now: float, *, terminate: bool, passes: list[int]) -> PacSession:
    """Authenticate PaC ``i`` (and terminate it); ``passes``: collection passes per datagram."""
    pac, addr = _pac(i, random.Random(i)), _address(i)
    pac.start(now)
    for phase in range(2 if terminate else 1):
        if phase:
            pac.terminate(now)
        while sent := pac.datagrams_to_send(now):
            for data, _dst in sent:
                before = paa.collect_passes
                paa.receive_datagram(data, addr, now)
                for answer, dst in paa.datagrams_to_send(now):
                    assert dst == addr
                    pac.receive_datagram(answer, PAA, now)
                while paa.next_event() is not None:
                    pass
                passes.append(paa.collect_passes - before)
    assert pac.has_key or terminate
    return pac


def _idle(paa: PaaServer) -> int:
    """Only timers, no traffic: run each deadline get_timer() names; how many there were."""
    fired = 0
    while (deadline := paa.get_timer()) is not None:
        paa.handle_timer(deadline)
        fired += 1
    return fired


def test_one_collection_pass_per_datagram() -> None:
    paa, _ = _paa()
    passes: list[int] = []
    _run(paa, 1, 0.0, terminate=True, passes=passes)
    assert len(passes) == 7  # PCI, PAN[S], 3 x PAN (EAP), PAN[C], PTR
    # the PCI touches no session at all (stateless PCI, issue 9): no pass for it
    assert passes == [0] + [1] * (len(passes) - 1)


def test_a_disabled_trace_is_never_called() -> None:
    class CountingNull(NullTrace):
        calls = 0

        def event(self, now: float, name: str, **fields: Any) -> None:
            CountingNull.calls += 1

    rng = random.Random(3)
    paa = PaaServer(PaaConfig(), eap_factory=_Factory(rng), rng=rng.randbytes, trace=CountingNull())
    _run(paa, 3, 0.0, terminate=True, passes=[])
    paa.receive_datagram(b"garbage", ("192.0.2.99", 1), 0.0)  # a drop, too
    assert CountingNull.calls == 0


def test_an_open_session_holds_no_eap_authenticator() -> None:
    paa, factory = _paa()
    gc.disable()  # freed by reference counting alone: no cycles, so gc.freeze() is safe
    try:
        _run(paa, 1, 0.0, terminate=False, passes=[])
        assert factory.made and all(ref() is None for ref in factory.made)
    finally:
        gc.enable()
    (session,) = paa
    assert session.has_key and session.msk is not None


def test_ended_sessions_are_freed_at_the_linger_deadline_without_traffic() -> None:
    paa, _ = _paa()
    for i in range(5):
        _run(paa, i, float(i), terminate=True, passes=[])
    assert len(paa) == 0
    # the linger deadline of the first ended session is what the PAA wakes up for
    assert paa.get_timer() == pytest.approx(0.0 + LINGER)
    fired = _idle(paa)
    assert fired >= 1
    assert paa.get_timer() is None
    # a repeat of the last PTR after the linger is an unknown session: nothing answers it
    paa.receive_datagram(encode_pana(PanaMessage(MessageType.PANA_TERMINATION, 0x8000, 1, 1)),
                         _address(0), 1000.0)  # fmt: skip
    assert paa.datagrams_to_send(1000.0) == []


def test_a_lingering_session_still_answers_a_repeated_ptr() -> None:
    paa, _ = _paa()
    pac, addr = _pac(7, random.Random(7)), _address(7)
    pac.start(0.0)
    ptr: list[bytes] = []
    for phase in range(2):
        if phase:
            pac.terminate(1.0)
        while sent := pac.datagrams_to_send(1.0):
            for data, _dst in sent:
                ptr.append(data)
                paa.receive_datagram(data, addr, 1.0)
                for answer, _ in paa.datagrams_to_send(1.0):
                    pac.receive_datagram(answer, PAA, 1.0)
    assert len(paa) == 0 and pac.closed
    first_pta_count = 1
    paa.receive_datagram(ptr[-1], addr, 2.0)  # our PTA was lost: the PaC repeats its PTR
    repeated = paa.datagrams_to_send(2.0)
    assert len(repeated) == first_pta_count and repeated[0][1] == addr
    paa.receive_datagram(ptr[-1], addr, 1.0 + LINGER + 0.1)  # after the linger: gone
    assert paa.datagrams_to_send(1.0 + LINGER + 0.1) == []


def test_tables_shrink_and_ended_sessions_retain_at_most_64_bytes() -> None:
    n = 300
    paa, _ = _paa(seed=5, remember=False)
    _run(paa, n + 1, 0.0, terminate=True, passes=[])  # warm caches outside the measurement
    _idle(paa)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            _run(paa, i, 100.0, terminate=True, passes=[])
        peak_table = sys.getsizeof(paa._closed)
        _idle(paa)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(paa) == 0 and not paa._closed
    assert sys.getsizeof(paa._closed) < peak_table / 8  # rebuilt, not just emptied
    assert sys.getsizeof(paa._sessions) <= sys.getsizeof({}) + 256
    assert (after - before) / n <= 64, f"{(after - before) / n:.0f} B retained per ended session"


def test_the_session_limit_comes_from_memory_and_is_configurable() -> None:
    assert PaaConfig().session_limit == (1 << 30) // SESSION_BYTES
    assert PaaConfig(session_memory=3 * SESSION_BYTES).session_limit == 3
    assert PaaConfig(max_sessions=5, session_memory=SESSION_BYTES).session_limit == 5
    with pytest.raises(UsageError, match="session_memory"):
        PaaConfig(session_memory=100)
    paa, _ = _paa(session_memory=2 * SESSION_BYTES)
    paa.initiate(("192.0.2.50", 1), 0.0)
    paa.initiate(("192.0.2.50", 2), 0.0)
    with pytest.raises(UsageError, match="max_sessions"):
        paa.initiate(("192.0.2.50", 3), 0.0)
    assert len(paa) == 2


def test_a_table_naming_an_action_without_a_method_fails_at_class_creation() -> None:
    with pytest.raises(TypeError, match="no method for action SEND_PCI"):

        class Broken(SessionCore[PacConfig]):
            _table = MappingProxyType(
                {(PacState.INITIAL, Input.START): (Action.SEND_PCI, PacState.WAIT_PAA)}
            )

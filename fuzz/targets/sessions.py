"""Fuzz targets for the session entry points: ``PaaServer`` and ``PacSession.receive_datagram``.

A recorded exchange (EAP-PSK authentication, a PaC ping, a PAA ping, a PaC re-authentication and
termination; fixed randomness and clock) is replayed up to datagram ``k``; the fuzzed datagram is
then delivered to the receiver of datagram ``k`` (``paa-session``: the PAA, from the PaC's address
or, when bit 7 of the first octet is set, from another one; ``pac-session``: the PaC, from the
PAA). The seeds are the recorded datagrams, so mutations start from a valid message in the state
that expects it. Finding: any exception out of ``receive_datagram``/``datagrams_to_send``/
``handle_timer``, or an internal error the entry point caught and logged.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from eap import registry
from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.peer import EapPeer
from eap.registry import ServerConfig
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession

from ..registry import check, register
from ._common import fixed_rng, no_errors_logged

__all__ = ["exchange", "fuzz_paa_session", "fuzz_pac_session"]

logger = logging.getLogger(__name__)

PAC_ADDR = ("192.0.2.10", 40000)
PAA_ADDR = ("192.0.2.1", 716)
OTHER_ADDR = ("203.0.113.66", 5555)
_IDENTITY = b"alice"
_PSK = Secret(b"alice-16-octets!")
_STEP = 0.01


@dataclass(slots=True)
class _Run:
    pac: PacSession
    paa: PaaServer
    now: float = 0.0


def _new_run() -> _Run:
    entry = registry.lookup("PSK")
    peer = EapPeer(
        identity=_IDENTITY,
        methods={entry.method_type: entry.peer(_IDENTITY, _PSK, rng=fixed_rng(b"eap peer"))},
    )
    eap_rng = fixed_rng(b"eap server")
    serve = entry.server(ServerConfig(lookup={_IDENTITY: _PSK}.get, rng=eap_rng))

    def factory() -> EapAuthenticator:
        return EapAuthenticator(methods=lambda identity: [serve(identity)], rng=eap_rng)

    pac = PacSession(PacConfig(), paa=PAA_ADDR, eap=peer, rng=fixed_rng(b"pac"))
    paa = PaaServer(PaaConfig(), eap_factory=factory, rng=fixed_rng(b"paa"))
    return _Run(pac, paa)


def _actions(run: _Run) -> list[Callable[[], None]]:
    """What the two ends do, one after the other, each followed by delivering every datagram."""

    def sid() -> int:
        return run.pac.session_id

    return [
        lambda: run.pac.start(run.now),
        lambda: run.pac.ping(run.now),
        lambda: run.paa.ping(sid(), run.now),
        lambda: run.pac.reauthenticate(run.now),
        lambda: run.pac.terminate(run.now),
    ]


_Deliver = Callable[[_Run, bool, bytes], bool]
"""(run, to_paa, datagram) -> whether to go on; called for each datagram in order."""


def _play(run: _Run, deliver: _Deliver) -> None:
    for action in _actions(run):
        action()
        while True:
            queue = [(True, d) for d, _ in run.pac.datagrams_to_send(run.now)]
            queue += [(False, d) for d, _ in run.paa.datagrams_to_send(run.now)]
            if not queue:
                break
            for to_paa, data in queue:
                run.now += _STEP
                if not deliver(run, to_paa, data):
                    return
                if to_paa:
                    run.paa.receive_datagram(data, PAC_ADDR, run.now)
                else:
                    run.pac.receive_datagram(data, PAA_ADDR, run.now)


@functools.cache
def exchange() -> tuple[tuple[bool, bytes], ...]:
    """The recorded datagrams: (to the PAA?, datagram), in delivery order."""
    run = _new_run()
    log: list[tuple[bool, bytes]] = []

    def record(run: _Run, to_paa: bool, data: bytes) -> bool:
        log.append((to_paa, data))
        return True

    _play(run, record)
    check(run.pac.closed, "recorded exchange did not end in termination")
    return tuple(log)


def _indices(to_paa: bool) -> list[int]:
    return [i for i, (side, _) in enumerate(exchange()) if side is to_paa]


def _inject(to_paa: bool, data: bytes) -> None:
    indices = _indices(to_paa)
    if not data:
        return
    target = indices[(data[0] & 0x7F) % len(indices)]
    source = OTHER_ADDR if to_paa and data[0] & 0x80 else (PAC_ADDR if to_paa else PAA_ADDR)
    payload = data[1:]
    count = 0

    def until_target(run: _Run, side: bool, datagram: bytes) -> bool:
        nonlocal count
        if count == target:
            return False
        count += 1
        return True

    run = _new_run()
    with no_errors_logged("paa" if to_paa else "pac"):
        _play(run, until_target)
        if to_paa:
            run.paa.receive_datagram(payload, source, run.now)
        else:
            run.pac.receive_datagram(payload, source, run.now)
        for end in (run.pac, run.paa):
            end.datagrams_to_send(run.now)
            end.handle_timer(run.now + 1000.0)
            end.datagrams_to_send(run.now + 1000.0)


def _seeds(to_paa: bool) -> Callable[[], tuple[bytes, ...]]:
    def seeds() -> tuple[bytes, ...]:
        log = exchange()
        return tuple(bytes([n]) + log[i][1] for n, i in enumerate(_indices(to_paa)))

    return seeds


@register("paa-session", seeds=_seeds(True), max_size=4096)
def fuzz_paa_session(data: bytes) -> None:
    """PaaServer.receive_datagram in each state of a recorded exchange: never raises."""
    _inject(True, data)


@register("pac-session", seeds=_seeds(False), max_size=4096)
def fuzz_pac_session(data: bytes) -> None:
    """PacSession.receive_datagram in each state of a recorded exchange: never raises."""
    _inject(False, data)

"""Build a PaC and a PAA on a VirtualNet for session tests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.events import PanaEvent
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession
from pana_mpa.testing import VirtualNet
from pana_mpa.trace import MemoryTrace

from .fake_eap import KEYED_TYPE, FakeEapPeer, FakeEapServer, PendingEapServer

__all__ = ["PAA_ADDR", "PAC_ADDR", "Pair", "make_pair"]

PAC_ADDR = ("192.0.2.10", 40000)
PAA_ADDR = ("192.0.2.1", 716)
USERS = {b"alice": b"alice-secret", b"bob": b"bob-secret"}


@dataclass
class Pair:
    """A PaC and a PAA connected by a VirtualNet, with traces."""

    net: VirtualNet
    pac: PacSession
    paa: PaaServer
    peer: FakeEapPeer
    pac_trace: MemoryTrace
    paa_trace: MemoryTrace
    servers: list[Any] = field(default_factory=list)

    def pac_events(self) -> list[PanaEvent]:
        return self.net.take_events(PAC_ADDR)

    def paa_events(self) -> list[PanaEvent]:
        return self.net.take_events(PAA_ADDR)

    def only_session(self) -> int:
        sessions = list(self.paa)
        assert len(sessions) == 1
        return sessions[0].session_id


def make_pair(
    *,
    pac_config: PacConfig | None = None,
    paa_config: PaaConfig | None = None,
    identity: bytes = b"alice",
    secret: bytes = b"alice-secret",
    method: int = KEYED_TYPE,
    pending: bool = False,
    seed: int = 1,
    **net_kwargs: Any,
) -> Pair:
    """A PaC and a PAA on a VirtualNet with seeded randomness."""
    net = VirtualNet(seed=seed, **net_kwargs)
    pac_rng = random.Random(seed * 100 + 1).randbytes  # noqa: S311
    paa_rng = random.Random(seed * 100 + 2).randbytes  # noqa: S311
    eap_rng = random.Random(seed * 100 + 3).randbytes  # noqa: S311
    peer = FakeEapPeer(identity, secret)
    servers: list[Any] = []

    def factory() -> Any:
        server: Any = FakeEapServer(USERS, method=method, rng=eap_rng)
        if pending:
            server = PendingEapServer(server)
        servers.append(server)
        return server

    pac_trace, paa_trace = MemoryTrace(), MemoryTrace()
    pac = PacSession(
        pac_config or PacConfig(), paa=PAA_ADDR, eap=peer, rng=pac_rng, trace=pac_trace
    )
    paa = PaaServer(paa_config or PaaConfig(), eap_factory=factory, rng=paa_rng, trace=paa_trace)
    net.add(PAC_ADDR, pac)
    net.add(PAA_ADDR, paa)
    return Pair(net, pac, paa, peer, pac_trace, paa_trace, servers)

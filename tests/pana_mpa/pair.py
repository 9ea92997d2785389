"""Build a PaC and a PAA on a VirtualNet for session tests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.gpsk import METHOD_TYPE as GPSK_TYPE
from eap.methods.gpsk import GpskPeer, GpskServer
from eap.methods.md5 import METHOD_TYPE as MD5_TYPE
from eap.methods.md5 import Md5Peer, Md5Server
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer
from pana_mpa.aio.virtualnet import VirtualNet
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.events import PanaEvent
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession
from pana_mpa.state import PacState
from pana_mpa.trace import MemoryTrace

from .fake_eap import KEYED_TYPE, KEYLESS_TYPE, FakeEapPeer, FakeEapServer, PendingEapServer

__all__ = ["PAA_ADDR", "PAC_ADDR", "Pair", "drops", "make_pair", "open_pair", "opened"]

PAC_ADDR = ("192.0.2.10", 40000)
PAA_ADDR = ("192.0.2.1", 716)
USERS = {b"alice": b"alice-secret", b"bob": b"bob-secret"}
PSKS = {b"alice": b"alice-16-octets!", b"bob": b"bob-psk-16octets"}
METHODS = ("psk", "gpsk", "md5", "fake", "fake-keyless")


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
    method: str = "psk",
    pending: bool = False,
    seed: int = 1,
    **net_kwargs: Any,
) -> Pair:
    """A PaC and a PAA on a VirtualNet with seeded randomness."""
    net = VirtualNet(seed=seed, **net_kwargs)
    pac_rng = random.Random(seed * 100 + 1).randbytes
    paa_rng = random.Random(seed * 100 + 2).randbytes
    eap_rng = random.Random(seed * 100 + 3).randbytes
    peer: Any
    if method == "psk":
        psk = PSKS.get(identity, secret[:16].ljust(16, b"x"))
        peer = EapPeer(
            identity=identity,
            methods={EAP_TYPE_PSK: lambda: PskPeer(identity, Secret(psk), rng=eap_rng)},
        )
    elif method == "gpsk":
        psk = PSKS.get(identity, secret[:16].ljust(16, b"x"))
        peer = EapPeer(
            identity=identity,
            methods={GPSK_TYPE: lambda: GpskPeer(identity, Secret(psk), rng=eap_rng)},
        )
    elif method == "md5":
        peer = EapPeer(identity=identity, methods={MD5_TYPE: lambda: Md5Peer(Secret(secret))})
    else:
        peer = FakeEapPeer(identity, secret)
    servers: list[Any] = []

    def lookup(ident: bytes) -> Secret | None:
        psk = PSKS.get(ident)
        return None if psk is None else Secret(psk)

    def factory() -> Any:
        server: Any
        if method == "psk":
            server = EapAuthenticator(
                methods=lambda ident: [lambda: PskServer(b"paa.example", lookup, rng=eap_rng)],
                rng=eap_rng,
            )
        elif method == "gpsk":
            server = EapAuthenticator(
                methods=lambda ident: [lambda: GpskServer(b"paa.example", lookup, rng=eap_rng)],
                rng=eap_rng,
            )
        elif method == "md5":

            def md5(ident: bytes) -> Any:
                password = USERS.get(ident)
                return [
                    lambda: Md5Server(None if password is None else Secret(password), rng=eap_rng)
                ]

            server = EapAuthenticator(methods=md5, rng=eap_rng)
        else:
            kind = KEYED_TYPE if method == "fake" else KEYLESS_TYPE
            server = FakeEapServer(USERS, method=kind, rng=eap_rng)
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


def opened(pair: Pair, *, clear_log: bool = True) -> Pair:
    """``pair`` after a completed authentication; events (and the datagram log) emptied."""
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert pair.pac.state is PacState.OPEN
    pair.pac_events()
    pair.paa_events()
    if clear_log:
        pair.net.log.clear()
    return pair


def open_pair(**kw: object) -> Pair:
    """A PaC and a PAA that completed authentication; events and the log emptied."""
    return opened(make_pair(**kw))  # type: ignore[arg-type]


def drops(pair: Pair, role: str) -> list[str]:
    """Reasons of the messages ``role`` ("pac" or "paa") discarded, oldest first."""
    trace = pair.pac_trace if role == "pac" else pair.paa_trace
    return [str(r["reason"]) for r in trace.named("message_dropped")]

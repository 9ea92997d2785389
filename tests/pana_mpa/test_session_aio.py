"""The real sessions under the asyncio layer: PacClient and serve_paa on a LoopbackNetwork."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from eap.authenticator import AuthOutput, EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer
from pana_mpa import (
    Authenticated,
    PaaConfig,
    PaaServer,
    PacConfig,
    PacSession,
    PanaEvent,
    PingAnswered,
    Reauthenticated,
    SessionTerminated,
)
from pana_mpa.aio import PacClient, serve_paa
from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual

PAC = ("10.0.0.1", 50000)
PAA = ("10.0.0.2", 716)
PSK = Secret(b"alice-16-octets!")


def _peer(rng: random.Random) -> EapPeer:
    return EapPeer(
        identity=b"alice",
        methods={EAP_TYPE_PSK: lambda: PskPeer(b"alice", PSK, rng=rng.randbytes)},
    )


def _authenticator(rng: random.Random) -> EapAuthenticator:
    return EapAuthenticator(
        methods=lambda ident: [lambda: PskServer(b"paa", {b"alice": PSK}.get, rng=rng.randbytes)],
        rng=rng.randbytes,
    )


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_pac_client_and_serve_paa_with_real_sessions() -> None:
    rng = random.Random(11)

    async def main() -> tuple[list[PanaEvent], list[PanaEvent]]:
        net = LoopbackNetwork(delay=0.005, seed=3)
        paa = PaaServer(PaaConfig(), eap_factory=lambda: _authenticator(rng), rng=rng.randbytes)
        paa_events: asyncio.Queue[PanaEvent] = asyncio.Queue()
        server = asyncio.create_task(serve_paa(paa, net.endpoint(PAA), events=paa_events))
        pac = PacSession(PacConfig(), paa=PAA, eap=_peer(rng), rng=rng.randbytes)
        async with PacClient(pac, net.endpoint(PAC)) as client:
            auth = await client.authenticate()
            assert isinstance(auth, Authenticated) and auth.key_id is not None
            assert isinstance(await client.ping(), PingAnswered)
            reauth = await client.reauthenticate()
            assert isinstance(reauth, Reauthenticated)
            bye = await client.terminate()
            assert isinstance(bye, SessionTerminated) and bye.cause == 1
            seen = [e async for e in client.events()]
        await _stop(server)
        paa_seen = []
        while not paa_events.empty():
            paa_seen.append(paa_events.get_nowait())
        return seen, paa_seen

    seen, paa_seen = run_virtual(main)
    names = [type(e).__name__ for e in seen]
    assert names == [
        "SessionStarted",
        "Authenticated",
        "PingAnswered",
        "Reauthenticated",
        "SessionTerminated",
    ]
    assert [type(e).__name__ for e in paa_seen][-1] == "SessionTerminated"


class _Backend:
    """An AAA server stand-in for serve_paa(aaa=...): EAP-PSK behind an async exchange()."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._server = _authenticator(rng)
        self.calls = 0

    def restart(self) -> None:
        self._server = _authenticator(self._rng)

    async def exchange(self, eap_response: bytes | None) -> AuthOutput:
        self.calls += 1
        await asyncio.sleep(0.02)  # the AAA round trip (virtual time)
        if eap_response is None:
            self._server = _authenticator(self._rng)
            return self._server.start()
        return self._server.receive(eap_response)


def test_pass_through_paa_under_serve_paa() -> None:
    rng = random.Random(12)
    backends: dict[int, _Backend] = {}

    def aaa(session_id: int) -> Any:
        return backends.setdefault(session_id, _Backend(rng))

    async def main() -> PanaEvent:
        net = LoopbackNetwork(delay=0.005)
        paa = PaaServer(PaaConfig(require_key=True), rng=rng.randbytes)  # no factory: pass-through
        server = asyncio.create_task(serve_paa(paa, net.endpoint(PAA), aaa=aaa))
        pac = PacSession(PacConfig(), paa=PAA, eap=_peer(rng), rng=rng.randbytes)
        async with PacClient(pac, net.endpoint(PAC)) as client:
            auth = await client.authenticate()
            await client.reauthenticate()
        await _stop(server)
        return auth

    auth = run_virtual(main)
    assert isinstance(auth, Authenticated) and auth.msk is not None
    assert len(backends) == 1 and next(iter(backends.values())).calls == 8

"""Our PAA in RADIUS pass-through mode with hostapd as AAA server (live run b3, docs/interop.md).

The PANA side runs sans-IO on a virtual clock (PaC and PAA exchange datagrams directly); only the
RADIUS leg is real: the ``pana-mpa paa --radius`` backend (``RadiusBackend``) talking to hostapd.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eap.aaa.passthrough import RadiusPassThrough
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer
from eap.peer import EapPeer
from pana_mpa.cli.peers import RadiusBackend
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.events import Authenticated, PanaEvent
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession
from tests.servers import EAP_USERS, Hostapd, hostapd_server

pytestmark = [pytest.mark.hostapd, pytest.mark.netns, pytest.mark.asyncio]

PAC = ("127.0.0.1", 40001)
PAA = ("127.0.0.1", 716)
IDENTITY = EAP_USERS["psk"][0].encode()
KEY = bytes.fromhex(EAP_USERS["psk"][1])


@pytest.fixture(scope="module")
def hostapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostapd]:
    """hostapd as RADIUS + EAP server, in its own network namespace."""
    with hostapd_server(Path(tmp_path_factory.mktemp("hostapd-pt"))) as server:
        yield server


def _counter_rng(seed: int) -> Callable[[int], bytes]:
    state = [seed]

    def rng(n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            state[0] = (state[0] * 1103515245 + 12345) & 0x7FFFFFFF
            out += state[0].to_bytes(4, "big")
        return bytes(out[:n])

    return rng


async def _run(hostapd: Hostapd) -> tuple[list[PanaEvent], list[PanaEvent], int]:
    """One authentication; returns (PaC events, PAA events, RADIUS round trips)."""
    pac_rng = _counter_rng(1)
    paa_rng = _counter_rng(2)
    peer = EapPeer(
        identity=IDENTITY,
        methods={EAP_TYPE_PSK: lambda: PskPeer(IDENTITY, Secret(KEY), rng=pac_rng)},
    )
    pac = PacSession(
        PacConfig(prf_algorithms=(2,), integrity_algorithms=(7,)),
        paa=PAA,
        eap=peer,
        rng=pac_rng,
    )
    paa = PaaServer(PaaConfig(prf_algorithms=(2,), integrity_algorithms=(7,)), rng=paa_rng)
    config = hostapd.radius_config(retries=1)
    backend = RadiusBackend(RadiusPassThrough(config), paa_rng)
    pac_events: list[PanaEvent] = []
    paa_events: list[PanaEvent] = []
    round_trips = 0
    now = 0.0
    pac.start(now)
    try:
        for _ in range(100):
            now += 0.001
            moved = False
            for data, _addr in pac.datagrams_to_send(now):
                paa.receive_datagram(data, PAC, now)
                moved = True
            for sid, response in paa.pending_aaa():
                output = await backend.exchange(response)
                round_trips += 1
                paa.aaa_answer(sid, output, now)
                moved = True
            for data, _addr in paa.datagrams_to_send(now):
                pac.receive_datagram(data, PAA, now)
                moved = True
            while (event := pac.next_event()) is not None:
                pac_events.append(event)
            while (event := paa.next_event()) is not None:
                paa_events.append(event)
            if not moved:
                break
    finally:
        backend.close()
    return pac_events, paa_events, round_trips


async def test_paa_pass_through_to_hostapd_authenticates(hostapd: Hostapd) -> None:
    """hostapd's RADIUS server needs a User-Name at once: the PAA must ask for the identity itself.

    It failed before the RadiusBackend sent EAP-Request/Identity locally: an EAP-Start
    Access-Request without User-Name got Access-Reject ("Could not get User-Name").
    """
    pac_events, paa_events, round_trips = await _run(hostapd)
    assert any(isinstance(e, Authenticated) for e in pac_events), pac_events
    assert any(isinstance(e, Authenticated) for e in paa_events), paa_events
    assert round_trips >= 3  # Identity, EAP-PSK 2, EAP-PSK 4

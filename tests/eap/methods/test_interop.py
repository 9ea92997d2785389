"""Our EapPeer / EapAuthenticator with MD5 and GPSK against hostapd 2.10 (and MD5 vs FreeRADIUS).

Peer side: our EapPeer talks to hostapd's EAP server through the RADIUS pass-through; the MSK we
derive must equal the MS-MPPE keys hostapd puts in the Access-Accept. Server side: eapol_test
(wpa_supplicant's peer) talks to our EapAuthenticator through our RADIUS front and compares its
MSK with the MS-MPPE keys we send ("MPPE keys OK").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from eap.aaa.passthrough import RadiusConfig, RadiusPassThrough
from eap.aaa.server import RadiusServer, RadiusServerCore
from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.gpsk import GpskPeer, GpskServer
from eap.methods.md5 import Md5Peer, Md5Server
from eap.peer import EapPeer, EapResult
from tests.servers import (
    EAP_USERS,
    RADIUS_SECRET,
    FreeRadius,
    Hostapd,
    eapol_conf,
    freeradius_server,
    hostapd_server,
    run_eapol_test,
)

pytestmark = [pytest.mark.asyncio]

ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE = 2, 3, 11


# -- our peer against hostapd's EAP server ------------------------------------------------


@pytest.fixture(scope="module")
def hostapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostapd]:
    """hostapd as RADIUS + EAP server (md5user, gpskuser, ...) in a private namespace."""
    with hostapd_server(tmp_path_factory.mktemp("hostapd-eapcore")) as server:
        yield server


@pytest.fixture(scope="module")
def freeradius(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreeRadius]:
    """FreeRADIUS 3.2 (EAP-MD5, no GPSK) on loopback."""
    with freeradius_server(tmp_path_factory.mktemp("freeradius-eapcore")) as server:
        yield server


async def _peer_run(
    server: Hostapd | FreeRadius, peer: EapPeer, identity: bytes
) -> tuple[EapResult, int]:
    """Relay our peer's responses to the RADIUS server until Access-Accept/Reject."""
    bind = (server.source, 0) if isinstance(server, Hostapd) else ("127.0.0.1", 0)
    config = RadiusConfig(server=server.address, secret=Secret(server.secret), bind=bind)
    async with RadiusPassThrough(config) as pt:
        answer = await pt.answer(bytes([2, 0, 0, 5 + len(identity), 1]) + identity)
        for _ in range(10):
            assert answer.eap is not None
            out = peer.receive(answer.eap)
            if answer.code != ACCESS_CHALLENGE:
                assert out.result is not None, "peer did not accept hostapd's Success/Failure"
                if answer.code == ACCESS_ACCEPT and out.result.keys is not None:
                    assert answer.keys is not None
                    assert answer.keys.msk == out.result.keys.msk  # hostapd's MS-MPPE = our MSK
                return out.result, answer.code
            assert out.response is not None, "peer discarded a request from hostapd"
            answer = await pt.answer(out.response)
    raise AssertionError("no final answer from hostapd")


@pytest.mark.hostapd
@pytest.mark.netns
@pytest.mark.parametrize("suite", [1, 2])
async def test_our_gpsk_peer_with_hostapd_server(hostapd: Hostapd, suite: int) -> None:
    identity, password = (s.encode() for s in EAP_USERS["gpsk"])
    peer = EapPeer(
        identity=identity,
        methods={51: lambda: GpskPeer(identity, Secret(password), ciphersuites=(suite,))},
    )
    result, code = await _peer_run(hostapd, peer, identity)
    assert code == ACCESS_ACCEPT and result.success and result.method_type == 51
    assert result.keys is not None and len(result.keys.msk) == 64
    assert result.keys.session_id[0] == 51 and len(result.keys.session_id) == 17


@pytest.mark.hostapd
@pytest.mark.netns
async def test_our_gpsk_peer_wrong_psk_rejected_by_hostapd(hostapd: Hostapd) -> None:
    identity, _ = (s.encode() for s in EAP_USERS["gpsk"])
    peer = EapPeer(identity=identity, methods={51: lambda: GpskPeer(identity, Secret(b"w" * 32))})
    result, code = await _peer_run(hostapd, peer, identity)
    assert code == ACCESS_REJECT and not result.success and result.keys is None


@pytest.mark.hostapd
@pytest.mark.netns
async def test_our_md5_peer_with_hostapd_server(hostapd: Hostapd) -> None:
    identity, password = (s.encode() for s in EAP_USERS["md5"])
    peer = EapPeer(identity=identity, methods={4: lambda: Md5Peer(Secret(password))})
    result, code = await _peer_run(hostapd, peer, identity)
    assert code == ACCESS_ACCEPT and result.success and result.keys is None


@pytest.mark.hostapd
@pytest.mark.netns
async def test_our_peer_naks_hostapd_and_is_rejected(hostapd: Hostapd) -> None:
    """hostapd proposes GPSK (the user's only method); our MD5-only peer Naks; Reject follows."""
    identity, password = (s.encode() for s in EAP_USERS["gpsk"])
    peer = EapPeer(identity=identity, methods={4: lambda: Md5Peer(Secret(password))})
    result, code = await _peer_run(hostapd, peer, identity)
    assert code == ACCESS_REJECT and not result.success


@pytest.mark.freeradius
@pytest.mark.udp
@pytest.mark.parametrize(("password", "accepted"), [(None, True), (b"wrong", False)])
async def test_our_md5_peer_with_freeradius(
    freeradius: FreeRadius, password: bytes | None, accepted: bool
) -> None:
    identity, right = (s.encode() for s in EAP_USERS["md5"])
    secret = Secret(password or right)
    peer = EapPeer(identity=identity, methods={4: lambda: Md5Peer(secret)})
    result, code = await _peer_run(freeradius, peer, identity)
    assert result.success is accepted and (code == ACCESS_ACCEPT) is accepted


# -- eapol_test against our EapAuthenticator -----------------------------------------------


@pytest_asyncio.fixture
async def front() -> AsyncIterator[tuple[RadiusServer, tuple[str, int], list[EapResult]]]:
    """Our RADIUS front on loopback with EapAuthenticator(MD5 or GPSK per user) behind it."""
    results: list[EapResult] = []
    users = {name.encode(): Secret(secret.encode()) for name, secret in EAP_USERS.values()}

    def policy(identity: bytes) -> list[object]:
        psk = users.get(identity)
        if identity == EAP_USERS["gpsk"][0].encode():
            # gpsk_fail=False: wpa_supplicant ignores GPSK-Fail, so end with EAP Failure at once.
            return [lambda: GpskServer(b"pana-mpa.test", users.get, gpsk_fail=False)]
        return [lambda: Md5Server(psk)]

    class _Recording(EapAuthenticator):
        def receive(self, packet: bytes):  # type: ignore[no-untyped-def]
            out = super().receive(packet)
            if out.result is not None:
                results.append(out.result)
            return out

    core = RadiusServerCore(
        clients={"127.0.0.1": Secret(RADIUS_SECRET)},
        backend=lambda: _Recording(methods=policy),  # type: ignore[arg-type]
    )
    server = RadiusServer(core)
    address = await server.start("127.0.0.1", 0)
    try:
        yield server, address, results
    finally:
        server.close()


Front = tuple[RadiusServer, tuple[str, int], list[EapResult]]


@pytest.mark.hostapd
@pytest.mark.udp
@pytest.mark.parametrize("suite", [1, 2])
async def test_eapol_test_gpsk_against_our_server(front: Front, tmp_path: Path, suite: int) -> None:
    _, address, results = front
    conf = eapol_conf(tmp_path, "gpsk")
    # wpa_supplicant's "cipher=N" phase1 option forces its ciphersuite choice (eap_gpsk.c).
    text = conf.read_text().replace("eap=GPSK", f'eap=GPSK\n    phase1="cipher={suite}"')
    conf.write_text(text)
    result = await asyncio.to_thread(run_eapol_test, conf, address)
    assert result.success, result.output[-3000:]
    assert result.mppe_ok, "eapol_test's MSK differs from the MS-MPPE keys we sent"
    assert results and results[-1].success and results[-1].keys is not None
    assert result.msk == results[-1].keys.msk.reveal()
    assert f"EAP-GPSK: Selected ciphersuite 0:{suite}" in result.output


@pytest.mark.hostapd
@pytest.mark.udp
async def test_eapol_test_gpsk_wrong_psk_against_our_server(front: Front, tmp_path: Path) -> None:
    _, address, results = front
    conf = eapol_conf(tmp_path, "gpsk", secret="x" * 32)
    result = await asyncio.to_thread(run_eapol_test, conf, address)
    assert not result.success
    assert results and not results[-1].success


@pytest.mark.hostapd
@pytest.mark.udp
async def test_eapol_test_md5_against_our_server(front: Front, tmp_path: Path) -> None:
    _, address, results = front
    result = await asyncio.to_thread(
        run_eapol_test, eapol_conf(tmp_path, "md5"), address, no_mppe=True
    )
    assert result.success, result.output[-3000:]
    assert results and results[-1].success and results[-1].keys is None

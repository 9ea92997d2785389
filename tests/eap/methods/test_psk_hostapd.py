"""EAP-PSK against hostap's own implementation: its server (hostapd) and its peer (eapol_test)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eap.aaa.passthrough import RadiusAnswer, RadiusPassThrough
from eap.aaa.server import RadiusServer, RadiusServerCore
from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.base import AuthMethod
from eap.methods.psk import EAP_TYPE_PSK, PchannelCheck, PskPeer, PskServer, observe
from eap.peer import EapPeer, EapResult
from tests.servers import (
    EAP_USERS,
    RADIUS_SECRET,
    EapolResult,
    Hostapd,
    eapol_conf,
    hostapd_server,
    run_eapol_test,
)

pytestmark = [pytest.mark.hostapd, pytest.mark.asyncio]

IDENTITY = EAP_USERS["psk"][0].encode()
KEY = bytes.fromhex(EAP_USERS["psk"][1])


@pytest.fixture(scope="module")
def hostapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostapd]:
    """hostapd 2.x as RADIUS + EAP-PSK server, in its own network namespace."""
    with hostapd_server(tmp_path_factory.mktemp("hostapd-psk")) as server:
        yield server


async def _peer_via_hostapd(
    server: Hostapd, key: bytes
) -> tuple[RadiusAnswer, EapResult | None, list[bytes]]:
    """Our EapPeer + PskPeer through our RADIUS pass-through to hostapd's EAP-PSK server."""
    peer = EapPeer(
        identity=IDENTITY, methods={EAP_TYPE_PSK: lambda: PskPeer(IDENTITY, Secret(key))}
    )
    config = server.radius_config()
    seen: list[bytes] = []
    response = b"\x02\x00" + (5 + len(IDENTITY)).to_bytes(2, "big") + b"\x01" + IDENTITY
    async with RadiusPassThrough(config) as relay:
        for _ in range(10):
            answer = await relay.answer(response)
            assert answer.eap is not None
            seen.append(answer.eap)
            out = peer.receive(answer.eap)
            if answer.code != 11:  # Access-Accept or Access-Reject
                return answer, peer.result, seen
            assert out.response is not None
            seen.append(out.response)
            response = out.response
    raise AssertionError("hostapd conversation did not end")


@pytest.mark.netns
async def test_our_peer_with_hostapd_server(hostapd: Hostapd) -> None:
    answer, result, seen = await _peer_via_hostapd(hostapd, KEY)
    assert answer.code == 2 and result is not None and result.success
    assert result.keys is not None and answer.keys is not None
    assert result.keys.msk == answer.keys.msk  # hostapd's MS-MPPE keys carry the same MSK
    psk_packets = [p for p in seen if len(p) > 4 and p[4] == EAP_TYPE_PSK]
    assert len(psk_packets) == 4
    seen_psk = observe(*psk_packets, psk=Secret(KEY))
    assert seen_psk.id_s == b"hostapd" and seen_psk.id_p == IDENTITY
    assert seen_psk.pchannel3 is seen_psk.pchannel4 is PchannelCheck.RFC4764


@pytest.mark.netns
async def test_our_peer_wrong_psk_with_hostapd_server(hostapd: Hostapd) -> None:
    answer, result, _ = await _peer_via_hostapd(hostapd, bytes(16))
    assert answer.code == 3  # hostapd fails on a bad MAC_P at once (Access-Reject)
    assert result is not None and not result.success and result.keys is None


async def _eapol_test_against(tmp: Path, key: bytes) -> EapolResult:
    """eapol_test (wpa_supplicant's EAP-PSK peer) against our PskServer behind our RADIUS front."""
    credentials = {IDENTITY: Secret(key)}

    def policy(_identity: bytes) -> list[Callable[[], AuthMethod]]:
        # Fail at once on a wrong PSK, as hostapd does, so eapol_test sees Access-Reject.
        return [lambda: PskServer(b"pana-mpa", credentials.get, fail_on_bad_mac_p=True)]

    core = RadiusServerCore(
        clients={"127.0.0.1": Secret(RADIUS_SECRET)},
        backend=lambda: EapAuthenticator(methods=policy),
    )
    front = RadiusServer(core)
    address = await front.start("127.0.0.1", 0)
    try:
        return await asyncio.to_thread(run_eapol_test, eapol_conf(tmp, "psk"), address)
    finally:
        front.close()


async def test_eapol_test_peer_with_our_server(tmp_path: Path) -> None:
    result = await _eapol_test_against(tmp_path, KEY)
    assert result.success, result.output[-3000:]
    assert result.mppe_ok  # eapol_test's own MSK equals the one our server exported
    assert "EAP-PSK: Failed" not in result.output


async def test_eapol_test_peer_wrong_psk_with_our_server(tmp_path: Path) -> None:
    result = await _eapol_test_against(tmp_path, bytes(16))
    assert not result.success
    assert "Access-Reject" in result.output or "EAP-Failure" in result.output

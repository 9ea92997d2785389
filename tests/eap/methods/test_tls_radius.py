"""EapPeer + TlsPeer through our RADIUS pass-through to FreeRADIUS 3.2 and hostapd 2.10."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eap.aaa.passthrough import RadiusAnswer, RadiusConfig, RadiusPassThrough
from eap.keys import Secret
from eap.methods.tls import TlsPeer
from eap.peer import EapPeer, EapResult
from tests import servers
from tests.servers import EAP_USERS, FreeRadius, Hostapd, freeradius_server, hostapd_server

pytestmark = pytest.mark.asyncio

ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE = 2, 3, 11  # RFC 2865 s4


def tls_peer(server: FreeRadius | Hostapd) -> EapPeer:
    pki = server.pki
    return EapPeer(
        identity=EAP_USERS["tls"][0].encode(),
        methods={
            13: lambda: TlsPeer(
                ca=pki.ca,
                cert=pki.client_cert,
                key=pki.client_key,
                server_names=[pki.server_name],
            )
        },
    )


async def run(peer: EapPeer, config: RadiusConfig) -> tuple[RadiusAnswer, EapResult | None]:
    """Identity locally (as a PAA does), then relay every response until the server decides."""
    first = peer.receive(bytes([1, 0, 0, 5, 1])).response  # EAP-Request/Identity, id 0
    assert first is not None
    async with RadiusPassThrough(config) as pt:
        answer = await pt.answer(first)
        for _ in range(40):
            if answer.code != ACCESS_CHALLENGE:
                break
            assert answer.eap is not None
            reply = peer.receive(answer.eap)
            assert reply.response is not None
            answer = await pt.answer(reply.response)
    assert answer.eap is not None
    return answer, peer.receive(answer.eap).result


@pytest.fixture(scope="module")
def freeradius(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreeRadius]:
    with freeradius_server(tmp_path_factory.mktemp("freeradius-tls")) as server:
        yield server


@pytest.fixture(scope="module")
def freeradius13(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreeRadius]:
    """FreeRADIUS with tls_max_version = "1.3" (its default configuration stops at 1.2)."""
    enable = (
        """sed -i -e 's/tls_max_version = "1.2"/tls_max_version = "1.3"/'"""
        " mods-available/eap\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(servers, "_FREERADIUS_SETUP", servers._FREERADIUS_SETUP + enable)
        with freeradius_server(tmp_path_factory.mktemp("freeradius-tls13")) as server:
            yield server


@pytest.fixture(scope="module")
def hostapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostapd]:
    with hostapd_server(tmp_path_factory.mktemp("hostapd-tls")) as server:
        yield server


def check_success(answer: RadiusAnswer, peer_result: EapResult | None) -> None:
    assert answer.code == ACCESS_ACCEPT and answer.method_type == 13
    assert peer_result is not None and peer_result.success and peer_result.method_type == 13
    assert peer_result.keys is not None and answer.keys is not None
    # MS-MPPE-Recv-Key || MS-MPPE-Send-Key from the Access-Accept == our MSK (RFC 5216 s2.3).
    assert peer_result.keys.msk == answer.keys.msk


@pytest.mark.freeradius
async def test_freeradius_eap_tls(freeradius: FreeRadius) -> None:
    peer = tls_peer(freeradius)
    config = RadiusConfig(server=freeradius.address, secret=Secret(freeradius.secret))
    out, result = await run(peer, config)
    assert out.code == ACCESS_ACCEPT, freeradius.log.read_text()[-3000:]
    check_success(out, result)


@pytest.mark.freeradius
async def test_freeradius_eap_tls13(freeradius13: FreeRadius) -> None:
    peer = tls_peer(freeradius13)
    config = RadiusConfig(server=freeradius13.address, secret=Secret(freeradius13.secret))
    out, result = await run(peer, config)
    assert out.code == ACCESS_ACCEPT, freeradius13.log.read_text()[-3000:]
    check_success(out, result)
    assert 'TLS-Session-Version = "TLS 1.3"' in freeradius13.log.read_text()


@pytest.mark.hostapd
@pytest.mark.netns
async def test_hostapd_eap_tls(hostapd: Hostapd) -> None:
    peer = tls_peer(hostapd)
    config = RadiusConfig(
        server=hostapd.address, secret=Secret(hostapd.secret), bind=(hostapd.source, 0)
    )
    out, result = await run(peer, config)
    assert out.code == ACCESS_ACCEPT, hostapd.log.read_text()[-3000:]
    check_success(out, result)


@pytest.mark.freeradius
async def test_freeradius_rejects_untrusted_client(
    freeradius: FreeRadius, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.servers import make_pki

    other = make_pki(tmp_path_factory.mktemp("other-pki"))
    peer = EapPeer(
        identity=b"tlsuser",
        methods={
            13: lambda: TlsPeer(ca=freeradius.pki.ca, cert=other.client_cert, key=other.client_key)
        },
    )
    config = RadiusConfig(server=freeradius.address, secret=Secret(freeradius.secret))
    out, result = await run(peer, config)
    assert out.code == ACCESS_REJECT and out.keys is None
    assert result is not None and not result.success and result.keys is None

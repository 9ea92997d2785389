"""Our RADIUS pass-through (and our peer methods) against FreeRADIUS as a second EAP server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from eap.aaa.passthrough import RadiusConfig, RadiusError, RadiusPassThrough
from eap.keys import Secret
from eap.methods.base import PeerMethod
from eap.methods.md5 import Md5Peer
from eap.methods.tls import TlsPeer, TlsVersion
from eap.peer import EapPeer
from pana_codecs.eap import EapCode
from pana_mpa.events import Authenticated
from tests.eap._radius_helpers import pana_via_radius, run_peer
from tests.eap.test_eapol_test import _Front
from tests.servers import (
    EAP_USERS,
    FreeRadius,
    Pki,
    eapol_conf,
    freeradius_server,
    make_pki,
    run_eapol_test,
)

pytestmark = [pytest.mark.freeradius, pytest.mark.asyncio]


@pytest.fixture(scope="module")
def freeradius(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreeRadius]:
    """FreeRADIUS on loopback for this module."""
    with freeradius_server(tmp_path_factory.mktemp("freeradius")) as server:
        yield server


def _config(server: FreeRadius, *, secret: bytes | None = None, **kw: float) -> RadiusConfig:
    return RadiusConfig(
        server=server.address,
        secret=Secret(secret if secret is not None else server.secret),
        timeout=kw.get("timeout", 2.0),
        retries=int(kw.get("retries", 2)),
    )


def _md5_peer(password: str) -> EapPeer:
    identity, _ = EAP_USERS["md5"]
    return EapPeer(
        identity=identity.encode(), methods={4: lambda: Md5Peer(Secret(password.encode()))}
    )


async def test_md5_success(freeradius: FreeRadius) -> None:
    peer = _md5_peer(EAP_USERS["md5"][1])
    async with RadiusPassThrough(_config(freeradius)) as pt:
        out = await run_peer(peer, pt)
    assert out.result is not None and out.result.success, freeradius.log.read_text()[-3000:]
    assert out.packet is not None and out.packet[0] == EapCode.SUCCESS
    assert peer.result is not None and peer.result.success
    assert out.result.method_type == 4


async def test_md5_wrong_password(freeradius: FreeRadius) -> None:
    peer = _md5_peer("wrong")
    async with RadiusPassThrough(_config(freeradius)) as pt:
        out = await run_peer(peer, pt)
    assert out.result is not None and not out.result.success
    assert out.packet is not None and out.packet[0] == EapCode.FAILURE
    assert peer.result is not None and not peer.result.success


async def test_wrong_shared_secret(freeradius: FreeRadius) -> None:
    cfg = _config(freeradius, secret=b"not-the-secret", timeout=0.3, retries=1)
    async with RadiusPassThrough(cfg) as pt:
        with pytest.raises(RadiusError, match=r"shared secret mismatch\?"):
            await run_peer(_md5_peer(EAP_USERS["md5"][1]), pt)
    assert "Message-Authenticator" in freeradius.log.read_text(errors="replace")


def _tls_peer(
    pki: Pki, version: TlsVersion, ca: Path | None = None
) -> tuple[EapPeer, list[TlsPeer]]:
    made: list[TlsPeer] = []

    def factory() -> PeerMethod:
        made.append(
            TlsPeer(
                ca=ca or pki.ca,
                cert=pki.client_cert,
                key=pki.client_key,
                server_names=[pki.server_name],
                max_version=version,
            )
        )
        return made[-1]

    return EapPeer(identity=b"tlsuser", methods={13: factory}), made


@pytest.mark.parametrize("version", [TlsVersion.TLS1_2, TlsVersion.TLS1_3], ids=["tls12", "tls13"])
async def test_tls_succeeds_and_msk_matches(freeradius: FreeRadius, version: TlsVersion) -> None:
    peer, made = _tls_peer(freeradius.pki, version)
    async with RadiusPassThrough(_config(freeradius)) as pt:
        out = await run_peer(peer, pt)
    assert out.result is not None and out.result.success, freeradius.log.read_text()[-3000:]
    assert peer.result is not None and peer.result.success
    assert made[0].version == version
    assert out.result.keys is not None and peer.result.keys is not None
    assert len(out.result.keys.msk) == 64
    assert out.result.keys.msk == peer.result.keys.msk  # FreeRADIUS's MS-MPPE keys = our MSK


@pytest.mark.parametrize("version", [TlsVersion.TLS1_2, TlsVersion.TLS1_3], ids=["tls12", "tls13"])
async def test_tls_fails_against_an_untrusted_server(
    freeradius: FreeRadius, version: TlsVersion, tmp_path: Path
) -> None:
    peer, _ = _tls_peer(freeradius.pki, version, ca=make_pki(tmp_path / "other").ca)
    async with RadiusPassThrough(_config(freeradius)) as pt:
        out = await run_peer(peer, pt)
    assert out.result is not None and not out.result.success
    assert out.result.keys is None
    assert peer.result is None or not peer.result.success


@pytest.mark.udp
@pytest.mark.parametrize("method", ["md5", "tls12", "tls13"])
async def test_pana_pac_through_pass_through_paa_to_freeradius(
    freeradius: FreeRadius, method: str
) -> None:
    if method == "md5":
        peer = _md5_peer(EAP_USERS["md5"][1])
    else:
        version = TlsVersion.TLS1_3 if method == "tls13" else TlsVersion.TLS1_2
        peer, _ = _tls_peer(freeradius.pki, version)
    keyed = method != "md5"
    event, made = await pana_via_radius(peer, _config(freeradius), require_key=keyed)
    assert isinstance(event, Authenticated), event
    assert len(made) == 1 and made[0].done
    if keyed:
        # The PANA SA proves FreeRADIUS's MS-MPPE keys equal the PaC's MSK (RFC 5191 s5.3).
        assert event.key_id is not None and peer.result is not None and peer.result.keys
        assert event.msk == peer.result.keys.msk
    else:
        assert event.key_id is None


# --- FreeRADIUS as a proxy in front of our RADIUS front -----------------------------------


@pytest.mark.hostapd
@pytest.mark.parametrize("method", ["psk", "tls13"])
async def test_eapol_test_via_freeradius_proxy_to_our_front(tmp_path: Path, method: str) -> None:
    # eapol_test -> FreeRADIUS (realm pana.test, adds Proxy-State, re-signs everything and
    # re-encrypts the MS-MPPE keys with its client's secret) -> our RADIUS front -> our EAP
    # server. eapol_test's "MPPE keys OK" proves the MSK survived both hops.
    pki = make_pki(tmp_path / "pki")
    front = _Front(pki, b"front-secret")
    front.method = method
    front.address = await front.server.start("127.0.0.1", 0)
    try:
        with freeradius_server(
            tmp_path / "fr", pki, proxy_to=(front.address, b"front-secret")
        ) as proxy:
            identity = EAP_USERS["tls" if method.startswith("tls") else method][0] + "@pana.test"
            conf = eapol_conf(
                tmp_path,
                "tls" if method.startswith("tls") else method,
                pki=pki,
                tls13=method == "tls13",
                identity=identity,
            )
            result = await asyncio.to_thread(run_eapol_test, conf, proxy.address)
            log = proxy.log.read_text(errors="replace")
    finally:
        front.server.close()
    assert result.success, result.output[-2000:] + log[-3000:]
    assert result.mppe_ok and result.msk == front.msk()
    assert "Proxy-State" in log and "pana_front" in log

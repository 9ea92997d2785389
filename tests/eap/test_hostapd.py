"""Our peer methods against hostapd's EAP server, through our RADIUS pass-through (RFC 3579)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eap.aaa.passthrough import RadiusConfig, RadiusError, RadiusPassThrough, radius_client
from eap.keys import Secret
from eap.methods.base import PeerMethod
from eap.methods.gpsk import GpskPeer
from eap.methods.md5 import Md5Peer
from eap.methods.psk import PskPeer
from eap.methods.tls import TlsPeer, TlsVersion
from eap.peer import EapPeer
from pana_codecs.eap import EapCode
from pana_mpa.aio import ClientError
from pana_mpa.events import Authenticated, AuthenticationFailed
from tests.eap._radius_helpers import pana_via_radius, run_peer
from tests.servers import EAP_USERS, Hostapd, Pki, hostapd_server, make_pki

pytestmark = [pytest.mark.hostapd, pytest.mark.netns, pytest.mark.asyncio]


@pytest.fixture(scope="module")
def hostapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostapd]:
    """hostapd as RADIUS+EAP server for this module."""
    with hostapd_server(tmp_path_factory.mktemp("hostapd")) as server:
        yield server


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA certificate that did not sign hostapd's server certificate."""
    return make_pki(tmp_path_factory.mktemp("other-pki")).ca


def _config(server: Hostapd, *, secret: bytes | None = None, **kw: float) -> RadiusConfig:
    return server.radius_config(
        secret=secret, timeout=kw.get("timeout", 2.0), retries=int(kw.get("retries", 2))
    )


def _tls(pki: Pki, version: TlsVersion, *, ca: Path | None = None) -> Callable[[], PeerMethod]:
    return lambda: TlsPeer(
        ca=ca or pki.ca,
        cert=pki.client_cert,
        key=pki.client_key,
        server_names=[pki.server_name],
        max_version=version,
    )


def _method(
    method: str, secret: str | None = None, pki: Pki | None = None
) -> tuple[int, Callable[[], PeerMethod]]:
    if method in ("tls12", "tls13"):
        assert pki is not None
        version = TlsVersion.TLS1_2 if method == "tls12" else TlsVersion.TLS1_3
        # A wrong credential for TLS: a CA that did not issue the server's certificate.
        return 13, _tls(pki, version, ca=Path(secret) if secret else None)
    identity, default = EAP_USERS[method]
    key = default if secret is None else secret
    if method == "md5":
        return 4, lambda: Md5Peer(Secret(key.encode()))
    if method == "psk":
        return 47, lambda: PskPeer(identity.encode(), Secret(bytes.fromhex(key)))
    if method in ("gpsk", "gpsk16"):
        return 51, lambda: GpskPeer(identity.encode(), Secret(key.encode()))
    raise AssertionError(method)


def _peer(method: str, secret: str | None = None, pki: Pki | None = None) -> EapPeer:
    etype, factory = _method(method, secret, pki)
    identity = EAP_USERS["tls" if method.startswith("tls") else method][0]
    return EapPeer(identity=identity.encode(), methods={etype: factory})


WRONG = {"md5": "not the password", "psk": "00" * 16, "gpsk": "Z" * 32, "gpsk16": "Z" * 16}


# "gpsk" has a 32-octet PSK: RFC 5433 s4 puts PL || the whole PSK into the MK input.
@pytest.mark.parametrize("method", ["md5", "psk", "gpsk", "gpsk16", "tls12", "tls13"])
async def test_method_succeeds_and_msk_matches(hostapd: Hostapd, method: str) -> None:
    peer = _peer(method, pki=hostapd.pki)
    methods: list[PeerMethod] = []
    if method.startswith("tls"):
        etype, factory = _method(method, pki=hostapd.pki)

        def keep() -> PeerMethod:
            methods.append(factory())
            return methods[-1]

        peer = EapPeer(identity=b"tlsuser", methods={etype: keep})
    async with RadiusPassThrough(_config(hostapd)) as pt:
        out = await run_peer(peer, pt)
    assert out.result is not None and out.result.success, hostapd.log.read_text()[-2000:]
    assert out.packet is not None and out.packet[0] == EapCode.SUCCESS
    assert peer.result is not None and peer.result.success
    assert out.result.method_type == peer.result.method_type == _method(method, pki=hostapd.pki)[0]
    if methods:
        tls = methods[0]
        assert isinstance(tls, TlsPeer)
        assert tls.version == (TlsVersion.TLS1_2 if method == "tls12" else TlsVersion.TLS1_3)
    if method == "md5":
        assert out.result.keys is None and peer.result.keys is None  # MD5 has no MSK
        return
    # The MSK our peer derived equals the one hostapd sent in MS-MPPE-Recv/Send-Key.
    assert out.result.keys is not None and peer.result.keys is not None
    assert len(out.result.keys.msk) == 64
    assert out.result.keys.msk == peer.result.keys.msk
    # hostapd also sends EAP-Key-Name: the EAP Session-Id (RFC 5247), equal to the peer's.
    assert out.result.keys.session_id == peer.result.keys.session_id != b""


# "gpsk" has a 32-octet PSK: RFC 5433 s4 puts PL || the whole PSK into the MK input.
@pytest.mark.parametrize("method", ["md5", "psk", "gpsk", "gpsk16", "tls12", "tls13"])
async def test_method_fails_cleanly_with_wrong_credentials(
    hostapd: Hostapd, method: str, other_ca: Path
) -> None:
    peer = _peer(method, str(other_ca) if method.startswith("tls") else WRONG[method], hostapd.pki)
    async with RadiusPassThrough(_config(hostapd)) as pt:
        out = await run_peer(peer, pt)
    assert out.result is not None and not out.result.success
    assert out.result.keys is None
    assert out.packet is not None and out.packet[0] == EapCode.FAILURE
    assert peer.result is None or not peer.result.success


async def test_wrong_shared_secret(hostapd: Hostapd) -> None:
    cfg = _config(hostapd, secret=b"not-the-secret", timeout=0.3, retries=1)
    async with RadiusPassThrough(cfg) as pt:
        with pytest.raises(RadiusError, match=r"shared secret mismatch\?"):
            await run_peer(_peer("md5"), pt)
    assert "Invalid Message-Authenticator" in Path(hostapd.log).read_text(errors="replace")


# --- the whole chain: PaC -- PANA/UDP -- PAA (pass-through) -- RADIUS -- hostapd -------------


@pytest.mark.udp
@pytest.mark.parametrize("method", ["md5", "psk", "gpsk", "tls12", "tls13"])
async def test_pana_pac_through_pass_through_paa_to_hostapd(hostapd: Hostapd, method: str) -> None:
    peer = _peer(method, pki=hostapd.pki)
    keyed = method != "md5"
    event, made = await pana_via_radius(peer, _config(hostapd), require_key=keyed)
    assert isinstance(event, Authenticated), event
    assert len(made) == 1 and made[0].done
    assert peer.result is not None and peer.result.success
    if not keyed:
        assert event.key_id is None and event.msk is None  # MD5: no MSK, no PANA SA
        return
    # A PANA SA exists only if the PAA's MSK (hostapd's MS-MPPE keys, through our pass-through)
    # equals the PaC's: both sides then verify each other's AUTH AVPs (RFC 5191 s5.3).
    assert event.key_id is not None and event.msk is not None
    assert peer.result.keys is not None and event.msk == peer.result.keys.msk


@pytest.mark.udp
@pytest.mark.parametrize("method", ["psk", "tls13"])
async def test_pass_through_paa_with_a_shared_client_uses_callbacks(
    hostapd: Hostapd, method: str
) -> None:
    # issue 10: as `pana-mpa paa --radius` runs, one RadiusClient for every session; each
    # answer goes from its socket reader to the session: no task per RADIUS round trip
    peer = _peer(method, pki=hostapd.pki)
    config = _config(hostapd)
    client = radius_client(config)
    loop = asyncio.get_running_loop()
    tasks: list[str] = []
    factory = loop.get_task_factory()

    def count(loop: asyncio.AbstractEventLoop, coro: Any) -> asyncio.Future[Any]:
        tasks.append(getattr(coro, "__qualname__", ""))
        return factory(loop, coro) if factory is not None else asyncio.Task(coro, loop=loop)

    loop.set_task_factory(count)
    try:
        event, made = await pana_via_radius(peer, config, require_key=True, shared=client)
    finally:
        loop.set_task_factory(factory)
        client.close()
    assert isinstance(event, Authenticated), event
    assert len(made) == 1 and made[0].done
    assert peer.result is not None and peer.result.keys is not None
    assert event.msk == peer.result.keys.msk  # hostapd's MS-MPPE keys, decrypted by us
    per_exchange = [t for t in tasks if t.endswith(("_exchange", "transact", "_link_task"))]
    assert per_exchange == []
    assert client.stats.requests >= 3 and client.outstanding == 0


@pytest.mark.udp
@pytest.mark.parametrize("method", ["psk", "tls13"])
async def test_pana_pac_rejected_through_pass_through_paa(
    hostapd: Hostapd, method: str, other_ca: Path
) -> None:
    wrong = str(other_ca) if method.startswith("tls") else WRONG[method]
    peer = _peer(method, wrong, hostapd.pki)
    outcome, made = await pana_via_radius(peer, _config(hostapd), require_key=True)
    assert isinstance(outcome, ClientError), outcome
    assert isinstance(outcome.event, AuthenticationFailed), outcome
    assert outcome.event.result_code == 1  # PANA_AUTHENTICATION_REJECTED (Access-Reject)
    assert len(made) == 1 and made[0].done

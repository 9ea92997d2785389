"""Our RADIUS pass-through (and our peer methods) against hostapd's RADIUS + EAP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eap.keys import Secret
from eap.radius import RadiusConfig, RadiusError, RadiusPassThrough
from pana_codecs.eap import EapCode
from tests.eap._radius_helpers import md5_peer_conversation
from tests.servers import EAP_USERS, Hostapd, hostapd_server

pytestmark = [pytest.mark.hostapd, pytest.mark.netns, pytest.mark.asyncio]


@pytest.fixture(scope="module")
def hostapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostapd]:
    """hostapd as RADIUS+EAP server for this module."""
    with hostapd_server(tmp_path_factory.mktemp("hostapd")) as server:
        yield server


def _config(server: Hostapd, *, secret: bytes | None = None, **kw: float) -> RadiusConfig:
    return RadiusConfig(
        server=server.address,
        secret=Secret(secret if secret is not None else server.secret),
        bind=(server.source, 0),
        timeout=kw.get("timeout", 2.0),
        retries=int(kw.get("retries", 2)),
    )


async def test_inline_md5_success(hostapd: Hostapd) -> None:
    identity, password = EAP_USERS["md5"]
    async with RadiusPassThrough(_config(hostapd)) as pt:
        final, answers = await md5_peer_conversation(pt, identity.encode(), password.encode())
    assert [a.code for a in answers] == [11, 2]
    assert final.eap is not None and final.eap[0] == EapCode.SUCCESS
    assert final.keys is None  # MD5 derives no MSK (hostapd sends no MS-MPPE keys)
    assert final.method_type == 4


async def test_inline_md5_wrong_password(hostapd: Hostapd) -> None:
    identity, _ = EAP_USERS["md5"]
    async with RadiusPassThrough(_config(hostapd)) as pt:
        final, _answers = await md5_peer_conversation(pt, identity.encode(), b"wrong")
    assert final.code == 3
    assert final.eap is not None and final.eap[0] == EapCode.FAILURE


async def test_wrong_shared_secret(hostapd: Hostapd) -> None:
    identity, password = EAP_USERS["md5"]
    cfg = _config(hostapd, secret=b"not-the-secret", timeout=0.3, retries=1)
    async with RadiusPassThrough(cfg) as pt:
        with pytest.raises(RadiusError, match=r"shared secret mismatch\?"):
            await md5_peer_conversation(pt, identity.encode(), password.encode())
    assert "Invalid Message-Authenticator" in Path(hostapd.log).read_text(errors="replace")

"""Our RADIUS pass-through (and our peer methods) against FreeRADIUS as a second EAP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eap.keys import Secret
from eap.radius import RadiusConfig, RadiusError, RadiusPassThrough
from pana_codecs.eap import EapCode
from tests.eap._radius_helpers import md5_peer_conversation
from tests.servers import EAP_USERS, FreeRadius, freeradius_server

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


async def test_inline_md5_success(freeradius: FreeRadius) -> None:
    identity, password = EAP_USERS["md5"]
    async with RadiusPassThrough(_config(freeradius)) as pt:
        final, answers = await md5_peer_conversation(pt, identity.encode(), password.encode())
    assert answers[-1].code == 2, freeradius.log.read_text()[-3000:]
    assert final.eap is not None and final.eap[0] == EapCode.SUCCESS


async def test_inline_md5_wrong_password(freeradius: FreeRadius) -> None:
    identity, _ = EAP_USERS["md5"]
    async with RadiusPassThrough(_config(freeradius)) as pt:
        final, _answers = await md5_peer_conversation(pt, identity.encode(), b"wrong")
    assert final.code == 3
    assert final.eap is not None and final.eap[0] == EapCode.FAILURE


async def test_wrong_shared_secret(freeradius: FreeRadius) -> None:
    identity, password = EAP_USERS["md5"]
    cfg = _config(freeradius, secret=b"not-the-secret", timeout=0.3, retries=1)
    async with RadiusPassThrough(cfg) as pt:
        with pytest.raises(RadiusError, match=r"shared secret mismatch\?"):
            await md5_peer_conversation(pt, identity.encode(), password.encode())

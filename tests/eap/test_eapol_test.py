"""hostapd's peer (eapol_test) against our EAP server methods, through our RADIUS front."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from eap.keys import Secret
from eap.radius_server import EapBackend, RadiusServer, RadiusServerCore
from tests.eap._radius_helpers import InlineMd5Server
from tests.servers import EAP_USERS, RADIUS_SECRET, eapol_conf, run_eapol_test

pytestmark = [pytest.mark.hostapd, pytest.mark.asyncio]


class _Front:
    """Our RADIUS front on 127.0.0.1 with a swappable EAP backend factory."""

    def __init__(self) -> None:
        self.backend: Callable[[], EapBackend] = lambda: InlineMd5Server(b"")
        self.core = RadiusServerCore(
            clients={"127.0.0.1": Secret(RADIUS_SECRET)}, backend=lambda: self.backend()
        )
        self.server = RadiusServer(self.core)
        self.address: tuple[str, int] = ("127.0.0.1", 0)


@pytest_asyncio.fixture
async def front() -> AsyncIterator[_Front]:
    """Our RADIUS front, bound to a free loopback port."""
    f = _Front()
    f.address = await f.server.start("127.0.0.1", 0)
    try:
        yield f
    finally:
        f.server.close()


async def test_inline_md5(front: _Front, tmp_path: Path) -> None:
    _, password = EAP_USERS["md5"]
    front.backend = lambda: InlineMd5Server(password.encode())
    result = await asyncio.to_thread(
        run_eapol_test, eapol_conf(tmp_path, "md5"), front.address, no_mppe=True
    )
    assert result.success, result.output[-3000:]


async def test_inline_md5_wrong_password(front: _Front, tmp_path: Path) -> None:
    front.backend = lambda: InlineMd5Server(b"other")
    result = await asyncio.to_thread(
        run_eapol_test, eapol_conf(tmp_path, "md5"), front.address, no_mppe=True
    )
    assert not result.success
    assert "Access-Reject" in result.output or "EAP-Failure" in result.output


async def test_inline_md5_with_msk_reaches_eapol_test(front: _Front, tmp_path: Path) -> None:
    # MD5 has no MSK, so the backend hands out a fixed one: eapol_test receives and decrypts
    # our MS-MPPE keys (RFC 2548) and prints them; the peer side has no key to compare with.
    _, password = EAP_USERS["md5"]
    msk = os.urandom(64)
    front.backend = lambda: InlineMd5Server(password.encode(), msk=msk)
    result = await asyncio.to_thread(
        run_eapol_test, eapol_conf(tmp_path, "md5"), front.address, no_mppe=True
    )
    assert result.success, result.output[-3000:]
    assert "MS-MPPE-Send-Key (sign) - hexdump(len=32): " + _hexdump(msk[32:]) in result.output
    assert "MS-MPPE-Recv-Key (crypt) - hexdump(len=32): " + _hexdump(msk[:32]) in result.output


async def test_wrong_shared_secret(front: _Front, tmp_path: Path) -> None:
    _, password = EAP_USERS["md5"]
    front.backend = lambda: InlineMd5Server(password.encode())
    result = await asyncio.to_thread(
        run_eapol_test,
        eapol_conf(tmp_path, "md5"),
        front.address,
        b"wrong-secret",
        no_mppe=True,
        extra=("-t1",),
    )
    assert not result.success
    assert front.core.conversations == 0


def _hexdump(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)

"""hostapd's peer (eapol_test) against our EAP server methods, through our RADIUS front."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest
import pytest_asyncio

from eap.aaa.server import EapBackend, RadiusServer, RadiusServerCore
from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.base import AuthMethod
from eap.methods.gpsk import GpskServer
from eap.methods.md5 import Md5Server
from eap.methods.psk import PskServer
from eap.methods.tls import TlsServer, TlsVersion
from tests.servers import EAP_USERS, RADIUS_SECRET, Pki, eapol_conf, make_pki, run_eapol_test

pytestmark = [pytest.mark.hostapd, pytest.mark.asyncio]

SERVER_ID = b"pana-mpa.test"


def _lookup(method: str) -> Callable[[bytes], Secret | None]:
    identity, secret = EAP_USERS[method]
    key = bytes.fromhex(secret) if method == "psk" else secret.encode()
    # Also as identity@pana.test: the realm a RADIUS proxy routes on.
    names = (identity.encode(), identity.encode() + b"@pana.test")
    return lambda peer_id: Secret(key) if peer_id in names else None


def _server_method(method: str, pki: Pki) -> Callable[[], AuthMethod]:
    if method in ("tls12", "tls13"):
        version = TlsVersion.TLS1_2 if method == "tls12" else TlsVersion.TLS1_3
        return lambda: TlsServer(
            cert=pki.server_cert, key=pki.server_key, ca=pki.ca, max_version=version
        )
    if method == "md5":
        return lambda: Md5Server(Secret(EAP_USERS["md5"][1].encode()))
    if method == "psk":
        return lambda: PskServer(SERVER_ID, _lookup("psk"))
    if method in ("gpsk", "gpsk16"):
        return lambda: GpskServer(SERVER_ID, _lookup(method))
    raise AssertionError(method)


class _Front:
    """Our RADIUS front on 127.0.0.1 running EapAuthenticator with a chosen method."""

    def __init__(self, pki: Pki, secret: bytes = RADIUS_SECRET) -> None:
        self.pki = pki
        self.method = "md5"
        self.authenticators: list[EapAuthenticator] = []
        self.methods: list[AuthMethod] = []
        self.core = RadiusServerCore(clients={"127.0.0.1": Secret(secret)}, backend=self._new)
        self.server = RadiusServer(self.core)
        self.address: tuple[str, int] = ("127.0.0.1", 0)

    def _policy(self, identity: bytes) -> Sequence[Callable[[], AuthMethod]]:
        factory = _server_method(self.method, self.pki)

        def keep() -> AuthMethod:
            self.methods.append(factory())
            return self.methods[-1]

        return [keep]

    def _new(self) -> EapBackend:
        auth = EapAuthenticator(methods=self._policy)
        self.authenticators.append(auth)
        return auth

    def msk(self) -> bytes | None:
        """The MSK of the last conversation that ended, as our server derived it."""
        for auth in reversed(self.authenticators):
            if auth.result is not None:
                keys = auth.result.keys
                return None if keys is None else keys.msk.reveal()
        return None


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates for EAP-TLS (server: SAN radius.pana.test)."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest_asyncio.fixture
async def front(pki: Pki) -> AsyncIterator[_Front]:
    """Our RADIUS front, bound to a free loopback port."""
    f = _Front(pki)
    f.address = await f.server.start("127.0.0.1", 0)
    try:
        yield f
    finally:
        f.server.close()


# "gpsk" has a 32-octet PSK: RFC 5433 s4 puts PL || the whole PSK into the MK input.
@pytest.mark.parametrize("method", ["md5", "psk", "gpsk", "gpsk16", "tls12", "tls13"])
async def test_method_succeeds_and_msk_matches(front: _Front, tmp_path: Path, method: str) -> None:
    front.method = method
    if method.startswith("tls"):
        conf = eapol_conf(tmp_path, "tls", pki=front.pki, tls13=method == "tls13")
    else:
        conf = eapol_conf(tmp_path, method)
    result = await asyncio.to_thread(
        run_eapol_test,
        conf,
        front.address,
        no_mppe=method == "md5",
        extra=("-t3",),
    )
    assert result.success, result.output[-3000:]
    auth = front.authenticators[-1]
    assert auth.result is not None and auth.result.success
    if method == "md5":
        assert front.msk() is None
        return
    # eapol_test printed its MSK, and compared it with our MS-MPPE keys: both equal ours.
    assert result.msk is not None and result.msk == front.msk()
    assert result.mppe_ok, result.output[-3000:]
    if method.startswith("tls"):
        version = "TLSv1.3" if method == "tls13" else "TLSv1.2"
        assert "OpenSSL: Handshake finished - resumed=0" in result.output
        assert version in result.output


@pytest.mark.parametrize("method", ["md5", "psk", "tls12", "tls13"])
async def test_method_fails_with_wrong_credentials(
    front: _Front, tmp_path: Path, method: str
) -> None:
    front.method = method
    if method.startswith("tls"):
        # The peer trusts another CA, so it refuses our server certificate (alert).
        other = make_pki(tmp_path / "other")
        wrong_pki = dataclasses.replace(front.pki, ca=other.ca)
        conf = eapol_conf(tmp_path, "tls", pki=wrong_pki, tls13=method == "tls13")
    else:
        wrong = {"md5": "nope", "psk": "ff" * 16}[method]
        conf = eapol_conf(tmp_path, method, secret=wrong)
    result = await asyncio.to_thread(run_eapol_test, conf, front.address, no_mppe=method == "md5")
    assert not result.success
    assert "Access-Reject" in result.output, result.output[-3000:]
    auth = front.authenticators[-1]
    if method == "psk":
        # Our PskServer silently discards a bad MAC_P (the peer then repeats it); the front
        # ends such a conversation after 3 ignored Responses (RadiusServerCore max_discards).
        assert auth.result is None
    else:
        assert auth.result is not None and not auth.result.success
    assert front.core.conversations == 0


async def test_gpsk_wrong_key_ends_in_gpsk_fail_which_wpa_supplicant_ignores(
    front: _Front, tmp_path: Path
) -> None:
    # Our GpskServer answers a bad MIC with GPSK-Fail (RFC 5433 s3); wpa_supplicant 2.10 does
    # not know opcode 5 and waits, so eapol_test fails by its own timeout, not by a Reject.
    front.method = "gpsk16"
    conf = eapol_conf(tmp_path, "gpsk16", secret="Z" * 16)
    result = await asyncio.to_thread(run_eapol_test, conf, front.address, extra=("-t1",))
    assert not result.success
    assert "Ignoring message with unknown opcode 5" in result.output
    auth = front.authenticators[-1]
    assert auth.result is None or not auth.result.success


async def test_wrong_shared_secret(front: _Front, tmp_path: Path) -> None:
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
    assert front.authenticators == []  # dropped before any EAP processing

"""eap.registry: one entry per EAP method, credential rules, factories, clear errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eap import registry
from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.peer import EapPeer, EapResult
from eap.registry import (
    CredentialError,
    EapMethod,
    ServerConfig,
    TlsCredential,
    UnknownMethodError,
)
from tests.eap.conversation import converse, seeded_rng
from tests.pki import Pki, make_pki
from tests.realcomponents import need_module

PSK = Secret(bytes(range(16)))
GPSK = Secret(bytes(range(32)))
PASSWORD = Secret(b"password")


def run(
    name: str, peer_secret: Secret, server_secret: Secret, **config: object
) -> tuple[EapResult | None, EapResult | None]:
    """One EapPeer <-> EapAuthenticator conversation built only from the registry."""
    entry = registry.lookup(name)
    rng = seeded_rng(5)
    serve = entry.server(
        ServerConfig(
            server_id=b"paa",
            lookup={b"alice": server_secret}.get,
            rng=rng,
            **config,  # type: ignore[arg-type]
        )
    )
    auth = EapAuthenticator(methods=lambda identity: [serve(identity)], rng=rng)
    peer = EapPeer(
        identity=b"alice", methods={entry.method_type: entry.peer(b"alice", peer_secret, rng=rng)}
    )
    conv = converse(peer, auth)
    return conv.auth_result, conv.peer_result


# --- the table -----------------------------------------------------------------------------------


def test_names_and_types() -> None:
    assert registry.names() == ("GPSK", "MD5", "PSK", "TLS")
    assert {n: registry.lookup(n).method_type for n in registry.names()} == {
        "GPSK": 51,
        "MD5": 4,
        "PSK": 47,
        "TLS": 13,
    }
    assert registry.by_type(47) is registry.lookup("PSK")
    assert set(registry.methods()) == set(registry.names())
    with pytest.raises(TypeError):
        registry.methods()["X"] = registry.lookup("PSK")  # type: ignore[index]


@pytest.mark.parametrize("spelling", ["psk", "PSK", "Psk", "EAP-PSK", "eap-psk"])
def test_lookup_ignores_case(spelling: str) -> None:
    assert registry.lookup(spelling).name == "PSK"


@pytest.mark.parametrize("bad", ["", "ttls", "EAP-", "psk2"])
def test_lookup_lists_the_choices(bad: str) -> None:
    with pytest.raises(UnknownMethodError, match=r"choose one of: GPSK, MD5, PSK, TLS") as info:
        registry.lookup(bad)
    assert isinstance(info.value, ValueError) and repr(bad) in str(info.value)


def test_by_type_lists_the_known_types() -> None:
    with pytest.raises(UnknownMethodError, match=r"known: 4 \(MD5\), 13 \(TLS\), 47 \(PSK\)"):
        registry.by_type(99)


def test_only_md5_has_no_keys_only_tls_has_certificates() -> None:
    assert [n for n in registry.names() if not registry.lookup(n).derives_keys] == ["MD5"]
    assert [n for n in registry.names() if registry.lookup(n).credential == "certificate"] == [
        "TLS"
    ]


# --- secrets -------------------------------------------------------------------------------------

GOOD_TEXT = [
    ("PSK", "00112233445566778899aabbccddeeff", bytes.fromhex("00112233445566778899aabbccddeeff")),
    ("PSK", "sixteen-octets!!", b"sixteen-octets!!"),
    ("PSK", "0123456789abcdef", b"0123456789abcdef"),  # 16 characters: ASCII, not hex
    ("GPSK", "00" * 32, bytes(32)),
    ("GPSK", "at least sixteen octets", b"at least sixteen octets"),
    ("MD5", "pässword", "pässword".encode()),
]


@pytest.mark.parametrize(("name", "text", "value"), GOOD_TEXT)
def test_parse_secret(name: str, text: str, value: bytes) -> None:
    assert registry.lookup(name).parse_secret(text).reveal() == value


BAD_TEXT = [
    ("PSK", "short", "exactly 16 octets"),
    ("PSK", "00" * 17, "exactly 16 octets"),
    ("PSK", "sixteen-octets!\n", "32 hex digits"),
    ("GPSK", "fifteen octets!", "at least 16 octets"),
    ("GPSK", "", "at least 16 octets"),
    ("MD5", "", "non-empty password"),
    ("TLS", "anything", "takes no secret"),
]


@pytest.mark.parametrize(("name", "text", "rule"), BAD_TEXT)
def test_parse_secret_states_the_rule(name: str, text: str, rule: str) -> None:
    with pytest.raises(CredentialError, match=rule) as info:
        registry.lookup(name).parse_secret(text)
    assert text not in str(info.value) or not text  # never echo a secret


@pytest.mark.parametrize(
    ("name", "secret", "message"),
    [
        (
            "PSK",
            Secret(bytes(5)),
            r"EAP-PSK \(RFC 4764\): the secret is 5 octets; it must be exactly",
        ),
        ("PSK", Secret(bytes(32)), "is 32 octets"),
        ("PSK", bytes(16), "must be an eap.keys.Secret, not bytes"),
        ("PSK", "0123456789abcdef", "must be an eap.keys.Secret, not str"),
        ("GPSK", Secret(bytes(15)), "at least 16 octets"),
        ("MD5", Secret(b""), "non-empty password"),
        ("TLS", PSK, "authenticates by certificate"),
    ],
)
def test_check_secret_states_the_rule(name: str, secret: object, message: str) -> None:
    with pytest.raises(CredentialError, match=message):
        registry.lookup(name).check_secret(secret)


def test_check_secret_returns_the_secret() -> None:
    assert registry.lookup("psk").check_secret(PSK) is PSK
    assert registry.lookup("gpsk").check_secret(GPSK) is GPSK


def test_peer_checks_identity_and_credential() -> None:
    psk = registry.lookup("PSK")
    with pytest.raises(CredentialError, match="identity must be bytes"):
        psk.peer("alice", PSK)  # type: ignore[arg-type]
    with pytest.raises(CredentialError, match="exactly 16 octets"):
        psk.peer(b"alice", Secret(bytes(5)))
    with pytest.raises(CredentialError, match="must be a TlsCredential"):
        registry.lookup("TLS").peer(b"alice", PSK)


def test_entries_never_show_secrets() -> None:
    text = repr(registry.lookup("PSK")) + repr(ServerConfig(lookup={b"a": PSK}.get))
    assert PSK.reveal().hex() not in text and "_parse" not in text


# --- factories: whole conversations built from the registry only -------------------------------


@pytest.mark.parametrize(("name", "secret"), [("PSK", PSK), ("GPSK", GPSK), ("MD5", PASSWORD)])
def test_conversation_succeeds(name: str, secret: Secret) -> None:
    auth_result, peer_result = run(name, secret, secret)
    assert auth_result is not None and peer_result is not None
    assert auth_result.success and peer_result.success
    assert auth_result.method_type == registry.lookup(name).method_type
    if registry.lookup(name).derives_keys:
        assert auth_result.keys is not None and auth_result.keys == peer_result.keys
    else:
        assert auth_result.keys is None


@pytest.mark.parametrize(
    ("name", "right", "wrong"),
    [
        ("PSK", PSK, Secret(bytes(16))),
        ("GPSK", GPSK, Secret(bytes(32))),
        ("MD5", PASSWORD, Secret(b"x")),
    ],
)
def test_wrong_secret_fails_at_once(name: str, right: Secret, wrong: Secret) -> None:
    auth_result, _ = run(name, wrong, right)
    assert auth_result is not None and not auth_result.success


def test_psk_fail_fast_off_discards_silently() -> None:
    entry = registry.lookup("PSK")
    serve = entry.server(ServerConfig(lookup={b"alice": PSK}.get, fail_fast=False))
    auth = EapAuthenticator(methods=lambda identity: [serve(identity)])
    peer = EapPeer(identity=b"alice", methods={47: entry.peer(b"alice", Secret(bytes(16)))})
    out = auth.start()
    for _ in range(2):  # Identity, then EAP-PSK message 1
        assert out.packet is not None
        response = peer.receive(out.packet).response
        assert response is not None
        out = auth.receive(response)
    # RFC 4764 s4.3: message 2 with a bad MAC_P is discarded; the lower layer gives up later
    assert out.packet is None and out.result is None


def test_unknown_identity_fails() -> None:
    entry = registry.lookup("PSK")
    users: dict[bytes, Secret] = {}
    serve = entry.server(ServerConfig(lookup=users.get))
    auth = EapAuthenticator(methods=lambda identity: [serve(identity)])
    peer = EapPeer(identity=b"mallory", methods={47: entry.peer(b"mallory", PSK)})
    conv = converse(peer, auth)
    assert conv.auth_result is not None and not conv.auth_result.success


@pytest.fixture(scope="module")
def pki() -> Pki:
    need_module("OpenSSL")
    return make_pki()


def test_tls_conversation(pki: Pki) -> None:
    entry = registry.lookup("tls")
    serve = entry.server(
        ServerConfig(tls=TlsCredential(cert=pki.server.cert, key=pki.server.key, ca=pki.ca.cert))
    )
    auth = EapAuthenticator(methods=lambda identity: [serve(identity)])
    client = TlsCredential(
        cert=pki.client.cert, key=pki.client.key, ca=pki.ca.cert, server_names=("paa.test",)
    )
    peer = EapPeer(identity=b"user1", methods={13: entry.peer(b"user1", client)})
    conv = converse(peer, auth)
    assert conv.auth_result is not None and conv.auth_result.success
    assert conv.peer_result is not None and conv.peer_result.keys == conv.auth_result.keys


def test_tls_problems_fail_at_set_up(pki: Pki, tmp_path: object) -> None:
    entry = registry.lookup("TLS")
    with pytest.raises(CredentialError, match="needs a certificate and its key"):
        entry.server(ServerConfig())
    with pytest.raises(CredentialError, match="EAP-TLS: "):
        entry.server(ServerConfig(tls=TlsCredential(cert=b"not a cert", key=pki.server.key)))
    with pytest.raises(CredentialError, match=r"EAP-TLS: .*No such file"):
        entry.peer(b"u", TlsCredential(ca="/nonexistent/ca.pem"))
    with pytest.raises(CredentialError, match=r"EAP-TLS: .*CA"):
        entry.peer(b"u", TlsCredential())


# --- registering a method ------------------------------------------------------------------------


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "_by_name", dict(registry._by_name))
    monkeypatch.setattr(registry, "_by_type", dict(registry._by_type))
    yield


def _entry(name: str, method_type: int) -> EapMethod:
    psk = registry.lookup("PSK")
    return EapMethod(
        name=name,
        method_type=method_type,
        title=f"EAP-{name}",
        credential="secret",
        rule="exactly 16 octets",
        derives_keys=True,
        _parse=psk._parse,
        _valid=psk._valid,
        _peer=psk._peer,
        _server=psk._server,
    )


def test_register_a_new_method(scratch_registry: None) -> None:
    registry.register(_entry("NEW", 200))
    assert registry.lookup("new").method_type == 200
    assert registry.by_type(200).name == "NEW"
    assert "NEW" in registry.names()


@pytest.mark.parametrize(
    ("name", "method_type", "message"),
    [
        ("PSK", 200, "is registered"),
        ("NEW", 47, "is registered"),
        ("new", 200, "upper-case"),
        ("N-W", 200, "upper-case"),
        ("NEW", 254, "not a method type"),
        ("NEW", 3, "not a method type"),
        ("NEW", 256, "not a method type"),
    ],
)
def test_register_refuses(
    scratch_registry: None, name: str, method_type: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        registry.register(_entry(name, method_type))

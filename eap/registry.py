"""The EAP methods this stack offers, one entry each: name, EAP Type, credential rule, factories.

Consumers (a PAA's user table, the command line, the RADIUS front) read this table instead of
naming methods themselves, so a new method is one module plus one entry here::

    entry = registry.lookup("psk")                      # case-insensitive; error lists choices
    psk = entry.parse_secret("00112233445566778899aabbccddeeff")   # text form (CLI, files)
    entry.check_secret(psk)                             # bytes form (library callers)
    peer = EapPeer(identity=b"alice", methods={entry.method_type: entry.peer(b"alice", psk)})

    serve = entry.server(ServerConfig(server_id=b"paa", lookup={b"alice": psk}.get))
    auth = EapAuthenticator(methods=lambda identity: [serve(identity)])

EAP-TLS is registered without importing pyOpenSSL or ``eap.methods.tls``: its factories import
them when called. Every error is a ``ValueError`` whose message names the rule or the choices.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from pana_codecs import EapType

from .keys import Secret
from .methods.base import AuthMethod, PeerMethod
from .rng import Rng, system_rng

if TYPE_CHECKING:
    from .methods._tls_context import CertSource, KeySource

__all__ = [
    "CredentialError",
    "EapMethod",
    "ServerConfig",
    "TlsCredential",
    "UnknownMethodError",
    "by_type",
    "lookup",
    "methods",
    "names",
    "register",
]

logger = logging.getLogger(__name__)

SecretLookup = Callable[[bytes], Secret | None]
"""A credential store: the peer's identity (as the method sees it) -> its secret, or None."""
PeerFactory = Callable[[], PeerMethod]
"""What ``EapPeer(methods={type: factory})`` takes: a fresh method per conversation."""
ServerFactory = Callable[[], AuthMethod]
"""What an ``EapAuthenticator`` method policy returns: a fresh method per conversation."""
ServerMaker = Callable[[bytes], ServerFactory]
"""EAP-Response/Identity -> the server method factory for that peer."""


class UnknownMethodError(ValueError):
    """No EAP method of that name or type; the message lists the valid choices."""


class CredentialError(ValueError):
    """A secret or certificate set that the method cannot use; the message states the rule."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TlsCredential:
    """EAP-TLS credentials of one side: certificate chain and key (PEM/DER bytes or paths), CAs."""

    cert: CertSource | None = None
    """Own certificate (chain, leaf first); required on the server, usual on the peer."""
    key: KeySource | None = None
    """Private key of ``cert``."""
    ca: CertSource | None = None
    """Trusted CA certificate(s) for the other side; required on the peer."""
    min_version: int = 0x0303
    """Lowest TLS version (an ``eap.methods.tls.TlsVersion``; default TLS 1.2)."""
    cipher_list: str | None = None
    """OpenSSL cipher list (TLS <= 1.2), e.g. ``DEFAULT:@SECLEVEL=0`` for TLS 1.0/1.1."""
    server_names: tuple[str, ...] | None = None
    """Peer side: accepted server names (RFC 9190 s2.2); None accepts any the CA vouches for."""
    require_client_cert: bool | None = None
    """Server side: demand a client certificate; None means "when ``ca`` is given"."""


def _no_secrets(identity: bytes) -> Secret | None:
    """The empty credential store: every identity is unknown."""
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerConfig:
    """What a method's server side may need; each method reads the fields it uses."""

    lookup: SecretLookup = _no_secrets
    """Secrets by peer identity (EAP-PSK: ID_P, EAP-GPSK: ID_Peer, EAP-MD5: EAP identity)."""
    server_id: bytes = b"pana-mpa"
    """ID_S (EAP-PSK) / ID_Server (EAP-GPSK)."""
    rng: Rng = system_rng
    """Randomness for nonces and challenges."""
    fail_fast: bool = True
    """EAP-PSK: a message 2 whose MAC_P fails ends the method at once (fail_on_bad_mac_p, as
    hostapd); False discards it silently (RFC 4764 s4.3). EAP-GPSK and EAP-MD5 always fail."""
    tls: TlsCredential | None = None
    """EAP-TLS server certificate, key and CAs."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EapMethod:
    """One EAP method: how to name it, what credential it takes, and how to build both sides."""

    name: str
    """Short name, upper case ("PSK"); lookups ignore case."""
    method_type: int
    """EAP Type (RFC 3748 s5, IANA)."""
    title: str
    """For humans: "EAP-PSK (RFC 4764)"."""
    credential: Literal["secret", "certificate"]
    """A shared secret per user, or certificates (TlsCredential)."""
    rule: str
    """The accepted secret, as error messages state it ("" for certificate methods)."""
    derives_keys: bool
    """Exports an MSK (RFC 5247); EAP-MD5 does not, so PANA runs without a key."""
    _parse: Callable[[str], bytes | None] = field(repr=False)
    _valid: Callable[[bytes], bool] = field(repr=False)
    _peer: Callable[[bytes, Secret | TlsCredential, Rng], PeerFactory] = field(repr=False)
    _server: Callable[[ServerConfig], ServerMaker] = field(repr=False)

    def parse_secret(self, text: str) -> Secret:
        """The secret from its text form (command line, users file); CredentialError if invalid."""
        if self.credential != "secret":
            raise CredentialError(f"{self.title} authenticates by certificate; it takes no secret")
        value = self._parse(text)
        if value is None or not self._valid(value):
            raise CredentialError(f"{self.title}: the secret must be {self.rule}")
        return Secret(value)

    def check_secret(self, secret: object) -> Secret:
        """``secret`` itself if the method can use it; CredentialError naming the rule if not."""
        if self.credential != "secret":
            raise CredentialError(f"{self.title} authenticates by certificate; it takes no secret")
        if not isinstance(secret, Secret):
            raise CredentialError(
                f"{self.title}: the secret must be an eap.keys.Secret, not {type(secret).__name__}"
            )
        if not self._valid(secret.reveal()):
            raise CredentialError(
                f"{self.title}: the secret is {len(secret)} octets; it must be {self.rule}"
            )
        return secret

    def peer(
        self, identity: bytes, credential: Secret | TlsCredential, *, rng: Rng = system_rng
    ) -> PeerFactory:
        """A factory of peer methods for ``EapPeer(methods={self.method_type: ...})``.

        The credential is checked now (EAP-TLS loads its files once, here), so a bad one fails
        before any message is sent.
        """
        if not isinstance(identity, bytes):
            raise CredentialError(f"{self.title}: the identity must be bytes")
        if self.credential == "secret":
            credential = self.check_secret(credential)
        elif not isinstance(credential, TlsCredential):
            raise CredentialError(f"{self.title}: the credential must be a TlsCredential")
        return self._peer(identity, credential, rng)

    def server(self, config: ServerConfig) -> ServerMaker:
        """identity -> server method factory, for an ``EapAuthenticator`` method policy.

        Set up once per configuration (EAP-TLS loads its certificates here).
        """
        return self._server(config)


# --- the methods ---------------------------------------------------------------------------------

_HEX = frozenset(string.hexdigits)


def _text_key(text: str, *, octets: int, exact: bool) -> bytes | None:
    """Hex digits (2 per octet) or printable ASCII, as hostapd's eap_user file writes keys."""
    hex_len = 2 * octets
    hex_ok = len(text) == hex_len if exact else len(text) >= hex_len and len(text) % 2 == 0
    if hex_ok and set(text) <= _HEX:
        return bytes.fromhex(text)
    if text.isascii() and text.isprintable():
        return text.encode("ascii")
    return None


def _psk_peer(identity: bytes, credential: Secret | TlsCredential, rng: Rng) -> PeerFactory:
    from .methods.psk import PskPeer

    assert isinstance(credential, Secret)
    PskPeer(identity, credential, rng)  # checks identity and PSK now; sets up AK/KDK once
    return lambda: PskPeer(identity, credential, rng)


def _psk_server(config: ServerConfig) -> ServerMaker:
    from .methods.psk import PskServer

    def make() -> AuthMethod:
        return PskServer(
            config.server_id, config.lookup, config.rng, fail_on_bad_mac_p=config.fail_fast
        )

    make()  # checks server_id now
    return lambda identity: make


def _gpsk_peer(identity: bytes, credential: Secret | TlsCredential, rng: Rng) -> PeerFactory:
    from .methods.gpsk import GpskPeer

    assert isinstance(credential, Secret)
    GpskPeer(identity, credential, rng=rng)
    return lambda: GpskPeer(identity, credential, rng=rng)


def _gpsk_server(config: ServerConfig) -> ServerMaker:
    from .methods.gpsk import GpskServer

    def make() -> AuthMethod:
        return GpskServer(config.server_id, config.lookup, rng=config.rng)

    make()
    return lambda identity: make


def _md5_peer(identity: bytes, credential: Secret | TlsCredential, rng: Rng) -> PeerFactory:
    from .methods.md5 import Md5Peer

    assert isinstance(credential, Secret)
    return lambda: Md5Peer(credential)


def _md5_server(config: ServerConfig) -> ServerMaker:
    from .methods.md5 import Md5Server

    def for_identity(identity: bytes) -> ServerFactory:
        return lambda: Md5Server(config.lookup(identity), rng=config.rng)

    return for_identity


def _tls_peer(identity: bytes, credential: Secret | TlsCredential, rng: Rng) -> PeerFactory:
    from .methods.tls import TlsPeer, TlsVersion

    assert isinstance(credential, TlsCredential)
    try:
        return TlsPeer.factory(
            ca=credential.ca,
            cert=credential.cert,
            key=credential.key,
            server_names=credential.server_names,
            min_version=TlsVersion(credential.min_version),
            cipher_list=credential.cipher_list,
        )
    except (ValueError, OSError) as exc:  # bad files, unknown version, missing CA
        raise CredentialError(f"EAP-TLS: {exc}") from None


def _tls_server(config: ServerConfig) -> ServerMaker:
    from .methods.tls import TlsServer, TlsVersion

    tls = config.tls
    if tls is None or tls.cert is None or tls.key is None:
        raise CredentialError("EAP-TLS: the server needs a certificate and its key")
    require = tls.require_client_cert
    try:
        make = TlsServer.factory(
            cert=tls.cert,
            key=tls.key,
            ca=tls.ca,
            require_client_cert=tls.ca is not None if require is None else require,
            min_version=TlsVersion(tls.min_version),
            cipher_list=tls.cipher_list,
        )
    except (ValueError, OSError) as exc:
        raise CredentialError(f"EAP-TLS: {exc}") from None
    return lambda identity: make


_BUILTIN = (
    EapMethod(
        name="MD5",
        method_type=EapType.MD5_CHALLENGE,
        title="EAP-MD5 (RFC 3748 s5.4)",
        credential="secret",
        rule="a non-empty password",
        derives_keys=False,
        _parse=lambda text: text.encode("utf-8"),
        _valid=lambda value: len(value) > 0,
        _peer=_md5_peer,
        _server=_md5_server,
    ),
    EapMethod(
        name="TLS",
        method_type=EapType.TLS,
        title="EAP-TLS (RFC 5216, RFC 9190)",
        credential="certificate",
        rule="",
        derives_keys=True,
        _parse=lambda text: None,
        _valid=lambda value: False,
        _peer=_tls_peer,
        _server=_tls_server,
    ),
    EapMethod(
        name="PSK",
        method_type=EapType.PSK,
        title="EAP-PSK (RFC 4764)",
        credential="secret",
        rule="exactly 16 octets (RFC 4764 s3.1): 16 ASCII characters or 32 hex digits",
        derives_keys=True,
        _parse=lambda text: _text_key(text, octets=16, exact=True),
        _valid=lambda value: len(value) == 16,
        _peer=_psk_peer,
        _server=_psk_server,
    ),
    EapMethod(
        name="GPSK",
        method_type=EapType.GPSK,
        title="EAP-GPSK (RFC 5433)",
        credential="secret",
        rule=(
            "at least 16 octets (RFC 5433 s4): 16 or more ASCII characters,"
            " or 32 or more hex digits (an even number)"
        ),
        derives_keys=True,
        _parse=lambda text: _text_key(text, octets=16, exact=False),
        _valid=lambda value: len(value) >= 16,
        _peer=_gpsk_peer,
        _server=_gpsk_server,
    ),
)

_by_name: dict[str, EapMethod] = {}
_by_type: dict[int, EapMethod] = {}


def register(method: EapMethod) -> None:
    """Add a method; ValueError if its name or EAP Type is taken."""
    key = method.name.upper()
    if key != method.name or not key.isalnum():
        raise ValueError(f"EAP method name {method.name!r}: upper-case letters and digits only")
    if key in _by_name or method.method_type in _by_type:
        raise ValueError(f"EAP method {method.name} (Type {method.method_type}) is registered")
    if not (1 <= method.method_type <= 255 and method.method_type not in (1, 2, 3, 254)):
        raise ValueError(f"EAP Type {method.method_type} is not a method type (RFC 3748 s5)")
    _by_name[key] = method
    _by_type[method.method_type] = method


for _method in _BUILTIN:
    register(_method)


def names() -> tuple[str, ...]:
    """The registered method names, sorted ("GPSK", "MD5", "PSK", "TLS")."""
    return tuple(sorted(_by_name))


def methods() -> Mapping[str, EapMethod]:
    """A read-only view of the registry by name."""
    return MappingProxyType(_by_name)


def lookup(name: str) -> EapMethod:
    """The method called ``name`` (case-insensitive, "EAP-" prefix allowed).

    UnknownMethodError lists the valid choices.
    """
    key = str(name).upper().removeprefix("EAP-")
    method = _by_name.get(key)
    if method is None:
        raise UnknownMethodError(
            f"unknown EAP method {name!r}; choose one of: {', '.join(names())}"
        )
    return method


def by_type(method_type: int) -> EapMethod:
    """The method with EAP Type ``method_type``; UnknownMethodError lists the known types."""
    method = _by_type.get(method_type)
    if method is None:
        known = ", ".join(
            f"{m.method_type} ({m.name})"
            for m in sorted(_by_type.values(), key=lambda m: m.method_type)
        )
        raise UnknownMethodError(f"no EAP method with Type {method_type}; known: {known}")
    return method

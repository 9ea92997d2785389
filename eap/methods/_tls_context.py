"""EAP-TLS configuration: certificates, keys and the pyOpenSSL context of one side.

pyOpenSSL (the ``tls`` extra) is imported only when a context is built.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, TextIO, TypeAlias, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_private_key
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from OpenSSL import SSL

__all__ = [
    "CertSource",
    "KeySource",
    "PrivateKey",
    "StrPath",
    "TlsUnavailableError",
    "TlsVersion",
    "make_context",
]

logger = logging.getLogger(__name__)


@runtime_checkable
class StrPath(Protocol):
    """A path object: anything with ``__fspath__`` (``os.PathLike[str]``, e.g. ``pathlib.Path``)."""

    def __fspath__(self) -> str: ...


CertSource: TypeAlias = x509.Certificate | Sequence[x509.Certificate] | bytes | str | StrPath
"""Certificate(s): a ``cryptography`` certificate, a list (leaf first), PEM/DER bytes, or a path."""
PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)
"""Private key types for EAP-TLS. Not DSA: TLS 1.3 has no DSA signatures (RFC 8446 s4.2.3) and
``cryptography`` deprecates it (naming its class warns on import), so DSA keys are refused."""
_PRIVATE_KEY_TYPES = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)
KeySource: TypeAlias = PrivateKey | bytes | str | StrPath
"""Private key: a ``cryptography`` key object, unencrypted PEM/DER bytes, or a file path."""


class TlsUnavailableError(ImportError):
    """pyOpenSSL (the ``tls`` extra) is not installed."""


class TlsVersion(enum.IntEnum):
    """TLS protocol versions (wire values)."""

    TLS1_0 = 0x0301
    TLS1_1 = 0x0302
    TLS1_2 = 0x0303
    TLS1_3 = 0x0304


def _ssl() -> type[SSL.Connection]:
    """Import pyOpenSSL lazily; a clear error when the extra is missing."""
    try:
        from OpenSSL import SSL as _SSL
    except ImportError as exc:
        raise TlsUnavailableError(
            "EAP-TLS needs pyOpenSSL; install the 'tls' extra: pip install 'pana-mpa[tls]'"
        ) from exc
    return _SSL.Connection


# --- loading certificates and keys -------------------------------------------------------------


def _read(src: bytes | str | StrPath) -> bytes:
    if isinstance(src, bytes):
        return src
    with open(src, "rb") as f:
        return f.read()


def _load_certs(src: CertSource) -> list[x509.Certificate]:
    """Certificates from any CertSource, in order."""
    if isinstance(src, x509.Certificate):
        return [src]
    if isinstance(src, (bytes, str, StrPath)):
        raw = _read(src)
        try:
            certs = (
                x509.load_pem_x509_certificates(raw)
                if b"-----BEGIN" in raw
                else [x509.load_der_x509_certificate(raw)]
            )
        except ValueError as exc:
            raise ValueError(f"cannot load certificate: {exc}") from None
    else:
        certs = list(src)
    if not certs or not all(isinstance(c, x509.Certificate) for c in certs):
        raise ValueError("no certificate found")
    return certs


def _load_key(src: KeySource) -> PrivateKey:
    """A private key from any KeySource."""
    if not isinstance(src, (bytes, str, StrPath)):
        return src
    raw = _read(src)
    try:
        key = (
            load_pem_private_key(raw, None)
            if b"-----BEGIN" in raw
            else load_der_private_key(raw, None)
        )
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot load private key: {exc}") from None
    if not isinstance(key, _PRIVATE_KEY_TYPES):
        raise ValueError(
            f"unsupported private key type {type(key).__name__}:"
            " EAP-TLS takes RSA, EC, Ed25519 or Ed448 keys"
        )
    return key


def _names_match(cert: x509.Certificate, accepted: Sequence[str]) -> bool:
    """Match dNSName SANs, or the subject CN when there are none, against names (RFC 9190 s2.2)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if not names:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    for want in accepted:
        w = want.lower().rstrip(".")
        for have in names:
            h = have.lower().rstrip(".")
            if h == w:
                return True
            # A wildcard covers exactly one leftmost label (RFC 6125 s6.4.3).
            if h.startswith("*.") and "." in w and w.split(".", 1)[1] == h[2:]:
                return True
    return False


_OPENSSL_VERSION = {
    TlsVersion.TLS1_0: "TLS1_VERSION",
    TlsVersion.TLS1_1: "TLS1_1_VERSION",
    TlsVersion.TLS1_2: "TLS1_2_VERSION",
    TlsVersion.TLS1_3: "TLS1_3_VERSION",
}


def make_context(
    *,
    server: bool,
    cert: CertSource | None,
    key: KeySource | None,
    ca: CertSource | None,
    verify: bool,
    require_peer_cert: bool,
    names: Sequence[str] | None,
    min_version: TlsVersion,
    max_version: TlsVersion,
    cipher_list: str | None,
    ciphersuites: str | None,
    crls: Sequence[x509.CertificateRevocationList] = (),
    key_log: TextIO | None = None,
) -> SSL.Context:
    """Build the pyOpenSSL context for one side; raises ValueError on bad configuration."""
    _ssl()
    from OpenSSL import SSL as S
    from OpenSSL import crypto

    if min_version > max_version:
        raise ValueError("min_version is above max_version")
    ctx = S.Context(S.TLS_SERVER_METHOD if server else S.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(getattr(S, _OPENSSL_VERSION[min_version]))
    ctx.set_max_proto_version(getattr(S, _OPENSSL_VERSION[max_version]))
    # RFC 5216 s2.1.1: no compression; no renegotiation or tickets (no resumption offered).
    ctx.set_options(S.OP_NO_COMPRESSION | S.OP_NO_RENEGOTIATION | S.OP_NO_TICKET)
    ctx.set_session_cache_mode(S.SESS_CACHE_OFF)
    if key_log is not None:
        # Opt-in NSS key log (Wireshark's "(Pre)-Master-Secret log"), for interop debugging only.
        def _log(_conn: SSL.Connection, line: bytes) -> None:
            key_log.write(line.decode("ascii") + "\n")
            key_log.flush()

        logger.warning("EAP-TLS key logging is on: TLS secrets are written to %r", key_log)
        ctx.set_keylog_callback(_log)
    if cipher_list is not None:
        ctx.set_cipher_list(cipher_list.encode())
    if ciphersuites is not None:
        ctx.set_tls13_ciphersuites(ciphersuites.encode())
    if cert is not None:
        if key is None:
            raise ValueError("a certificate needs its private key")
        chain = _load_certs(cert)
        ctx.use_certificate(chain[0])
        for extra in chain[1:]:
            ctx.add_extra_chain_cert(extra)
        try:
            ctx.use_privatekey(_load_key(key))
            ctx.check_privatekey()
        except S.Error:
            raise ValueError("private key does not match the certificate") from None
    elif server:
        raise ValueError("an EAP-TLS server needs a certificate (RFC 5216 s2.1.1)")
    if verify:
        if ca is None:
            raise ValueError("certificate validation needs trusted CA certificates (ca=)")
        store = ctx.get_cert_store()
        if store is None:  # pragma: no cover - OpenSSL always has one
            raise ValueError("no certificate store")
        for c in _load_certs(ca):
            store.add_cert(crypto.X509.from_cryptography(c))
        if crls:
            # RFC 9190 s5.6 asks for revocation checking: CRLs for every certificate in the chain.
            for crl in crls:
                store.add_crl(crl)
            store.set_flags(crypto.X509StoreFlags.CRL_CHECK | crypto.X509StoreFlags.CRL_CHECK_ALL)
            if server:
                ctx.add_client_ca(c)  # CertificateRequest's CA list

        def _check(_conn: SSL.Connection, x: crypto.X509, err: int, depth: int, ok: int) -> bool:
            if not ok:
                logger.debug("TLS certificate at depth %d rejected (X509 error %d)", depth, err)
                return False
            if depth == 0 and names is not None and not _names_match(x.to_cryptography(), names):
                logger.debug("TLS certificate name does not match the accepted names")
                return False
            return True

        mode = S.VERIFY_PEER
        if require_peer_cert:
            mode |= S.VERIFY_FAIL_IF_NO_PEER_CERT
        ctx.set_verify(mode, _check)
    else:
        ctx.set_verify(S.VERIFY_NONE)
    return ctx

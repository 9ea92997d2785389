"""EAP-TLS (RFC 5216 for TLS 1.2, RFC 9190 for TLS 1.3): peer and server on pyOpenSSL memory BIOs.

Needs the ``tls`` extra (pyOpenSSL); it is imported only when a method object is built, so the
``eap`` package imports without it. Certificate validation is on by default on both sides and
the server requires a client certificate, as EAP-TLS does (RFC 5216 s2.1.1).

Certificates and keys are given as ``cryptography`` objects, PEM/DER bytes, or file paths::

    make_server = TlsServer.factory(cert="paa.pem", key="paa.key", ca="ca.pem")  # loads once
    auth = EapAuthenticator(methods=lambda identity: [make_server])
    peer = EapPeer(identity=b"user1", methods={
        13: lambda: TlsPeer(ca="ca.pem", cert="user1.pem", key="user1.key",
                            server_names=["paa.example.net"])})
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TextIO, TypeAlias, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_private_key
from cryptography.x509.oid import NameOID

from ..keys import KeyMaterial, Secret
from ._tls_fragment import ACK, Fragmenter, FragmentError, Reassembler, parse_frame
from .base import AuthStep, Decision, MethodStep

if TYPE_CHECKING:
    from OpenSSL import SSL

__all__ = [
    "DEFAULT_FRAGMENT_SIZE",
    "DEFAULT_MAX_MESSAGE_LENGTH",
    "EAP_TYPE_TLS",
    "CertSource",
    "KeySource",
    "PrivateKey",
    "TlsPeer",
    "TlsServer",
    "TlsUnavailableError",
    "TlsVersion",
]

logger = logging.getLogger(__name__)

EAP_TYPE_TLS = 13
DEFAULT_FRAGMENT_SIZE = 1000
"""TLS data octets per EAP-TLS message: with headers it fits one PANA datagram on a 1280 MTU."""
DEFAULT_MAX_MESSAGE_LENGTH = 65536
"""Reassembly cap (RFC 5216 s2.1.5 suggests 64 KB; hostapd aborts above 65536)."""

_COMMITMENT = b"\x00"  # RFC 9190 s2.5: the protected success indication
_LABEL_TLS12 = b"client EAP encryption"  # RFC 5216 s2.3
_LABEL_KEY = b"EXPORTER_EAP_TLS_Key_Material"  # RFC 9190 s2.3
_LABEL_METHOD_ID = b"EXPORTER_EAP_TLS_Method-Id"
_TYPE_OCTET = bytes([EAP_TYPE_TLS])


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
    | dsa.DSAPrivateKey
)
"""Private key types OpenSSL can use for TLS."""
_PRIVATE_KEY_TYPES = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
    dsa.DSAPrivateKey,
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
        raise ValueError("unsupported private key type")
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


def _make_context(
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


# --- the TLS engine shared by both sides -------------------------------------------------------


class _TlsFailed(Exception):
    """The TLS connection failed (reason in the message; never key material)."""


class _Engine:
    """A memory-BIO TLS connection: records in, records out."""

    def __init__(self, ctx: SSL.Context, *, server: bool) -> None:
        from OpenSSL import SSL as S

        self._S = S
        self.conn = S.Connection(ctx, None)
        if server:
            self.conn.set_accept_state()
        else:
            self.conn.set_connect_state()
        self.handshake_done = False

    def output(self) -> bytes:
        """All TLS records waiting to be sent."""
        out = bytearray()
        while True:
            try:
                chunk = self.conn.bio_read(65536)
            except self._S.WantReadError:
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def handshake(self, data: bytes) -> bool:
        """Feed records and advance the handshake; True once it is complete. Raises _TlsFailed."""
        if data:
            self.conn.bio_write(data)
        try:
            self.conn.do_handshake()
        except self._S.WantReadError:
            return False
        except self._S.Error as exc:
            raise _TlsFailed(_reason(exc)) from None
        self.handshake_done = True
        return True

    def read_application_data(self, data: bytes) -> bytes:
        """Feed records and return any application data they carried. Raises _TlsFailed."""
        if data:
            self.conn.bio_write(data)
        out = bytearray()
        while True:
            try:
                chunk = self.conn.recv(65536)
            except self._S.WantReadError:
                break
            except self._S.ZeroReturnError:
                raise _TlsFailed("peer closed the TLS connection") from None
            except self._S.Error as exc:
                raise _TlsFailed(_reason(exc)) from None
            if not chunk:
                break
            out += chunk
        return bytes(out)

    @property
    def version(self) -> TlsVersion:
        """Negotiated protocol version."""
        return TlsVersion(self.conn.get_protocol_version())

    def key_material(self) -> KeyMaterial:
        """MSK/EMSK/Session-Id: RFC 5216 s2.3 for TLS <= 1.2, RFC 9190 s2.3 for TLS 1.3."""
        if self.version >= TlsVersion.TLS1_3:
            km = self.conn.export_keying_material(_LABEL_KEY, 128, _TYPE_OCTET)
            method_id = self.conn.export_keying_material(_LABEL_METHOD_ID, 64, _TYPE_OCTET)
            session_id = _TYPE_OCTET + method_id
        else:
            # RFC 5705 exporter, no context: TLS-PRF(master, label, client.random || server.random).
            km = self.conn.export_keying_material(_LABEL_TLS12, 128)
            cr, sr = self.conn.client_random(), self.conn.server_random()
            if cr is None or sr is None:  # pragma: no cover - set after any handshake
                raise _TlsFailed("TLS randoms unavailable")
            session_id = _TYPE_OCTET + cr + sr
        return KeyMaterial(msk=Secret(km[:64]), emsk=Secret(km[64:128]), session_id=session_id)

    def peer_certificate(self) -> x509.Certificate | None:
        """The other side's leaf certificate, if it sent one."""
        return self.conn.get_peer_certificate(as_cryptography=True)


def _reason(exc: Exception) -> str:
    """A short OpenSSL error reason for logs (the error queue never holds key material)."""
    args = exc.args[0] if exc.args else None
    if isinstance(args, list) and args and isinstance(args[-1], tuple):
        return str(args[-1][-1])
    return type(exc).__name__


def _check_sizes(fragment_size: int, max_message_length: int) -> None:
    if fragment_size < 1:
        raise ValueError("fragment_size must be at least 1")
    if max_message_length < 1:
        raise ValueError("max_message_length must be at least 1")


# --- peer -----------------------------------------------------------------------------------------


class _PeerState(enum.Enum):
    WAIT_START = "WAIT_START"
    HANDSHAKE = "HANDSHAKE"
    WAIT_COMMITMENT = "WAIT_COMMITMENT"  # TLS 1.3: client Finished sent, 0x00 not yet seen
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


class TlsPeer:
    """EAP-TLS peer (RFC 5216 s2.1, RFC 9190 s2.1).

    ``ca``: trusted CA certificate(s) for the server certificate (required unless ``verify=False``).
    ``cert``/``key``: the client certificate (chain, leaf first) and key; EAP-TLS servers normally
    require them. ``server_names``: accepted server names, matched against the certificate's
    dNSName SANs (RFC 9190 s2.2); None accepts any name the CA vouches for.
    ``min_version``/``max_version``: TLS versions (default 1.2-1.3). ``fragment_size``: TLS data
    octets per EAP-TLS Response. ``max_message_length``: reassembly cap.
    ``cipher_list`` (TLS <= 1.2, OpenSSL syntax) and ``ciphersuites`` (TLS 1.3) override OpenSSL's
    defaults. ``crls``: certificate revocation lists; when given, every certificate of the chain
    must be covered by one (OpenSSL CRL_CHECK_ALL). ``key_log``: opt-in NSS key log of the TLS
    secrets for Wireshark (interop debugging only; it writes secrets).
    """

    method_type: ClassVar[int] = EAP_TYPE_TLS

    def __init__(
        self,
        *,
        ca: CertSource | None,
        cert: CertSource | None = None,
        key: KeySource | None = None,
        server_names: Sequence[str] | None = None,
        verify: bool = True,
        min_version: TlsVersion = TlsVersion.TLS1_2,
        max_version: TlsVersion = TlsVersion.TLS1_3,
        fragment_size: int = DEFAULT_FRAGMENT_SIZE,
        max_message_length: int = DEFAULT_MAX_MESSAGE_LENGTH,
        cipher_list: str | None = None,
        ciphersuites: str | None = None,
        crls: Sequence[x509.CertificateRevocationList] = (),
        key_log: TextIO | None = None,
    ) -> None:
        _check_sizes(fragment_size, max_message_length)
        ctx = _make_context(
            server=False,
            cert=cert,
            key=key,
            ca=ca,
            verify=verify,
            require_peer_cert=True,
            names=tuple(server_names) if server_names is not None else None,
            min_version=min_version,
            max_version=max_version,
            cipher_list=cipher_list,
            ciphersuites=ciphersuites,
            crls=crls,
            key_log=key_log,
        )
        self._setup(ctx, fragment_size, max_message_length)

    def _setup(self, ctx: SSL.Context, fragment_size: int, max_message_length: int) -> None:
        self._tls = _Engine(ctx, server=False)
        self._fragment_size = fragment_size
        self._max_message_length = max_message_length
        self._rx = Reassembler(max_message_length)
        self._tx: Fragmenter | None = None
        self._state = _PeerState.WAIT_START
        self._keys: KeyMaterial | None = None

    @classmethod
    def factory(cls, **options: Any) -> Callable[[], TlsPeer]:
        """Fresh peers sharing one TLS context; takes the constructor's keywords, checked now."""
        first = cls(**options)
        ctx = first._tls.conn.get_context()
        size, cap = first._fragment_size, first._max_message_length

        def make() -> TlsPeer:
            method = cls.__new__(cls)
            method._setup(ctx, size, cap)
            return method

        return make

    @property
    def version(self) -> TlsVersion | None:
        """Negotiated TLS version once the handshake completed."""
        return self._tls.version if self._tls.handshake_done else None

    def server_certificate(self) -> x509.Certificate | None:
        """The server's leaf certificate (validated unless ``verify=False``)."""
        return self._tls.peer_certificate()

    def keys(self) -> KeyMaterial | None:
        """MSK/EMSK once the method succeeded (after the 0x00 commitment with TLS 1.3)."""
        return self._keys

    def process(self, type_data: bytes, identifier: int) -> MethodStep:
        """Handle one EAP-TLS Request (RFC 5216 s2.1, RFC 9190 s2.1)."""
        del identifier  # EAP-TLS does not protect the EAP header
        if self._state in (_PeerState.SUCCESS, _PeerState.FAILURE) and self._tx is None:
            return MethodStep(None)  # the method is over; only Success/Failure may follow
        try:
            frame = parse_frame(type_data)
        except FragmentError as exc:
            logger.debug("EAP-TLS request discarded: %s", exc)
            return MethodStep(None)
        logger.debug("EAP-TLS request flags=0x%02x data=%d", frame.flags, len(frame.data))
        if self._state is _PeerState.WAIT_START:
            if not frame.start:
                logger.debug("EAP-TLS request before Start discarded")
                return MethodStep(None)
            self._state = _PeerState.HANDSHAKE
            return self._run(b"")
        if frame.start:
            logger.debug("EAP-TLS Start in the middle of the method discarded")
            return MethodStep(None)
        if self._tx is not None:
            if not frame.is_ack:  # RFC 5216 s2.1.5: the server acknowledges each fragment
                return self._fail("data while the server should acknowledge our fragment")
            return self._send_next()
        if frame.is_ack and not self._rx.in_progress:
            return self._fail("unexpected acknowledgement")
        try:
            data = self._rx.feed(frame)
        except FragmentError as exc:
            return self._fail(str(exc))
        if data is None:
            return self._step(ACK)  # acknowledge the fragment
        return self._run(data)

    def _run(self, data: bytes) -> MethodStep:
        """Feed one complete TLS message set to the TLS client."""
        try:
            if self._state is _PeerState.HANDSHAKE:
                if not self._tls.handshake(data):
                    out = self._tls.output()
                    if not out:
                        return self._fail("the server's flight left the handshake stuck")
                    return self._send(out)
                out = self._tls.output()
                if self._tls.version >= TlsVersion.TLS1_3:
                    # RFC 9190 s2.5: keys are not exposed before the server's commitment message.
                    self._state = _PeerState.WAIT_COMMITMENT
                    return self._send(out)
                self._succeed()
                return self._send(out) if out else self._step(ACK)
            app = self._tls.read_application_data(data)
        except _TlsFailed as exc:
            # RFC 5216 s2.1.3: send our alert if TLS produced one, else an empty Response.
            alert = self._tls.output()
            logger.info("EAP-TLS peer: TLS failed: %s", exc)
            self._state = _PeerState.FAILURE
            self._rx.reset()
            return self._send(alert) if alert else self._step(ACK)
        out = self._tls.output()
        if not app:
            # e.g. a NewSessionTicket without the commitment yet: acknowledge and keep waiting.
            return self._send(out) if out else self._step(ACK)
        if app != _COMMITMENT:
            # RFC 9190 s2.5: the only application data EAP-TLS allows is the one octet 0x00.
            return self._fail("application data other than the 0x00 commitment")
        self._succeed()
        return self._send(out) if out else self._step(ACK)

    def _succeed(self) -> None:
        self._keys = self._tls.key_material()
        self._state = _PeerState.SUCCESS
        logger.info("EAP-TLS peer: authenticated with %s", self._tls.version.name)

    def _fail(self, reason: str) -> MethodStep:
        """Protocol error: end the method with an empty Response; the server answers EAP-Failure."""
        logger.info("EAP-TLS peer failed: %s", reason)
        self._state = _PeerState.FAILURE
        self._tx = None
        self._rx.reset()
        return self._step(ACK)

    def _send(self, data: bytes) -> MethodStep:
        self._tx = Fragmenter(data, self._fragment_size)
        return self._send_next()

    def _send_next(self) -> MethodStep:
        assert self._tx is not None
        td = self._tx.next()
        if self._tx.done:
            self._tx = None
        return self._step(td)

    def _step(self, type_data: bytes) -> MethodStep:
        if self._tx is None and self._state is _PeerState.SUCCESS:
            return MethodStep(type_data, done=True, decision=Decision.UNCOND_SUCC)
        if self._tx is None and self._state is _PeerState.FAILURE:
            return MethodStep(type_data, done=True, decision=Decision.FAIL)
        return MethodStep(type_data)


# --- server ---------------------------------------------------------------------------------------


class _ServerState(enum.Enum):
    START_SENT = "START_SENT"
    HANDSHAKE = "HANDSHAKE"
    FINAL_SENT = "FINAL_SENT"  # our last flight is out; the peer's empty Response means success
    ALERT_SENT = "ALERT_SENT"  # our alert is out; the peer's Response ends the method in failure
    DONE = "DONE"


class TlsServer:
    """EAP-TLS server (RFC 5216 s2.1, RFC 9190 s2.1).

    ``cert``/``key``: the server certificate (chain, leaf first) and key. ``ca``: CA
    certificate(s) trusted for client certificates. ``require_client_cert`` (default True, as
    EAP-TLS requires mutual authentication; RFC 9190 s2.1.4 allows turning it off) and
    ``verify`` control client validation. ``client_names``: if given, the client certificate's
    dNSName SANs (or CN) must match one of them. Other options as for :class:`TlsPeer`.
    """

    method_type: ClassVar[int] = EAP_TYPE_TLS

    def __init__(
        self,
        *,
        cert: CertSource,
        key: KeySource,
        ca: CertSource | None,
        require_client_cert: bool = True,
        verify: bool = True,
        client_names: Sequence[str] | None = None,
        min_version: TlsVersion = TlsVersion.TLS1_2,
        max_version: TlsVersion = TlsVersion.TLS1_3,
        fragment_size: int = DEFAULT_FRAGMENT_SIZE,
        max_message_length: int = DEFAULT_MAX_MESSAGE_LENGTH,
        cipher_list: str | None = None,
        ciphersuites: str | None = None,
        crls: Sequence[x509.CertificateRevocationList] = (),
        key_log: TextIO | None = None,
    ) -> None:
        _check_sizes(fragment_size, max_message_length)
        if require_client_cert and not verify:
            raise ValueError("require_client_cert needs verify=True")
        ctx = _make_context(
            server=True,
            cert=cert,
            key=key,
            ca=ca,
            verify=verify,
            require_peer_cert=require_client_cert,
            names=tuple(client_names) if client_names is not None else None,
            min_version=min_version,
            max_version=max_version,
            cipher_list=cipher_list,
            ciphersuites=ciphersuites,
            crls=crls,
            key_log=key_log,
        )
        self._setup(ctx, fragment_size, max_message_length)

    def _setup(self, ctx: SSL.Context, fragment_size: int, max_message_length: int) -> None:
        self._tls = _Engine(ctx, server=True)
        self._fragment_size = fragment_size
        self._max_message_length = max_message_length
        self._rx = Reassembler(max_message_length)
        self._tx: Fragmenter | None = None
        self._state = _ServerState.START_SENT
        self._success = False
        self._keys: KeyMaterial | None = None

    @classmethod
    def factory(cls, **options: Any) -> Callable[[], TlsServer]:
        """Fresh servers sharing one TLS context (certificates loaded once); constructor keywords.

        Use it in an ``EapAuthenticator`` method policy: ``f = TlsServer.factory(cert=..., key=...,
        ca=...)`` once, then ``methods=lambda identity: [f]``.
        """
        first = cls(**options)
        ctx = first._tls.conn.get_context()
        size, cap = first._fragment_size, first._max_message_length

        def make() -> TlsServer:
            method = cls.__new__(cls)
            method._setup(ctx, size, cap)
            return method

        return make

    @property
    def version(self) -> TlsVersion | None:
        """Negotiated TLS version once the handshake completed."""
        return self._tls.version if self._tls.handshake_done else None

    def peer_certificate(self) -> x509.Certificate | None:
        """The peer's validated leaf certificate after success (Peer-Id source, RFC 5216 s5.2)."""
        return self._tls.peer_certificate() if self._success else None

    def keys(self) -> KeyMaterial | None:
        """MSK/EMSK after success."""
        return self._keys

    def initial_request(self, identifier: int) -> bytes:
        """EAP-TLS Start: Flags = S, no data (RFC 5216 s2.1.1)."""
        del identifier
        return bytes([0x20])

    def process(self, type_data: bytes, identifier: int, next_identifier: int) -> AuthStep:
        """Handle one EAP-TLS Response (RFC 5216 s2.1, RFC 9190 s2.1)."""
        del identifier, next_identifier
        if self._state is _ServerState.DONE:
            return AuthStep(discard=True)
        try:
            frame = parse_frame(type_data)
        except FragmentError as exc:
            logger.debug("EAP-TLS response discarded: %s", exc)
            return AuthStep(discard=True)
        logger.debug("EAP-TLS response flags=0x%02x data=%d", frame.flags, len(frame.data))
        if frame.start:
            logger.debug("EAP-TLS response with the S flag discarded")
            return AuthStep(discard=True)
        if self._state is _ServerState.ALERT_SENT:
            if self._tx is not None and frame.is_ack:
                return self._send_next()
            return self._finish(False, "peer answered our alert")
        if self._tx is not None:
            if not frame.is_ack:
                return self._abort("data while the peer should acknowledge our fragment")
            return self._send_next()
        if frame.is_ack and not self._rx.in_progress:
            if self._state is _ServerState.FINAL_SENT:
                return self._finish(True, "peer acknowledged our final flight")
            return self._abort("unexpected acknowledgement")
        try:
            data = self._rx.feed(frame)
        except FragmentError as exc:
            return self._abort(str(exc))
        if data is None:
            return AuthStep(request=ACK)
        return self._run(data)

    def _run(self, data: bytes) -> AuthStep:
        if self._state is _ServerState.FINAL_SENT:
            # The peer sent TLS data instead of the final empty Response: an alert, or garbage.
            try:
                self._tls.read_application_data(data)
            except _TlsFailed as exc:
                return self._finish(False, f"TLS failed after our final flight: {exc}")
            return self._abort("TLS data after our final flight")
        self._state = _ServerState.HANDSHAKE
        try:
            complete = self._tls.handshake(data)
        except _TlsFailed as exc:
            alert = self._tls.output()
            logger.info("EAP-TLS server: TLS failed: %s", exc)
            if not alert:
                return self._finish(False, "TLS failed without an alert")
            # RFC 5216 s2.1.3: send the alert and wait for the peer's Response before Failure.
            self._state = _ServerState.ALERT_SENT
            self._rx.reset()
            return self._send(alert)
        if not complete:
            out = self._tls.output()
            if not out:
                return self._abort("the peer's flight left the handshake stuck")
            return self._send(out)
        if self._tls.version >= TlsVersion.TLS1_3:
            # RFC 9190 s2.5: after our last handshake message, the one-octet 0x00 commitment.
            self._tls.conn.send(_COMMITMENT)
        out = self._tls.output()
        if not out:
            return self._abort("handshake complete but no final flight")
        self._state = _ServerState.FINAL_SENT
        return self._send(out)

    def _finish(self, success: bool, reason: str) -> AuthStep:
        self._state = _ServerState.DONE
        self._tx = None
        if success:
            self._keys = self._tls.key_material()
            self._success = True
            logger.info("EAP-TLS server: authenticated with %s", self._tls.version.name)
        else:
            logger.info("EAP-TLS server failed: %s", reason)
        return AuthStep(done=True, success=success)

    def _abort(self, reason: str) -> AuthStep:
        """Protocol error from the peer: end the method in failure."""
        return self._finish(False, reason)

    def _send(self, data: bytes) -> AuthStep:
        self._tx = Fragmenter(data, self._fragment_size)
        return self._send_next()

    def _send_next(self) -> AuthStep:
        assert self._tx is not None
        td = self._tx.next()
        if self._tx.done:
            self._tx = None
        return AuthStep(request=td)

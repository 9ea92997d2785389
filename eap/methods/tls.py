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
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from cryptography import x509

from ..keys import KeyMaterial
from ._tls_context import (
    CertSource,
    KeySource,
    PrivateKey,
    TlsUnavailableError,
    TlsVersion,
    make_context,
)
from ._tls_engine import EAP_TYPE_TLS, Engine, TlsFailed
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

DEFAULT_FRAGMENT_SIZE = 1000
"""TLS data octets per EAP-TLS message: with headers it fits one PANA datagram on a 1280 MTU."""
DEFAULT_MAX_MESSAGE_LENGTH = 65536
"""Reassembly cap (RFC 5216 s2.1.5 suggests 64 KB; hostapd aborts above 65536)."""

_COMMITMENT = b"\x00"  # RFC 9190 s2.5: the protected success indication


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
        ctx = make_context(
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
        self._tls = Engine(ctx, server=False)
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
        except TlsFailed as exc:
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
        ctx = make_context(
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
        self._tls = Engine(ctx, server=True)
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
            except TlsFailed as exc:
                return self._finish(False, f"TLS failed after our final flight: {exc}")
            return self._abort("TLS data after our final flight")
        self._state = _ServerState.HANDSHAKE
        try:
            complete = self._tls.handshake(data)
        except TlsFailed as exc:
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

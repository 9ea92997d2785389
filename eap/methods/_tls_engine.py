"""EAP-TLS's TLS connection: a pyOpenSSL memory-BIO engine and the key export of RFC 5216 / 9190."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from cryptography import x509

from ..keys import KeyMaterial, Secret
from ._tls_context import TlsVersion

if TYPE_CHECKING:
    from OpenSSL import SSL

__all__ = ["EAP_TYPE_TLS", "Engine", "TlsFailed"]

logger = logging.getLogger(__name__)

EAP_TYPE_TLS = 13

_LABEL_TLS12 = b"client EAP encryption"  # RFC 5216 s2.3
_LABEL_KEY = b"EXPORTER_EAP_TLS_Key_Material"  # RFC 9190 s2.3
_LABEL_METHOD_ID = b"EXPORTER_EAP_TLS_Method-Id"
_TYPE_OCTET = bytes([EAP_TYPE_TLS])


class TlsFailed(Exception):
    """The TLS connection failed (reason in the message; never key material)."""


class Engine:
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
        """Feed records and advance the handshake; True once it is complete. Raises TlsFailed."""
        if data:
            self.conn.bio_write(data)
        try:
            self.conn.do_handshake()
        except self._S.WantReadError:
            return False
        except self._S.Error as exc:
            raise TlsFailed(_reason(exc)) from None
        self.handshake_done = True
        return True

    def read_application_data(self, data: bytes) -> bytes:
        """Feed records and return any application data they carried. Raises TlsFailed."""
        if data:
            self.conn.bio_write(data)
        out = bytearray()
        while True:
            try:
                chunk = self.conn.recv(65536)
            except self._S.WantReadError:
                break
            except self._S.ZeroReturnError:
                raise TlsFailed("peer closed the TLS connection") from None
            except self._S.Error as exc:
                raise TlsFailed(_reason(exc)) from None
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
                raise TlsFailed("TLS randoms unavailable")
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

"""TLS 1.0-1.2 PRFs and offline EAP-TLS key derivation for captured RSA handshakes (RFC 5216 s2.3).

Pure Python (hashlib/hmac and ``cryptography`` for RSA); no pyOpenSSL. Used to verify captured
conversations: given both sides' TLS data and the server's RSA key, recompute the master secret
and the MSK/EMSK/Session-Id the EAP-TLS endpoints exported.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .keys import KeyMaterial, Secret
from .methods._tls_fragment import FragmentError, parse_frame

__all__ = [
    "TLS1_0",
    "TLS1_1",
    "TLS1_2",
    "RsaHandshake",
    "TlsOfflineError",
    "eap_tls_handshakes",
    "eap_tls_key_material",
    "parse_rsa_handshake",
    "rsa_eap_tls_keys",
    "rsa_master_secret",
    "tls_prf",
]

logger = logging.getLogger(__name__)

TLS1_0 = 0x0301
TLS1_1 = 0x0302
TLS1_2 = 0x0303

_EAP_TLS_LABEL = b"client EAP encryption"  # RFC 5216 s2.3
_EAP_TLS_TYPE = 13

# TLS 1.2 suites whose PRF hash is SHA-384 (RFC 5288 s3, RFC 5289 s3.2); all others use SHA-256.
_SHA384_SUITES = frozenset({0x009D, 0x009F, 0x00A1, 0x00A3, 0x00A5, 0x00A7, 0x00A9, 0x00AB, 0x00AD})
# RSA key exchange suites: the pre-master secret is RSA-encrypted in ClientKeyExchange.
_RSA_KX_SUITES = frozenset(
    {0x0001, 0x0002, 0x0004, 0x0005, 0x000A, 0x002F, 0x0035, 0x003B, 0x003C, 0x003D}
    | {0x0041, 0x0084, 0x0096, 0x009C, 0x009D, 0xC09C, 0xC09D, 0xC0A0, 0xC0A1}
)

_EXT_EMS = 0x0017  # extended_master_secret (RFC 7627 s5.1)
_CONTENT_CCS = 20
_CONTENT_HANDSHAKE = 22
_HS_CLIENT_HELLO = 1
_HS_SERVER_HELLO = 2
_HS_CLIENT_KEY_EXCHANGE = 16


class TlsOfflineError(ValueError):
    """The captured TLS data cannot be used for offline key derivation (reason in the message)."""


def _p_hash(name: str, secret: bytes, seed: bytes, length: int) -> bytes:
    """P_hash data expansion (RFC 2246 s5, RFC 5246 s5)."""
    out = bytearray()
    a = seed
    while len(out) < length:
        a = hmac.new(secret, a, name).digest()
        out += hmac.new(secret, a + seed, name).digest()
    return bytes(out[:length])


def tls_prf(
    version: int,
    secret: bytes,
    label: bytes,
    seed: bytes,
    length: int,
    *,
    hash_name: str = "sha256",
) -> bytes:
    """TLS PRF: MD5/SHA-1 split (TLS 1.0/1.1, RFC 2246 s5) or P_<hash> (TLS 1.2, RFC 5246 s5)."""
    if length < 0:
        raise ValueError("length must not be negative")
    if version in (TLS1_0, TLS1_1):
        # RFC 2246 s5: S1 and S2 are the halves; they share the middle octet for odd lengths.
        half = (len(secret) + 1) // 2
        s1, s2 = secret[:half], secret[len(secret) - half :]
        md5 = _p_hash("md5", s1, label + seed, length)
        sha1 = _p_hash("sha1", s2, label + seed, length)
        return bytes(x ^ y for x, y in zip(md5, sha1, strict=True))
    if version == TLS1_2:
        return _p_hash(hash_name, secret, label + seed, length)
    raise ValueError(f"no TLS PRF for version 0x{version:04x}")


@dataclass(frozen=True, slots=True)
class RsaHandshake:
    """What offline derivation needs from a captured RSA-key-exchange handshake."""

    version: int
    """Negotiated version from ServerHello (0x0301 TLS 1.0 ... 0x0303 TLS 1.2)."""
    cipher_suite: int
    client_random: bytes
    server_random: bytes
    client_hello_version: int
    """Version in ClientHello; the pre-master secret starts with it (RFC 5246 s7.4.7.1)."""
    encrypted_pre_master: bytes
    extended_master_secret: bool = False
    """The ServerHello accepted RFC 7627's extended_master_secret extension."""
    transcript: bytes = b""
    """Handshake messages ClientHello .. ClientKeyExchange, for the RFC 7627 session hash."""

    @property
    def prf_hash(self) -> str:
        """Hash of the TLS 1.2 PRF for this suite (RFC 5246 s5; SHA-384 suites: RFC 5288/5289)."""
        return "sha384" if self.cipher_suite in _SHA384_SUITES else "sha256"


def _handshake_messages(flight: bytes, who: str) -> list[tuple[int, bytes, bytes]]:
    """Split TLS records into handshake messages, up to ChangeCipherSpec (RFC 5246 s6.2)."""
    hs = bytearray()
    pos = 0
    while pos < len(flight):
        if len(flight) - pos < 5:
            raise TlsOfflineError(f"{who} data: truncated record header at offset {pos}")
        ctype, _ver, rlen = struct.unpack_from("!BHH", flight, pos)
        body = flight[pos + 5 : pos + 5 + rlen]
        if len(body) != rlen:
            raise TlsOfflineError(f"{who} data: record at offset {pos} runs past the end")
        if ctype == _CONTENT_CCS:
            break  # everything after it is encrypted
        if ctype == _CONTENT_HANDSHAKE:
            hs += body
        pos += 5 + rlen
    msgs: list[tuple[int, bytes, bytes]] = []
    pos = 0
    while pos < len(hs):
        if len(hs) - pos < 4:
            raise TlsOfflineError(f"{who} data: truncated handshake header")
        mtype = hs[pos]
        mlen = int.from_bytes(hs[pos + 1 : pos + 4], "big")
        body = bytes(hs[pos + 4 : pos + 4 + mlen])
        if len(body) != mlen:
            raise TlsOfflineError(f"{who} data: handshake message type {mtype} runs past the end")
        msgs.append((mtype, body, bytes(hs[pos : pos + 4 + mlen])))
        pos += 4 + mlen
    return msgs


def _extensions(data: bytes) -> set[int]:
    """Extension types in a Hello's extensions block (RFC 5246 s7.4.1.4); empty if absent."""
    if len(data) < 2:
        return set()
    end = min(len(data), 2 + int.from_bytes(data[0:2], "big"))
    types = set()
    pos = 2
    while pos + 4 <= end:
        types.add(int.from_bytes(data[pos : pos + 2], "big"))
        pos += 4 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return types


def _first(msgs: list[tuple[int, bytes, bytes]], mtype: int, what: str) -> bytes:
    for t, body, _raw in msgs:
        if t == mtype:
            return body
    raise TlsOfflineError(f"no {what} in the captured data")


def parse_rsa_handshake(client_data: bytes, server_data: bytes) -> RsaHandshake:
    """Randoms, version, suite and encrypted pre-master secret from both sides' TLS data.

    ``client_data``/``server_data``: the concatenated TLS records each side sent (the reassembled
    EAP-TLS data of its messages, in order). Records after ChangeCipherSpec are ignored.
    """
    cmsgs = _handshake_messages(client_data, "client")
    smsgs = _handshake_messages(server_data, "server")
    ch = _first(cmsgs, _HS_CLIENT_HELLO, "ClientHello")
    sh = _first(smsgs, _HS_SERVER_HELLO, "ServerHello")
    cke = _first(cmsgs, _HS_CLIENT_KEY_EXCHANGE, "ClientKeyExchange")
    if len(ch) < 34 or len(sh) < 38:
        raise TlsOfflineError("ClientHello or ServerHello too short")
    ch_version = int.from_bytes(ch[0:2], "big")
    version = int.from_bytes(sh[0:2], "big")
    if version not in (TLS1_0, TLS1_1, TLS1_2):
        raise TlsOfflineError(f"ServerHello version 0x{version:04x} is not TLS 1.0-1.2")
    sid_len = sh[34]
    if len(sh) < 35 + sid_len + 3:
        raise TlsOfflineError("ServerHello too short")
    suite = int.from_bytes(sh[35 + sid_len : 37 + sid_len], "big")
    if suite not in _RSA_KX_SUITES:
        raise TlsOfflineError(f"cipher suite 0x{suite:04x} does not use RSA key exchange")
    ems = _EXT_EMS in _extensions(sh[35 + sid_len + 3 :])
    # RFC 7627 s3: session hash over ClientHello .. ClientKeyExchange, in the order exchanged:
    # ClientHello, the server's flight, then the client's messages up to ClientKeyExchange.
    if cmsgs[0][0] != _HS_CLIENT_HELLO:
        raise TlsOfflineError("client data does not start with a ClientHello")
    transcript = bytearray(cmsgs[0][2])
    for _t, _body, raw in smsgs:
        transcript += raw
    for t, _body, raw in cmsgs[1:]:
        transcript += raw
        if t == _HS_CLIENT_KEY_EXCHANGE:
            break
    # RFC 2246 s7.4.7.1 vs SSLv3: TLS carries a 2-octet length before the encrypted pre-master.
    has_len = len(cke) >= 2 and int.from_bytes(cke[0:2], "big") == len(cke) - 2
    epm = cke[2:] if has_len else cke
    return RsaHandshake(
        version=version,
        cipher_suite=suite,
        client_random=ch[2:34],
        server_random=sh[2:34],
        client_hello_version=ch_version,
        encrypted_pre_master=epm,
        extended_master_secret=ems,
        transcript=bytes(transcript),
    )


def rsa_master_secret(hs: RsaHandshake, server_key: rsa.RSAPrivateKey) -> Secret:
    """Decrypt the pre-master secret (PKCS#1 v1.5); derive the master secret (RFC 5246 s8.1)."""
    try:
        pre_master = server_key.decrypt(hs.encrypted_pre_master, padding.PKCS1v15())
    except ValueError:
        raise TlsOfflineError("ClientKeyExchange does not decrypt with this server key") from None
    if len(pre_master) != 48 or int.from_bytes(pre_master[0:2], "big") != hs.client_hello_version:
        raise TlsOfflineError("decrypted pre-master secret is malformed (wrong key or version)")
    if hs.extended_master_secret:
        # RFC 7627 s4: PRF(pre_master, "extended master secret", session_hash).
        if hs.version == TLS1_2:
            session_hash = hashlib.new(hs.prf_hash, hs.transcript).digest()
        else:
            session_hash = (
                hashlib.md5(hs.transcript, usedforsecurity=False).digest()
                + hashlib.sha1(hs.transcript, usedforsecurity=False).digest()
            )
        label, seed = b"extended master secret", session_hash
    else:
        label, seed = b"master secret", hs.client_random + hs.server_random
    master = tls_prf(hs.version, pre_master, label, seed, 48, hash_name=hs.prf_hash)
    return Secret(master)


def eap_tls_key_material(hs: RsaHandshake, master: Secret) -> KeyMaterial:
    """MSK, EMSK and Session-Id from the master secret (RFC 5216 s2.3)."""
    seed = hs.client_random + hs.server_random
    km = tls_prf(hs.version, master.reveal(), _EAP_TLS_LABEL, seed, 128, hash_name=hs.prf_hash)
    return KeyMaterial(
        msk=Secret(km[:64]), emsk=Secret(km[64:]), session_id=bytes([_EAP_TLS_TYPE]) + seed
    )


def rsa_eap_tls_keys(
    client_data: bytes, server_data: bytes, server_key: rsa.RSAPrivateKey
) -> KeyMaterial:
    """Offline EAP-TLS keys of a captured TLS 1.0-1.2 RSA-key-exchange handshake (RFC 5216 s2.3)."""
    hs = parse_rsa_handshake(client_data, server_data)
    logger.debug("offline EAP-TLS: version 0x%04x suite 0x%04x", hs.version, hs.cipher_suite)
    return eap_tls_key_material(hs, rsa_master_secret(hs, server_key))


def eap_tls_handshakes(eap_packets: Iterable[bytes]) -> list[tuple[bytes, bytes]]:
    """(client data, server data) of each EAP-TLS run in a captured sequence of EAP packets.

    Each EAP-TLS Start (RFC 5216 s2.1.1) begins a run; fragments are concatenated per sender
    (Requests: server, Responses: client). Other EAP types are skipped, and a packet identical
    to the sender's previous one (a retransmission) is counted once.
    """
    runs: list[tuple[bytearray, bytearray]] = []
    last: dict[int, bytes] = {}
    for pkt in eap_packets:
        if len(pkt) < 6 or pkt[0] not in (1, 2) or pkt[4] != _EAP_TLS_TYPE:
            continue
        length = int.from_bytes(pkt[2:4], "big")
        if not 6 <= length <= len(pkt):
            raise TlsOfflineError("EAP packet shorter than its Length field")
        pkt = pkt[:length]
        if last.get(pkt[0]) == pkt:
            continue
        last[pkt[0]] = pkt
        try:
            frame = parse_frame(pkt[5:])
        except FragmentError as exc:
            raise TlsOfflineError(f"bad EAP-TLS framing: {exc}") from None
        if frame.start:
            runs.append((bytearray(), bytearray()))
        elif runs:
            runs[-1][0 if pkt[0] == 2 else 1].extend(frame.data)
    return [(bytes(c), bytes(s)) for c, s in runs]

"""A minimal RADIUS/EAP codec for interop tests only (RFC 2865, RFC 3579, RFC 2548 MS-MPPE keys)."""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

__all__ = [
    "ACCESS_ACCEPT",
    "ACCESS_CHALLENGE",
    "ACCESS_REJECT",
    "ACCESS_REQUEST",
    "Radius",
    "decode",
    "encode",
    "mppe_decrypt",
    "mppe_encrypt",
]

ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE = 1, 2, 3, 11
USER_NAME, STATE, VENDOR_SPECIFIC, EAP_MESSAGE, MESSAGE_AUTHENTICATOR = 1, 24, 26, 79, 80
EAP_KEY_NAME = 102
MICROSOFT = 311
MS_MPPE_SEND_KEY, MS_MPPE_RECV_KEY = 16, 17


@dataclass
class Radius:
    """One RADIUS packet: code, identifier, authenticator and attributes in order."""

    code: int
    identifier: int
    authenticator: bytes
    attrs: list[tuple[int, bytes]]

    def get(self, typ: int) -> bytes | None:
        """First attribute of a type."""
        return next((v for t, v in self.attrs if t == typ), None)

    def eap(self) -> bytes:
        """EAP-Message attributes concatenated (RFC 3579 s3.1)."""
        return b"".join(v for t, v in self.attrs if t == EAP_MESSAGE)

    def vendor(self, vendor_id: int, vtype: int) -> bytes | None:
        """A Vendor-Specific sub-attribute value."""
        for t, v in self.attrs:
            if t == VENDOR_SPECIFIC and len(v) >= 6:
                vid, st, sl = struct.unpack_from("!IBB", v)
                if vid == vendor_id and st == vtype:
                    return v[6 : 4 + sl]
        return None


def decode(data: bytes) -> Radius:
    """Parse a RADIUS packet (no checks beyond framing)."""
    code, ident, length = struct.unpack_from("!BBH", data)
    auth = data[4:20]
    attrs = []
    pos = 20
    while pos + 2 <= length:
        t, ln = data[pos], data[pos + 1]
        attrs.append((t, data[pos + 2 : pos + ln]))
        pos += ln
    return Radius(code, ident, auth, attrs)


def eap_attrs(eap: bytes) -> list[tuple[int, bytes]]:
    """Split an EAP packet into EAP-Message attributes of at most 253 octets."""
    return [(EAP_MESSAGE, eap[i : i + 253]) for i in range(0, len(eap), 253)]


def encode(pkt: Radius, secret: bytes, request_authenticator: bytes | None = None) -> bytes:
    """Serialise with Message-Authenticator; responses get their Response Authenticator."""
    attrs = [(t, v) for t, v in pkt.attrs if t != MESSAGE_AUTHENTICATOR]
    attrs.append((MESSAGE_AUTHENTICATOR, bytes(16)))
    body = b"".join(bytes([t, len(v) + 2]) + v for t, v in attrs)
    length = 20 + len(body)
    auth = pkt.authenticator if request_authenticator is None else request_authenticator
    raw = struct.pack("!BBH", pkt.code, pkt.identifier, length) + auth + body
    # RFC 3579 s3.2: HMAC-MD5 over the packet with the Request Authenticator, MA zeroed.
    mac = hmac.new(secret, raw, hashlib.md5).digest()
    raw = raw[:-16] + mac
    if request_authenticator is not None:  # RFC 2865 s3: Response Authenticator
        signed = raw[:4] + request_authenticator + raw[20:] + secret
        resp_auth = hashlib.md5(signed, usedforsecurity=False).digest()
        raw = raw[:4] + resp_auth + raw[20:]
    return raw


def vsa(vendor_id: int, vtype: int, value: bytes) -> tuple[int, bytes]:
    """A Vendor-Specific attribute with one sub-attribute."""
    return VENDOR_SPECIFIC, struct.pack("!IBB", vendor_id, vtype, len(value) + 2) + value


def mppe_encrypt(key: bytes, secret: bytes, req_auth: bytes, salt: bytes) -> bytes:
    """RFC 2548 s2.4.2 MS-MPPE key encryption (salt high bit set)."""
    plain = bytes([len(key)]) + key
    plain += bytes(-len(plain) % 16)
    out = bytearray()
    prev = req_auth + salt
    for i in range(0, len(plain), 16):
        b = hashlib.md5(secret + prev, usedforsecurity=False).digest()
        c = bytes(x ^ y for x, y in zip(plain[i : i + 16], b, strict=True))
        out += c
        prev = c
    return salt + bytes(out)


def mppe_decrypt(value: bytes, secret: bytes, req_auth: bytes) -> bytes:
    """RFC 2548 s2.4.2 MS-MPPE key decryption."""
    salt, enc = value[:2], value[2:]
    out = bytearray()
    prev = req_auth + salt
    for i in range(0, len(enc), 16):
        b = hashlib.md5(secret + prev, usedforsecurity=False).digest()
        out += bytes(x ^ y for x, y in zip(enc[i : i + 16], b, strict=True))
        prev = enc[i : i + 16]
    return bytes(out[1 : 1 + out[0]])

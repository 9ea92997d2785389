"""RADIUS packets for EAP (RFC 2865, RFC 3579, RFC 2548): codec, authenticators, MPPE keys."""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pana_codecs.enums import WireEnum
from pana_codecs.errors import CodecError

from .keys import DerivedCache, Secret

__all__ = [
    "MAX_ATTR_VALUE",
    "MAX_PACKET",
    "MICROSOFT",
    "Attr",
    "AuthenticatorMismatch",
    "MsAttr",
    "RadiusCode",
    "RadiusPacket",
    "decode_radius",
    "decrypt_mppe_key",
    "encode_radius",
    "encrypt_mppe_key",
    "join_eap",
    "message_authenticator",
    "response_authenticator",
    "sign_request",
    "sign_response",
    "split_eap",
    "vendor_attr",
    "vendor_attrs",
    "verify_request",
    "verify_response",
]

MAX_PACKET = 4096
"""Largest RADIUS packet (RFC 2865 s3)."""
MAX_ATTR_VALUE = 253
"""Largest attribute value: the Length octet counts the 2-octet header (RFC 2865 s5)."""
MICROSOFT = 311
"""Vendor-Id of the Microsoft vendor-specific attributes (RFC 2548 s2)."""

_HDR = struct.Struct("!BBH16s")
_LEN = struct.Struct("!H")
_MA_ZERO = bytes(16)
_MA_TYPE = 80  # Attr.MESSAGE_AUTHENTICATOR as a plain int: enum lookups cost on hot paths
_MA_HEAD = b"\x50\x12"  # its Type and Length octets (RFC 3579 s3.2)


class RadiusCode(WireEnum):
    """RADIUS packet codes used for EAP (RFC 2865 s3, s4; RFC 5997)."""

    ACCESS_REQUEST = 1
    ACCESS_ACCEPT = 2
    ACCESS_REJECT = 3
    ACCESS_CHALLENGE = 11
    STATUS_SERVER = 12
    """RFC 5997: a liveness probe (proxies' status checks)."""


class Attr(WireEnum):
    """RADIUS attribute types used here (RFC 2865 s5, RFC 3579 s3, RFC 4072)."""

    USER_NAME = 1
    NAS_IP_ADDRESS = 4
    NAS_PORT = 5
    SERVICE_TYPE = 6
    FRAMED_MTU = 12
    REPLY_MESSAGE = 18
    STATE = 24
    VENDOR_SPECIFIC = 26
    SESSION_TIMEOUT = 27
    CALLED_STATION_ID = 30
    CALLING_STATION_ID = 31
    NAS_IDENTIFIER = 32
    PROXY_STATE = 33
    NAS_PORT_TYPE = 61
    EAP_MESSAGE = 79
    MESSAGE_AUTHENTICATOR = 80
    NAS_PORT_ID = 87
    NAS_IPV6_ADDRESS = 95
    ERROR_CAUSE = 101
    EAP_KEY_NAME = 102


class MsAttr(WireEnum):
    """Microsoft vendor-specific attribute types (RFC 2548 s2.4.2, s2.4.3)."""

    MS_MPPE_SEND_KEY = 16
    MS_MPPE_RECV_KEY = 17


class AuthenticatorMismatch(ValueError):
    """A packet failed its Response Authenticator or Message-Authenticator check."""


@dataclass(frozen=True, slots=True)
class RadiusPacket:
    """One RADIUS packet; attributes keep their wire order (RFC 2865 s5)."""

    code: int
    identifier: int
    authenticator: bytes
    attributes: tuple[tuple[int, bytes], ...] = ()

    def get(self, attr_type: int) -> bytes | None:
        """Value of the first attribute of this type, or None."""
        for t, v in self.attributes:
            if t == attr_type:
                return v
        return None

    def all(self, attr_type: int) -> list[bytes]:
        """Values of every attribute of this type, in order."""
        return [v for t, v in self.attributes if t == attr_type]


def decode_radius(data: bytes) -> RadiusPacket:
    """Decode one RADIUS packet; raise CodecError on anything malformed (RFC 2865 s3)."""
    return _decode(data)[0]


def _header(data: bytes) -> tuple[int, int, int, bytes]:
    """Code, Identifier, Length and Authenticator of a packet; raise CodecError if the header or
    Length is malformed (RFC 2865 s3)."""
    if len(data) < 20:
        raise CodecError(f"RADIUS packet of {len(data)} octets is shorter than the header", 0)
    code, ident, length, auth = _HDR.unpack_from(data)
    # RFC 2865 s3: octets beyond Length are padding and ignored; fewer is an error.
    if length < 20 or length > MAX_PACKET:
        raise CodecError(f"RADIUS Length {length} outside 20..4096", 2)
    if length > len(data):
        raise CodecError(f"RADIUS Length {length} > received {len(data)} octets", 2)
    return code, ident, length, auth


def _decode(data: bytes) -> tuple[RadiusPacket, int]:
    """The packet and the offset of its only 16-octet Message-Authenticator value (else -1)."""
    code, ident, length, auth = _header(data)
    data = bytes(data)
    attrs: list[tuple[int, bytes]] = []
    ma_at, ma_count = -1, 0
    pos = 20
    while pos < length:
        if pos + 2 > length:
            raise CodecError("truncated attribute header", pos, "attributes")
        atype, alen = data[pos], data[pos + 1]
        if alen < 2 or pos + alen > length:
            raise CodecError(f"attribute {atype} Length {alen} invalid", pos + 1, "attributes")
        if atype == _MA_TYPE:
            ma_count += 1
            ma_at = pos + 2 if alen == 18 else -1
        attrs.append((atype, data[pos + 2 : pos + alen]))
        pos += alen
    return RadiusPacket(code, ident, auth, tuple(attrs)), ma_at if ma_count == 1 else -1


def encode_radius(pkt: RadiusPacket) -> bytes:
    """Encode a packet as given (authenticator included); the Length field is computed."""
    if len(pkt.authenticator) != 16:
        raise ValueError("RADIUS Authenticator must be 16 octets")
    body = bytearray()
    for atype, value in pkt.attributes:
        if len(value) > MAX_ATTR_VALUE:
            raise ValueError(f"attribute {atype} value of {len(value)} octets exceeds 253")
        body += bytes((atype, len(value) + 2)) + value
    length = 20 + len(body)
    if length > MAX_PACKET:
        raise ValueError(f"RADIUS packet of {length} octets exceeds 4096")
    return _HDR.pack(pkt.code, pkt.identifier, length, pkt.authenticator) + bytes(body)


def split_eap(eap: bytes) -> list[tuple[int, bytes]]:
    """EAP-Message attributes carrying one EAP packet, 253 octets each (RFC 3579 s3.1)."""
    if not eap:
        return [(Attr.EAP_MESSAGE, b"")]  # EAP-Start (RFC 3579 s2.1)
    return [
        (Attr.EAP_MESSAGE, eap[i : i + MAX_ATTR_VALUE]) for i in range(0, len(eap), MAX_ATTR_VALUE)
    ]


def join_eap(pkt: RadiusPacket) -> bytes | None:
    """The EAP packet from the EAP-Message attributes, concatenated in order, or None."""
    parts = pkt.all(Attr.EAP_MESSAGE)
    if not parts:
        return None
    return b"".join(parts)


def vendor_attr(vendor_id: int, vendor_type: int, value: bytes) -> tuple[int, bytes]:
    """A Vendor-Specific attribute with one sub-attribute (RFC 2865 s5.26)."""
    if len(value) > MAX_ATTR_VALUE - 6 - 2:
        raise ValueError("vendor attribute value too long")
    return (
        Attr.VENDOR_SPECIFIC,
        struct.pack("!IBB", vendor_id, vendor_type, len(value) + 2) + value,
    )


def vendor_attrs(pkt: RadiusPacket, vendor_id: int) -> list[tuple[int, bytes]]:
    """(vendor type, value) of each well-formed sub-attribute of this vendor (RFC 2865 s5.26)."""
    found: list[tuple[int, bytes]] = []
    for value in pkt.all(Attr.VENDOR_SPECIFIC):
        if len(value) < 4 or int.from_bytes(value[:4], "big") != vendor_id:
            continue
        pos = 4
        while pos + 2 <= len(value):
            vtype, vlen = value[pos], value[pos + 1]
            if vlen < 2 or pos + vlen > len(value):
                break  # malformed tail: ignore the rest of this attribute
            found.append((vtype, value[pos + 2 : pos + vlen]))
            pos += vlen
    return found


def _secret(secret: Secret | bytes) -> bytes:
    return secret.reveal() if isinstance(secret, Secret) else bytes(secret)


_Pads = tuple["hashlib._Hash", "hashlib._Hash"]
_pads: DerivedCache[_Pads] = DerivedCache(64)
"""HMAC-MD5 pads of the shared secrets in use (a NAS or a server has one or a few)."""


def _hmac_pads(key: bytes) -> _Pads:
    """MD5 contexts that have absorbed key ^ ipad and key ^ opad (RFC 2104 s2)."""
    if len(key) > 64:
        key = hashlib.md5(key).digest()  # noqa: S324 - RFC 2104: long keys are hashed first
    key = key.ljust(64, b"\0")
    inner = hashlib.md5(bytes(b ^ 0x36 for b in key))  # noqa: S324 - HMAC-MD5, RFC 3579 s3.2
    outer = hashlib.md5(bytes(b ^ 0x5C for b in key))  # noqa: S324
    return inner, outer


def _secret_pads(secret: Secret) -> _Pads:
    """The pads of ``secret``, computed once per Secret object and forgotten with it."""
    return _pads.get(secret, lambda secret: _hmac_pads(secret.reveal()))


def _hmac_md5(secret: Secret | bytes, data: bytes) -> bytes:
    """HMAC-MD5 (RFC 2104) of ``data``: copies of the secret's pads, no key schedule per packet."""
    if not isinstance(secret, Secret):
        return hmac.digest(bytes(secret), data, "md5")
    inner_pad, outer_pad = _secret_pads(secret)
    inner = inner_pad.copy()
    inner.update(data)
    outer = outer_pad.copy()
    outer.update(inner.digest())
    return outer.digest()


def _with_ma_zeroed(pkt: RadiusPacket, authenticator: bytes) -> RadiusPacket:
    attrs = tuple(
        (t, _MA_ZERO if t == Attr.MESSAGE_AUTHENTICATOR else v) for t, v in pkt.attributes
    )
    return RadiusPacket(pkt.code, pkt.identifier, authenticator, attrs)


def message_authenticator(pkt: RadiusPacket, secret: Secret | bytes, authenticator: bytes) -> bytes:
    """HMAC-MD5 Message-Authenticator over ``pkt`` with ``authenticator`` in the header.

    RFC 3579 s3.2: computed with the attribute's value as 16 zero octets; for replies the
    header carries the Request Authenticator of the Access-Request being answered.
    """
    return _hmac_md5(secret, encode_radius(_with_ma_zeroed(pkt, authenticator)))


def _fill_ma(pkt: RadiusPacket, mac: bytes) -> RadiusPacket:
    attrs = tuple((t, mac if t == Attr.MESSAGE_AUTHENTICATOR else v) for t, v in pkt.attributes)
    return RadiusPacket(pkt.code, pkt.identifier, pkt.authenticator, attrs)


def _ensure_ma(
    attributes: Iterable[tuple[int, bytes]], *, first: bool
) -> tuple[tuple[int, bytes], ...]:
    attrs = tuple(attributes)
    if any(t == Attr.MESSAGE_AUTHENTICATOR for t, _ in attrs):
        return attrs
    ma = ((int(Attr.MESSAGE_AUTHENTICATOR), _MA_ZERO),)
    return ma + attrs if first else attrs + ma


def response_authenticator(
    code: int, identifier: int, request_authenticator: bytes, attrs_wire: bytes, secret: bytes
) -> bytes:
    """MD5(Code | Identifier | Length | RequestAuth | Attributes | Secret) (RFC 2865 s3)."""
    head = struct.pack("!BBH", code, identifier, 20 + len(attrs_wire))
    return hashlib.md5(head + request_authenticator + attrs_wire + secret).digest()  # noqa: S324


def sign_request(
    code: int,
    identifier: int,
    request_authenticator: bytes,
    attributes: Sequence[tuple[int, bytes]],
    secret: Secret | bytes,
) -> bytes:
    """Encode an Access-Request with a Message-Authenticator (added last if absent)."""
    if len(request_authenticator) != 16:
        raise ValueError("RADIUS Authenticator must be 16 octets")
    body = bytearray()
    for atype, value in attributes:
        if atype == _MA_TYPE:  # the caller placed it: sign the general way
            pkt = RadiusPacket(code, identifier, request_authenticator, tuple(attributes))
            return encode_radius(
                _fill_ma(pkt, message_authenticator(pkt, secret, request_authenticator))
            )
        if len(value) > MAX_ATTR_VALUE:
            raise ValueError(f"attribute {atype} value of {len(value)} octets exceeds 253")
        body.append(atype)
        body.append(len(value) + 2)
        body += value
    # RFC 3579 s3.2: the HMAC covers the packet with the attribute's value zeroed; for a
    # request the header carries the Request Authenticator itself, so it is signed as sent.
    length = 20 + len(body) + 18
    if length > MAX_PACKET:
        raise ValueError(f"RADIUS packet of {length} octets exceeds 4096")
    head = _HDR.pack(code, identifier, length, request_authenticator)
    wire = head + body + _MA_HEAD
    return wire + _hmac_md5(secret, wire + _MA_ZERO)


def sign_response(
    code: int,
    identifier: int,
    request_authenticator: bytes,
    attributes: Sequence[tuple[int, bytes]],
    secret: Secret | bytes,
) -> bytes:
    """Encode a reply: Message-Authenticator (first if absent), then Response Authenticator."""
    # RFC 3579 s3.2: Message-Authenticator first, over the Request Authenticator; the
    # Response Authenticator then covers the finished attributes. First position: the
    # BlastRADIUS (CVE-2024-3596) hardening.
    pkt = RadiusPacket(code, identifier, request_authenticator, _ensure_ma(attributes, first=True))
    pkt = _fill_ma(pkt, message_authenticator(pkt, secret, request_authenticator))
    wire = encode_radius(pkt)
    resp = response_authenticator(
        code, identifier, request_authenticator, wire[20:], _secret(secret)
    )
    return wire[:4] + resp + wire[20:]


def _check_ma_wire(
    data: bytes, length: int, at: int, secret: Secret | bytes, authenticator: bytes
) -> None:
    """The Message-Authenticator at offset ``at`` of the raw packet (RFC 3579 s3.2): the HMAC
    over the octets as received, its value zeroed and ``authenticator`` in the header."""
    if at < 0:
        raise AuthenticatorMismatch("Message-Authenticator missing or malformed")
    signed = b"".join((data[:4], authenticator, data[20:at], _MA_ZERO, data[at + 16 : length]))
    if not hmac.compare_digest(data[at : at + 16], _hmac_md5(secret, signed)):
        raise AuthenticatorMismatch("Message-Authenticator does not verify")


def verify_response(
    data: bytes, request_authenticator: bytes, secret: Secret | bytes
) -> RadiusPacket:
    """Decode a reply and check both authenticators; raise CodecError or AuthenticatorMismatch."""
    data = bytes(data)
    code, ident, length, auth = _header(data)
    # The Response Authenticator first, over the raw octets: a forged reply costs one MD5, not
    # the decoding of up to 2,038 attributes (~135x a small reply; anyone can spoof the server).
    expected = response_authenticator(
        code, ident, request_authenticator, data[20:length], _secret(secret)
    )
    if not hmac.compare_digest(auth, expected):
        raise AuthenticatorMismatch("Response Authenticator does not verify")
    pkt, ma_at = _decode(data)
    # RFC 3579 s3.2 requires it with EAP-Message; we require it always (BlastRADIUS).
    _check_ma_wire(data, length, ma_at, secret, request_authenticator)
    return pkt


def _locate_ma(data: bytes, length: int, max_attributes: int | None) -> int:
    """Offset of the only 16-octet Message-Authenticator value, -1 if none, several or another
    size; a walk over the attribute headers that copies no value. CodecError as ``_decode``, and
    for more than ``max_attributes`` attributes (None: no limit)."""
    ma_at, ma_count = -1, 0
    pos = 20
    left = length if max_attributes is None else max_attributes
    while pos < length:
        if not left:
            raise CodecError(f"more than {max_attributes} attributes", pos, "attributes")
        left -= 1
        if pos + 2 > length:
            raise CodecError("truncated attribute header", pos, "attributes")
        alen = data[pos + 1]
        if alen < 2 or pos + alen > length:
            raise CodecError(f"attribute {data[pos]} Length {alen} invalid", pos + 1, "attributes")
        if data[pos] == _MA_TYPE:
            ma_count += 1
            ma_at = pos + 2 if alen == 18 else -1
        pos += alen
    return ma_at if ma_count == 1 else -1


def verify_request(
    data: bytes, secret: Secret | bytes, *, max_attributes: int | None = None
) -> RadiusPacket:
    """Check an Access-Request's Message-Authenticator (required, RFC 3579 s3.2), then decode it;
    more than ``max_attributes`` attributes (None: no limit) is a CodecError, found first."""
    data = bytes(data)
    _code, _ident, length, auth = _header(data)
    # The HMAC first, over the raw octets: anyone can send a request from a client's address, and
    # a forged one must cost a bounded walk over the attribute headers and one HMAC, not the
    # decoding of up to 2,038 attributes. The Request Authenticator is random, not a MAC.
    _check_ma_wire(data, length, _locate_ma(data, length, max_attributes), secret, auth)
    return _decode(data)[0]


def encrypt_mppe_key(
    key: bytes, secret: Secret | bytes, request_authenticator: bytes, salt: int
) -> bytes:
    """Salt | String of an MS-MPPE-Send/Recv-Key attribute (RFC 2548 s2.4.2)."""
    if not salt & 0x8000:
        raise ValueError("MS-MPPE key salt must have its most significant bit set")
    if len(key) > 255:
        raise ValueError("MS-MPPE key too long")
    s = _secret(secret)
    salt_b = struct.pack("!H", salt)
    plain = bytes((len(key),)) + key
    plain += bytes(-len(plain) % 16)
    out = bytearray()
    prev = request_authenticator + salt_b
    for i in range(0, len(plain), 16):
        b = hashlib.md5(s + prev).digest()  # noqa: S324 - RFC 2548 s2.4.2
        c = _xor16(plain[i : i + 16], b)
        out += c
        prev = c
    return salt_b + bytes(out)


def _xor16(a: bytes, b: bytes) -> bytes:
    """a ^ b for two 16-octet blocks, as integers (one operation, not sixteen)."""
    return (int.from_bytes(a) ^ int.from_bytes(b)).to_bytes(16)


def decrypt_mppe_key(value: bytes, secret: Secret | bytes, request_authenticator: bytes) -> bytes:
    """The key inside an MS-MPPE-Send/Recv-Key value; raise ValueError if malformed."""
    if len(value) < 2 + 16 or (len(value) - 2) % 16:
        raise ValueError("MS-MPPE key attribute has a bad length")
    salt_b, cipher = value[:2], value[2:]
    if not salt_b[0] & 0x80:
        raise ValueError("MS-MPPE key salt lacks its most significant bit")
    s = _secret(secret)
    plain = bytearray()
    prev = request_authenticator + salt_b
    for i in range(0, len(cipher), 16):
        c = cipher[i : i + 16]
        b = hashlib.md5(s + prev).digest()  # noqa: S324 - RFC 2548 s2.4.2
        plain += _xor16(c, b)
        prev = c
    klen = plain[0]
    if klen > len(plain) - 1:
        raise ValueError("MS-MPPE Key-Length exceeds the decrypted data")
    return bytes(plain[1 : 1 + klen])

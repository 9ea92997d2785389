"""Fuzz targets for RADIUS (RFC 2865/3579): the codec and the pass-through's reading of replies.

``radius``: ``decode_radius`` raises only CodecError; an accepted packet re-encodes to its first
Length octets. ``radius-reply``: the fuzzed reply's attributes are signed with the shared secret
(as a server holding it would), so the authenticator checks pass and the pass-through's reading
of the reply (EAP-Message reassembly, State, Session-Timeout, MS-MPPE keys) is reached: it must
answer or raise RadiusError, nothing else.
"""

from __future__ import annotations

import contextlib
import functools
import logging

from eap._radius_codec import (
    MICROSOFT,
    Attr,
    AuthenticatorMismatch,
    MsAttr,
    RadiusCode,
    decode_radius,
    encode_radius,
    encrypt_mppe_key,
    sign_response,
    vendor_attr,
    verify_response,
)
from eap.aaa.passthrough import RadiusConfig, RadiusError, RadiusPassThrough
from eap.keys import Secret
from pana_codecs import CodecError

from ..registry import check, register
from ._common import fixed_rng, no_errors_logged

__all__ = ["fuzz_radius", "fuzz_radius_reply"]

logger = logging.getLogger(__name__)

_SECRET = Secret(b"radius-shared-secret")
_REQUEST_AUTH = bytes(range(16))


@functools.cache
def _replies() -> tuple[bytes, ...]:
    eap_request = b"\x01\x05\x00\x06\x2f\x01"  # Request/PSK, first message
    eap_success = b"\x03\x05\x00\x04"
    keys = [
        vendor_attr(
            MICROSOFT,
            MsAttr.MS_MPPE_RECV_KEY,
            encrypt_mppe_key(b"r" * 32, _SECRET, _REQUEST_AUTH, 0x8001),
        ),
        vendor_attr(
            MICROSOFT,
            MsAttr.MS_MPPE_SEND_KEY,
            encrypt_mppe_key(b"s" * 32, _SECRET, _REQUEST_AUTH, 0x8002),
        ),
    ]
    return (
        sign_response(
            RadiusCode.ACCESS_CHALLENGE,
            7,
            _REQUEST_AUTH,
            [
                (Attr.EAP_MESSAGE, eap_request),
                (Attr.STATE, b"state-1"),
                (Attr.SESSION_TIMEOUT, (30).to_bytes(4, "big")),
            ],
            _SECRET,
        ),
        sign_response(
            RadiusCode.ACCESS_ACCEPT,
            7,
            _REQUEST_AUTH,
            [(Attr.EAP_MESSAGE, eap_success), *keys],
            _SECRET,
        ),
        sign_response(
            RadiusCode.ACCESS_REJECT,
            7,
            _REQUEST_AUTH,
            [(Attr.EAP_MESSAGE, b"\x04\x05\x00\x04")],
            _SECRET,
        ),
    )


@register("radius", seeds=_replies, max_size=4096)
def fuzz_radius(data: bytes) -> None:
    """decode_radius: CodecError or a packet that re-encodes to its Length octets."""
    try:
        pkt = decode_radius(data)
    except CodecError:
        return
    length = int.from_bytes(data[2:4], "big")
    check(encode_radius(pkt) == data[:length], "RADIUS re-encoding differs")


@register("radius-reply", seeds=_replies, max_size=4096)
def fuzz_radius_reply(data: bytes) -> None:
    """A signed reply through verify_response and the pass-through: RadiusError at most."""
    try:
        pkt = decode_radius(data)
    except CodecError:
        return
    attributes = [(t, v) for t, v in pkt.attributes if t != Attr.MESSAGE_AUTHENTICATOR]
    try:
        wire = sign_response(pkt.code, pkt.identifier, _REQUEST_AUTH, attributes, _SECRET)
    except ValueError:
        return  # too long once signed
    try:
        reply = verify_response(wire, _REQUEST_AUTH, _SECRET)
    except (CodecError, AuthenticatorMismatch) as exc:
        check(False, f"a correctly signed reply was refused: {exc}")
        return
    client = RadiusPassThrough(
        RadiusConfig(server=("192.0.2.1", 1812), secret=_SECRET), rng=fixed_rng(b"radius")
    )
    with no_errors_logged("RADIUS pass-through"), contextlib.suppress(RadiusError):
        client._interpret(reply, _REQUEST_AUTH)  # the reply handling, without a socket

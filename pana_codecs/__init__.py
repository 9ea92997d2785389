"""Wire codecs for PANA (RFC 5191) and EAP (RFC 3748)."""

from __future__ import annotations

from .eap import EapCode, EapPacket, EapType, decode_eap, encode_eap
from .errors import CodecError
from .pana import (
    AVP_FLAG_VENDOR,
    Avp,
    MessageFlags,
    MessageType,
    PanaMessage,
    decode_pana,
    encode_pana,
)

__all__ = [
    "AVP_FLAG_VENDOR",
    "Avp",
    "CodecError",
    "EapCode",
    "EapPacket",
    "EapType",
    "MessageFlags",
    "MessageType",
    "PanaMessage",
    "decode_eap",
    "decode_pana",
    "encode_eap",
    "encode_pana",
]

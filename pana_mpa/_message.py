"""Message rules shared by both roles: header checks (RFC 5191 s5.5, s6), AVP encryption (RFC 6786).

Also the small records a session passes around while it processes one message, and ``Role``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from enum import StrEnum

from eap.keys import Secret
from pana_codecs import (
    AVP_SPECS,
    Avp,
    CodecError,
    EncryptionPolicy,
    MessageFlags,
    MessageType,
    PanaMessage,
    decode_avps,
    encode_avps,
)

from . import crypto
from ._avps import AvpCode, u32_avp
from .address import Address
from .retransmit import Retransmitter

__all__ = [
    "U32_MOD",
    "Drop",
    "Outstanding",
    "Role",
    "Rx",
    "check_avp_placement",
    "check_head",
    "check_header",
    "constant_u32_avp",
    "decrypt_avps",
    "encrypt_avps",
    "zero_auth_avp",
]

logger = logging.getLogger(__name__)

U32_MOD = 1 << 32
"""Sequence numbers and Key-Ids wrap modulo 2**32 (RFC 5191 s5.2)."""

# The header flags and types as plain ints for the hot paths (an IntFlag operation builds enum
# members); the public types stay pana_codecs.MessageFlags and MessageType.
F_R = int(MessageFlags.R)
F_S = int(MessageFlags.S)
F_C = int(MessageFlags.C)
F_A = int(MessageFlags.A)
F_P = int(MessageFlags.P)
F_I = int(MessageFlags.I)
F_E = int(MessageFlags.E)
PCI = int(MessageType.PANA_CLIENT_INITIATION)
PAR_PAN = int(MessageType.PANA_AUTH)
PTR_PTA = int(MessageType.PANA_TERMINATION)
PNR_PNA = int(MessageType.PANA_NOTIFICATION)
PRY = int(MessageType.PANA_RELAY)

# RFC 6786 s6.1, from the one AVP table: the AVPs that must never be inside Encryption-Encap
# (policy N), and those we put there once keys exist: every Y and X AVP but EAP-Payload, which
# stays in the clear (the EAP method protects its own exchange).
_NEVER_ENCRYPTED = frozenset(
    code
    for (code, vendor_id), spec in AVP_SPECS.items()
    if vendor_id is None and spec.encryption is EncryptionPolicy.MUST_NOT
)
_ENCRYPTED_CODES = frozenset(
    code
    for (code, vendor_id), spec in AVP_SPECS.items()
    if vendor_id is None
    and spec.encryption is not EncryptionPolicy.MUST_NOT
    and code != AvpCode.EAP_PAYLOAD
)
_SEQ_TYPES = frozenset({PAR_PAN, PTR_PTA, PNR_PNA})
_AUTH = int(AvpCode.AUTH)
_NONCE = int(AvpCode.NONCE)
_ENCAP = int(AvpCode.ENCRYPTION_ENCAP)


class Role(StrEnum):
    """Which end of PANA a session is; its value names the role in traces and logs."""

    PAC = "pac"
    PAA = "paa"


class Drop(Exception):
    """Silently discard the message being processed (RFC 5191 s5.5); caught at the entry point."""


@dataclass(slots=True)
class Outstanding:
    """The single outstanding request (or PCI) and its retransmission timer."""

    type: int
    seq: int
    data: bytes
    sent_at: float
    rtx: Retransmitter | None


@dataclass(slots=True)
class Rx:
    """A received message being processed."""

    msg: PanaMessage
    raw: bytes
    addr: Address
    auth_verified: bool = False
    """Its AUTH was verified on the raw octets before decoding (``Session.screen``)."""


@functools.lru_cache(maxsize=128)
def constant_u32_avp(code: int, value: int) -> Avp:
    """A shared Unsigned32 AVP for values that repeat (algorithms, Result-Code, lifetime,
    Termination-Cause); Avps are immutable. Never for per-session values such as Key-Id."""
    return u32_avp(code, value)


@functools.lru_cache(maxsize=8)
def zero_auth_avp(integrity_alg: int) -> Avp:
    """The AUTH AVP with a zeroed value that a message is encoded with before signing (s5.4)."""
    return Avp(AvpCode.AUTH, bytes(crypto.auth_length(integrity_alg)))


def check_header(msg: PanaMessage) -> None:
    """Header and AVP-placement checks of RFC 5191 s5.5/s6 that need no session state."""
    check_head(msg.type, int(msg.flags), msg.session_id, msg.seq)
    if msg.type != PCI:
        check_avp_placement(msg.avps)


def check_head(mtype: int, flags: int, session_id: int, seq: int) -> None:
    """The checks of ``check_header`` that need only the 16-octet header (before decoding)."""
    if mtype == PCI:
        if flags & F_R or session_id != 0 or seq != 0:
            raise Drop("PCI must have R clear, Session Identifier 0 and Sequence Number 0")
        return
    if mtype not in _SEQ_TYPES:
        raise Drop(f"unsupported message type {mtype}")
    if flags & F_S and flags & F_C:
        raise Drop("S and C both set")
    if mtype != PAR_PAN and flags & (F_S | F_C):
        raise Drop("S/C flag outside PAR/PAN")
    if mtype == PNR_PNA:
        if bool(flags & F_A) == bool(flags & F_P):
            raise Drop("PNR/PNA needs exactly one of the A and P flags")
    elif flags & (F_A | F_P):
        raise Drop("A/P flag outside PNR/PNA")


def check_avp_placement(avps: tuple[Avp, ...]) -> None:
    """AUTH last and once, Nonce length (RFC 5191 s5.5, s8.5): the AVP half of ``check_header``."""
    last = len(avps) - 1
    auth_misplaced = False
    nonce: Avp | None = None
    for i, avp in enumerate(avps):
        if avp.vendor_id is None:
            if avp.code == _AUTH and i != last:
                auth_misplaced = True  # also catches a second AUTH: one of them is not last
            elif avp.code == _NONCE and nonce is None:
                nonce = avp
    if auth_misplaced:
        raise Drop("AUTH AVP must be the last AVP, once")
    if nonce is not None and not 8 <= len(nonce.value) <= 256:
        raise Drop("Nonce length outside 8..256")


def encrypt_avps(
    key: Secret, *, key_id: int, session_id: int, seq: int, avps: list[Avp]
) -> list[Avp]:
    """Move AVPs of policy X that we protect into one Encryption-Encap (RFC 6786 s5-6)."""
    inner = [a for a in avps if a.code in _ENCRYPTED_CODES and a.vendor_id is None]
    if not inner:
        return avps
    plain = encode_avps(inner)
    cipher = crypto.aes128_ctr(key, key_id=key_id, session_id=session_id, seq=seq, data=plain)
    out: list[Avp] = []
    for avp in avps:
        if avp in inner:
            if avp is inner[0]:
                out.append(Avp(AvpCode.ENCRYPTION_ENCAP, cipher))
            continue
        out.append(avp)
    return out


def decrypt_avps(msg: PanaMessage, key: Secret | None, key_id: int | None) -> tuple[Avp, ...]:
    """The AVPs of ``msg`` with its Encryption-Encap replaced by what it carries (RFC 6786 s5)."""
    avps_in = msg.avps
    for avp in avps_in:
        if avp.code == _ENCAP and avp.vendor_id is None:
            break
    else:
        return avps_in  # the common case: no Encryption-Encap, one pass and no list
    encaps = msg.all_avps(AvpCode.ENCRYPTION_ENCAP)
    if len(encaps) > 1:
        raise Drop("more than one Encryption-Encap AVP")
    if key is None or key_id is None:
        raise Drop("Encryption-Encap but no encryption key")
    plain = crypto.aes128_ctr(
        key, key_id=key_id, session_id=msg.session_id, seq=msg.seq, data=encaps[0].value
    )
    try:
        inner = decode_avps(plain)
    except CodecError as exc:
        raise Drop(f"Encryption-Encap does not decrypt to AVPs: {exc.reason}") from None
    if any(a.code in _NEVER_ENCRYPTED and a.vendor_id is None for a in inner):
        raise Drop("Encryption-Encap carries an AVP that must stay in the clear")
    avps: list[Avp] = []
    for avp in msg.avps:
        avps.extend(inner if avp is encaps[0] else (avp,))
    return tuple(avps)

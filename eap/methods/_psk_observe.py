"""Verifying an observed EAP-PSK conversation (RFC 4764) from its captured messages."""

from __future__ import annotations

import hmac
import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from ..crypto import Eax
from ..keys import KeyMaterial, Secret
from ._psk_keys import (
    _CODE_REQUEST,
    _CODE_RESPONSE,
    _HEADER_LEN,
    _MAC_LEN,
    _MSG1_MIN,
    _MSG2_MIN,
    _MSG3_MIN,
    _MSG4_MIN,
    _RAND_LEN,
    EAP_TYPE_PSK,
    PskError,
    PskResult,
    _keys_for,
    _open,
    _parse_indication,
    _session_id,
    _t_of,
)

__all__ = ["PchannelCheck", "PskObservation", "observe", "observe_all"]

logger = logging.getLogger(__name__)


class PchannelCheck(Enum):
    """How a captured PCHANNEL verified."""

    RFC4764 = "rfc4764"
    """Tag verifies with the 16-octet nonce 0^12 || N (RFC 4764 s3.3)."""
    UNPADDED_NONCE = "unpadded-nonce"
    """Tag verifies only with the bare 4-octet N (CPANA's bug)."""
    FAILED = "failed"
    """Tag verifies neither way (wrong PSK, or a damaged message)."""
    ABSENT = "absent"
    """The message was not given."""


@dataclass(frozen=True, slots=True)
class PskObservation:
    """What observe() found in one EAP-PSK conversation; keys print as lengths only."""

    id_s: bytes
    id_p: bytes
    rand_s: bytes
    rand_p: bytes
    mac_p_ok: bool
    mac_s_ok: bool | None
    """None when message 3 was not given."""
    pchannel3: PchannelCheck
    pchannel4: PchannelCheck
    result3: PskResult | None
    """R sent by the server in message 3, when its PCHANNEL opened."""
    result4: PskResult | None
    """R sent by the peer in message 4, when its PCHANNEL opened."""
    keys: KeyMaterial | None
    """MSK/EMSK, present when MAC_P verified (the PSK is right for this conversation)."""


def _split_eap(packet: bytes, code: int, t: int, name: str) -> tuple[int, bytes]:
    """(Identifier, Type-Data) of an EAP-PSK packet; PskError when it is not one."""
    if len(packet) < 6:
        raise PskError(f"{name}: {len(packet)} octets is too short for an EAP-PSK packet")
    pkt_code, identifier, length, pkt_type = struct.unpack_from("!BBHB", packet)
    if length != len(packet):
        raise PskError(f"{name}: EAP Length {length} but {len(packet)} octets given")
    if pkt_code != code or pkt_type != EAP_TYPE_PSK:
        raise PskError(f"{name}: EAP Code {pkt_code} Type {pkt_type}, expected {code}/47")
    type_data = packet[5:]
    if _t_of(type_data[0]) != t:
        raise PskError(f"{name}: T={_t_of(type_data[0])}, expected {t}")
    return identifier, type_data


def _check_pchannel(
    eax: Eax, header: bytes, pchannel: bytes
) -> tuple[PchannelCheck, PskResult | None]:
    opened = _open(eax, header, pchannel)
    check = PchannelCheck.RFC4764
    if opened is None:
        opened = _open(eax, header, pchannel, rfc_nonce=False)
        check = PchannelCheck.UNPADDED_NONCE
    if opened is None:
        return PchannelCheck.FAILED, None
    indication = _parse_indication(opened[1])
    result = None
    if indication is not None and indication.result in tuple(PskResult):
        result = PskResult(indication.result)
    return check, result


def observe(
    msg1: bytes,
    msg2: bytes,
    msg3: bytes | None = None,
    msg4: bytes | None = None,
    *,
    psk: Secret,
) -> PskObservation:
    """Verify a captured EAP-PSK conversation (complete EAP packets) and derive its MSK.

    Raises PskError if a packet is not the EAP-PSK message it should be, or if the
    messages do not belong to one conversation (RAND_S differs).
    """
    _, td1 = _split_eap(msg1, _CODE_REQUEST, 0, "message 1")
    _, td2 = _split_eap(msg2, _CODE_RESPONSE, 1, "message 2")
    if len(td1) < _MSG1_MIN:
        raise PskError("message 1 is truncated")
    if len(td2) < _MSG2_MIN:
        raise PskError("message 2 is truncated")
    rand_s = td1[1 : 1 + _RAND_LEN]
    id_s = td1[1 + _RAND_LEN :]
    if td2[1 : 1 + _RAND_LEN] != rand_s:
        raise PskError("message 2 carries a different RAND_S")
    rand_p = td2[1 + _RAND_LEN : 1 + 2 * _RAND_LEN]
    id_p = td2[_MSG2_MIN:]
    psk_keys = _keys_for(psk)
    mac_p_ok = hmac.compare_digest(
        td2[1 + 2 * _RAND_LEN : _MSG2_MIN], psk_keys.mac(id_p + id_s + rand_s + rand_p)
    )
    session = psk_keys.session_keys(rand_p)
    eax = Eax(session.tek.reveal())
    mac_s_ok: bool | None = None
    pchannel3 = pchannel4 = PchannelCheck.ABSENT
    result3 = result4 = None
    if msg3 is not None:
        _, td3 = _split_eap(msg3, _CODE_REQUEST, 2, "message 3")
        if len(td3) < _MSG3_MIN:
            raise PskError("message 3 is truncated")
        if td3[1 : 1 + _RAND_LEN] != rand_s:
            raise PskError("message 3 carries a different RAND_S")
        mac_s_ok = hmac.compare_digest(
            td3[1 + _RAND_LEN : 1 + _RAND_LEN + _MAC_LEN], psk_keys.mac(id_s + rand_p)
        )
        header3 = msg3[:_HEADER_LEN]
        pchannel3, result3 = _check_pchannel(eax, header3, td3[1 + _RAND_LEN + _MAC_LEN :])
    if msg4 is not None:
        _, td4 = _split_eap(msg4, _CODE_RESPONSE, 3, "message 4")
        if len(td4) < _MSG4_MIN:
            raise PskError("message 4 is truncated")
        if td4[1 : 1 + _RAND_LEN] != rand_s:
            raise PskError("message 4 carries a different RAND_S")
        pchannel4, result4 = _check_pchannel(eax, msg4[:_HEADER_LEN], td4[1 + _RAND_LEN :])
    keys = None
    if mac_p_ok:
        keys = KeyMaterial(
            msk=session.msk, emsk=session.emsk, session_id=_session_id(rand_p, rand_s)
        )
    return PskObservation(
        id_s=id_s,
        id_p=id_p,
        rand_s=rand_s,
        rand_p=rand_p,
        mac_p_ok=mac_p_ok,
        mac_s_ok=mac_s_ok,
        pchannel3=pchannel3,
        pchannel4=pchannel4,
        result3=result3,
        result4=result4,
        keys=keys,
    )


def observe_all(packets: Iterable[bytes], psk: Secret) -> list[PskObservation]:
    """Group the EAP-PSK packets of a capture into conversations (by RAND_S) and observe each.

    ``packets`` are complete EAP packets in capture order; anything that is not an EAP-PSK
    Request/Response is skipped, retransmissions collapse, and a conversation without both
    message 1 and message 2 is left out. Packets that claim to be EAP-PSK but are malformed
    raise PskError, naming the message.
    """
    conversations: dict[bytes, dict[int, bytes]] = {}
    for packet in packets:
        if len(packet) < 6 or packet[0] not in (_CODE_REQUEST, _CODE_RESPONSE):
            continue
        if packet[4] != EAP_TYPE_PSK:
            continue
        if len(packet) < 5 + 1 + _RAND_LEN:
            raise PskError(f"EAP-PSK packet of {len(packet)} octets has no RAND_S")
        rand_s = packet[6 : 6 + _RAND_LEN]
        conversations.setdefault(rand_s, {})[_t_of(packet[5]) + 1] = packet
    observations = []
    for messages in conversations.values():
        if 1 in messages and 2 in messages:
            observations.append(
                observe(messages[1], messages[2], messages.get(3), messages.get(4), psk=psk)
            )
    return observations

"""Seed corpora: the captures in ../shared/pcaps (read at run time, never copied) and our own.

The captures are read with the project's capture reader (``pana_mpa.cli.capture``).
``$PANA_CAPTURES`` overrides the directory; without captures the seeds are our own messages only.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

from pana_codecs import (
    Avp,
    AvpCode,
    CodecError,
    EapCode,
    EapPacket,
    EapType,
    EncryptionAlgorithm,
    IntegrityAlgorithm,
    MessageFlags,
    MessageType,
    MethodId,
    PanaMessage,
    PrfAlgorithm,
    ResultCode,
    TerminationCause,
    address_avp,
    decode_pana,
    eap_payload_avp,
    encode_eap,
    encode_nak,
    encode_pana,
    pac_information,
    u32_avp,
)

__all__ = ["capture_payloads", "captures_dir", "eap_seeds", "own_messages", "pana_seeds"]

logger = logging.getLogger(__name__)

_REPO = Path(__file__).resolve().parent.parent
_DRAFT_PORTS = (3001,)  # Open Diameter's PAA port in the draft-era captures (pcaps/README.md)


def captures_dir() -> Path | None:
    """$PANA_CAPTURES, else ``shared/pcaps`` beside the repository or one of its parents."""
    env = os.environ.get("PANA_CAPTURES")
    candidates = [Path(env)] if env else [p / "shared" / "pcaps" for p in _REPO.parents]
    return next((path for path in candidates if path.is_dir()), None)


@functools.cache
def capture_payloads() -> tuple[bytes, ...]:
    """The PANA UDP payloads of every capture, in file order (empty without captures)."""
    from pana_mpa.cli.capture import CaptureError, read_pana  # tools layer

    directory = captures_dir()
    if directory is None:
        logger.warning("no captures directory: seeds are our own messages only")
        return ()
    out: list[bytes] = []
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".cap", ".pcap", ".pcapng", ".gz"):
            continue
        try:
            out.extend(d.payload for d in read_pana(path, ports=_DRAFT_PORTS))
        except CaptureError as exc:
            logger.warning("capture %s skipped: %s", path.name, exc)
    return tuple(out)


def own_messages() -> tuple[bytes, ...]:
    """Messages of our own covering what the captures lack: PRY, encryption, vendor AVPs, Naks."""
    identity = encode_eap(EapPacket(EapCode.RESPONSE, 1, EapType.IDENTITY, b"user1"))
    expanded = encode_eap(EapPacket(EapCode.REQUEST, 2, 254, b"\x01\x02", 0, EapType.PSK))
    nak = encode_eap(encode_nak(3, [MethodId(0, EapType.PSK), MethodId(0, EapType.GPSK)]))
    expanded_nak = encode_eap(encode_nak(4, [MethodId(32473, 1)], expanded=True))
    algorithms = [u32_avp(AvpCode.PRF_ALGORITHM, p) for p in PrfAlgorithm] + [
        u32_avp(AvpCode.INTEGRITY_ALGORITHM, i) for i in IntegrityAlgorithm
    ]
    r, s, c, p, e = MessageFlags.R, MessageFlags.S, MessageFlags.C, MessageFlags.P, MessageFlags.E
    auth = Avp(AvpCode.AUTH, bytes(20))
    par_start = PanaMessage(
        MessageType.PANA_AUTH,
        r | s,
        0x01020304,
        7,
        (*algorithms, u32_avp(AvpCode.ENCRYPTION_ALGORITHM, EncryptionAlgorithm.AES128_CTR)),
    )
    pan = PanaMessage(MessageType.PANA_AUTH, 0, 0x01020304, 8, (eap_payload_avp(identity),))
    par_c = PanaMessage(
        MessageType.PANA_AUTH,
        r | c,
        0x01020304,
        9,
        (
            u32_avp(AvpCode.RESULT_CODE, ResultCode.PANA_SUCCESS),
            Avp(AvpCode.EAP_PAYLOAD, encode_eap(EapPacket(EapCode.SUCCESS, 5))),
            u32_avp(AvpCode.KEY_ID, 1),
            Avp(AvpCode.ENCRYPTION_ENCAP, bytes(12)),
            auth,
        ),
    )
    pnr = PanaMessage(MessageType.PANA_NOTIFICATION, r | p | e, 0x01020304, 10, (auth,))
    ptr = PanaMessage(
        MessageType.PANA_TERMINATION,
        r,
        0x01020304,
        11,
        (u32_avp(AvpCode.TERMINATION_CAUSE, TerminationCause.LOGOUT), auth),
    )
    vendor = PanaMessage(
        MessageType.PANA_AUTH,
        0,
        0x01020304,
        12,
        (
            eap_payload_avp(expanded),
            eap_payload_avp(nak),
            eap_payload_avp(expanded_nak),
            u32_avp(1, 0x1F, vendor_id=32473),
            address_avp(8, "2001:db8::1", vendor_id=32473),
            Avp(99, b"unknown", None, 0x0101, 7),
        ),
    )
    pci = PanaMessage(MessageType.PANA_CLIENT_INITIATION, 0, 0, 0)
    inner = encode_pana(pci)
    pry = PanaMessage(
        MessageType.PANA_RELAY,
        0,
        0,
        0,
        (pac_information("192.0.2.7", 10000), Avp(AvpCode.RELAYED_MESSAGE, inner)),
    )
    messages = (pci, par_start, pan, par_c, pnr, ptr, vendor, pry)
    return (*tuple(encode_pana(m) for m in messages), encode_pana(par_start, dialect="draft18"))


@functools.cache
def pana_seeds() -> tuple[bytes, ...]:
    """PANA messages: every capture payload, then our own messages."""
    return capture_payloads() + own_messages()


@functools.cache
def eap_seeds() -> tuple[bytes, ...]:
    """EAP packets: the EAP-Payload values of the PANA seeds (both dialects), deduplicated."""
    out: dict[bytes, None] = {}
    for data in pana_seeds():
        for dialect in ("rfc5191", "draft18"):
            try:
                msg = decode_pana(data, dialect=dialect)
            except CodecError:
                continue
            for avp in msg.all_avps(AvpCode.EAP_PAYLOAD):
                out[avp.value] = None
            break
    return tuple(out)

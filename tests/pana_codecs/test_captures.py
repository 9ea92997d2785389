"""The codec against the real captures, as ../shared/pcaps/README.md says it must behave."""

from __future__ import annotations

import pytest

from pana_codecs import (
    Avp,
    AvpCode,
    CodecError,
    EapCode,
    MessageFlags,
    MessageType,
    avp_u32,
    decode_pana,
    eap_payload,
    encode_pana,
)

from ._vectors import load_frames

RFC5191_CAPTURES = {
    # capture: number of PANA messages (README summary table)
    "wireshark-wiki-pana-rfc5191": 19,
    "openpana-loopback": 45,
    "openpana-eaptls-loopback": 41,
    "broute-real-meter-PAR-reconstructed": 1,
    "arkime-pana_synthetic": 5,
}


@pytest.mark.parametrize("capture", sorted(RFC5191_CAPTURES))
def test_rfc5191_captures_decode_and_reencode_identically(capture: str) -> None:
    frames = load_frames(capture)
    assert len(frames) == RFC5191_CAPTURES[capture]
    for number, data in frames.items():
        msg = decode_pana(data)
        assert encode_pana(msg) == data, (capture, number)
        for avp in msg.avps:
            if avp.code == AvpCode.EAP_PAYLOAD:
                eap_payload(avp)  # every EAP-Payload holds exactly one EAP packet


def test_cpana_frame_10_fields() -> None:
    # README/pana-wire.md s17.1: PAR[C]{Result-Code=0, EAP-Success, Key-Id=1, Lifetime=60, AUTH}
    msg = decode_pana(load_frames("wireshark-wiki-pana-rfc5191")[10])
    assert msg.type == MessageType.PANA_AUTH
    assert msg.flags == MessageFlags.R | MessageFlags.C
    assert (msg.session_id, msg.seq) == (0xA82F2DF8, 0x4B777B23)
    assert [a.code for a in msg.avps] == [7, 2, 4, 8, 1]
    result, eap, key_id, lifetime, auth = msg.avps
    assert avp_u32(result) == 0
    assert eap_payload(eap).code == EapCode.SUCCESS
    assert avp_u32(key_id) == 1
    assert avp_u32(lifetime) == 60
    assert len(auth.value) == 20


def test_cpana_pci_is_bare_answer() -> None:
    msg = decode_pana(load_frames("wireshark-wiki-pana-rfc5191")[1])
    assert msg == decode_pana(bytes.fromhex("00000010000000010000000000000000"))
    assert (msg.type, msg.flags, msg.session_id, msg.seq, msg.avps) == (1, 0, 0, 0, ())
    assert not msg.is_request


def test_meter_par_has_16_octet_auth() -> None:
    msg = decode_pana(load_frames("broute-real-meter-PAR-reconstructed")[1])
    assert msg.has(MessageFlags.R | MessageFlags.C)
    auth = msg.avp(AvpCode.AUTH)
    assert auth is not None
    assert auth.value == bytes.fromhex("13242cb488f212211b1e6c176f4f792c")
    assert [a.code for a in msg.avps] == [7, 2, 4, 8, 1]
    key_id = msg.avp(AvpCode.KEY_ID)
    assert key_id is not None and avp_u32(key_id) == 0xF8BC38A1


def test_openpana_termination_cause_byte_order_bug_decodes() -> None:
    msg = decode_pana(load_frames("openpana-loopback")[44])
    assert msg.type == MessageType.PANA_TERMINATION and msg.is_request
    cause = msg.avp(AvpCode.TERMINATION_CAUSE)
    assert cause is not None and avp_u32(cause) == 65536


# README "wireshark-wiki-pana-draft18.cap", strict RFC 5191 decoder: (offset, text in the reason).
DRAFT18_STRICT = {
    2: (16, "Unsigned32 AVP (code 6) with Length 12, expected 4"),
    3: (16, "Unsigned32 AVP (code 6) with Length 12, expected 4"),
    4: (40, "runs past the end of the message"),
    5: (52, "runs past the end of the message"),
    6: (16, "AVP value (Length 30) runs past the end of the message"),
    7: (16, "AVP value (Length 30) runs past the end of the message"),
    8: (52, "Unsigned32 AVP (code 4) with Length 12, expected 4 (Key-Id)"),
    9: (16, "Unsigned32 AVP (code 4) with Length 12, expected 4"),
    10: (16, "AVP value (Length 28) runs past the end of the message"),
    11: (16, "AVP value (Length 28) runs past the end of the message"),
    12: (16, "AVP (code 9) with Length 12, expected 4"),
    13: (16, "AVP value (Length 28) runs past the end of the message"),
}


def test_draft18_capture_strict_decoder_accepts_only_frame_1() -> None:
    frames = load_frames("wireshark-wiki-pana-draft18")
    assert len(frames) == 13
    assert decode_pana(frames[1]).type == MessageType.PANA_CLIENT_INITIATION
    assert set(frames) - {1} == set(DRAFT18_STRICT)


@pytest.mark.parametrize("frame", sorted(DRAFT18_STRICT))
def test_draft18_capture_strict_errors(frame: int) -> None:
    offset, text = DRAFT18_STRICT[frame]
    with pytest.raises(CodecError) as info:
        decode_pana(load_frames("wireshark-wiki-pana-draft18")[frame])
    assert info.value.offset == offset
    assert text in info.value.reason
    assert "AVP Length includes the AVP header" in info.value.reason
    assert "try dialect draft18" in info.value.reason


def test_draft18_capture_frame4_eap_payload_check_fails_at_first_avp() -> None:
    # README: a decoder that checks that an EAP-Payload holds exactly one EAP packet of the AVP's
    # length rejects frame 4 at its first AVP (offset 16): EAP-Payload Length 13, packet Length 5.
    data = load_frames("wireshark-wiki-pana-draft18")[4]
    first = Avp(AvpCode.EAP_PAYLOAD, data[24 : 24 + 13])
    with pytest.raises(CodecError, match="8 octets beyond the EAP Length"):
        eap_payload(first)


def test_draft18_capture_draft_dialect_decodes_all_13() -> None:
    frames = load_frames("wireshark-wiki-pana-draft18")
    msgs = {n: decode_pana(d, dialect="draft18") for n, d in frames.items()}
    for n, data in frames.items():
        assert encode_pana(msgs[n], dialect="draft18") == data
    # Sequence from the README table.
    assert [(m.type, m.flags) for m in msgs.values()] == [
        (1, 0),
        (2, MessageFlags.R | MessageFlags.S),
        (2, MessageFlags.S),
        (2, MessageFlags.R),
        (2, 0),
        (2, MessageFlags.R),
        (2, 0),
        (2, MessageFlags.R | MessageFlags.C | MessageFlags.I),
        (2, MessageFlags.C),
        (4, MessageFlags.R | MessageFlags.P),
        (4, MessageFlags.P),
        (3, MessageFlags.R),
        (3, 0),
    ]
    par_c = msgs[8]
    assert [a.code for a in par_c.avps] == [2, 7, 8, 4, 1]
    key_id = par_c.avp(AvpCode.KEY_ID)
    lifetime = par_c.avp(AvpCode.SESSION_LIFETIME)
    assert key_id is not None and avp_u32(key_id) == 2
    assert lifetime is not None and avp_u32(lifetime) == 30
    nonce = msgs[5].avp(AvpCode.NONCE)
    assert nonce is not None
    assert nonce.value == bytes.fromhex("f8b009555de08834b58412393349db3fc91e9554")
    ptr_cause = msgs[12].avp(AvpCode.TERMINATION_CAUSE)
    assert ptr_cause is not None and avp_u32(ptr_cause) == 1
    assert sum(1 for m in msgs.values() if m.avp(AvpCode.AUTH) is not None) == 6
    for m in msgs.values():
        for avp in m.all_avps(AvpCode.EAP_PAYLOAD):
            eap_payload(avp)


# README "wireshark-wiki-pana.cap": every frame rejected; frame 2 at 0, frames 1 and 3 at 24.
V1_OFFSETS = {n: 16 for n in range(1, 25)} | {1: 24, 2: 0, 3: 24}


@pytest.mark.parametrize("frame", sorted(V1_OFFSETS))
def test_v1_capture_rejected_everywhere(frame: int) -> None:
    data = load_frames("wireshark-wiki-pana")[frame]
    with pytest.raises(CodecError) as info:
        decode_pana(data)
    assert info.value.offset == V1_OFFSETS[frame]
    assert info.value.reason.startswith("PANA version 1 (pre-RFC) header: ")
    if frame == 2:
        assert "12 octets is shorter than the 16-octet PANA header" in info.value.reason
    else:
        assert "AVP value" in info.value.reason
        assert "runs past the end of the message" in info.value.reason
    with pytest.raises(CodecError, match="PANA version 1"):
        decode_pana(data, dialect="draft18")


def test_v1_capture_has_24_frames() -> None:
    assert sorted(load_frames("wireshark-wiki-pana")) == list(range(1, 25))

"""AVP registries and typed builders/getters (RFC 5191 s8, RFC 6345 s5, RFC 3588 s4.3)."""

from __future__ import annotations

import ipaddress

import pytest

from pana_codecs import (
    AddressType,
    Avp,
    AvpCode,
    AvpType,
    CodecError,
    EapCode,
    EapPacket,
    EncryptionAlgorithm,
    IntegrityAlgorithm,
    OpaqueValue,
    PacInformation,
    PanaMessage,
    PrfAlgorithm,
    RawAddress,
    ResultCode,
    TerminationCause,
    address_value,
    avp_address,
    avp_octets,
    avp_pac_information,
    avp_type,
    avp_u32,
    avp_value,
    decode_address,
    decode_pana,
    eap_payload,
    eap_payload_avp,
    encode_pana,
    octets_avp,
    pac_information,
    u32_avp,
)
from pana_codecs import avps as avps_module


def test_registries_match_the_rfcs() -> None:
    assert [int(c) for c in AvpCode] == list(range(1, 14))
    assert (int(AvpCode.PAC_INFORMATION), int(AvpCode.ENCRYPTION_ALGORITHM)) == (10, 13)
    assert [int(r) for r in ResultCode] == [0, 1, 2]
    assert [int(t) for t in TerminationCause] == [1, 4, 8]
    assert (int(PrfAlgorithm.PRF_HMAC_SHA1), int(PrfAlgorithm.PRF_HMAC_SHA2_256)) == (2, 5)
    assert int(IntegrityAlgorithm.AUTH_HMAC_SHA1_160) == 7
    assert int(IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128) == 12
    assert int(EncryptionAlgorithm.AES128_CTR) == 1
    assert (int(AddressType.IPV4), int(AddressType.IPV6)) == (1, 2)
    assert int(avps_module.MessageType.PANA_RELAY) == 5  # also importable from avps


def test_avp_types() -> None:
    assert {c for c in AvpCode if avp_type(c) is AvpType.UNSIGNED32} == {3, 4, 6, 7, 8, 13}
    assert avp_type(AvpCode.TERMINATION_CAUSE) is AvpType.ENUMERATED
    assert {c for c in AvpCode if avp_type(c) is AvpType.OCTET_STRING} == {1, 2, 5, 10, 11, 12}
    assert avp_type(14) is None
    assert avp_type(AvpCode.KEY_ID, vendor_id=9) is None


def test_u32_builder_and_getter() -> None:
    avp = u32_avp(AvpCode.KEY_ID, 0x6F42762F)
    assert avp == Avp(4, bytes.fromhex("6f42762f"))
    assert avp_u32(avp) == 0x6F42762F
    assert u32_avp(300, 1, vendor_id=7) == Avp(300, b"\0\0\0\1", 7)
    for bad in (-1, 1 << 32):
        with pytest.raises(CodecError, match="out of range"):
            u32_avp(AvpCode.KEY_ID, bad)
    with pytest.raises(CodecError, match=r"Unsigned32 AVP \(code 4\) with Length 3") as info:
        avp_u32(Avp(4, b"abc"))
    assert info.value.path == "avp 4"
    with pytest.raises(CodecError) as info:
        avp_u32(Avp(4, b"abc", 9))
    assert info.value.path == "vendor 9 avp 4"


def test_typed_values() -> None:
    assert avp_value(u32_avp(AvpCode.RESULT_CODE, 0)) is ResultCode.PANA_SUCCESS
    assert avp_value(u32_avp(AvpCode.RESULT_CODE, 99)) == 99
    assert avp_value(u32_avp(AvpCode.TERMINATION_CAUSE, 65536)) == 65536  # OpenPANA's bug
    assert avp_value(u32_avp(AvpCode.TERMINATION_CAUSE, 1)) is TerminationCause.LOGOUT
    assert avp_value(u32_avp(AvpCode.PRF_ALGORITHM, 2)) is PrfAlgorithm.PRF_HMAC_SHA1
    assert avp_value(u32_avp(AvpCode.INTEGRITY_ALGORITHM, 7)) is (
        IntegrityAlgorithm.AUTH_HMAC_SHA1_160
    )
    assert avp_value(u32_avp(AvpCode.ENCRYPTION_ALGORITHM, 1)) is EncryptionAlgorithm.AES128_CTR
    assert avp_value(u32_avp(AvpCode.SESSION_LIFETIME, 86400)) == 86400
    assert avp_value(octets_avp(AvpCode.NONCE, b"n" * 20)) == b"n" * 20
    assert avp_value(Avp(AvpCode.PAC_INFORMATION, bytes(6))) == PacInformation(
        ipaddress.IPv4Address(0), 0
    )
    assert avp_value(Avp(14, b"new")) == OpaqueValue(14, None, b"new")
    assert avp_value(Avp(1, b"vendor", 32473)) == OpaqueValue(1, 32473, b"vendor")
    assert avp_octets(octets_avp(AvpCode.AUTH, b"x")) == b"x"


def test_eap_payload_helpers() -> None:
    avp = eap_payload_avp(EapPacket(EapCode.SUCCESS, 0x21))
    assert avp == Avp(AvpCode.EAP_PAYLOAD, bytes.fromhex("03210004"))
    assert eap_payload(avp) == EapPacket(3, 0x21)
    assert eap_payload_avp(b"\x01\x00\x00\x05\x01") == Avp(2, b"\x01\x00\x00\x05\x01")
    with pytest.raises(CodecError, match="EAP-Payload: 1 octets beyond the EAP Length") as info:
        eap_payload(Avp(AvpCode.EAP_PAYLOAD, bytes.fromhex("0321000400")))
    assert (info.value.offset, info.value.path) == (4, "EAP-Payload")
    with pytest.raises(CodecError, match="EAP-Payload: EAP Length 8 exceeds"):
        eap_payload(Avp(AvpCode.EAP_PAYLOAD, bytes.fromhex("03210008")))
    with pytest.raises(CodecError, match="not an EAP-Payload AVP"):
        eap_payload(Avp(AvpCode.NONCE, bytes.fromhex("03210004")))
    with pytest.raises(CodecError, match="not an EAP-Payload AVP"):
        eap_payload(Avp(AvpCode.EAP_PAYLOAD, bytes.fromhex("03210004"), 5))


@pytest.mark.parametrize(
    ("addr", "port", "hexvalue"),
    [
        ("192.0.2.1", 716, "c00002010 2cc".replace(" ", "")),
        ("2001:db8::1", 40000, "20010db8000000000000000000000001 9c40".replace(" ", "")),
    ],
)
def test_pac_information(addr: str, port: int, hexvalue: str) -> None:
    avp = pac_information(addr, port)
    assert avp == Avp(AvpCode.PAC_INFORMATION, bytes.fromhex(hexvalue))
    assert avp_pac_information(avp) == PacInformation(ipaddress.ip_address(addr), port)
    relay = PanaMessage(5, 0, 0, 0, (avp, Avp(AvpCode.RELAYED_MESSAGE, bytes(16))))
    assert decode_pana(encode_pana(relay)) == relay


def test_pac_information_errors() -> None:
    with pytest.raises(CodecError, match="UDP port 65536 out of range"):
        pac_information("192.0.2.1", 65536)
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6"):
        pac_information("not an address", 1)
    with pytest.raises(CodecError, match="PaC-Information of 8 octets, expected 6"):
        avp_pac_information(Avp(AvpCode.PAC_INFORMATION, bytes(8)))


def test_address_type() -> None:
    assert address_value("192.0.2.7") == bytes.fromhex("0001c0000207")
    assert address_value(ipaddress.IPv6Address("::1")) == bytes.fromhex("0002") + bytes(15) + b"\1"
    assert decode_address(bytes.fromhex("0001c0000207")) == ipaddress.IPv4Address("192.0.2.7")
    assert decode_address(address_value("fe80::1")) == ipaddress.IPv6Address("fe80::1")
    mac = bytes.fromhex("0006001122334455")  # RFC 5807 EPID of an IEEE 802 access point
    assert decode_address(mac) == RawAddress(6, bytes.fromhex("001122334455"))
    assert avp_address(Avp(99, address_value("192.0.2.7"))) == ipaddress.IPv4Address("192.0.2.7")


@pytest.mark.parametrize(
    ("data", "offset", "text"),
    [
        (b"\x00", 0, "no AddressType"),
        (bytes.fromhex("0001c00002"), 2, "IPv4 Address with 3 octets"),
        (bytes.fromhex("0002") + bytes(4), 2, "IPv6 Address with 4 octets"),
    ],
)
def test_address_errors(data: bytes, offset: int, text: str) -> None:
    with pytest.raises(CodecError, match=text) as info:
        decode_address(data)
    assert info.value.offset == offset
    with pytest.raises(CodecError, match=text) as info:
        avp_address(Avp(77, data))
    assert info.value.path == "avp 77"

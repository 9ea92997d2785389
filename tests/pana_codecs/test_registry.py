"""One table per fact: the AVP table, message/flag/EAP names, and what derives from them."""

from __future__ import annotations

import ipaddress

import pytest

from pana_codecs import (
    AVP_SPECS,
    EAP_TYPE_NAMES,
    FLAG_LETTERS,
    MESSAGE_NAMES,
    AddressType,
    Avp,
    AvpCode,
    AvpSpec,
    AvpTable,
    AvpType,
    CodecError,
    EapType,
    EncryptionPolicy,
    MessageFlags,
    MessageType,
    OpaqueValue,
    RawAddress,
    ResultCode,
    address_avp,
    address_value,
    avp_address,
    avp_ip_address,
    avp_name,
    avp_spec,
    avp_type,
    avp_u32,
    avp_value,
    eap_code_name,
    eap_name,
    eap_type_name,
    flags_text,
    message_name,
    message_type_name,
    u32_avp,
)
from pana_codecs import _checks as checks

R, S, C, A, P, I, E = (int(f) for f in MessageFlags)  # noqa: E741 - RFC letters


def test_avp_table_matches_avp_code_and_the_rfc_names() -> None:
    assert [code for code, vendor in AVP_SPECS] == [int(c) for c in AvpCode]
    for code in AvpCode:
        spec = AVP_SPECS[(code, None)]
        assert spec.name.upper().replace("-", "_") == code.name
        assert spec.reference.startswith("RFC ")
    assert avp_name(AvpCode.PAC_INFORMATION) == "PaC-Information"
    assert avp_name(14) == "AVP-14"
    assert avp_name(1, 32473) == "Vendor-32473-AVP-1"
    assert avp_spec(1, 32473) is None


def test_rfc6786_policy_and_fixed_lengths() -> None:
    may = {code for (code, _), s in AVP_SPECS.items() if s.encryption is EncryptionPolicy.MAY}
    assert may == {AvpCode.EAP_PAYLOAD, AvpCode.SESSION_LIFETIME, AvpCode.TERMINATION_CAUSE}
    assert not any(s.encryption is EncryptionPolicy.MUST for s in AVP_SPECS.values())
    assert AVP_SPECS.fixed_lengths() == dict.fromkeys((3, 4, 6, 7, 8, 9, 13), 4)


def test_decoder_checks_and_names_derive_from_the_table() -> None:
    assert frozenset(AVP_SPECS.fixed_lengths()) == checks.FIXED_U32_CODES
    assert {code: s.name for (code, _), s in AVP_SPECS.items()} == checks.AVP_NAMES
    err = checks.fixed_size(16, 9, 5, 0)
    assert "Enumerated AVP (code 9)" in err.reason and "Termination-Cause" in err.reason
    assert avp_type(AvpCode.SESSION_LIFETIME) is AvpType.UNSIGNED32
    assert avp_value(u32_avp(AvpCode.RESULT_CODE, 2)) is ResultCode.PANA_AUTHORIZATION_REJECTED


def test_table_rejects_duplicates_and_bad_lengths_and_extends() -> None:
    with pytest.raises(ValueError, match="two specifications"):
        AvpTable([AvpSpec(1, "a", AvpType.OCTET_STRING), AvpSpec(1, "b", AvpType.OCTET_STRING)])
    with pytest.raises(ValueError, match="length 4"):
        AvpTable([AvpSpec(1, "a", AvpType.UNSIGNED32)])
    vendor = AVP_SPECS.extend(
        [
            AvpSpec(5, "MPA-Address-Lifetime", AvpType.UNSIGNED32, vendor_id=32473, length=4),
            AvpSpec(8, "MPA-Tunnel-Outer-Address", AvpType.ADDRESS, vendor_id=32473),
        ]
    )
    assert len(vendor) == len(AVP_SPECS) + 2
    assert vendor.name(8, 32473) == "MPA-Tunnel-Outer-Address"
    assert vendor.fixed_lengths(32473) == {5: 4}
    assert avp_type(5, 32473, table=vendor) is AvpType.UNSIGNED32
    assert avp_value(u32_avp(5, 60, vendor_id=32473), table=vendor) == 60
    outer = address_avp(8, "192.0.2.1", vendor_id=32473)
    assert avp_value(outer, table=vendor) == ipaddress.IPv4Address("192.0.2.1")
    assert avp_value(outer) == OpaqueValue(8, 32473, outer.value)  # not in the IETF table


@pytest.mark.parametrize(
    ("mtype", "flags", "short", "long"),
    [
        (1, 0, "PCI", "PANA-Client-Initiation"),
        (2, R | S, "PAR", "PANA-Auth-Request"),
        (2, C, "PAN", "PANA-Auth-Answer"),
        (3, R, "PTR", "PANA-Termination-Request"),
        (3, 0, "PTA", "PANA-Termination-Answer"),
        (4, R | P, "PNR", "PANA-Notification-Request"),
        (4, A, "PNA", "PANA-Notification-Answer"),
        (5, 0, "PRY", "PANA-Relay"),
        (7, R, "type7", "type7"),
    ],
)
def test_message_names(mtype: int, flags: int, short: str, long: str) -> None:
    assert message_name(mtype, flags) == short
    assert message_name(mtype, flags, long=True) == long


def test_message_type_names_cover_message_type() -> None:
    assert set(MESSAGE_NAMES) == set(MessageType)
    assert message_type_name(MessageType.PANA_RELAY) == "PANA-Relay"
    assert message_type_name(65520) == "type65520"


def test_flags_text() -> None:
    assert [letter for letter, _ in FLAG_LETTERS] == list("RSCAPIE")
    assert flags_text(R | S) == "RS"
    assert flags_text(R | S | C | A | P | I | E) == "RSCAPIE"
    assert flags_text(R | C, request=False) == "C"
    assert flags_text(E | 0x0101) == "E+0x0101"
    assert flags_text(E | 0x0101, reserved=False) == "E"
    assert flags_text(0) == ""


def test_eap_names() -> None:
    assert set(EAP_TYPE_NAMES) == set(EapType)
    assert [eap_type_name(t) for t in (1, 2, 3, 4, 13, 47, 51, 254)] == [
        "Identity",
        "Notification",
        "Nak",
        "MD5",
        "TLS",
        "PSK",
        "GPSK",
        "Expanded",
    ]
    assert eap_type_name(99) == "99"
    assert eap_code_name(5) == "5"
    assert eap_name(1, 47) == "Request/PSK"
    assert eap_name(3) == "Success"
    assert eap_name(2, 200) == "Response/200"


def test_u32_and_address_helpers_serve_vendor_avps() -> None:
    avp = u32_avp(5, 300, vendor_id=32473)
    assert avp == Avp(5, (300).to_bytes(4, "big"), 32473)
    assert avp_u32(avp) == 300
    with pytest.raises(CodecError) as info:
        avp_u32(Avp(5, b"\0", 32473))
    assert info.value.path == "vendor 32473 avp 5"
    v6 = address_avp(9, "2001:db8::1", vendor_id=32473)
    assert v6.value[:2] == b"\0\x02" and v6.vendor_id == 32473
    assert avp_ip_address(v6) == ipaddress.IPv6Address("2001:db8::1")
    mac = RawAddress(AddressType.IEEE_802, bytes.fromhex("001122334455"))
    assert address_value(mac) == bytes.fromhex("0006001122334455")
    mac_avp = address_avp(13, mac, vendor_id=32473)
    assert avp_address(mac_avp) == mac
    with pytest.raises(CodecError, match="family 6"):
        avp_ip_address(mac_avp)
    with pytest.raises(CodecError, match="16 bits"):
        address_value(RawAddress(0x10000, b""))

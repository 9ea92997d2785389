"""MPA vendor AVPs: layouts, round trips through the PANA codec, malformed values."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pana_codecs import (
    Avp,
    CodecError,
    MessageFlags,
    MessageType,
    PanaMessage,
    decode_pana,
    encode_pana,
)
from pana_mpa.mpa.avps import (
    DEFAULT_VENDOR_ID,
    AssignedAddress,
    MpaAvpCode,
    MpaCapability,
    TunnelAction,
    address_avp,
    assigned_address_avp,
    decode_address,
    decode_assigned_address,
    decode_mac,
    mac_avp,
    mpa_avps,
    u32,
    u32_avp,
)


def test_capability_avp_is_vendor_specific_and_round_trips() -> None:
    caps = MpaCapability.ADDRESS_DELIVERY | MpaCapability.TUNNEL_MANAGEMENT
    avp = u32_avp(MpaAvpCode.MPA_CAPABILITY, caps)
    msg = PanaMessage(MessageType.PANA_CLIENT_INITIATION, MessageFlags.E, 0, 0, (avp,))
    wire = encode_pana(msg)
    # header 16 + AVP header 8 + Vendor-Id 4 + value 4
    assert len(wire) == 32
    assert wire[16:28] == bytes.fromhex("0001 8000 0004 0000 00007ed9".replace(" ", ""))
    back = decode_pana(wire)
    (got,) = mpa_avps(back)
    assert got.vendor_id == DEFAULT_VENDOR_ID == 0x7ED9
    assert MpaCapability(u32(got)) == caps


def test_assigned_address_layout() -> None:
    avp = assigned_address_avp(AssignedAddress(ipaddress.IPv4Address("10.99.1.100"), 24))
    assert avp.value == bytes.fromhex("000118000a630164")
    assert decode_assigned_address(avp) == AssignedAddress(ipaddress.IPv4Address("10.99.1.100"), 24)
    v6 = assigned_address_avp(AssignedAddress(ipaddress.IPv6Address("2001:db8::5"), 64))
    assert decode_assigned_address(v6).address == ipaddress.IPv6Address("2001:db8::5")


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"\x00\x01\x18",
        b"\x00\x01\x18\x00\x0a\x00",
        b"\x00\x01\x21\x00\x0a\x63\x01\x64",
        b"\x00\x09\x18\x00\x0a\x63\x01\x64",
    ],
)
def test_assigned_address_malformed(value: bytes) -> None:
    with pytest.raises(CodecError):
        decode_assigned_address(Avp(MpaAvpCode.MPA_ASSIGNED_ADDRESS, value, DEFAULT_VENDOR_ID))


def test_device_id_carries_bssid() -> None:
    avp = mac_avp(MpaAvpCode.DEVICE_ID, "02:00:00:00:0a:01")
    assert avp.value == bytes.fromhex("0006020000000a01")
    assert decode_mac(avp) == bytes.fromhex("020000000a01")
    with pytest.raises(CodecError):
        decode_mac(address_avp(MpaAvpCode.DEVICE_ID, "10.0.0.1"))
    with pytest.raises(ValueError, match="6 octets"):
        mac_avp(MpaAvpCode.DEVICE_ID, "02:00")


def test_address_avp_both_families() -> None:
    assert decode_address(address_avp(MpaAvpCode.MPA_AR_ADDRESS, "10.97.2.1")) == (
        ipaddress.IPv4Address("10.97.2.1")
    )
    assert decode_address(address_avp(MpaAvpCode.MPA_AR_ADDRESS, "fe80::1")) == (
        ipaddress.IPv6Address("fe80::1")
    )
    with pytest.raises(CodecError):
        decode_address(Avp(10, b"\x00\x01\x0a", DEFAULT_VENDOR_ID))


def test_tunnel_action_and_other_vendor_ignored() -> None:
    msg = PanaMessage(
        MessageType.PANA_NOTIFICATION,
        MessageFlags.R | MessageFlags.P | MessageFlags.E,
        7,
        9,
        (
            u32_avp(MpaAvpCode.MPA_TUNNEL_ACTION, TunnelAction.ESTABLISH),
            u32_avp(MpaAvpCode.MPA_TUNNEL_ACTION, TunnelAction.DELETE, vendor_id=99),
        ),
    )
    got = mpa_avps(decode_pana(encode_pana(msg)))
    assert [TunnelAction(u32(a)) for a in got] == [TunnelAction.ESTABLISH]
    with pytest.raises(CodecError):
        u32(Avp(7, b"\x00\x01", DEFAULT_VENDOR_ID))


@given(st.binary(max_size=40))
def test_random_values_raise_only_codec_error(value: bytes) -> None:
    avp = Avp(MpaAvpCode.MPA_ASSIGNED_ADDRESS, value, DEFAULT_VENDOR_ID)
    for fn in (decode_assigned_address, decode_address, decode_mac, u32):
        with contextlib.suppress(CodecError):
            fn(avp)


def test_mpa_avps_reuse_the_codec_helpers_and_name_themselves() -> None:
    from pana_codecs import AddressType, RawAddress, avp_address, flags_text
    from pana_codecs import address_avp as codec_address_avp
    from pana_codecs import u32_avp as codec_u32_avp
    from pana_mpa.flow import describe_datagram
    from pana_mpa.mpa.avps import AddressFamily, MpaStatus, mpa_avp_table

    assert AddressFamily is AddressType
    mac = bytes.fromhex("020000000001")
    assert mac_avp(MpaAvpCode.DEVICE_ID, mac) == codec_address_avp(
        MpaAvpCode.DEVICE_ID, RawAddress(AddressType.IEEE_802, mac), vendor_id=DEFAULT_VENDOR_ID
    )
    assert avp_address(mac_avp(MpaAvpCode.DEVICE_ID, mac)) == RawAddress(6, mac)
    assert u32_avp(MpaAvpCode.MPA_STATUS, 2) == codec_u32_avp(14, 2, vendor_id=DEFAULT_VENDOR_ID)
    table = mpa_avp_table(DEFAULT_VENDOR_ID)
    assert table.name(MpaAvpCode.MPA_TUNNEL_ACTION, DEFAULT_VENDOR_ID) == "MPA-Tunnel-Action"
    assert table.spec(MpaAvpCode.MPA_STATUS, DEFAULT_VENDOR_ID).enum is MpaStatus  # type: ignore[union-attr]
    assert table.name(1, None) == "AUTH"  # the IETF AVPs stay
    assert mpa_avp_table(9).name(MpaAvpCode.MPA_CAPABILITY, DEFAULT_VENDOR_ID).startswith("Vendor-")
    msg = PanaMessage(MessageType.PANA_NOTIFICATION, MessageFlags.R | MessageFlags.P, 1, 1,
                      (u32_avp(MpaAvpCode.MPA_TUNNEL_ACTION, TunnelAction.ESTABLISH),))  # fmt: skip
    summary = describe_datagram(encode_pana(msg), avp_table=table)
    assert [a["name"] for a in summary["avps"]] == ["MPA-Tunnel-Action"]
    assert flags_text(msg.flags) == "RP"


def test_peer_values_of_mpa_enums_never_raise() -> None:
    from pana_mpa.mpa.avps import MpaStatus

    assert not MpaStatus(99).known and MpaStatus(0) is MpaStatus.OK
    assert not TunnelAction(7).known and int(TunnelAction(7)) == 7
    assert not MpaAvpCode(4000).known

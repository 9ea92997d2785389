"""Candidate-network table (TOML) and RFC 5192 PAA discovery options."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pana_mpa.mpa.info import (
    InformationServiceError,
    StaticInformationService,
    paa_addresses_from_dhcpv4,
    paa_addresses_from_dhcpv6,
)

TABLE = """
[[network]]
name = "ctn-a"
paa = "10.97.2.1:716"
ar = "10.97.2.1"
bssids = ["02:00:00:00:0a:01", "02-00-00-00-0a-02"]

[[network]]
name = "ctn-b"
paa = "[2001:db8::1]:10716"
ar = "2001:db8::1"
ca = "2001:db8::2"
"""


def test_static_table_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "ctn.toml"
    path.write_text(TABLE)
    svc = StaticInformationService.from_toml(path)
    a, b = svc.candidates()
    assert a.paa == ("10.97.2.1", 716)
    assert a.bssids == (
        bytes.fromhex("02000000 0a01".replace(" ", "")),
        bytes.fromhex("020000000a02"),
    )
    assert a.ca_address is None
    assert b.paa == ("2001:db8::1", 10716)
    assert b.ca_address == ipaddress.IPv6Address("2001:db8::2")
    assert svc.by_bssid(bytes.fromhex("020000000a02")) is a
    assert svc.by_bssid(bytes(6)) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[network]]\nname = "x"\nar = "10.0.0.1"\n', "missing paa"),
        ('[[network]]\nname = "x"\npaa = "nohost"\nar = "10.0.0.1"\n', "not an IP address"),
        ('[[network]]\nname = "x"\npaa = "10.0.0.1:99999"\nar = "10.0.0.1"\n', "bad port"),
        ('[[network]]\nname="x"\npaa="10.0.0.1"\nar="10.0.0.1"\nbssids=["zz"]\n', "not a MAC"),
        ("network = 3\n", "array of tables"),
        ("[[network\n", r"ctn\.toml"),
    ],
)
def test_bad_tables_give_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "ctn.toml"
    path.write_text(text)
    with pytest.raises(InformationServiceError, match=message):
        StaticInformationService.from_toml(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InformationServiceError, match=r"nope\.toml"):
        StaticInformationService.from_toml(tmp_path / "nope.toml")


def test_dhcpv4_option_136() -> None:
    # Pad, option 3 (router), option 136 with two PAAs, End
    opts = bytes([0, 3, 4, 10, 0, 0, 1, 136, 8, 10, 0, 0, 2, 10, 0, 0, 3, 255])
    assert paa_addresses_from_dhcpv4(opts) == [
        ipaddress.IPv4Address("10.0.0.2"),
        ipaddress.IPv4Address("10.0.0.3"),
    ]
    with pytest.raises(InformationServiceError, match="multiple of 4"):
        paa_addresses_from_dhcpv4(bytes([136, 3, 1, 2, 3]))
    with pytest.raises(InformationServiceError, match="truncated"):
        paa_addresses_from_dhcpv4(bytes([136, 8, 1, 2]))


def test_dhcpv6_option_40() -> None:
    paa = ipaddress.IPv6Address("2001:db8::7")
    opts = (23).to_bytes(2, "big") + (0).to_bytes(2, "big") + (40).to_bytes(2, "big")
    opts += (16).to_bytes(2, "big") + paa.packed
    assert paa_addresses_from_dhcpv6(opts) == [paa]
    with pytest.raises(InformationServiceError, match="multiple of 16"):
        paa_addresses_from_dhcpv6((40).to_bytes(2, "big") + (4).to_bytes(2, "big") + bytes(4))
    with pytest.raises(InformationServiceError, match="truncated"):
        paa_addresses_from_dhcpv6(b"\x00\x28\x00")

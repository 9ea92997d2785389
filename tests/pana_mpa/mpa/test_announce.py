"""Proactive address resolution: frame layouts, and real effects on a neighbour's ARP cache."""

from __future__ import annotations

import ipaddress
import time

import pytest

from pana_mpa.mpa.drivers.announce import (
    gratuitous_arp,
    install_neighbor,
    send_gratuitous_arp,
    unsolicited_na,
)
from tests.netns import lab

MAC = bytes.fromhex("02000000a001")
NCOA = ipaddress.IPv4Address("10.97.2.100")


def test_gratuitous_arp_layout() -> None:
    f = gratuitous_arp(MAC, NCOA)
    assert len(f) == 42
    assert f[:6] == b"\xff" * 6 and f[6:12] == MAC and f[12:14] == b"\x08\x06"
    assert f[20:22] == b"\x00\x01"  # request (RFC 5227 ARP Announcement)
    assert f[22:28] == MAC and f[28:32] == NCOA.packed == f[38:42]
    assert f[32:38] == bytes(6)
    with pytest.raises(ValueError):
        gratuitous_arp(b"\x01", NCOA)


def test_unsolicited_na_layout_and_checksum() -> None:
    target = ipaddress.IPv6Address("2001:db8::64")
    src = ipaddress.IPv6Address("fe80::1")
    na = unsolicited_na(MAC, target, src)
    assert na[0] == 136 and na[4] & 0x20 and not na[4] & 0x40  # O set, S clear
    assert na[8:24] == target.packed and na[24:26] == b"\x02\x01" and na[26:] == MAC
    # the checksum verifies: recomputing over the filled-in message gives zero
    from pana_mpa.mpa.drivers.announce import _icmpv6_checksum

    assert _icmpv6_checksum(src, ipaddress.IPv6Address("ff02::1"), na) == 0


def _neigh(the_lab: object, ns: str) -> str:
    from tests.netns import Lab

    assert isinstance(the_lab, Lab)
    return the_lab.ip(ns, "neigh", "show", "dev", "b0")


@pytest.mark.netns
def test_announcement_updates_a_stale_cache_entry() -> None:
    with lab() as the_lab:
        mn, peer = the_lab.ns("mn"), the_lab.ns("peer")
        the_lab.veth(mn, "a0", peer, "b0")
        the_lab.ip(mn, "link", "set", "a0", "address", MAC.hex(":"))
        the_lab.ip(mn, "addr", "add", f"{NCOA}/24", "dev", "a0")
        the_lab.ip(peer, "addr", "add", "10.97.2.1/24", "dev", "b0")
        # the peer still believes nCoA is at some old MAC
        the_lab.ip(
            peer,
            "neigh",
            "replace",
            str(NCOA),
            "lladdr",
            "02:00:00:00:dd:dd",
            "dev",
            "b0",
            "nud",
            "stale",
        )
        send_gratuitous_arp("a0", MAC, NCOA, netns=mn)
        for _ in range(100):
            if MAC.hex(":") in _neigh(the_lab, peer):
                break
            time.sleep(0.01)
        assert MAC.hex(":") in _neigh(the_lab, peer)


@pytest.mark.netns
def test_install_permanent_neighbor_before_attach() -> None:
    with lab() as the_lab:
        mn, peer = the_lab.ns("mn"), the_lab.ns("peer")
        the_lab.veth(mn, "a0", peer, "b0")
        install_neighbor("b0", ipaddress.IPv4Address("10.97.2.1"), MAC, netns=peer)
        out = _neigh(the_lab, peer)
        assert "10.97.2.1" in out and MAC.hex(":") in out and "PERMANENT" in out

"""Proactive address resolution: frame layouts, and real effects on a neighbour's ARP cache."""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import Any

import pytest

from pana_mpa.mpa.drivers.announce import (
    Announcer,
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


class _FakeSocket:
    """Records every call on a shared log (no kernel involved)."""

    def __init__(self, log: list[tuple[Any, ...]], *args: Any) -> None:
        self.log = log
        log.append(("socket", *args))

    def setsockopt(self, *args: Any) -> None:
        self.log.append(("setsockopt", *args))

    def bind(self, *args: Any) -> None:
        self.log.append(("bind", *args))

    def sendto(self, data: bytes, dest: Any) -> int:
        self.log.append(("sendto", data, dest))
        return len(data)

    def close(self) -> None:
        self.log.append(("close",))


@pytest.mark.parametrize(
    ("address", "family"),
    [(NCOA, socket.AF_PACKET), (ipaddress.IPv6Address("2001:db8::64"), socket.AF_INET6)],
)
def test_announcer_pays_only_the_send_on_the_critical_path(
    monkeypatch: pytest.MonkeyPatch, address: Any, family: int
) -> None:
    log: list[tuple[Any, ...]] = []
    monkeypatch.setattr(socket, "socket", lambda *a: _FakeSocket(log, *a))
    monkeypatch.setattr(socket, "if_nametoindex", lambda name: 7)
    announcer = Announcer("mn0", MAC, address)  # before the move
    opened = list(log)
    assert [e[0] for e in opened if e[0] in ("socket", "bind", "close")] == ["socket"]
    assert opened[0][1] == family
    if family == socket.AF_PACKET:
        assert opened[0][3] == 0  # protocol 0: no receive hook, so no bind and no grace period
    log.clear()
    announcer.announce()  # the critical step: between nCoA configured and the PANA-Update
    assert [e[0] for e in log] == ["sendto"] and announcer.sent == 1
    if family == socket.AF_PACKET:
        assert log[0][1:] == (gratuitous_arp(MAC, NCOA), ("mn0", 0x0806))
    else:
        assert log[0][1] == unsolicited_na(MAC, address) and log[0][2] == ("ff02::1", 0, 0, 7)
    log.clear()
    announcer.close()  # after the PANA-Update
    announcer.close()
    assert log == [("close",)]
    with pytest.raises(RuntimeError):
        announcer.announce()


def _neigh(the_lab: object, ns: str) -> str:
    from tests.netns import Lab

    assert isinstance(the_lab, Lab)
    return the_lab.ip(ns, "neigh", "show", "dev", "b0")


@pytest.mark.netns
@pytest.mark.parametrize("prepared", [False, True], ids=["send_gratuitous_arp", "Announcer"])
def test_announcement_updates_a_stale_cache_entry(prepared: bool) -> None:
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
        if prepared:
            with Announcer("a0", MAC, NCOA, netns=mn) as announcer:
                announcer.announce()
        else:
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

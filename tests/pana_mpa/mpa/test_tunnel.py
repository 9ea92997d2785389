"""IP-in-IP framing, the in-memory driver, and real IP-in-IP packets between namespaces."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import select
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pana_mpa.mpa.drivers.linux_tunnel import LinuxIpipDriver, TunnelStats, in_netns
from pana_mpa.mpa.tunnel import (
    InMemoryTunnelDriver,
    TunnelError,
    TunnelSpec,
    decapsulate,
    encapsulate,
    ipv4_checksum,
    refuse_inner,
)
from tests.netns import Lab, lab
from tests.realcomponents import need_binary

A = ipaddress.IPv4Address
N = ipaddress.IPv4Network
NCOA = A("10.97.2.100")

# A 28-octet IPv4/UDP packet 10.97.2.100:5000 -> 10.96.0.2:9999 with payload "hi" (checksum 0)
INNER = bytes.fromhex("4500001e00000000401100000a6102640a60000213881388000a0000") + b"hi"


def test_encapsulation_layout_and_round_trip() -> None:
    inner = bytearray(INNER)
    inner[2:4] = len(inner).to_bytes(2, "big")
    inner[10:12] = ipv4_checksum(bytes(inner[:20])).to_bytes(2, "big")
    pkt = encapsulate(bytes(inner), A("10.98.0.1"), A("10.98.0.2"), ident=7)
    assert pkt[9] == 4 and pkt[0] == 0x45
    assert int.from_bytes(pkt[2:4], "big") == 20 + len(inner)
    assert ipv4_checksum(pkt[:20]) == 0  # a valid header sums to zero
    assert decapsulate(pkt) == (A("10.98.0.1"), A("10.98.0.2"), bytes(inner))


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"\x60" + bytes(39),
        bytes.fromhex("45000028000000004011") + bytes(30),
        bytes.fromhex("45000014000000004004") + bytes(10),
    ],
)
def test_decapsulate_rejects(packet: bytes) -> None:
    with pytest.raises(TunnelError):
        decapsulate(packet)


@given(st.binary(max_size=80))
def test_decapsulate_random_bytes_only_tunnel_error(data: bytes) -> None:
    with contextlib.suppress(TunnelError):
        decapsulate(data)


def test_in_memory_driver() -> None:
    seen: list[tuple[str, bool]] = []
    d = InMemoryTunnelDriver(on_change=lambda n, s: seen.append((n, s is not None)))
    spec = TunnelSpec("mpa0", A("10.98.0.1"), A("10.98.0.2"), NCOA)
    d.establish(spec)
    d.establish(spec)  # idempotent
    with pytest.raises(TunnelError):
        d.establish(TunnelSpec("mpa0", A("10.98.0.1"), A("10.98.0.3"), NCOA))
    assert decapsulate(d.send("mpa0", INNER))[2] == INNER
    d.delete("mpa0")
    d.delete("mpa0")
    assert d.history == [("establish", "mpa0"), ("delete", "mpa0")]
    assert seen == [("mpa0", True), ("mpa0", False)]
    with pytest.raises(TunnelError):
        d.send("mpa0", INNER)


def _udp(src: str, dst: str, payload: bytes) -> bytes:
    """An IPv4/UDP packet src:5000 -> dst:9999 with a valid header checksum."""
    hdr = bytearray(INNER[:20])
    hdr[2:4] = (28 + len(payload)).to_bytes(2, "big")
    hdr[12:16], hdr[16:20] = A(src).packed, A(dst).packed
    hdr[10:12] = ipv4_checksum(bytes(hdr)).to_bytes(2, "big")
    udp = (
        (5000).to_bytes(2, "big")
        + (9999).to_bytes(2, "big")
        + (8 + len(payload)).to_bytes(2, "big")
    )
    return bytes(hdr) + udp + b"\0\0" + payload


def test_refuse_inner_checks_the_ncoa_at_each_end() -> None:
    """Issue 9 item 6: the AR decapsulated whatever the inner source address."""
    ar_end = TunnelSpec("mpa0", A("10.98.0.2"), A("10.98.0.1"), NCOA)
    mn_end = TunnelSpec("mpa0", A("10.98.0.1"), A("10.98.0.2"), NCOA, inner_on_device=True)
    assert refuse_inner(ar_end, _udp(str(NCOA), "10.96.0.2", b"x")) is None
    assert "inner source 10.96.0.99" in str(
        refuse_inner(ar_end, _udp("10.96.0.99", "10.96.0.2", b"x"))
    )
    assert refuse_inner(mn_end, _udp("10.96.0.2", str(NCOA), b"x")) is None
    assert "inner destination" in str(refuse_inner(mn_end, _udp("10.96.0.2", "10.96.0.7", b"x")))
    assert refuse_inner(ar_end, b"\x60" + bytes(39)) == "inner packet is not IPv4"


def _socket_in(ns: str, kind: int = socket.SOCK_DGRAM, proto: int = 0) -> socket.socket:
    """An IPv4 socket made in namespace ``ns`` (it stays there)."""
    with in_netns(ns):
        return socket.socket(socket.AF_INET, kind, proto)


def _receiver_in(ns: str, addr: tuple[str, int]) -> socket.socket:
    """A non-blocking UDP socket in namespace ``ns``, bound to ``addr``."""
    sock = _socket_in(ns)
    sock.bind(addr)
    sock.setblocking(False)
    return sock


def _three_hosts(the_lab: Lab) -> tuple[str, str, str]:
    mn, ar, cn = the_lab.ns("mn"), the_lab.ns("ar"), the_lab.ns("cn")
    the_lab.veth(mn, "m0", ar, "a0")
    the_lab.veth(ar, "a1", cn, "c0")
    the_lab.ip(mn, "addr", "add", "10.98.0.1/24", "dev", "m0")
    the_lab.ip(ar, "addr", "add", "10.98.0.2/24", "dev", "a0")
    the_lab.ip(ar, "addr", "add", "10.96.0.1/24", "dev", "a1")
    the_lab.ip(cn, "addr", "add", "10.96.0.2/24", "dev", "c0")
    the_lab.ip(cn, "route", "add", "10.97.2.0/24", "via", "10.96.0.1")
    the_lab.exec(ar, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    return mn, ar, cn


async def _echo_rounds(mn: str, cn: str, rounds: int) -> int:
    return await _echo_rounds_any(mn, cn, str(NCOA), "10.96.0.2", rounds, socket.AF_INET)


@pytest.mark.netns
def test_real_ipip_between_namespaces(tmp_path: Path) -> None:
    tshark = need_binary("tshark")
    with lab() as the_lab:
        mn, ar, cn = _three_hosts(the_lab)
        pcap = tmp_path / "ipip.pcap"
        frames_log = tmp_path / "ipip.frames"
        # -P: tshark also prints each captured frame, so the test can see it capture (the old
        # test took the file's existence plus 0.3 s for that, and 0.3 s after the last echo for
        # the file to be complete: on a loaded machine neither holds)
        with frames_log.open("wb") as frames_out:
            cap = the_lab.spawn(
                ar, tshark, "-l", "-P", "-T", "fields", "-e", "frame.number", "-i", "a0",
                "-f", "ip proto 4", "-w", str(pcap), stdout=frames_out, stderr=subprocess.PIPE,
            )  # fmt: skip

        async def run() -> tuple[int, int, int]:
            mn_drv = LinuxIpipDriver(netns=mn)
            ar_drv = LinuxIpipDriver(netns=ar)
            mn_drv.establish(
                TunnelSpec(
                    "mpa0",
                    A("10.98.0.1"),
                    A("10.98.0.2"),
                    NCOA,
                    routes=(N("10.96.0.2/32"),),
                    inner_on_device=True,
                )
            )
            ar_drv.establish(
                TunnelSpec(
                    "mpa0", A("10.98.0.2"), A("10.98.0.1"), NCOA, routes=(N("10.97.2.100/32"),)
                )
            )
            try:
                # echo through the tunnel until tshark printed a frame: it captures from then on
                deadline = time.monotonic() + 60
                while not frames_log.read_bytes().strip():
                    assert cap.poll() is None and time.monotonic() < deadline, "no capture"
                    await _echo_rounds(mn, cn, 1)
                    await asyncio.sleep(0.05)
                got = await _echo_rounds(mn, cn, 20)
                return got, mn_drv.stats("mpa0").encapsulated, ar_drv.stats("mpa0").encapsulated
            finally:
                mn_drv.close()
                ar_drv.close()

        got, mn_enc, ar_enc = asyncio.run(run())
        assert got == 20
        assert mn_enc >= 20 and ar_enc >= 20
        # the devices went away with the tunnels
        assert "mpa0" not in the_lab.ip(mn, "link")
        # 40 frames printed (the check below counts the file's, probe echoes included): they
        # are in the file
        deadline = time.monotonic() + 60
        while len(frames_log.read_text().split()) < 40:
            assert cap.poll() is None and time.monotonic() < deadline, frames_log.read_text()
            time.sleep(0.05)  # waiting for an external program
        cap.terminate()
        cap.wait(timeout=10)
        out = subprocess.run(
            [
                tshark,
                "-r",
                str(pcap),
                "-T",
                "json",
                "-e",
                "ip.src",
                "-e",
                "ip.proto",
                "-e",
                "udp.dstport",
                "-e",
                "udp.srcport",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        frames = [f["_source"]["layers"] for f in json.loads(out)]
        assert len(frames) >= 40
        for layers in frames:
            assert layers["ip.proto"][:2] == ["4", "17"]  # IP-in-IP, then UDP
            assert layers["ip.src"][1] in (str(NCOA), "10.96.0.2")
        outer_srcs = {layers["ip.src"][0] for layers in frames}
        assert outer_srcs == {"10.98.0.1", "10.98.0.2"}


@pytest.mark.netns
def test_ar_answers_arp_for_ncoa_and_tunnels_ctn_traffic() -> None:
    """A host on the CTN link reaches the absent MN's nCoA: proxy ARP at the AR, then the tunnel."""
    with lab() as the_lab:
        mn, ar, _cn = _three_hosts(the_lab)
        host = the_lab.ns("ctn")
        the_lab.veth(ar, "a2", host, "h0")
        the_lab.ip(ar, "addr", "add", "10.97.2.1/24", "dev", "a2")
        the_lab.ip(host, "addr", "add", "10.97.2.50/24", "dev", "h0")
        # answer proxied ARP at once (the default proxy_delay holds requests up to 0.8 s)
        the_lab.exec(ar, "sysctl", "-qw", "net.ipv4.neigh.a2.proxy_delay=0")
        ar_mac = the_lab.ip(ar, "-br", "link", "show", "a2").split()[2]

        async def run() -> bytes:
            mn_drv = LinuxIpipDriver(netns=mn)
            ar_drv = LinuxIpipDriver(netns=ar)
            mn_drv.establish(
                TunnelSpec("mpa0", A("10.98.0.1"), A("10.98.0.2"), NCOA, inner_on_device=True)
            )
            ar_drv.establish(
                TunnelSpec(
                    "mpa0",
                    A("10.98.0.2"),
                    A("10.98.0.1"),
                    NCOA,
                    routes=(N("10.97.2.100/32"),),
                    proxy_arp_on="a2",
                )
            )
            rx = _receiver_in(mn, (str(NCOA), 7000))
            tx = _socket_in(host)
            loop = asyncio.get_running_loop()
            try:
                tx.sendto(b"hello nCoA", (str(NCOA), 7000))
                data, _ = await asyncio.wait_for(loop.sock_recvfrom(rx, 100), 3)
                return data
            finally:
                rx.close()
                tx.close()
                mn_drv.close()
                ar_drv.close()

        assert asyncio.run(run()) == b"hello nCoA"
        # the host resolved nCoA to the AR's MAC; the proxy entry went away with the tunnel
        assert ar_mac in the_lab.ip(host, "neigh", "show", str(NCOA))
        assert str(NCOA) not in the_lab.ip(ar, "neigh", "show", "proxy")


@pytest.mark.netns
def test_delete_withdraws_the_route_and_forwards_queued_packets() -> None:
    """A packet queued on the TUN device when the tunnel is deleted reaches the hook, not /dev/null.

    Unregistering a TUN device takes 10-20 ms and drops what the kernel routes into it meanwhile
    (the MPA lab lost one buffered packet in about six runs that way): delete() removes the routes
    first, then reads the queue.
    """
    with lab() as the_lab:
        _mn, ar, _cn = _three_hosts(the_lab)
        seen: list[bytes] = []

        def hook(spec: TunnelSpec, packet: bytes) -> bool:
            seen.append(packet)
            return len(seen) > 1  # the first is held (the AR's buffer), the second tunneled

        async def run() -> str:
            drv = LinuxIpipDriver(netns=ar, forward_hook=hook)
            drv.establish(TunnelSpec("mpa0", A("10.98.0.2"), A("10.98.0.1"), NCOA,
                                     routes=(N("10.97.2.100/32"),)))  # fmt: skip
            tx = _socket_in(ar)
            try:
                # the loop does not run between send and delete: the packet waits in the queue
                tx.sendto(b"queued", (str(NCOA), 7000))
                tx.sendto(b"queued too", (str(NCOA), 7000))
                stats = drv.stats("mpa0")  # updated in place while delete() drains
                drv.delete("mpa0")
            finally:
                tx.close()
                drv.close()
            assert stats.held == 1 and stats.encapsulated == 1, stats
            return the_lab.ip(ar, "route", "show", str(NCOA))

        routes = asyncio.run(run())
        assert [p[28:] for p in seen] == [b"queued", b"queued too"]
        assert "mpa0" not in routes


class _GatedRelease(LinuxIpipDriver):
    """The release waits for ``gate``: the test decides what happens between delete and close."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.gate = threading.Event()

    def _teardown(self, t: Any) -> None:
        if not self.gate.wait(10):
            raise RuntimeError("gate never opened")
        super()._teardown(t)


@pytest.mark.netns
def test_a_packet_queued_on_the_device_after_the_drain_is_rerouted_not_dropped() -> None:
    """R2's tunnel removal: a packet the kernel queues on the device after delete() drained it.

    The routes are withdrawn and the queue drained on the loop, the device is closed later in a
    worker thread; a packet routed into the device just before the withdrawal (on another CPU)
    can be queued in between, and closing the device dropped it. Here a route put back by hand
    plays that packet, deterministically; it must reach nCoA, which is now on the CTN link.
    """
    with lab() as the_lab:
        _mn, ar, _cn = _three_hosts(the_lab)
        ctn = the_lab.ns("ctn")
        the_lab.veth(ar, "a2", ctn, "h0")
        the_lab.ip(ar, "addr", "add", "10.97.2.1/24", "dev", "a2")
        the_lab.ip(ctn, "addr", "add", f"{NCOA}/24", "dev", "h0")  # the MN, arrived on the CTN

        async def run() -> tuple[list[bytes], TunnelStats]:
            drv = _GatedRelease(netns=ar)
            drv.establish(TunnelSpec("mpa0", A("10.98.0.2"), A("10.98.0.1"), NCOA,
                                     routes=(N(f"{NCOA}/32"),)))  # fmt: skip
            stats = drv.stats("mpa0")
            rx = _receiver_in(ctn, (str(NCOA), 7000))
            tx = _socket_in(ar)
            loop = asyncio.get_running_loop()
            got: list[bytes] = []
            try:
                drv.delete("mpa0")  # routes withdrawn, queue drained; the device still exists
                await asyncio.to_thread(the_lab.ip, ar, "route", "add", f"{NCOA}/32", "dev", "mpa0")
                tx.sendto(b"late", (str(NCOA), 7000))  # queued on the device after the drain
                await asyncio.to_thread(the_lab.ip, ar, "route", "del", f"{NCOA}/32", "dev", "mpa0")
                drv.gate.set()
                await drv.wait_deleted()
                with contextlib.suppress(TimeoutError):
                    while len(got) < 1:
                        got.append((await asyncio.wait_for(loop.sock_recvfrom(rx, 100), 5))[0])
            finally:
                drv.gate.set()
                rx.close()
                tx.close()
                await drv.aclose()
            return got, stats

        got, stats = asyncio.run(run())
        assert got == [b"late"]
        assert (stats.rerouted, stats.encapsulated, stats.dropped) == (1, 0, 0), stats


@pytest.mark.netns
def test_packets_waiting_at_our_tunnel_end_are_delivered_at_delete() -> None:
    """The MN's tunnel end: what reached it before delete() but was not read yet still arrives.

    The loop reads the raw socket one datagram per wake-up; delete() stops reading it and the
    worker thread closed it with whatever was still queued. The loop does not run between the
    sends and delete() here, so every packet is still queued.
    """
    with lab() as the_lab:
        mn, ar, _cn = _three_hosts(the_lab)

        async def run() -> tuple[list[bytes], TunnelStats]:
            drv = LinuxIpipDriver(netns=mn)
            spec = TunnelSpec("mpa0", A("10.98.0.1"), A("10.98.0.2"), NCOA,
                              routes=(N("10.96.0.2/32"),), inner_on_device=True)  # fmt: skip
            drv.establish(spec)
            stats = drv.stats("mpa0")
            rx = _receiver_in(mn, (str(NCOA), 9999))
            raw = _socket_in(ar, socket.SOCK_RAW, socket.IPPROTO_IPIP)
            loop = asyncio.get_running_loop()
            got: list[bytes] = []
            try:
                for i in range(3):  # the AR's end: the kernel adds the outer header
                    raw.sendto(_udp("10.96.0.2", str(NCOA), b"p%d" % i), ("10.98.0.1", 0))
                ready, _, _ = select.select([drv._tunnels["mpa0"].raw], [], [], 5)
                assert ready, "nothing reached the MN's end"
                drv.delete("mpa0")
                await drv.wait_deleted()
                with contextlib.suppress(TimeoutError):
                    while len(got) < 3:
                        got.append((await asyncio.wait_for(loop.sock_recvfrom(rx, 100), 5))[0])
            finally:
                rx.close()
                raw.close()
                await drv.aclose()
            return got, stats

        got, stats = asyncio.run(run())
        assert got == [b"p0", b"p1", b"p2"]
        assert stats.decapsulated == 3 and stats.dropped == 0, stats


@pytest.mark.netns
def test_ar_drops_tunnel_packets_from_another_inner_source() -> None:
    """Issue 9 item 6: IP-in-IP from the oCoA with a spoofed inner source reached the CN."""
    with lab() as the_lab:
        mn, ar, cn = _three_hosts(the_lab)

        async def run() -> tuple[list[bytes], int, int]:
            ar_drv = LinuxIpipDriver(netns=ar)
            ar_drv.establish(
                TunnelSpec(
                    "mpa0", A("10.98.0.2"), A("10.98.0.1"), NCOA, routes=(N("10.97.2.100/32"),)
                )
            )
            rx = _receiver_in(cn, ("10.96.0.2", 9999))
            raw = _socket_in(mn, socket.SOCK_RAW, socket.IPPROTO_IPIP)
            loop = asyncio.get_running_loop()
            got: list[bytes] = []
            try:
                # the kernel adds the outer header (10.98.0.1 -> 10.98.0.2, protocol 4)
                raw.sendto(_udp("10.96.0.99", "10.96.0.2", b"spoofed"), ("10.98.0.2", 0))
                raw.sendto(_udp(str(NCOA), "10.96.0.2", b"genuine"), ("10.98.0.2", 0))
                with contextlib.suppress(TimeoutError):
                    while True:
                        got.append((await asyncio.wait_for(loop.sock_recvfrom(rx, 100), 1.5))[0])
                stats = ar_drv.stats("mpa0")
                return got, stats.decapsulated, stats.refused
            finally:
                rx.close()
                raw.close()
                ar_drv.close()

        got, decapsulated, refused = asyncio.run(run())
        assert got == [b"genuine"]
        assert (decapsulated, refused) == (1, 1)


# ---- IPv6: RFC 2473 (IPv6/IPv4 in IPv6) and RFC 4213 s3.5 (IPv6 in IPv4) ------------------------

A6 = ipaddress.IPv6Address
N6 = ipaddress.IPv6Network
NCOA6 = A6("fd97:2::100")


def _udp6(src: str, dst: str, payload: bytes, tc: int = 0) -> bytes:
    """An IPv6/UDP packet (UDP checksum left 0: only the framing is under test)."""
    udp = struct.pack("!HHHH", 5000, 9999, 8 + len(payload), 0) + payload
    first = (6 << 28) | (tc << 20) | 0x12345
    return struct.pack("!IHBB", first, len(udp), 17, 64) + A6(src).packed + A6(dst).packed + udp


INNER6 = _udp6("fd97:2::100", "fd96::2", b"hi", tc=0xB8)


@pytest.mark.parametrize(
    ("inner", "src", "dst", "proto"),
    [
        (INNER, A("10.98.0.1"), A("10.98.0.2"), 4),
        (INNER6, A("10.98.0.1"), A("10.98.0.2"), 41),
        (INNER6, A6("fd98::1"), A6("fd98::2"), 41),
        (INNER, A6("fd98::1"), A6("fd98::2"), 4),
    ],
)
def test_encapsulation_all_four_framings(
    inner: bytes, src: ipaddress.IPv4Address | ipaddress.IPv6Address,
    dst: ipaddress.IPv4Address | ipaddress.IPv6Address, proto: int,
) -> None:  # fmt: skip
    pkt = encapsulate(inner, src, dst)
    assert decapsulate(pkt) == (src, dst, inner)
    if src.version == 6:
        # RFC 2473 s3: version 6, traffic class copied, flow label 0, payload length, next header
        first, plen, nh, hlim = struct.unpack_from("!IHBB", pkt)
        assert first >> 28 == 6 and first & 0xFFFFF == 0 and hlim == 64
        assert plen == len(inner) and nh == proto and len(pkt) == 40 + len(inner)
        tc = (first >> 20) & 0xFF
    else:
        assert pkt[9] == proto and ipv4_checksum(pkt[:20]) == 0
        tc = pkt[1]
    assert tc == (0xB8 if inner is INNER6 else INNER[1])


def test_decapsulate_skips_the_tunnel_encapsulation_limit_option() -> None:
    """RFC 2473 s5.1: a Destination Options header (next header 60) before the inner packet."""
    outer = encapsulate(INNER6, A6("fd98::1"), A6("fd98::2"))
    # option type 4 (Tunnel Encapsulation Limit), length 1, limit 4, then PadN(1)
    dstopts = bytes([41, 0, 4, 1, 4, 1, 1, 0])
    pkt = bytearray(outer[:40] + dstopts + INNER6)
    pkt[6] = 60
    pkt[4:6] = (8 + len(INNER6)).to_bytes(2, "big")
    assert decapsulate(bytes(pkt)) == (A6("fd98::1"), A6("fd98::2"), INNER6)


@pytest.mark.parametrize(
    "packet",
    [
        encapsulate(INNER6, A6("fd98::1"), A6("fd98::2"))[:39],  # truncated outer
        encapsulate(INNER6, A6("fd98::1"), A6("fd98::2")).replace(b"\x29\x40", b"\x11\x40", 1),
        # next header 4 (IPv4) but an IPv6 packet inside
        encapsulate(INNER6, A6("fd98::1"), A6("fd98::2")).replace(b"\x29\x40", b"\x04\x40", 1),
        bytes.fromhex("45000014000000004029") + bytes(10) + INNER,  # proto 41, IPv4 inside
    ],
)
def test_decapsulate_rejects_v6(packet: bytes) -> None:
    with pytest.raises(TunnelError):
        decapsulate(packet)


def test_spec_families_must_agree() -> None:
    with pytest.raises(TunnelError):
        TunnelSpec("t", A("10.98.0.1"), A6("fd98::2"), NCOA)
    with pytest.raises(TunnelError):
        TunnelSpec("t", A6("fd98::1"), A6("fd98::2"), NCOA6, routes=(N("10.96.0.2/32"),))
    spec = TunnelSpec("t", A6("fd98::1"), A6("fd98::2"), NCOA, routes=(N("10.96.0.2/32"),))
    assert (spec.outer_version, spec.protocol) == (6, 4)
    assert TunnelSpec("t", A("10.98.0.1"), A("10.98.0.2"), NCOA6).protocol == 41
    with pytest.raises(TunnelError):
        encapsulate(INNER, A("10.98.0.1"), A6("fd98::2"))
    with pytest.raises(TunnelError):
        encapsulate(b"\x60" + bytes(10), A6("fd98::1"), A6("fd98::2"))


def _dual_stack_hosts(the_lab: Lab) -> tuple[str, str, str]:
    mn, ar, cn = _three_hosts(the_lab)
    for ns, addr, dev in (
        (mn, "fd98::1/64", "m0"),
        (ar, "fd98::2/64", "a0"),
        (ar, "fd96::1/64", "a1"),
        (cn, "fd96::2/64", "c0"),
    ):
        the_lab.ip(ns, "-6", "addr", "add", addr, "dev", dev, "nodad")
    the_lab.ip(cn, "-6", "route", "add", "fd97:2::/64", "via", "fd96::1")
    the_lab.exec(ar, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
    # neighbour discovery on a link whose link-local address is still tentative loses the first
    # packets (about 2 s of DAD): wait until every address is usable
    deadline = time.monotonic() + 10
    while any(the_lab.ip(ns, "-6", "addr", "show", "tentative").strip() for ns in (mn, ar, cn)):
        assert time.monotonic() < deadline, "IPv6 addresses stay tentative"
        time.sleep(0.05)
    return mn, ar, cn


async def _echo_rounds_any(
    mn: str, cn: str, ncoa: str, cn_addr: str, rounds: int, family: int
) -> int:
    with in_netns(cn):
        server = socket.socket(family, socket.SOCK_DGRAM)
    with in_netns(mn):
        client = socket.socket(family, socket.SOCK_DGRAM)
    server.bind((cn_addr, 9999))
    client.bind((ncoa, 5000))
    for s in (server, client):
        s.setblocking(False)
    loop = asyncio.get_running_loop()
    got = 0

    async def echo_once(i: int) -> bool:
        await loop.sock_sendto(client, b"ping %d" % i, (cn_addr, 9999))
        while True:  # a retransmission's stale copies are answered and skipped
            data, addr = await asyncio.wait_for(loop.sock_recvfrom(server, 2048), 1)
            assert addr[0] == ncoa  # the CN sees the MN's next address
            await loop.sock_sendto(server, data.replace(b"ping", b"pong"), addr)
            if data == b"ping %d" % i:
                break
        while True:
            reply, _ = await asyncio.wait_for(loop.sock_recvfrom(client, 2048), 1)
            if reply == b"pong %d" % i:
                return True

    try:
        for i in range(rounds):
            # up to 5 tries a round: on a loaded machine a first datagram can be lost while
            # neighbour discovery runs; the test is about what the tunnel carries, not timing
            for _attempt in range(5):
                try:
                    got += await echo_once(i)
                    break
                except TimeoutError:
                    continue
    finally:
        server.close()
        client.close()
    return got


def _addresses(outer: int, inner: int) -> tuple[Any, Any, Any, str, Any]:
    """(MN outer, AR outer, nCoA, CN address, route to the CN) for one framing."""
    mn_o, ar_o = (A("10.98.0.1"), A("10.98.0.2")) if outer == 4 else (A6("fd98::1"), A6("fd98::2"))
    if inner == 4:
        return mn_o, ar_o, NCOA, "10.96.0.2", N("10.96.0.2/32")
    return mn_o, ar_o, NCOA6, "fd96::2", N6("fd96::2/128")


@pytest.mark.netns
@pytest.mark.parametrize(("outer", "inner"), [(6, 6), (6, 4), (4, 6)])
def test_real_ipv6_tunnels_between_namespaces(outer: int, inner: int, tmp_path: Path) -> None:
    """Real RFC 2473 / RFC 4213 packets between namespaces; tshark decodes the 6-in-6 layers."""
    tshark = need_binary("tshark") if (outer, inner) == (6, 6) else None
    with lab() as the_lab:
        mn, ar, cn = _dual_stack_hosts(the_lab)
        mn_o, ar_o, ncoa, cn_addr, to_cn = _addresses(outer, inner)
        pcap = tmp_path / "tunnel.pcap"
        frames_log = tmp_path / "tunnel.frames"
        cap = None
        if tshark is not None:
            # -P: tshark also prints each captured frame, so the test can see it capture
            with frames_log.open("wb") as frames_out:
                cap = the_lab.spawn(
                    ar, tshark, "-l", "-P", "-T", "fields", "-e", "frame.number", "-i", "a0",
                    "-f", "ip6 proto 41", "-w", str(pcap), stdout=frames_out,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip

        async def run() -> tuple[int, int, int]:
            mn_drv = LinuxIpipDriver(netns=mn)
            ar_drv = LinuxIpipDriver(netns=ar)
            await mn_drv.establish_async(
                TunnelSpec("mpa0", mn_o, ar_o, ncoa, routes=(to_cn,), inner_on_device=True)
            )
            ar_net = N(f"{ncoa}/32") if inner == 4 else N6(f"{ncoa}/128")
            await ar_drv.establish_async(TunnelSpec("mpa0", ar_o, mn_o, ncoa, routes=(ar_net,)))
            try:
                family = socket.AF_INET if inner == 4 else socket.AF_INET6
                if cap is not None:
                    # echo through the tunnel until tshark printed a frame: neither the file nor
                    # "Capturing on" shows that dumpcap sees packets yet on a loaded machine
                    deadline = time.monotonic() + 60
                    while not frames_log.read_bytes().strip():
                        assert cap.poll() is None and time.monotonic() < deadline, "no capture"
                        await _echo_rounds_any(mn, cn, str(ncoa), cn_addr, 1, family)
                        await asyncio.sleep(0.05)
                got = await _echo_rounds_any(mn, cn, str(ncoa), cn_addr, 20, family)
                return got, mn_drv.stats("mpa0").decapsulated, ar_drv.stats("mpa0").decapsulated
            finally:
                await mn_drv.aclose()
                await ar_drv.aclose()

        got, mn_dec, ar_dec = asyncio.run(run())
        assert got == 20
        assert mn_dec >= 20 and ar_dec >= 20
        assert "mpa0" not in the_lab.ip(mn, "link")
        if cap is None or tshark is None:
            return
        # the last echo's frames printed: everything before them is in the file
        deadline = time.monotonic() + 60
        while len(frames_log.read_text().split()) < 40:
            assert cap.poll() is None and time.monotonic() < deadline, frames_log.read_text()
            time.sleep(0.05)  # waiting for an external program
        cap.terminate()
        cap.wait(timeout=10)
        out = subprocess.run(
            [tshark, "-r", str(pcap), "-T", "json", "-e", "frame.protocols", "-e", "ipv6.src",
             "-e", "ipv6.nxt"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        frames = [f["_source"]["layers"] for f in json.loads(out)]
        assert len(frames) >= 40
        for layers in frames:
            assert layers["frame.protocols"][0].startswith("eth:ethertype:ipv6:ipv6:udp")
            assert layers["ipv6.nxt"][:2] == ["41", "17"]  # IPv6 in IPv6, then UDP
            assert layers["ipv6.src"][1] in (str(NCOA6), "fd96::2")
        assert {layers["ipv6.src"][0] for layers in frames} == {"fd98::1", "fd98::2"}


# ---- tunnel I/O off the event loop -----------------------------------------------------------


class _SlowRelease(LinuxIpipDriver):
    """Releasing a device takes 0.5 s (a very loaded machine): the loop must not notice."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.releases: list[tuple[float, float]] = []
        """(start, end) of each release's sleep, CLOCK_MONOTONIC."""

    def _teardown(self, t: Any) -> None:
        start = time.monotonic()
        time.sleep(0.5)
        self.releases.append((start, time.monotonic()))
        super()._teardown(t)


@pytest.mark.netns
def test_delete_releases_the_device_off_the_event_loop() -> None:
    with lab() as the_lab:
        _mn, ar, _cn = _three_hosts(the_lab)

        async def run() -> dict[str, Any]:
            drv = _SlowRelease(netns=ar)
            spec = TunnelSpec("mpa0", A("10.98.0.2"), A("10.98.0.1"), NCOA,
                              routes=(N("10.97.2.100/32"),))  # fmt: skip
            await drv.establish_async(spec)
            ticks: list[float] = []
            stop = asyncio.Event()

            async def ticker() -> None:
                while not stop.is_set():
                    ticks.append(time.monotonic())
                    await asyncio.sleep(0.005)

            task = asyncio.create_task(ticker())
            await asyncio.sleep(0.05)
            drv.delete("mpa0")
            delete_returned = time.monotonic()
            routes_after = await asyncio.to_thread(the_lab.ip, ar, "route", "show", str(NCOA))
            link_after = await asyncio.to_thread(the_lab.ip, ar, "link")
            # the same name again: waits for the release, then succeeds
            await drv.establish_async(spec)
            link_again = await asyncio.to_thread(the_lab.ip, ar, "route", "show", str(NCOA))
            drv.delete("mpa0")
            await drv.wait_deleted()
            link_gone = await asyncio.to_thread(the_lab.ip, ar, "link")
            stop.set()
            await task
            await drv.aclose()
            return {
                "delete_returned": delete_returned, "routes_after": routes_after,
                "link_after": link_after, "link_again": link_again, "link_gone": link_gone,
                "releases": drv.releases, "ticks": ticks,
            }  # fmt: skip

        r = asyncio.run(run())
        # relations, not durations (a loaded machine stretches both): delete() returned before
        # its release ended ...
        assert len(r["releases"]) == 2, r
        assert r["delete_returned"] < r["releases"][0][1], r  # ... not after it
        assert "mpa0" not in r["routes_after"]  # routes withdrawn before delete() returned
        assert "mpa0" in r["link_after"]  # the device was still being released meanwhile
        assert "mpa0" in r["link_again"]
        assert "mpa0" not in r["link_gone"]
        # the loop kept running through both 0.5 s releases: it ticked while each was asleep
        assert all(any(s < t < e for t in r["ticks"]) for s, e in r["releases"]), r


@pytest.mark.netns
def test_ipv6_mpa_handover_with_the_slaac_ncoa_between_namespaces() -> None:
    """The issue's failing case on real IPv6: PANA pre-authentication over IPv6 UDP, nCoA formed
    from the carried RA, an RFC 2473 tunnel set up by MpaController/MpaAgent with the Linux
    driver, the CN reached from nCoA through it; then the move to the CTN link, the PANA-Update
    from nCoA, and the CN reached directly."""
    from pana_mpa.aio.transport import Transport
    from pana_mpa.aio.udp import UdpTransport
    from pana_mpa.config import PaaConfig
    from pana_mpa.mpa import AgentConfig, MpaAgent, MpaController
    from pana_mpa.mpa.info import CandidateNetwork
    from pana_mpa.mpa.messages import PreConfiguration
    from pana_mpa.mpa.ra import Prefix, build_router_advertisement
    from tests.pana_mpa.mpa.test_handover_core import MAC, _peer, _server

    prefix = Prefix(N6("fd97:2::/64"), True, True, 86400, 14400)
    with lab() as the_lab:
        mn, ar, cn = _dual_stack_hosts(the_lab)
        the_lab.veth(mn, "m1", ar, "a2")  # the CTN link, unused until the move
        the_lab.ip(ar, "-6", "addr", "add", "fd97:2::1/64", "dev", "a2", "nodad")

        async def bind(ns: str, host: str, port: int) -> UdpTransport:
            with in_netns(ns):
                return await UdpTransport.bind(host, port)

        async def run() -> dict[str, Any]:
            import random

            rng = random.Random(7)
            ar_drv, mn_drv = LinuxIpipDriver(netns=ar), LinuxIpipDriver(netns=mn)
            agent = MpaAgent(
                paa_config=PaaConfig(), eap_factory=_server(rng),
                transport=await bind(ar, "fd98::2", 716), lease_provider=None, tunnels=ar_drv,
                inject=ar_drv.inject,
                config=AgentConfig(ar_address="fd98::2",
                                   router_advertisement=build_router_advertisement([prefix])),
                rng=rng.randbytes,
            )  # fmt: skip
            task = asyncio.create_task(agent.run())
            ctl = MpaController(eap_factory=_peer(rng), mn_mac=MAC, tunnels=mn_drv,
                                binding_update=lambda a: asyncio.sleep(0), rng=rng.randbytes,
                                timeout=10)  # fmt: skip
            cand = CandidateNetwork(name="v6", paa=("fd98::2", 716),
                                    ar_address=ipaddress.ip_address("fd98::2"))  # fmt: skip
            out: dict[str, Any] = {}

            async def attach(cfg: PreConfiguration) -> Transport:
                def move() -> None:  # leave the old link, take nCoA on the new one
                    the_lab.ip(mn, "link", "set", "m0", "down")
                    the_lab.ip(mn, "-6", "addr", "add", f"{cfg.ncoa}/64", "dev", "m1", "nodad")
                    the_lab.ip(mn, "-6", "route", "add", "default", "via", "fd97:2::1")

                await asyncio.to_thread(move)
                return await bind(mn, str(cfg.ncoa), 0)

            try:
                await ctl.pre_authenticate(cand, await bind(mn, "fd98::1", 0), "fd98::1")
                await ctl.pre_configure()
                await ctl.establish_tunnel(routes=(N6("fd96::2/128"),))
                spec = mn_drv.active()["mpa0"]
                out["ncoa"] = str(spec.inner)
                out["tunneled"] = await _echo_rounds_any(mn, cn, str(spec.inner), "fd96::2", 10,
                                                         socket.AF_INET6)  # fmt: skip
                out["mn_dec"] = mn_drv.stats("mpa0").decapsulated
                out["ar_dec"] = ar_drv.stats(next(iter(ar_drv.active()))).decapsulated
                await ctl.binding_update()
                await ctl.switch(attach)
                await ctl.complete()
                await mn_drv.wait_deleted()
                await ar_drv.wait_deleted()
                out["tunnels_left"] = (mn_drv.active(), ar_drv.active())
                out["direct"] = await _echo_rounds_any(mn, cn, str(spec.inner), "fd96::2", 10,
                                                       socket.AF_INET6)  # fmt: skip
                out["steps"] = [e.step for e in ctl.events]
            finally:
                await ctl.close()
                agent.stop()
                await task
                await mn_drv.aclose()
                await ar_drv.aclose()
            return out

        r = asyncio.run(run())
        assert r["ncoa"] == "fd97:2::200:5eff:fe00:5301"  # SLAAC: the RA's prefix and the MAC
        assert r["tunneled"] == 10 and r["mn_dec"] >= 10 and r["ar_dec"] >= 10
        assert r["steps"][-1] == "handover_complete"
        assert r["tunnels_left"] == ({}, {})
        assert r["direct"] == 10  # after the move, without the tunnel
        assert "mpa" not in the_lab.ip(ar, "link") + the_lab.ip(mn, "link")


def test_refuse_inner_ipv6() -> None:
    ar_end = TunnelSpec("mpa0", A6("fd98::2"), A6("fd98::1"), NCOA6)
    mn_end = TunnelSpec("mpa0", A6("fd98::1"), A6("fd98::2"), NCOA6, inner_on_device=True)
    assert refuse_inner(ar_end, INNER6) is None  # from nCoA
    assert "inner source fd96::9" in str(refuse_inner(ar_end, _udp6("fd96::9", "fd96::2", b"")))
    assert refuse_inner(mn_end, _udp6("fd96::2", str(NCOA6), b"")) is None
    assert "inner destination" in str(refuse_inner(mn_end, INNER6))
    assert refuse_inner(ar_end, INNER) == "inner packet is not IPv6"

"""IP-in-IP framing, the in-memory driver, and real IP-in-IP packets between namespaces."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pana_mpa.mpa.drivers.linux_tunnel import LinuxIpipDriver, in_netns
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
    with in_netns(cn):
        server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with in_netns(mn):
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("10.96.0.2", 9999))
    client.bind((str(NCOA), 5000))
    for s in (server, client):
        s.setblocking(False)
    loop = asyncio.get_running_loop()
    got = 0
    try:
        for i in range(rounds):
            await loop.sock_sendto(client, b"ping %d" % i, ("10.96.0.2", 9999))
            data, addr = await asyncio.wait_for(loop.sock_recvfrom(server, 2048), 2)
            assert addr == (str(NCOA), 5000)  # the CN sees the MN's next address
            await loop.sock_sendto(server, data.replace(b"ping", b"pong"), addr)
            reply, _ = await asyncio.wait_for(loop.sock_recvfrom(client, 2048), 2)
            got += reply == b"pong %d" % i
    finally:
        server.close()
        client.close()
    return got


@pytest.mark.netns
def test_real_ipip_between_namespaces(tmp_path: Path) -> None:
    tshark = need_binary("tshark")
    with lab() as the_lab:
        mn, ar, cn = _three_hosts(the_lab)
        pcap = tmp_path / "ipip.pcap"
        cap = the_lab.spawn(
            ar,
            tshark,
            "-q",
            "-i",
            "a0",
            "-f",
            "ip proto 4",
            "-w",
            str(pcap),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(200):  # wait until tshark captures
            if pcap.exists():
                break
            time.sleep(0.025)
        time.sleep(0.3)

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
        time.sleep(0.3)
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
            with in_netns(mn):
                rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with in_netns(host):
                tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            rx.bind((str(NCOA), 7000))
            rx.setblocking(False)
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
            with in_netns(ar):
                tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
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
            with in_netns(cn):
                rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with in_netns(mn):
                raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IPIP)
            rx.bind(("10.96.0.2", 9999))
            rx.setblocking(False)
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

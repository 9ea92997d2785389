"""The MPA framework's Figure 4 testbed in network namespaces, with realistic delays (root).

draft-ohba-mobopts-mpa-framework s6 / RFC 6252 s6.3, built on tests/mpa_lab.py::

    home network: AAA (hostapd, RADIUS + EAP-PSK) -[delay: AAA round trip]- core
    network 1: R1 10.97.1.1 + DHCP server 1 (dnsmasq on R1) + AP1 (bridge ap1)
    network 2: R2 10.97.2.1 = AR + PAA (RADIUS pass-through) + DHCP relay, DHCP server 2
               (dnsmasq 10.97.3.2, ICMP address check on or off) + AP2 (bridge ap2)
    network 3: CN 10.97.20.2 (the stream's sender) -[delay: CN round trip]- core
    MN mn0 -[delay element on the radio link: link-layer switch gap]- AP1 | AP2

IPv6 scenarios get nCoA either by SLAAC (R2's RA, carried to the MPA MN in PANA) or, with
``--dhcpv6``, from a real DHCPv6 server (kea-dhcp6 in the ``dhcp`` namespace, fd97:3::2) through
R2's relay: the MPA agent's Relay-Forw before the move, the relay agent on R2's CTN link for the
non-MPA MN's own Solicit after it (then the kernel's DAD on the address).

Every delay is the userspace delay element (tests/delay_element.py; the kernel has no netem).
The MN gets oCoA from DHCP server 1, then one of four handovers runs in a fresh testbed:

- ``non-mpa``: link-layer switch (gap), DHCP through R2's relay (dnsmasq, address check per
  scenario), the MN's own ARP probe (RFC 5227), PANA authentication through the AAA server,
  binding update to the far CN
- ``mpa``: MpaController (MN) / MpaAgent (R2, RADIUS pass-through to the AAA server)
- ``mpa-buffer``: the same, R2 buffers during the switch (RFC 6252 s7.6)
- ``mpa-bicast``: the same, R2 bicasts during the switch

Per run: interruption (largest gap between arrivals), lost, duplicated, the time of each step.
``sudo .venv/bin/python -m benchmarks.handover_testbed --runs 5 --out docs/results`` writes
``handover.json`` (per-packet arrivals), ``handover.md`` (median [min-max]) and a PNG per
scenario (benchmarks/testbed_results.py); a progress line per run goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import platform
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eap.aaa.passthrough import DatagramLink, RadiusConfig, RadiusPassThrough
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer
from eap.peer import EapPeer
from pana_mpa.config import PacConfig
from pana_mpa.mpa.dhcp import DhcpLease
from pana_mpa.mpa.dhcp6 import Dhcp6Lease
from pana_mpa.mpa.drivers.linux_tunnel import in_netns
from pana_mpa.pac import PacSession
from tests.delay_element import DelayElement, insert
from tests.mpa_lab import (
    CN_ADDR,
    DHCP_SERVER,
    MN_MAC,
    OCOA,
    PAA_ADDR,
    PANA_PORT,
    R1_ADDR,
    HandoverResult,
    MpaLab,
    dhcp_client,
    mpa_handover,
    non_mpa_handover,
    udp_in,
)
from tests.netns import Lab

__all__ = [
    "AAA_ADDR",
    "MODES",
    "Scenario",
    "TestbedLab",
    "arp_probe",
    "run_mode",
]

MODES = ("non-mpa", "mpa", "mpa-buffer", "mpa-bicast")
FAMILIES = ("ipv4", "ipv6")
OCOA6 = "fd97:1::10"
R1_6 = "fd97:1::1"
PAA6 = "fd97:2::1"
CTN6 = ipaddress.IPv6Network("fd97:2::/64")
CN6 = "fd97:20::2"
KEA6 = "fd97:3::2"
R2_DHCP6 = "fd97:3::1"
KEA6_POOL = "fd97:2::100 - fd97:2::1ff"
AAA_ADDR = "10.97.30.2"
R2_CORE = "10.97.12.1"
RADIUS_PORT = 1812
RADIUS_SECRET = b"testing123"
AAA_USER = b"pskuser"
AAA_PSK = bytes.fromhex("0123456789abcdef0123456789abcdef")
STEPS = (
    "pre_authenticated",
    "tunnel_up",
    "pre_switched",
    "configured",
    "announced",
    "switched",
    "handover_complete",
    "dhcp",
    "address_checked",
    "dad",
    "pana",
    "binding",
)
"""Steps shown in the table (ms after the move): MPA's (``configured``: nCoA on the new link,
also the non-MPA path's; ``announced``: the gratuitous ARP / unsolicited NA sent), then the
non-MPA path's."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """The delays of one testbed configuration."""

    gap_ms: float = 0.0
    """Link-layer switch gap: nothing crosses the MN's radio link for this long at the move."""
    aaa_rtt_ms: float = 0.0
    """Round trip R2 <-> AAA server (home network)."""
    cn_rtt_ms: float = 0.0
    """Round trip core <-> CN."""
    dhcp_check: bool = False
    """DHCP server 2 checks the address with ICMP echo before OFFER (dnsmasq's default)."""
    arp_wait_ms: float = 200.0
    """The MN's ARP probe: wait for an answer this long after the probe (0: no probe)."""
    family: str = "ipv4"
    dhcp6: bool = False
    """IPv6: nCoA from DHCPv6 (Kea through R2's relay) instead of SLAAC."""

    @property
    def name(self) -> str:
        """The scenario's label in tables and plots."""
        if self.family == "ipv6":
            return (
                f"ipv6 gap={self.gap_ms:g}ms aaa={self.aaa_rtt_ms:g}ms "
                f"cn={self.cn_rtt_ms:g}ms {'dhcpv6' if self.dhcp6 else 'slaac'}+dad"
            )
        check = "dhcp-check" if self.dhcp_check else "no-dhcp-check"
        return (
            f"{self.family} gap={self.gap_ms:g}ms aaa={self.aaa_rtt_ms:g}ms "
            f"cn={self.cn_rtt_ms:g}ms {check} arp={self.arp_wait_ms:g}ms"
        )


class TestbedLab(MpaLab):
    """MpaLab's namespaces plus the radio-link, CN and AAA delay elements and the home network."""

    __test__ = False  # not a pytest class

    def build_testbed(self, scenario: Scenario) -> TestbedLab:
        """Create every namespace, link and delay element; the MN has no address yet."""
        b = self.base
        self.scenario = scenario
        self.mn, self.radio, self.r1, self.r2 = b.ns("mn"), b.ns("radio"), b.ns("r1"), b.ns("r2")
        self.dhcp, self.core, self.cn = b.ns("dhcp"), b.ns("core"), b.ns("cn")
        self.home = b.ns("home")
        self.air: DelayElement = insert(b, self.mn, "mn0", self.radio, "pmn", role="air")
        b.veth(self.radio, "up1", self.r1, "r1d")
        b.veth(self.radio, "up2", self.r2, "r2d")
        b.veth(self.r1, "r1c", self.core, "k1")
        b.veth(self.r2, "r2c", self.core, "k2")
        b.veth(self.r2, "r2s", self.dhcp, "d0")
        cn_delay = scenario.cn_rtt_ms / 2000
        aaa_delay = scenario.aaa_rtt_ms / 2000
        self.wan = insert(b, self.core, "k3", self.cn, "cn0", delay=cn_delay, role="wan")
        self.aaa_link = insert(b, self.core, "k4", self.home, "h0", delay=aaa_delay, role="aaa")
        batch = {
            self.radio: [
                "link add ap1 type bridge",
                "link add ap2 type bridge",
                "link set ap1 up",
                "link set ap2 up",
                "link set up1 master ap1",
                "link set up2 master ap2",
                "link set pmn master ap1",
            ],
            self.mn: [f"link set mn0 address {MN_MAC.hex(':')}"],
            self.r1: [
                f"addr add {R1_ADDR}/24 dev r1d",
                "addr add 10.97.11.1/24 dev r1c",
                "route add default via 10.97.11.254",
            ],
            self.r2: [
                f"addr add {PAA_ADDR}/24 dev r2d",
                f"addr add {R2_CORE}/24 dev r2c",
                "addr add 10.97.3.1/24 dev r2s",
                "route add default via 10.97.12.254",
            ],
            self.dhcp: [f"addr add {DHCP_SERVER}/24 dev d0", "route add default via 10.97.3.1"],
            self.core: [
                "addr add 10.97.11.254/24 dev k1",
                "addr add 10.97.12.254/24 dev k2",
                "addr add 10.97.20.1/24 dev k3",
                "addr add 10.97.30.1/24 dev k4",
                "route add 10.97.1.0/24 via 10.97.11.1",
                "route add 10.97.2.0/24 via 10.97.12.1",
                "route add 10.97.3.0/24 via 10.97.12.1",
            ],
            self.cn: [f"addr add {CN_ADDR}/24 dev cn0", "route add default via 10.97.20.1"],
            self.home: [f"addr add {AAA_ADDR}/24 dev h0", "route add default via 10.97.30.1"],
        }
        if scenario.family == "ipv6":
            for ns, lines in _ipv6_plan(self).items():
                batch[ns] = batch[ns] + lines
        for ns, lines in batch.items():
            self.ip_batch(ns, lines)
        for ns in (self.r1, self.r2, self.core):
            b.exec(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            if scenario.family == "ipv6":
                b.exec(ns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        if scenario.family == "ipv6":
            self._wait_not_tentative()
        for ns in (self.mn, self.r1, self.r2, self.core, self.cn):
            b.exec(ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
            b.exec(ns, "sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0")
        return self

    def _wait_not_tentative(self, timeout: float = 15.0) -> None:
        # neighbour discovery from a still tentative link-local address loses packets: wait
        # until the link-local DAD (about 2 s after a link comes up) is over everywhere
        deadline = time.monotonic() + timeout
        spaces = (self.mn, self.r1, self.r2, self.core, self.cn, self.dhcp)
        while any(self.base.ip(ns, "-6", "addr", "show", "tentative").strip() for ns in spaces):
            if time.monotonic() > deadline:
                raise RuntimeError("IPv6 addresses stay tentative")
            time.sleep(0.05)

    def start_ctn_router_advertisements(self) -> None:
        """R2 advertises the CTN prefix on AP2's link (dnsmasq --enable-ra, RA only)."""
        args = [
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--interface=r2d",
            "--bind-interfaces",
            "--log-facility=-",
            "--enable-ra",
            "--dhcp-range=::,constructor:r2d,ra-only,64,1h",
            f"--pid-file={self.workdir / 'dnsmasq-ra.pid'}",
        ]
        out = (self.workdir / "dnsmasq-ra.log").open("wb")
        self.base.spawn(self.r2, *args, stdout=out, stderr=subprocess.STDOUT)
        out.close()

    def start_kea6(self) -> None:
        """DHCP server 2 for IPv6: kea-dhcp6 serving fd97:2::/64 to R2's relay (fd97:3::1)."""
        from tests.servers import kea6_server

        kea6_server(self.base, self.dhcp, self.workdir, interface="d0", address=KEA6,
                    subnet=str(CTN6), pool=KEA6_POOL, dns=KEA6)  # fmt: skip

    def start_network1_dhcp(self) -> None:
        """DHCP server 1 (dnsmasq on R1, AP1's link): gives the MN oCoA."""
        args = [
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--interface=r1d",
            "--bind-interfaces",
            "--log-dhcp",
            "--log-facility=-",
            "--no-ping",  # the initial attachment is not measured
            f"--dhcp-range={OCOA},{OCOA},255.255.255.0,1h",
            f"--dhcp-option=3,{R1_ADDR}",
            f"--dhcp-leasefile={self.workdir / 'dnsmasq-net1.leases'}",
            f"--pid-file={self.workdir / 'dnsmasq-net1.pid'}",
        ]
        self._daemon(self.r1, args, "dnsmasq-net1.log")

    def start_aaa(self) -> None:
        """hostapd as RADIUS server with its EAP server (EAP-PSK) in the home network."""
        from tests.realcomponents import need_binary
        from tests.servers import _wait_for

        hostapd = need_binary("hostapd")
        d = self.workdir
        (d / "radius_clients").write_text(f"10.97.0.0/16 {RADIUS_SECRET.decode()}\n")
        (d / "eap_users").write_text(f'"{AAA_USER.decode()}" PSK {AAA_PSK.hex()}\n')
        conf = d / "hostapd-as.conf"
        conf.write_text(
            "\n".join(
                [
                    "driver=none",
                    "interface=pana-aaa",
                    "logger_stdout=-1",
                    "logger_stdout_level=2",
                    f"radius_server_clients={d / 'radius_clients'}",
                    f"radius_server_auth_port={RADIUS_PORT}",
                    "eap_server=1",
                    f"eap_user_file={d / 'eap_users'}",
                    "",
                ]
            )
        )
        log = d / "hostapd.log"
        with log.open("wb") as out:
            proc = self.base.spawn(self.home, hostapd, "-d", str(conf), stdout=out, stderr=out)
        _wait_for(log, "Setup of interface done", proc, "hostapd")

    async def attach_network1(self) -> None:
        """The MN's start: DHCP from server 1 on AP1, then oCoA and the default route via R1.

        IPv6: oCoA is configured statically (the initial attachment is not measured).
        """
        if self.scenario.family == "ipv6":
            await asyncio.to_thread(
                self.ip_batch,
                self.mn,
                [f"addr add {OCOA6}/64 dev mn0 nodad", f"route add default via {R1_6}"],
            )
            return
        lease = await dhcp_client(self.mn, "mn0", MN_MAC)
        if lease.address != OCOA:
            raise RuntimeError(f"DHCP server 1 gave {lease.address}, expected {OCOA}")
        await asyncio.to_thread(
            self.ip_batch,
            self.mn,
            [f"addr add {OCOA}/24 dev mn0", f"route replace default via {R1_ADDR}"],
        )

    async def link_switch(self) -> None:
        """The link-layer handover: the radio link is down for the gap; the MN lands on AP2."""
        gap = self.scenario.gap_ms / 1000
        up_at = 0.0
        if gap > 0:
            # the gap runs on the element's clock from when it took the command (later than our
            # call on a loaded machine): wait for that end, not for our own start + gap, or the
            # MN's first frames on the new link fall into the gap
            up_at = await asyncio.to_thread(self.air.link_down, gap)
        await asyncio.to_thread(self.move_to, 2)
        rest = up_at - time.time()
        if rest > 0:
            await asyncio.sleep(rest)

    def aaa_backend(self) -> Callable[[int], RadiusPassThrough]:
        """R2's RADIUS pass-through toward the home AAA server, one per PANA session."""
        cfg = RadiusConfig(
            server=(AAA_ADDR, RADIUS_PORT),
            secret=Secret(RADIUS_SECRET),
            nas_ip_address=R2_CORE,
            timeout=1.0,
        )

        async def link() -> DatagramLink:
            transport: DatagramLink = await udp_in(self.r2, R2_CORE, 0)
            return transport

        return lambda _sid: RadiusPassThrough(cfg, link=link)


def _eap_peer() -> EapPeer:
    return EapPeer(
        identity=AAA_USER, methods={EAP_TYPE_PSK: lambda: PskPeer(AAA_USER, Secret(AAA_PSK))}
    )


def _pac() -> PacSession:
    return PacSession(PacConfig(), paa=(str(PAA_ADDR), PANA_PORT), eap=_eap_peer())


async def arp_probe(
    ns: str,
    ifname: str,
    mac: bytes,
    address: ipaddress.IPv4Address,
    *,
    probes: int = 1,
    wait: float = 0.2,
) -> None:
    """The client's own address check (RFC 5227 s2.1.1): ARP probes, then wait for an answer.

    Sender IP 0.0.0.0, target ``address``, broadcast; ``probes`` probes ``wait`` seconds apart
    (RFC 5227's own timers, PROBE_WAIT + 3 probes 1-2 s apart + ANNOUNCE_WAIT, take 4-9 s;
    clients that probe at all shorten them). Raises RuntimeError on a conflict: an ARP packet
    from another host whose sender is ``address``, or a probe for it from another host.
    """
    with in_netns(ns):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    try:
        s.bind((ifname, 0x0806))
        s.setblocking(False)
        arp = struct.pack(
            "!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, bytes(4), bytes(6), address.packed
        )
        frame = b"\xff" * 6 + mac + b"\x08\x06" + arp
        loop = asyncio.get_running_loop()
        for _ in range(probes):
            await loop.sock_sendall(s, frame)
            deadline = loop.time() + wait
            while (remaining := deadline - loop.time()) > 0:
                try:
                    data = await asyncio.wait_for(loop.sock_recv(s, 128), remaining)
                except TimeoutError:
                    break
                if len(data) < 42 or data[12:14] != b"\x08\x06" or data[22:28] == mac:
                    continue
                spa, tpa = data[28:32], data[38:42]
                if spa == address.packed or (spa == bytes(4) and tpa == address.packed):
                    raise RuntimeError(f"address conflict for {address} (RFC 5227)")
    finally:
        s.close()


def _ipv6_plan(lab: TestbedLab) -> dict[str, list[str]]:
    """IPv6 on the access links, the core and the CN (the AAA stays reachable over IPv4)."""
    return {
        lab.mn: [],
        lab.radio: [],
        lab.r1: [
            f"addr add {R1_6}/64 dev r1d nodad",
            "addr add fd97:11::1/64 dev r1c nodad",
            "route add default via fd97:11::fe",
        ],
        lab.r2: [
            f"addr add {PAA6}/64 dev r2d nodad",
            "addr add fd97:12::1/64 dev r2c nodad",
            f"addr add {R2_DHCP6}/64 dev r2s nodad",
            "route add default via fd97:12::fe",
        ],
        lab.dhcp: [f"addr add {KEA6}/64 dev d0 nodad"],
        lab.core: [
            "addr add fd97:11::fe/64 dev k1 nodad",
            "addr add fd97:12::fe/64 dev k2 nodad",
            "addr add fd97:20::1/64 dev k3 nodad",
            "route add fd97:1::/64 via fd97:11::1",
            "route add fd97:2::/64 via fd97:12::1",
        ],
        lab.cn: [f"addr add {CN6}/64 dev cn0 nodad", "route add default via fd97:20::1"],
        lab.home: [],
    }


def _router_solicitation(ns: str, ifname: str, mac: bytes) -> None:
    """One RS to all-routers (RFC 4861 s6.3.7) with our link-layer address."""
    with in_netns(ns):
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        index = socket.if_nametoindex(ifname)
    try:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        rs = struct.pack("!BBHI", 133, 0, 0, 0) + bytes([1, 1]) + mac  # checksum by the kernel
        s.sendto(rs, ("ff02::2", 0, 0, index))
    finally:
        s.close()


async def _slaac_address(lab: TestbedLab, steps: dict[str, float], t0: float) -> str:
    """Wait for the kernel's SLAAC address in the CTN prefix, then for its DAD to finish."""
    seen = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = await asyncio.to_thread(lab.base.ip, lab.mn, "-6", "-o", "addr", "show", "dev", "mn0")
        for line in out.splitlines():
            fields = line.split()
            addr = fields[fields.index("inet6") + 1].split("/")[0] if "inet6" in fields else ""
            if not addr or ipaddress.IPv6Address(addr) not in CTN6:
                continue
            if not seen:
                seen = True
                steps["ra"] = (time.monotonic() - t0) * 1000
            if "tentative" not in fields:
                steps["dad"] = (time.monotonic() - t0) * 1000
                return addr
        await asyncio.sleep(0.005)
    raise RuntimeError("no SLAAC address on the CTN link within 10 s")


async def _non_mpa_v6(
    lab: TestbedLab, interval: float, settle: float, aaa: Callable[[int], RadiusPassThrough]
) -> HandoverResult:
    """IPv6 non-MPA: move, RS, RA, SLAAC with the kernel's DAD, PANA via the AAA, binding update."""
    from pana_mpa.aio import PacClient, serve_paa
    from pana_mpa.config import PaaConfig
    from pana_mpa.paa import PaaServer
    from tests.mpa_lab import ns_udp

    paa = PaaServer(PaaConfig(pre_authentication=False))
    relay = None
    if lab.scenario.dhcp6:
        from pana_mpa.mpa.drivers.dhcp6_relay import Dhcp6RelayAgent

        relay = Dhcp6RelayAgent(ifname="r2d", link_address=ipaddress.IPv6Address(PAA6),
                                server=ipaddress.IPv6Address(KEA6),
                                upstream=ipaddress.IPv6Address(R2_DHCP6))  # fmt: skip
        with in_netns(lab.r2):
            relay.open()
        await relay.start()
    async with ns_udp(lab.r2, PAA6, PANA_PORT) as paa_tr:
        server = asyncio.get_running_loop().create_task(serve_paa(paa, paa_tr, aaa=aaa))
        try:
            async with lab.meter(interval, cn=CN6, to=OCOA6) as stream:
                await stream.flowing()
                await asyncio.sleep(settle)
                dhcp6_socket = _dhcp6_client_socket(lab) if lab.scenario.dhcp6 else None
                steps: dict[str, float] = {}
                t_move = time.monotonic()

                def mark(name: str) -> None:
                    steps[name] = (time.monotonic() - t_move) * 1000

                await lab.link_switch()
                mark("l2")
                await asyncio.to_thread(lab.ip_batch, lab.mn, [f"addr del {OCOA6}/64 dev mn0"])
                if dhcp6_socket is not None:
                    ncoa = await _dhcp6_configure(lab, mark, dhcp6_socket)
                else:
                    await asyncio.to_thread(_router_solicitation, lab.mn, "mn0", MN_MAC)
                    ncoa = await _slaac_address(lab, steps, t_move)
                await asyncio.to_thread(
                    lab.ip_batch, lab.mn, [f"route replace default via {PAA6} dev mn0"]
                )
                mark("configured")
                pac = PacSession(PacConfig(), paa=(PAA6, PANA_PORT), eap=_eap_peer())
                async with (
                    ns_udp(lab.mn, ncoa, 0) as pac_tr,
                    PacClient(pac, pac_tr, close_transport=False) as client,
                ):
                    await client.authenticate(timeout=10)
                    mark("pana")
                    t_done = await stream.register(lab.mn, ipaddress.IPv6Address(ncoa))
                    mark("binding")
                    await asyncio.sleep(settle)
                    meter = await stream.stop()
                    await client.terminate(timeout=5)
        finally:
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server
            if relay is not None:
                relay.close()
    return HandoverResult("non-MPA", meter, t_move, t_done, steps, {"ncoa": ncoa})


async def _dad_done(lab: TestbedLab, address: str, timeout: float = 10.0) -> None:
    """Wait until ``address`` on the MN's mn0 is no longer tentative (the kernel's DAD)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = await asyncio.to_thread(lab.base.ip, lab.mn, "-6", "-o", "addr", "show", "dev", "mn0")
        for line in out.splitlines():
            fields = line.split()
            if "inet6" in fields and fields[fields.index("inet6") + 1].split("/")[0] == address:
                if "dadfailed" in fields:
                    raise RuntimeError(f"DAD failed for {address}")
                if "tentative" not in fields:
                    return
        await asyncio.sleep(0.005)
    raise RuntimeError(f"{address} still tentative after {timeout} s")


def _dhcp6_client_socket(lab: TestbedLab) -> tuple[socket.socket, int]:
    """The MN's DHCPv6 client socket ([::]:546) and mn0's index, opened before the move."""
    with in_netns(lab.mn):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        index = socket.if_nametoindex("mn0")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::", 546))
    sock.setblocking(False)
    return sock, index


async def _dhcp6_configure(
    lab: TestbedLab, mark: Callable[[str], None], client: tuple[socket.socket, int]
) -> str:
    """The non-MPA MN's DHCPv6 after the move: Solicit on its new link, R2 relays to Kea.

    No initial random delay (RFC 8415 s18.2.1 SHOULD delay the first Solicit up to 1 s; a
    moving client skips it, as MPA's comparison favours the non-MPA path). The address is added
    with the kernel's DAD (RFC 4862 s5.4, RFC 8415 s18.2.10.1) and used once DAD is over; the
    default route is R2 (the RA's router).
    """
    from pana_mpa.mpa.drivers.dhcp6_relay import solicit_lease6

    sock, index = client
    lease = await solicit_lease6(ifindex=index, mac=MN_MAC, sock=sock, prefix_length=64)
    mark("dhcp")
    ncoa = str(lease.address)
    await asyncio.to_thread(lab.ip_batch, lab.mn, [f"addr add {ncoa}/64 dev mn0"])
    await _dad_done(lab, ncoa)
    mark("dad")
    return ncoa


def _build(base: Lab, workdir: Path, scenario: Scenario) -> TestbedLab:
    lab = TestbedLab(base, workdir).build_testbed(scenario)
    lab.start_aaa()
    if scenario.family == "ipv6":
        if scenario.dhcp6:
            lab.start_kea6()
        else:
            lab.start_ctn_router_advertisements()
        return lab
    lab.start_network1_dhcp()
    lab.start_dhcp_server(ping_check=scenario.dhcp_check)
    return lab


def _kea6_lease(lab: TestbedLab) -> Callable[[int, bytes, bytes], Awaitable[Dhcp6Lease]]:
    """The MPA agent's DHCPv6: R2's relay asks Kea for the MN's nCoA (Relay-Forw) before the move.

    link-address = R2's address on the CTN link (Kea picks fd97:2::/64 by it), peer-address =
    the MN's link-local address there; the lease is the MN's (its DUID-LL and IAID).
    """
    from pana_mpa.mpa.drivers.dhcp6_relay import acquire_lease6, relay6_socket

    async def provider(_sid: int, mac: bytes, _client_id: bytes) -> Dhcp6Lease:
        with in_netns(lab.r2):
            sock = relay6_socket(R2_DHCP6)
        return await acquire_lease6(
            server=ipaddress.IPv6Address(KEA6), link_address=ipaddress.IPv6Address(PAA6),
            mac=mac, sock=sock, prefix_length=CTN6.prefixlen, router=ipaddress.IPv6Address(PAA6),
        )  # fmt: skip

    return provider


async def _run(lab: TestbedLab, mode: str, interval: float, settle: float) -> HandoverResult:
    await lab.attach_network1()
    sc = lab.scenario
    if sc.family == "ipv6":
        if mode == "non-mpa":
            return await _non_mpa_v6(lab, interval, settle, lab.aaa_backend())
        from pana_mpa.mpa.ra import Prefix, build_router_advertisement
        from tests.mpa_lab import Addressing

        if sc.dhcp6:  # nCoA from kea-dhcp6 through R2's relay
            addressing = Addressing(paa=PAA6, ocoa=OCOA6, ocoa_prefix=64, cn=CN6)
            lease_provider = _kea6_lease(lab)
        else:  # nCoA by SLAAC from the RA the PAA carries
            ra = build_router_advertisement([Prefix(CTN6, True, True, 86400, 14400)])
            addressing = Addressing(paa=PAA6, ocoa=OCOA6, ocoa_prefix=64, cn=CN6,
                                    router_advertisement=ra)  # fmt: skip
            lease_provider = None
        return await mpa_handover(
            lab,
            buffering=mode == "mpa-buffer",
            bicast=mode == "mpa-bicast",
            interval=interval,
            settle=settle,
            peer=_eap_peer,
            aaa=lab.aaa_backend(),
            link_switch=lab.link_switch,
            addressing=addressing,
            lease_provider=lease_provider,
        )
    if mode == "non-mpa":
        lab.start_relay()

        async def check(lease: DhcpLease) -> None:
            if sc.arp_wait_ms > 0:
                await arp_probe(lab.mn, "mn0", MN_MAC, lease.address, wait=sc.arp_wait_ms / 1000)

        return await non_mpa_handover(
            lab,
            interval=interval,
            settle=settle,
            pac=_pac,
            aaa=lab.aaa_backend(),
            link_switch=lab.link_switch,
            address_check=check,
        )
    return await mpa_handover(
        lab,
        buffering=mode == "mpa-buffer",
        bicast=mode == "mpa-bicast",
        interval=interval,
        settle=settle,
        peer=_eap_peer,
        aaa=lab.aaa_backend(),
        link_switch=lab.link_switch,
    )


def _record(scenario: Scenario, mode: str, result: HandoverResult) -> dict[str, Any]:
    meter = result.meter
    t_move = result.t_move
    start = meter.start_time if meter.arrivals else t_move
    interval = meter.interval_ms / 1000
    return {
        "scenario": scenario.name,
        "family": scenario.family,
        "mode": mode,
        "interval_ms": meter.interval_ms,
        "sent": meter.sent,
        "lost": meter.lost,
        "duplicates": meter.duplicates,
        "interruption_ms": round(meter.longest_gap_ms, 1),
        "completion_ms": round((result.t_done - t_move) * 1000, 1),
        "steps_ms": {k: round(v, 1) for k, v in result.steps.items()},
        "move_seq": round((t_move - start) / interval),
        "arrivals": [[s, round((t - t_move) * 1000, 2), i] for s, t, i in meter.arrivals],
        "delays": {
            "gap_ms": scenario.gap_ms,
            "aaa_rtt_ms": scenario.aaa_rtt_ms,
            "cn_rtt_ms": scenario.cn_rtt_ms,
            "dhcp_check": scenario.dhcp_check,
            "arp_wait_ms": scenario.arp_wait_ms,
            "dhcp6": scenario.dhcp6,
        },
        "ncoa": result.extra.get("ncoa"),
        "ar": result.extra.get("ar"),
        "announce": result.extra.get("announce"),
    }


def run_mode(
    scenario: Scenario, mode: str, *, interval: float = 0.02, settle: float = 0.5
) -> dict[str, Any]:
    """One handover of ``mode`` in a fresh testbed; the run's record (JSON-ready)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    if scenario.family not in FAMILIES:
        raise ValueError(f"unknown family {scenario.family!r}")
    base = Lab()
    try:
        with tempfile.TemporaryDirectory(prefix="pana-testbed-") as tmp:
            lab = _build(base, Path(tmp), scenario)
            try:
                result = asyncio.run(_run(lab, mode, interval, settle))
            finally:
                for element in (lab.air, lab.wan, lab.aaa_link):
                    element.close()
            return _record(scenario, mode, result)
    finally:
        base.close()


def default_scenarios(families: Sequence[str] = FAMILIES) -> list[Scenario]:
    """The draft's delays. IPv4: link-layer gaps 0/30/130/250 ms with a 40 ms AAA and 50 ms CN
    round trip; the 130 ms gap also with the DHCP server's address check; one without any delay.
    IPv6: no delay, and the 130 ms gap with the AAA and CN delays; that one also with DHCPv6."""
    out: list[Scenario] = []
    if "ipv4" in families:
        out.append(Scenario())
        out += [Scenario(gap, 40, 50) for gap in (0, 30, 130, 250)]
        out.append(Scenario(130, 40, 50, dhcp_check=True))
    if "ipv6" in families:
        out += [Scenario(family="ipv6"), Scenario(130, 40, 50, family="ipv6")]
        out.append(Scenario(130, 40, 50, family="ipv6", dhcp6=True))
    return out


def _eta(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}m{s:02d}s"


def run_all(
    scenarios: Sequence[Scenario],
    modes: Sequence[str],
    runs: int,
    *,
    interval: float = 0.02,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Every scenario x mode x run (modes interleaved); failed runs are recorded with ``error``."""
    plan = [(r, sc, m) for sc in scenarios for r in range(runs) for m in modes]
    out: list[dict[str, Any]] = []
    t0 = time.monotonic()
    for i, (r, sc, mode) in enumerate(plan, 1):
        t_run = time.monotonic()
        try:
            rec = run_mode(sc, mode, interval=interval)
            what = f"lost {rec['lost']}, interruption {rec['interruption_ms']:.0f} ms"
        except Exception as exc:  # one bad run must not hide the others
            rec = {"scenario": sc.name, "family": sc.family, "mode": mode, "error": str(exc)}
            what = f"FAILED: {str(exc)[:200]}"
        rec["run"] = r
        out.append(rec)
        if progress is not None:
            elapsed = time.monotonic() - t0
            eta = elapsed / i * (len(plan) - i)
            progress(
                f"[{i}/{len(plan)}] {sc.name} {mode} run {r + 1}: {what} "
                f"({time.monotonic() - t_run:.1f} s; ETA {_eta(eta)})"
            )
    return out


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Run the testbed and write the results files."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.handover_testbed", description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("docs/results"))
    ap.add_argument("--interval", type=float, default=0.02, help="stream spacing, seconds")
    ap.add_argument("--mode", choices=MODES, action="append", help="default: all four")
    ap.add_argument("--gap", type=float, action="append", help="link-layer gap ms (repeatable)")
    ap.add_argument("--aaa-rtt", type=float, default=None, help="AAA round trip ms")
    ap.add_argument("--cn-rtt", type=float, default=None, help="CN round trip ms")
    ap.add_argument("--dhcp-check", action="store_true", help="DHCP server 2 pings first")
    ap.add_argument("--arp-wait", type=float, default=200.0, help="MN's ARP probe wait, ms")
    ap.add_argument("--family", choices=FAMILIES, action="append", help="default: both")
    ap.add_argument(
        "--dhcpv6",
        action="store_true",
        help="only the IPv6 scenarios with nCoA from DHCPv6 (Kea through R2's relay)",
    )
    ap.add_argument(
        "--append",
        action="store_true",
        help="keep the runs of other scenarios already in OUT/handover.json",
    )
    args = ap.parse_args(argv)
    families = ["ipv6"] if args.dhcpv6 else args.family or list(FAMILIES)
    if os.geteuid() != 0:
        _say("needs root (network namespaces, TUN, raw sockets)")
        return 2
    if args.gap or args.aaa_rtt is not None or args.cn_rtt is not None or args.dhcp_check:
        scenarios = [
            Scenario(g, args.aaa_rtt or 0.0, args.cn_rtt or 0.0, args.dhcp_check, args.arp_wait, f,
                     dhcp6=args.dhcpv6)
            for f in families
            for g in (args.gap or [0.0])
        ]  # fmt: skip
    else:
        scenarios = default_scenarios(families)
        if args.dhcpv6:
            scenarios = [s for s in scenarios if s.dhcp6]
    modes = args.mode or list(MODES)
    runs = run_all(scenarios, modes, args.runs, interval=args.interval, progress=_say)
    from benchmarks.testbed_results import write_results

    previous = args.out / "handover.json"
    if args.append and previous.exists():
        names = {s.name for s in scenarios}
        kept = [r for r in json.loads(previous.read_text())["runs"] if r["scenario"] not in names]
        runs = kept + runs

    meta = {
        "command": "python -m benchmarks.handover_testbed "
        + " ".join(a for a in (argv or sys.argv[1:]) if a != "--append"),
        "runs per scenario and mode": args.runs,
        "stream": f"one UDP packet every {args.interval * 1000:g} ms, CN -> MN",
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}",
        "times": "ms after the link-layer move (negative: before it)",
    }
    written = write_results(runs, args.out, meta=meta, steps=STEPS)
    for path in written.values():
        _say(f"wrote {path}")
    failed = sum(1 for r in runs if r.get("error"))
    with contextlib.suppress(Exception):
        sys.stdout.write((args.out / "handover.md").read_text())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

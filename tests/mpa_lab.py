"""The MPA testbed (RFC 6252 s6, draft-00 s6) in network namespaces: topology, meter, handovers.

Topology (docs/mpa-lab.md)::

    MN mn0 ==(radio: bridge ap1 | ap2)== R1 (10.97.1.1) --+
                                        R2 (10.97.2.1) --+-- core -- CN 10.97.20.2
                                        R2 -- DHCP server (dnsmasq, 10.97.3.2)

The MN's veth peer ``pmn`` lives in the radio namespace and is moved from bridge ap1 (current
network, R1) to ap2 (CTN, R2): the L2 handover never drops the carrier (../shared/ENVIRONMENT.md).
R2 is the CTN's access router, PAA and DHCP relay. The CN streams sequence-numbered UDP packets to
the MN's current binding; a ``REG`` datagram from the MN moves the binding (the mobility
protocol's binding update). Needs root; tests using it carry the ``netns`` marker.

Run as ``python -m tests.mpa_lab sender|receiver ...`` inside a namespace, this module is also the
meter: the sender and the receiver are separate processes so that the test's own event loop does
not disturb the timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import itertools
import json
import logging
import os
import random
import select
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer
from pana_codecs import Avp, MessageFlags, MessageType, PanaMessage
from pana_mpa.aio import PacClient, serve_paa
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.events import PanaEvent
from pana_mpa.mpa.ar import ArDataPlane, BufferPolicy, Forward
from pana_mpa.mpa.avps import (
    AssignedAddress,
    MpaAvpCode,
    MpaCapability,
    MpaStatus,
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
from pana_mpa.mpa.dhcp import (
    BOOTREQUEST,
    OPT_CLIENT_ID,
    OPT_LEASE_TIME,
    OPT_MESSAGE_TYPE,
    OPT_PARAMETER_LIST,
    OPT_REQUESTED_ADDRESS,
    OPT_ROUTER,
    OPT_SERVER_ID,
    OPT_SUBNET_MASK,
    DhcpLease,
    DhcpMessage,
    DhcpMessageType,
    decode_dhcp,
    encode_dhcp,
)
from pana_mpa.mpa.dhcp_aio import acquire_lease
from pana_mpa.mpa.linux_tunnel import LinuxIpipDriver, in_netns
from pana_mpa.mpa.tunnel import TunnelSpec
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession
from pana_mpa.transport import Address
from pana_mpa.udp import UdpTransport
from tests.netns import Lab

__all__ = [
    "CN_ADDR",
    "DHCP_SERVER",
    "MN_MAC",
    "OCOA",
    "PAA_ADDR",
    "R1_ADDR",
    "ArMpaService",
    "HandoverResult",
    "MeterResult",
    "MnMpaExtension",
    "MpaLab",
    "Stream",
    "dhcp_client",
    "ns_udp",
]

logger = logging.getLogger(__name__)

A = ipaddress.IPv4Address
N = ipaddress.IPv4Network

MN_MAC = bytes.fromhex("020000970010")
OCOA = A("10.97.1.10")
R1_ADDR = A("10.97.1.1")
PAA_ADDR = A("10.97.2.1")
"""R2 on the CTN link: gateway, PAA, AR tunnel end point and the relay's giaddr."""
DHCP_SERVER = A("10.97.3.2")
CN_ADDR = A("10.97.20.2")
CTN_RANGE = ("10.97.2.100", "10.97.2.200")
PANA_PORT = 716
IDENTITY = b"mn@ctn.example"
PSK = b"mpa-lab-psk-16o!"
VENDOR = 32473

_DATA = struct.Struct("!4sId")  # magic, sequence number, send time (CLOCK_MONOTONIC)
_MAGIC = b"MPAL"
IP_PKTINFO = 8  # Linux <linux/in.h>; Python 3.11 does not export it


def _run(*args: str) -> str:
    res = subprocess.run(args, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


@contextlib.asynccontextmanager
async def ns_udp(ns: str, host: str, port: int = 0) -> AsyncIterator[UdpTransport]:
    """A UdpTransport whose socket lives in namespace ``ns``; closed on exit."""
    with in_netns(ns):  # the socket is created before the first suspension point
        transport = await UdpTransport.bind(host, port)
    try:
        yield transport
    finally:
        transport.close()


class MpaLab:
    """The testbed's namespaces, links, addresses and daemons (built by ``build``)."""

    def __init__(self, base: Lab, workdir: Path) -> None:
        self.base = base
        self.workdir = workdir
        self.ap = 1

    def build(self) -> MpaLab:
        """Create every namespace and link; the MN starts on AP1 with oCoA."""
        b = self.base
        self.mn, self.radio, self.r1, self.r2 = b.ns("mn"), b.ns("radio"), b.ns("r1"), b.ns("r2")
        self.dhcp, self.core, self.cn = b.ns("dhcp"), b.ns("core"), b.ns("cn")
        b.veth(self.mn, "mn0", self.radio, "pmn")
        b.veth(self.radio, "up1", self.r1, "r1d")
        b.veth(self.radio, "up2", self.r2, "r2d")
        b.veth(self.r1, "r1c", self.core, "k1")
        b.veth(self.r2, "r2c", self.core, "k2")
        b.veth(self.r2, "r2s", self.dhcp, "d0")
        b.veth(self.core, "k3", self.cn, "cn0")
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
            self.mn: [
                f"link set mn0 address {MN_MAC.hex(':')}",
                f"addr add {OCOA}/24 dev mn0",
                f"route add default via {R1_ADDR}",
            ],
            self.r1: [
                f"addr add {R1_ADDR}/24 dev r1d",
                "addr add 10.97.11.1/24 dev r1c",
                "route add default via 10.97.11.254",
            ],
            self.r2: [
                f"addr add {PAA_ADDR}/24 dev r2d",
                "addr add 10.97.12.1/24 dev r2c",
                "addr add 10.97.3.1/24 dev r2s",
                "route add default via 10.97.12.254",
            ],
            self.dhcp: [f"addr add {DHCP_SERVER}/24 dev d0", "route add default via 10.97.3.1"],
            self.core: [
                "addr add 10.97.11.254/24 dev k1",
                "addr add 10.97.12.254/24 dev k2",
                "addr add 10.97.20.1/24 dev k3",
                "route add 10.97.1.0/24 via 10.97.11.1",
                "route add 10.97.2.0/24 via 10.97.12.1",
                "route add 10.97.3.0/24 via 10.97.12.1",
            ],
            self.cn: [f"addr add {CN_ADDR}/24 dev cn0", "route add default via 10.97.20.1"],
        }
        for ns, lines in batch.items():
            self.ip_batch(ns, lines)
        for ns in (self.r1, self.r2, self.core):
            b.exec(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for ns in (self.mn, self.r1, self.r2, self.core, self.cn):
            # the MN's tunnel and the AR's /32 route make asymmetric paths: no reverse-path filter
            b.exec(ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
            b.exec(ns, "sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0")
        return self

    def ip_batch(self, ns: str, lines: Sequence[str]) -> None:
        """Run several ``ip`` commands in namespace ``ns`` in one process (fast)."""
        res = subprocess.run(
            ["ip", "-n", ns, "-batch", "-"],
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(f"ip -n {ns} -batch: {res.stderr.strip()}")

    def move_to(self, ap: int) -> float:
        """L2 handover: move the MN's port to bridge ap<N>; return the time it took (seconds)."""
        t0 = time.monotonic()
        self.ip_batch(self.radio, ["link set pmn nomaster", f"link set pmn master ap{ap}"])
        self.ap = ap
        return time.monotonic() - t0

    def port_master(self) -> str:
        """The bridge the MN's port is attached to."""
        out = self.base.ip(self.radio, "-j", "link", "show", "pmn")
        return str(json.loads(out)[0].get("master", ""))

    def mn_carrier(self) -> bool:
        """Whether the MN's interface has carrier."""
        out = self.base.ip(self.mn, "-j", "link", "show", "mn0")
        return "LOWER_UP" in json.loads(out)[0]["flags"]

    def start_dhcp_server(self, *, ping_check: bool = False) -> subprocess.Popen[bytes]:
        """dnsmasq serving the CTN subnet to relayed requests (giaddr = R2's CTN address)."""
        args = [
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--interface=d0",
            "--bind-interfaces",
            "--log-dhcp",
            "--log-facility=-",
            f"--dhcp-range={CTN_RANGE[0]},{CTN_RANGE[1]},255.255.255.0,1h",
            f"--dhcp-option=3,{PAA_ADDR}",
            f"--dhcp-leasefile={self.workdir / 'dnsmasq.leases'}",
            f"--pid-file={self.workdir / 'dnsmasq.pid'}",
        ]
        if not ping_check:
            args.append("--no-ping")  # without it, dnsmasq pings the address and answers 3 s late
        return self._daemon(self.dhcp, args, "dnsmasq-server.log")

    def start_relay(self) -> subprocess.Popen[bytes]:
        """A real DHCP relay on R2 (dnsmasq --dhcp-relay) for the MN's broadcast client."""
        args = [
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--log-dhcp",
            "--log-facility=-",
            f"--dhcp-relay={PAA_ADDR},{DHCP_SERVER}",
            "--interface=r2d",
            "--interface=r2s",
            f"--pid-file={self.workdir / 'dnsmasq-relay.pid'}",
        ]
        return self._daemon(self.r2, args, "dnsmasq-relay.log")

    def _daemon(self, ns: str, args: list[str], log: str) -> subprocess.Popen[bytes]:
        out = (self.workdir / log).open("wb")
        p = self.base.spawn(ns, *args, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        _wait_udp_listener(self.base, ns, 67, p, self.workdir / log)
        return p

    def capture(self, ns: str, ifaces: Sequence[str], pcap: Path) -> subprocess.Popen[bytes]:
        """Start tshark in ``ns`` writing ``pcap``; returns once it captures."""
        args = ["tshark", "-q"]
        for i in ifaces:
            args += ["-i", i]
        p = self.base.spawn(
            ns, *args, "-w", str(pcap), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for _ in range(400):
            if pcap.exists() and pcap.stat().st_size > 0:
                break
            time.sleep(0.025)
        time.sleep(0.3)  # the file exists a little before every interface is open
        return p

    def meter(self, interval: float = 0.01, port: int | None = None) -> Stream:
        """The CN -> MN stream (not started)."""
        return Stream(self, interval, port or random.randint(20000, 60000))


def _wait_udp_listener(
    base: Lab, ns: str, port: int, proc: subprocess.Popen[bytes], log: Path
) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited: {log.read_text(errors='replace')[-2000:]}")
        if f":{port} " in base.exec(ns, "ss", "-uln"):
            return
        time.sleep(0.02)
    raise RuntimeError(f"no UDP listener on port {port} in {ns}")


# --- the traffic meter -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeterResult:
    """What the MN received of the CN's stream."""

    sent: int
    """Packets the CN sent (sequence numbers 0 .. sent-1)."""
    received: int
    unique: int
    lost: int
    duplicates: int
    longest_gap_ms: float
    interval_ms: float
    arrivals: tuple[tuple[int, float, str], ...] = field(repr=False)
    """(sequence number, arrival time, interface) for every packet, in arrival order."""
    bindings: tuple[tuple[float, str, int], ...] = ()
    """(time, address, next sequence number) each time the CN's binding changed."""

    @classmethod
    def compute(
        cls,
        sent: int,
        arrivals: Sequence[tuple[int, float, str]],
        interval: float,
        bindings: Sequence[tuple[float, str, int]] = (),
    ) -> MeterResult:
        """Count losses, duplicates and the longest gap from the receiver's arrivals."""
        seqs = [s for s, _, _ in arrivals]
        times = [t for _, t, _ in arrivals]
        unique = len(set(seqs))
        # packets before the first arrival count as start-up (neighbour resolution), not loss
        first = min(seqs, default=0)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        return cls(
            sent=sent,
            received=len(seqs),
            unique=unique,
            lost=sent - first - unique,
            duplicates=len(seqs) - unique,
            longest_gap_ms=max(gaps, default=0.0) * 1000,
            interval_ms=interval * 1000,
            arrivals=tuple(arrivals),
            bindings=tuple(bindings),
        )

    def lost_between(self, t0: float, t1: float) -> int:
        """Packets sent in [t0, t1] (from the stream's schedule) that never arrived."""
        if not self.arrivals:
            return self.sent
        seen = {s for s, _, _ in self.arrivals}
        start = self.start_time
        return sum(
            1
            for s in range(self.sent)
            if s not in seen and t0 <= start + s * self.interval_ms / 1000 <= t1
        )

    @property
    def start_time(self) -> float:
        """Send time of sequence number 0 (extrapolated from the first arrival)."""
        s, t, _ = self.arrivals[0]
        return t - s * self.interval_ms / 1000

    def via(self, iface: str, after: float = 0.0, before: float = float("inf")) -> int:
        """Packets that arrived through interface ``iface`` in (after, before)."""
        return sum(1 for _, t, i in self.arrivals if i == iface and after < t < before)

    def summary(self) -> dict[str, Any]:
        """The numbers for a report."""
        return {
            "sent": self.sent,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "longest_gap_ms": round(self.longest_gap_ms, 1),
            "interval_ms": self.interval_ms,
        }


class Stream:
    """CN sender and MN receiver processes; ``async with`` runs them."""

    def __init__(self, lab: MpaLab, interval: float, port: int) -> None:
        self.lab = lab
        self.interval = interval
        self.port = port
        self._procs: list[subprocess.Popen[bytes]] = []
        self.result: MeterResult | None = None
        self._reg_seq = 0

    def _spawn(self, ns: str, *args: str) -> subprocess.Popen[bytes]:
        root = Path(__file__).resolve().parent.parent
        return self.lab.base.spawn(
            ns,
            sys.executable,
            "-m",
            "tests.mpa_lab",
            *args,
            cwd=str(root),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    async def __aenter__(self) -> Stream:
        port = str(self.port)
        self._recv = self._spawn(self.lab.mn, "receiver", "--port", port)
        self._send = self._spawn(
            self.lab.cn,
            "sender",
            "--bind",
            str(CN_ADDR),
            "--port",
            port,
            "--to",
            str(OCOA),
            "--interval",
            str(self.interval),
        )
        for p in (self._recv, self._send):
            assert p.stdout is not None
            line = await asyncio.to_thread(p.stdout.readline)  # "ready"
            if line.strip() != b"ready":
                raise RuntimeError(f"meter did not start: {p.stderr.read() if p.stderr else ''!r}")
        return self

    async def register(
        self, ns: str, address: ipaddress.IPv4Address, timeout: float = 2.0
    ) -> float:
        """Binding update: tell the CN to send to ``address``; return when it acknowledged."""
        self._reg_seq += 1
        msg = b"REG %d %d" % (self._reg_seq, self.port)
        with in_netns(ns):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((str(address), 0))
            s.setblocking(False)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                await loop.sock_sendto(s, msg, (str(CN_ADDR), self.port))
                try:
                    reply = await asyncio.wait_for(loop.sock_recv(s, 100), 0.2)
                except TimeoutError:
                    if loop.time() > deadline:
                        raise
                    continue
                if reply == b"ACK %d" % self._reg_seq:
                    return time.monotonic()
        finally:
            s.close()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self, settle: float = 0.3) -> MeterResult:
        """Stop the sender, let the last packets arrive, stop the receiver; compute the result."""
        if self.result is not None:
            return self.result
        sent_out = await asyncio.to_thread(_finish, self._send)
        await asyncio.sleep(settle)
        recv_out = await asyncio.to_thread(_finish, self._recv)
        sender, receiver = json.loads(sent_out), json.loads(recv_out)
        self.result = MeterResult.compute(
            int(sender["sent"]),
            [(int(s), float(t), str(i)) for s, t, i in receiver["arrivals"]],
            self.interval,
            [(float(t), str(a), int(s)) for t, a, s in sender["bindings"]],
        )
        return self.result


def _finish(p: subprocess.Popen[bytes]) -> str:
    out, err = p.communicate(b"", timeout=10)  # closing stdin ends the meter process
    if p.returncode != 0:
        raise RuntimeError(f"meter failed: {err.decode(errors='replace')}")
    return out.decode().strip().splitlines()[-1]


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _sender_main(bind: str, port: int, to: str, interval: float) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((bind, port))
    s.setblocking(False)
    dest = (to, port)
    bindings: list[tuple[float, str, int]] = []
    _say("ready")
    t0 = time.monotonic()
    seq = 0
    while True:
        due = t0 + seq * interval
        now = time.monotonic()
        if now >= due:
            with contextlib.suppress(OSError):  # no route yet / unreachable: the packet is lost
                s.sendto(_DATA.pack(_MAGIC, seq, now), dest)
            seq += 1
            continue
        ready, _, _ = select.select([s, sys.stdin], [], [], due - now)
        if sys.stdin in ready:
            break
        if s in ready:
            try:
                data, addr = s.recvfrom(200)
            except OSError:
                continue
            parts = data.split()
            if len(parts) == 3 and parts[0] == b"REG":
                dest = (addr[0], int(parts[2]))  # the binding update: send to its source
                bindings.append((time.monotonic(), addr[0], seq))
                s.sendto(b"ACK " + parts[1], addr)
    _say(json.dumps({"sent": seq, "bindings": bindings}))


def _receiver_main(port: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    s.bind(("0.0.0.0", port))
    names: dict[int, str] = {}
    arrivals: list[tuple[int, float, str]] = []
    _say("ready")
    while True:
        ready, _, _ = select.select([s, sys.stdin], [], [])
        if s in ready:
            data, anc, _, _ = s.recvmsg(200, 64)
            now = time.monotonic()
            if len(data) < _DATA.size or data[:4] != _MAGIC:
                continue
            _, seq, _ = _DATA.unpack_from(data)
            index = 0
            for level, kind, value in anc:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    index = struct.unpack_from("=i", value)[0]
            if index not in names:
                try:
                    names[index] = socket.if_indextoname(index)
                except OSError:
                    names[index] = f"if{index}"
            arrivals.append((seq, now, names[index]))
        elif sys.stdin in ready:
            break
    _say(json.dumps({"arrivals": arrivals}))


# --- a DHCP client for the MN (non-MPA) -------------------------------------------------------


async def dhcp_client(
    ns: str, ifname: str, mac: bytes, *, timeout: float = 10.0, rng: random.Random | None = None
) -> DhcpLease:
    """A broadcast DHCP client exchange (RFC 2131 s3.1) on ``ifname`` in ``ns``."""
    rng = rng or random.Random()
    xid = rng.getrandbits(32)
    client_id = b"\x01" + mac
    with in_netns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    loop = asyncio.get_running_loop()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        s.bind(("0.0.0.0", 68))
        s.setblocking(False)
        params = (OPT_PARAMETER_LIST, bytes([OPT_SUBNET_MASK, OPT_ROUTER]))

        def msg(mtype: DhcpMessageType, extra: list[tuple[int, bytes]]) -> bytes:
            opts = [(OPT_MESSAGE_TYPE, bytes([mtype])), (OPT_CLIENT_ID, client_id), *extra, params]
            # flags 0x8000: broadcast the answers, we have no address yet (RFC 2131 s4.1)
            return encode_dhcp(
                DhcpMessage(op=BOOTREQUEST, xid=xid, chaddr=mac, flags=0x8000, options=tuple(opts))
            )

        async def exchange(data: bytes, want: DhcpMessageType) -> DhcpMessage:
            deadline = loop.time() + timeout
            wait = 1.0
            while loop.time() < deadline:
                await loop.sock_sendto(s, data, ("255.255.255.255", 67))
                end = min(deadline, loop.time() + wait)
                while loop.time() < end:
                    try:
                        raw = await asyncio.wait_for(loop.sock_recv(s, 1500), end - loop.time())
                    except TimeoutError:
                        break
                    try:
                        reply = decode_dhcp(raw)
                    except ValueError:
                        continue
                    if reply.xid == xid and reply.message_type == want:
                        return reply
                wait *= 2
            raise TimeoutError(f"no DHCP {want.name} within {timeout} s")

        offer = await exchange(msg(DhcpMessageType.DISCOVER, []), DhcpMessageType.OFFER)
        server_id = offer.option(OPT_SERVER_ID) or b""
        ack = await exchange(
            msg(
                DhcpMessageType.REQUEST,
                [(OPT_REQUESTED_ADDRESS, offer.yiaddr.packed), (OPT_SERVER_ID, server_id)],
            ),
            DhcpMessageType.ACK,
        )
        mask = ack.option(OPT_SUBNET_MASK) or bytes([255, 255, 255, 0])
        router = ack.option(OPT_ROUTER)
        lease_time = ack.option(OPT_LEASE_TIME) or bytes(4)
        return DhcpLease(
            address=ack.yiaddr,
            prefix_length=N(f"0.0.0.0/{A(mask)}").prefixlen,
            router=A(router[:4]) if router else None,
            dns_servers=(),
            lease_time=int.from_bytes(lease_time[:4], "big"),
            server_id=A(server_id[:4]) if len(server_id) >= 4 else A(0),
            client_id=client_id,
            acquired_at=loop.time(),
        )
    finally:
        s.close()


# --- PANA peers and the MPA pieces (until the lead's pana_mpa.mpa controller/service land) ----


def pac_session(*, pre_auth: bool, extension: Any = None, seed: int | None = None) -> PacSession:
    """Our PaC with EAP-PSK toward R2's PAA."""
    rng = random.Random(seed).randbytes if seed is not None else os.urandom
    peer = EapPeer(
        identity=IDENTITY, methods={EAP_TYPE_PSK: lambda: PskPeer(IDENTITY, Secret(PSK), rng=rng)}
    )
    cfg = PacConfig(pre_authentication=pre_auth, extension=extension)
    return PacSession(cfg, paa=(str(PAA_ADDR), PANA_PORT), eap=peer, rng=rng)


def paa_server(*, pre_auth: bool, extension: Any = None) -> PaaServer:
    """R2's PAA with EAP-PSK."""

    def lookup(ident: bytes) -> Secret | None:
        return Secret(PSK) if ident == IDENTITY else None

    def factory() -> EapAuthenticator:
        return EapAuthenticator(methods=lambda ident: [lambda: PskServer(b"r2.ctn", lookup)])

    cfg = PaaConfig(pre_authentication=pre_auth, extension=extension)
    return PaaServer(cfg, eap_factory=factory)


class AvpPac:
    """A PacNode wrapper whose ``ping`` carries chosen AVPs, or performs the RFC 5873 switch."""

    def __init__(self, session: PacSession) -> None:
        self.session = session
        self.next_avps: Sequence[Avp] = ()
        self.switching = False

    @property
    def closed(self) -> bool:
        """Whether the session ended."""
        return self.session.closed

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """Input a datagram."""
        self.session.receive_datagram(data, addr, now)

    def handle_timer(self, now: float) -> None:
        """Input the clock."""
        self.session.handle_timer(now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """Output datagrams."""
        return self.session.datagrams_to_send(now)

    def get_timer(self) -> float | None:
        """Next deadline."""
        return self.session.get_timer()

    def next_event(self) -> PanaEvent | None:
        """Next event."""
        return self.session.next_event()

    def start(self, now: float) -> None:
        """Send the PCI."""
        self.session.start(now)

    def ping(self, now: float) -> None:
        """PNR[P] with ``next_avps``; the switch when ``switching``."""
        avps, self.next_avps = self.next_avps, ()
        if self.switching:
            self.switching = False
            self.session.switch(now, avps)
        else:
            self.session.ping(now, avps)

    def reauthenticate(self, now: float) -> None:
        """PNR[A]."""
        self.session.reauthenticate(now)

    def terminate(self, now: float) -> None:
        """PTR."""
        self.session.terminate(now)


class MnMpaExtension:
    """The MN's MPA AVPs (docs/mpa-wire.md): capability and link address; keeps MPA answers."""

    def __init__(self, mac: bytes) -> None:
        self.mac = mac
        self.answers: list[PanaMessage] = []

    def outgoing_avps(
        self,
        session_id: int,
        msg_type: int,
        flags: int,
        avps: Sequence[Avp],
        answering: PanaMessage | None,
    ) -> Sequence[Avp]:
        """Capability in PCI and PAN[S]; the MN's link address with them (the relay's chaddr)."""
        start = msg_type == MessageType.PANA_CLIENT_INITIATION or (
            msg_type == MessageType.PANA_AUTH and flags & MessageFlags.S
        )
        if not start:
            return ()
        cap = MpaCapability.ADDRESS_DELIVERY | MpaCapability.TUNNEL_MANAGEMENT
        return (
            u32_avp(MpaAvpCode.MPA_CAPABILITY, cap),
            mac_avp(MpaAvpCode.MPA_MN_LINK_ADDRESS, self.mac),
        )

    def received(self, session_id: int, msg: PanaMessage, addr: Address, now: float) -> None:
        """Keep PNAs that carry MPA AVPs."""
        if msg.type == MessageType.PANA_NOTIFICATION and mpa_avps(msg):
            self.answers.append(msg)

    def last_status(self) -> MpaStatus | None:
        """MPA-Status of the latest answer."""
        if not self.answers:
            return None
        avp = self.answers[-1].avp(MpaAvpCode.MPA_STATUS, VENDOR)
        return None if avp is None else MpaStatus(u32(avp))


@dataclass
class _MnState:
    mac: bytes
    lease: asyncio.Task[DhcpLease]
    tunnel: str | None = None
    ncoa: ipaddress.IPv4Address | None = None


class ArMpaService:
    """R2 as PAA extension + DHCP relay + AR tunnel end + AR buffer (RFC 6252 s6.3 steps 1-6)."""

    def __init__(self, ns: str, policy: BufferPolicy) -> None:
        self.ns = ns
        self.dataplane = ArDataPlane(policy)
        self.driver = LinuxIpipDriver(netns=ns, forward_hook=self._hook)
        self.sessions: dict[int, _MnState] = {}
        self.log: list[tuple[float, str]] = []
        self.switched = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def _hook(self, spec: TunnelSpec, inner: bytes) -> bool:
        d = self.dataplane.on_packet(spec.inner, inner, time.monotonic())
        return d in (Forward.TUNNEL, Forward.BICAST)

    def outgoing_avps(
        self,
        session_id: int,
        msg_type: int,
        flags: int,
        avps: Sequence[Avp],
        answering: PanaMessage | None,
    ) -> Sequence[Avp]:
        """Capability in PAR[S]; address delivery and tunnel management in PNAs."""
        if msg_type == MessageType.PANA_AUTH and flags & MessageFlags.S and flags & MessageFlags.R:
            cap = MpaCapability.ADDRESS_DELIVERY | MpaCapability.TUNNEL_MANAGEMENT
            return (u32_avp(MpaAvpCode.MPA_CAPABILITY, cap),)
        if answering is None or answering.type != MessageType.PANA_NOTIFICATION:
            return ()
        if not mpa_avps(answering):
            return ()
        st = self.sessions.get(session_id)
        if st is None:
            return (u32_avp(MpaAvpCode.MPA_STATUS, MpaStatus.FAILED),)
        if answering.avp(MpaAvpCode.MPA_ADDRESS_REQUEST, VENDOR) is not None:
            return self._address(st)
        action = answering.avp(MpaAvpCode.MPA_TUNNEL_ACTION, VENDOR)
        if action is not None:
            return (u32_avp(MpaAvpCode.MPA_STATUS, self._tunnel(session_id, st, answering)),)
        return (u32_avp(MpaAvpCode.MPA_STATUS, MpaStatus.UNSUPPORTED),)

    def _address(self, st: _MnState) -> Sequence[Avp]:
        if not st.lease.done():
            return (u32_avp(MpaAvpCode.MPA_STATUS, MpaStatus.PENDING),)
        if st.lease.exception() is not None:
            return (u32_avp(MpaAvpCode.MPA_STATUS, MpaStatus.FAILED),)
        lease = st.lease.result()
        st.ncoa = lease.address
        out = [
            assigned_address_avp(AssignedAddress(lease.address, lease.prefix_length)),
            u32_avp(MpaAvpCode.MPA_ADDRESS_LIFETIME, lease.lease_time),
            address_avp(MpaAvpCode.MPA_AR_ADDRESS, PAA_ADDR),
        ]
        if lease.router is not None:
            out.append(address_avp(MpaAvpCode.MPA_DEFAULT_ROUTER, lease.router))
        out.append(u32_avp(MpaAvpCode.MPA_STATUS, MpaStatus.OK))
        return out

    def _tunnel(self, sid: int, st: _MnState, msg: PanaMessage) -> MpaStatus:
        action_avp = msg.avp(MpaAvpCode.MPA_TUNNEL_ACTION, VENDOR)
        assert action_avp is not None
        action = u32(action_avp)
        now = time.monotonic()
        if action == TunnelAction.ESTABLISH:
            outer_avp = msg.avp(MpaAvpCode.MPA_TUNNEL_OUTER_ADDRESS, VENDOR)
            inner_avp = msg.avp(MpaAvpCode.MPA_TUNNEL_INNER_ADDRESS, VENDOR)
            if outer_avp is None or inner_avp is None or st.ncoa is None:
                return MpaStatus.FAILED
            outer, inner = decode_address(outer_avp), decode_address(inner_avp)
            if inner != st.ncoa or not isinstance(outer, A):  # only the nCoA we assigned
                return MpaStatus.FAILED
            name = f"mpa{sid & 0xFFFFFF:06x}"
            self.driver.establish(
                TunnelSpec(name, PAA_ADDR, outer, st.ncoa, routes=(N(f"{st.ncoa}/32"),))
            )
            self.dataplane.bind(st.ncoa)
            st.tunnel = name
            self.log.append((now, "establish"))
            return MpaStatus.OK
        if action == TunnelAction.DISABLE and st.ncoa is not None:
            self.dataplane.start_switch(st.ncoa)  # buffer from now on (RFC 6252 s7.6)
            self.log.append((now, "disable"))
            return MpaStatus.OK
        if action == TunnelAction.DELETE and st.ncoa is not None and st.tunnel is not None:
            # The PANA-Update from nCoA (RFC 5873 switch): stop routing nCoA into the tunnel
            # now, so that this PNA (and new traffic) goes out on the CTN link, then drain,
            # flush and delete (in _complete).
            _run("ip", "-n", self.ns, "route", "del", f"{st.ncoa}/32", "dev", st.tunnel)
            task = asyncio.get_running_loop().create_task(self._complete(st.ncoa, st.tunnel))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            st.tunnel = None
            self.log.append((now, "delete"))
            return MpaStatus.OK
        return MpaStatus.FAILED

    async def _complete(self, ncoa: ipaddress.IPv4Address, name: str) -> None:
        # Let the reader drain what the TUN device still queues into the buffer, then flush and
        # delete: closing the device first would drop that queue.
        stats = self.dataplane.stats[ncoa]
        quiet, seen = 0, -1
        for _ in range(1000):
            total = stats.held + stats.tunneled + stats.dropped_overflow
            quiet = quiet + 1 if total == seen else 0
            if quiet >= 5:
                break
            seen = total
            await asyncio.sleep(0)
        held = self.dataplane.complete_switch(ncoa, time.monotonic())
        self.driver.delete(name)
        for packet in held:
            self.driver.inject(packet)
        self.log.append((time.monotonic(), f"flushed {len(held)}"))
        self.switched.set()

    def received(self, session_id: int, msg: PanaMessage, addr: Address, now: float) -> None:
        """On the MN's first message with a session id and link address, start its DHCP lease."""
        if session_id == 0 or session_id in self.sessions:
            return
        link = msg.avp(MpaAvpCode.MPA_MN_LINK_ADDRESS, VENDOR)
        if link is None:
            return
        mac = decode_mac(link)
        lease = asyncio.get_running_loop().create_task(self._lease(mac))
        self.sessions[session_id] = _MnState(mac, lease)

    async def _lease(self, mac: bytes) -> DhcpLease:
        with in_netns(self.ns):
            from pana_mpa.mpa.dhcp_aio import relay_socket

            sock = relay_socket(PAA_ADDR)
        lease = await acquire_lease(server=DHCP_SERVER, giaddr=PAA_ADDR, chaddr=mac, sock=sock)
        self.log.append((time.monotonic(), f"lease {lease.address}"))
        return lease

    def close(self) -> None:
        """Delete tunnels; cancel leases in progress."""
        for st in self.sessions.values():
            st.lease.cancel()
        for task in self._tasks:
            task.cancel()
        self.driver.close()


# --- the handovers ------------------------------------------------------------------------------


@dataclass
class HandoverResult:
    """One measured handover."""

    kind: str
    meter: MeterResult
    t_move: float
    t_done: float
    steps: dict[str, float] = field(default_factory=dict)
    """Step name -> milliseconds after the move (negative: before it)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Numbers for a report."""
        return {
            "kind": self.kind,
            **self.meter.summary(),
            "completion_ms": round((self.t_done - self.t_move) * 1000, 1),
            "steps_ms": {k: round(v, 1) for k, v in self.steps.items()},
            **self.extra,
        }


async def _serve(paa: PaaServer, transport: UdpTransport) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(serve_paa(paa, transport))


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def non_mpa_handover(
    lab: MpaLab, *, interval: float = 0.01, settle: float = 0.5
) -> HandoverResult:
    """Move, DHCP on the new link, PANA authentication with R2's PAA, binding update (draft s6)."""
    paa = paa_server(pre_auth=False)
    async with ns_udp(lab.r2, str(PAA_ADDR), PANA_PORT) as paa_tr:
        server = await _serve(paa, paa_tr)
        try:
            async with lab.meter(interval) as stream:
                await asyncio.sleep(settle)
                steps: dict[str, float] = {}
                t_move = time.monotonic()
                await asyncio.to_thread(lab.move_to, 2)
                mark = _marker(steps, t_move)
                mark("l2")
                # the MN learns of the new link out of band and drops its old configuration
                await asyncio.to_thread(lab.ip_batch, lab.mn, [f"addr del {OCOA}/24 dev mn0"])
                lease = await dhcp_client(lab.mn, "mn0", MN_MAC)
                mark("dhcp")
                router = lease.router or PAA_ADDR
                await asyncio.to_thread(
                    lab.ip_batch,
                    lab.mn,
                    [
                        f"addr add {lease.address}/{lease.prefix_length} dev mn0",
                        f"route replace default via {router}",
                    ],
                )
                mark("configured")
                async with (
                    ns_udp(lab.mn, str(lease.address), 0) as pac_tr,
                    PacClient(pac_session(pre_auth=False), pac_tr, close_transport=False) as pac,
                ):
                    await pac.authenticate(timeout=10)
                    mark("pana")
                    t_done = await stream.register(lab.mn, lease.address)
                    mark("binding")
                    await asyncio.sleep(settle)
                    meter = await stream.stop()
                    await pac.terminate(timeout=5)
        finally:
            await _cancel(server)
    return HandoverResult("non-MPA", meter, t_move, t_done, steps, {"ncoa": str(lease.address)})


def _marker(steps: dict[str, float], t0: float) -> Callable[[str], None]:
    def mark(name: str) -> None:
        steps[name] = (time.monotonic() - t0) * 1000

    return mark


async def mpa_handover(
    lab: MpaLab,
    *,
    buffering: bool,
    interval: float = 0.01,
    settle: float = 0.5,
    capture: Path | None = None,
) -> HandoverResult:
    """The six MPA steps (RFC 6252 s6.3) with our PaC/PAA and R2's relay, tunnel and buffer."""
    service = ArMpaService(lab.r2, BufferPolicy(buffering=buffering, period=2.0))
    paa = paa_server(pre_auth=True, extension=service)
    mn_ext = MnMpaExtension(MN_MAC)
    pac = AvpPac(pac_session(pre_auth=True, extension=mn_ext))
    mn_tunnel = LinuxIpipDriver(netns=lab.mn)
    steps: dict[str, float] = {}
    extra: dict[str, Any] = {}
    try:
        async with (
            ns_udp(lab.r2, str(PAA_ADDR), PANA_PORT) as paa_tr,
            ns_udp(lab.mn, "0.0.0.0", 0) as pac_tr,  # source: oCoA before, nCoA after the move
        ):
            server = await _serve(paa, paa_tr)
            try:
                async with (
                    lab.meter(interval) as stream,
                    PacClient(pac, pac_tr, close_transport=False) as client,
                ):
                    await asyncio.sleep(settle)
                    t_pre = time.monotonic()
                    mark = _marker(steps, t_pre)
                    # 1. pre-authentication through R1 (PCI[E] ... PAR[C,E]/PAN[C,E])
                    await client.authenticate(timeout=10)
                    mark("pre_auth")
                    # 2. pre-configuration: nCoA from dnsmasq via R2's relay, then the tunnel
                    assigned = None
                    for _ in range(100):
                        pac.next_avps = (u32_avp(MpaAvpCode.MPA_ADDRESS_REQUEST, 1),)
                        await client.ping(timeout=5)
                        if mn_ext.last_status() is MpaStatus.OK:
                            msg = mn_ext.answers[-1]
                            got = msg.avp(MpaAvpCode.MPA_ASSIGNED_ADDRESS, VENDOR)
                            assert got is not None
                            assigned = decode_assigned_address(got)
                            break
                        await asyncio.sleep(0.02)
                    if assigned is None or not isinstance(assigned.address, A):
                        raise RuntimeError("no nCoA delivered")
                    ncoa = assigned.address
                    mark("ncoa")
                    pac.next_avps = (
                        u32_avp(MpaAvpCode.MPA_TUNNEL_ACTION, TunnelAction.ESTABLISH),
                        address_avp(MpaAvpCode.MPA_TUNNEL_OUTER_ADDRESS, OCOA),
                        address_avp(MpaAvpCode.MPA_TUNNEL_INNER_ADDRESS, ncoa),
                    )
                    await client.ping(timeout=5)
                    if mn_ext.last_status() is not MpaStatus.OK:
                        raise RuntimeError("AR refused the tunnel")
                    mn_tunnel.establish(
                        TunnelSpec(
                            "mpa0",
                            OCOA,
                            PAA_ADDR,
                            ncoa,
                            routes=(N(f"{CN_ADDR}/32"),),
                            inner_on_device=True,
                        )
                    )
                    mark("tunnel")
                    # 3. binding update with nCoA through the tunnel
                    await stream.register(lab.mn, ncoa)
                    mark("binding_via_tunnel")
                    await asyncio.sleep(settle)  # traffic flows through the tunnel
                    # 4. pre-switching: the AR buffers from now on
                    if buffering:
                        pac.next_avps = (
                            u32_avp(MpaAvpCode.MPA_TUNNEL_ACTION, TunnelAction.DISABLE),
                        )
                        await client.ping(timeout=5)
                    # 5. switching: the L2 handover
                    t_move = time.monotonic()
                    await asyncio.to_thread(lab.move_to, 2)
                    smark = _marker(steps, t_move)
                    steps["pre_switch"] = (t_pre - t_move) * 1000
                    smark("l2")
                    # 6. post-switching: nCoA on the interface, MN's tunnel end gone, PANA-Update
                    mn_tunnel.delete("mpa0")
                    await asyncio.to_thread(
                        lab.ip_batch,
                        lab.mn,
                        [
                            f"addr del {OCOA}/24 dev mn0",
                            f"addr add {ncoa}/{assigned.prefix_length} dev mn0",
                            f"route replace default via {PAA_ADDR}",
                        ],
                    )
                    smark("configured")
                    pac.switching = True
                    pac.next_avps = (u32_avp(MpaAvpCode.MPA_TUNNEL_ACTION, TunnelAction.DELETE),)
                    await client.ping(timeout=5)
                    smark("pana_update")
                    await asyncio.wait_for(service.switched.wait(), 5)
                    t_done = time.monotonic()
                    smark("flushed")
                    extra["update_status"] = str(mn_ext.last_status())
                    await asyncio.sleep(settle)
                    meter = await stream.stop()
                    extra["ncoa"] = str(ncoa)
                    extra["ar"] = {
                        k: getattr(v, k)
                        for v in service.dataplane.stats.values()
                        for k in ("tunneled", "held", "flushed", "dropped_overflow")
                    }
                    extra["ar_log"] = [(round((t - t_move) * 1000, 1), e) for t, e in service.log]
                    extra["switch_at"] = t_move
                    extra["pre_auth"] = pac.session.pre_auth
                    await client.terminate(timeout=5)
            finally:
                await _cancel(server)
    finally:
        mn_tunnel.close()
        service.close()
    return HandoverResult("MPA+buffer" if buffering else "MPA", meter, t_move, t_done, steps, extra)


@contextlib.contextmanager
def built(base: Lab, workdir: Path) -> Iterator[MpaLab]:
    """An MpaLab built inside ``base`` (``base`` tears everything down)."""
    yield MpaLab(base, workdir).build()


def main(argv: Sequence[str] | None = None) -> int:
    """Meter processes: ``sender`` (in the CN) and ``receiver`` (in the MN)."""
    ap = argparse.ArgumentParser(prog="python -m tests.mpa_lab")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sender")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--to", required=True)
    s.add_argument("--interval", type=float, default=0.01)
    r = sub.add_parser("receiver")
    r.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    if args.cmd == "sender":
        _sender_main(args.bind, args.port, args.to, args.interval)
    else:
        _receiver_main(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
import fcntl
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
import termios
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer
from pana_mpa.aio import PacClient, serve_paa
from pana_mpa.aio.udp import UdpTransport
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.mpa.ar import ArDataPlane, BufferPolicy
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
from pana_mpa.mpa.drivers.announce import Announcer, install_neighbor
from pana_mpa.mpa.drivers.dhcp_relay import acquire_lease
from pana_mpa.mpa.drivers.linux_tunnel import LinuxIpipDriver, in_netns
from pana_mpa.mpa.tunnel import TunnelSpec
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession
from tests.netns import Lab

__all__ = [
    "CN_ADDR",
    "DHCP_SERVER",
    "MN_MAC",
    "OCOA",
    "PAA_ADDR",
    "R1_ADDR",
    "HandoverResult",
    "MeterResult",
    "MpaLab",
    "Stream",
    "dhcp_client",
    "mpa_handover",
    "non_mpa_handover",
    "ns_udp",
    "paa_server",
    "pac_session",
    "udp_in",
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
_END = b"MPAE"
"""The sender's last datagram, after its data on the same path: the receiver's barrier."""
END_WAIT = 5.0
"""How long a receiver told to stop still waits for the sender's end marker."""
IP_PKTINFO = 8  # Linux <linux/in.h>; Python 3.11 does not export it
SO_TIMESTAMPNS = 35  # Linux <asm-generic/socket.h>, also SCM_TIMESTAMPNS; not in Python's socket


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

    def capture(self, ns: str, ifaces: Sequence[str], pcap: Path) -> Capture:
        """Start tshark in ``ns`` writing ``pcap``; returns once it captures on every interface."""
        log = pcap.with_suffix(".frames")
        args = ["tshark", "-l", "-P", "-T", "fields", "-e", "frame.interface_name"]
        args += ["-e", "udp.srcport", "-e", "udp.dstport"]  # a probe's own source port
        for i in ifaces:
            args += ["-i", i]
        with log.open("wb") as out:
            p = self.base.spawn(ns, *args, "-w", str(pcap), stdout=out, stderr=subprocess.DEVNULL)
        cap = Capture(p, ns, tuple(ifaces), log)
        cap.mark()
        return cap

    def meter(
        self,
        interval: float = 0.01,
        port: int | None = None,
        bu_delay: float = 0.0,
        *,
        cn: str = str(CN_ADDR),
        to: str = str(OCOA),
    ) -> Stream:
        """The CN -> MN stream (not started); binding updates take effect after ``bu_delay``."""
        port = port or random.randint(20000, 60000)
        return Stream(self, interval, port, bu_delay, cn=cn, to=to)


@dataclass
class Capture:
    """A running tshark that also prints each frame's interface and UDP ports (to ``log``)."""

    proc: subprocess.Popen[bytes]
    ns: str
    ifaces: tuple[str, ...]
    log: Path
    _probes: list[socket.socket] = field(default_factory=list, repr=False)
    """Every probe socket of this capture, open until it stops: each mark's port is its own."""

    def _lines(self) -> set[tuple[str, ...]]:
        return {tuple(ln.split("\t")) for ln in self.log.read_text(errors="replace").splitlines()}

    def mark(self, limit: float = 60.0) -> None:
        """Send a probe out of every interface until tshark printed that probe from each.

        Then tshark captures on all of them, and everything sent before is in the file: neither
        the file's existence nor "Capturing on" shows that dumpcap's sockets see packets yet
        (on a loaded machine they come first, and the first PANA messages went missing).
        Only this mark's own probe counts, told apart by its source port: any other frame
        printed meanwhile (the stream, IPv6 router solicitations and MLD reports the namespaces
        send on their own, an earlier mark's late probe) may have been sent before what the
        test wants in the file, so it proves nothing about that (the old mark took any frame).
        """
        probes: dict[str, tuple[socket.socket, tuple[str, ...]]] = {}
        for i in self.ifaces:
            s = _probe_socket(self.ns, i)
            self._probes.append(s)
            probes[i] = (s, (i, str(s.getsockname()[1]), str(PROBE_PORT)))
        deadline = time.monotonic() + limit
        while True:
            lines = self._lines()
            waiting = [i for i, (_, line) in probes.items() if line not in lines]
            if not waiting:
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tshark in {self.ns} printed no probe from {waiting}")
            for i in waiting:
                probes[i][0].sendto(b"pana-lab capture probe", ("255.255.255.255", PROBE_PORT))
            time.sleep(0.05)  # waiting for an external program

    def stop(self) -> None:
        """Mark (everything sent so far is captured), then stop tshark."""
        try:
            self.mark()
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            for s in self._probes:
                s.close()
            self._probes.clear()


PROBE_PORT = 9
"""The capture probes' destination: the discard port, broadcast."""


def _probe_socket(ns: str, ifname: str) -> socket.socket:
    """A UDP socket in ``ns`` that broadcasts out of ``ifname`` only, from a port of its own."""
    with in_netns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        s.bind(("0.0.0.0", 0))
    except OSError:
        s.close()
        raise
    return s


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
    send_times: tuple[float, ...] = field(default=(), repr=False)
    """When the CN actually sent each sequence number (empty: unknown, use the schedule)."""

    @classmethod
    def compute(
        cls,
        sent: int,
        arrivals: Sequence[tuple[int, float, str]],
        interval: float,
        bindings: Sequence[tuple[float, str, int]] = (),
        send_times: Sequence[float] = (),
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
            send_times=tuple(send_times),
        )

    def lost_between(self, t0: float, t1: float) -> int:
        """Packets sent in [t0, t1] that never arrived.

        The CN's own send times when known: a sender descheduled on a loaded machine sends
        late, in a burst, so a packet scheduled before a move can leave after it.
        """
        if not self.arrivals:
            return self.sent
        seen = {s for s, _, _ in self.arrivals}
        if len(self.send_times) == self.sent:
            sent_at = self.send_times
        else:
            start, step = self.start_time, self.interval_ms / 1000
            sent_at = tuple(start + s * step for s in range(self.sent))
        return sum(1 for s in range(self.sent) if s not in seen and t0 <= sent_at[s] <= t1)

    @property
    def start_time(self) -> float:
        """Scheduled send time of sequence number 0, estimated from the arrivals.

        Every packet arrives after its scheduled send time, so each arrival bounds the start
        from above; the least delayed packet gives the tightest bound. (Extrapolating from the
        first arrival alone shifted the whole schedule by that packet's delay: on a loaded
        machine a packet lost just before nCoA was configured then counted as lost after it.)
        """
        step = self.interval_ms / 1000
        return min(t - s * step for s, t, _ in self.arrivals)

    def via(self, iface: str, after: float = 0.0, before: float = float("inf")) -> int:
        """Packets that arrived through interface ``iface`` in (after, before)."""
        return sum(1 for _, t, i in self.arrivals if i == iface and after < t < before)

    def sent_via(self, iface: str, after: float) -> int:
        """Packets the CN sent after ``after`` that arrived through interface ``iface``.

        By send time, not arrival time: a packet that was on its way earlier can arrive later
        (the MN's tunnel end, released off the loop after the move, delivers what reached it
        unread; a late release stamps those arrivals after the handover's end).
        """
        if len(self.send_times) != self.sent:
            raise ValueError("the sender's send times are needed")
        return sum(1 for s, _, i in self.arrivals if i == iface and self.send_times[s] > after)

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

    def __init__(
        self,
        lab: MpaLab,
        interval: float,
        port: int,
        bu_delay: float = 0.0,
        *,
        cn: str = str(CN_ADDR),
        to: str = str(OCOA),
    ) -> None:
        self.lab = lab
        self.cn = cn
        self.to = to
        self.bu_delay = bu_delay
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
        v6 = ["--v6"] if ":" in self.to else []
        self._recv = self._spawn(self.lab.mn, "receiver", "--port", port, *v6)
        self._send = self._spawn(
            self.lab.cn,
            "sender",
            "--bind",
            self.cn,
            "--port",
            port,
            "--to",
            self.to,
            "--interval",
            str(self.interval),
            "--bu-delay",
            str(self.bu_delay),
        )
        for p in (self._recv, self._send):
            assert p.stdout is not None
            line = await asyncio.to_thread(p.stdout.readline)  # "ready"
            if line.strip() != b"ready":
                raise RuntimeError(f"meter did not start: {p.stderr.read() if p.stderr else ''!r}")
        return self

    async def flowing(self, timeout: float = 5.0) -> None:
        """Wait until the MN received the first packet (neighbour caches are warm)."""
        assert self._recv.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self._recv.stdout.readline), timeout)
        if line.strip() != b"flowing":
            raise RuntimeError(f"meter receiver said {line!r}")

    async def register(
        self, ns: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address, timeout: float = 2.0
    ) -> float:
        """Binding update: tell the CN to send to ``address``; return when it acknowledged."""
        self._reg_seq += 1
        msg = b"REG %d %d" % (self._reg_seq, self.port)
        family = socket.AF_INET6 if ":" in self.cn else socket.AF_INET
        with in_netns(ns):
            s = socket.socket(family, socket.SOCK_DGRAM)
        try:
            s.bind((str(address), 0))
            s.setblocking(False)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout + self.bu_delay
            while True:
                await loop.sock_sendto(s, msg, (self.cn, self.port))
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
        """Stop the sender, let the last packets arrive, stop the receiver; compute the result.

        The sender's last datagram is an end marker on the same path as its data; the receiver
        stops only once it has arrived (or END_WAIT after being told to), so a packet still
        on its way through a descheduled delay element or router is not counted as lost.
        ``settle`` is for a packet that overtakes the marker.
        """
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
            [float(t) for t in sender.get("sent_at", ())],
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


def _sender_main(bind: str, port: int, to: str, interval: float, bu_delay: float = 0.0) -> None:
    s = socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((bind, port))
    s.setblocking(False)
    dest = (to, port)
    bindings: list[tuple[float, str, int]] = []
    # binding updates take effect bu_delay after they arrive (a distant CN or home agent)
    pending: list[tuple[float, bytes, tuple[str, int], int]] = []
    applied: set[bytes] = set()
    sent_at: list[float] = []
    _say("ready")
    t0 = time.monotonic()
    seq = 0
    while True:
        due = t0 + seq * interval
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, reg_id, addr, data_port = pending.pop(0)
            dest = (addr[0], data_port)  # the binding update: send to its source address
            bindings.append((now, addr[0], seq))
            applied.add(reg_id)
            s.sendto(b"ACK " + reg_id, addr)
        if now >= due:
            with contextlib.suppress(OSError):  # no route yet / unreachable: the packet is lost
                s.sendto(_DATA.pack(_MAGIC, seq, now), dest)
            sent_at.append(round(now, 6))
            seq += 1
            continue
        wake = min(due, pending[0][0]) if pending else due
        ready, _, _ = select.select([s, sys.stdin], [], [], max(0.0, wake - now))
        if sys.stdin in ready:
            with contextlib.suppress(OSError):
                s.sendto(_DATA.pack(_END, seq, time.monotonic()), dest)
            break
        if s in ready:
            try:
                data, addr = s.recvfrom(200)
            except OSError:
                continue
            parts = data.split()
            if len(parts) == 3 and parts[0] == b"REG":
                if parts[1] in applied:
                    s.sendto(b"ACK " + parts[1], addr)  # a retransmission: answer again
                elif all(p[1] != parts[1] for p in pending):
                    pending.append((time.monotonic() + bu_delay, parts[1], addr, int(parts[2])))
    _say(json.dumps({"sent": seq, "bindings": bindings, "sent_at": sent_at}))


def _monotonic_minus_realtime() -> float:
    """CLOCK_MONOTONIC - CLOCK_REALTIME from the tightest of a few back-to-back readings.

    One pair of readings is off by however long the process was preempted between them (a
    loaded machine: milliseconds), which would move a packet's receive time by as much.
    """
    best, offset = float("inf"), 0.0
    for _ in range(5):
        m0 = time.monotonic()
        r = time.time()
        m1 = time.monotonic()
        if m1 - m0 < best:
            best, offset = m1 - m0, (m0 + m1) / 2 - r
        if best < 50e-6:
            break
    return offset


def _receiver_main(port: int, v6: bool = False) -> None:
    if v6:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        s.bind(("::", port))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        s.bind(("0.0.0.0", port))
    # the kernel's receive time of each packet, not the time this process got to read it: on a
    # loaded machine the receiver is descheduled for tens of ms and then reads a burst, which
    # would shift arrivals into the windows the tests count (e.g. "nothing arrives on AP2")
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    names: dict[int, str] = {}
    arrivals: list[tuple[int, float, str]] = []
    ended = False
    stop_by: float | None = None  # told to stop: wait this long more for the end marker
    _say("ready")
    while True:
        wait = None if stop_by is None else max(0.0, stop_by - time.monotonic())
        watch = [s] if stop_by is not None else [s, sys.stdin]
        ready, _, _ = select.select(watch, [], [], wait)
        if s in ready:
            data, anc, _, _ = s.recvmsg(200, 128)
            now = time.monotonic()
            if len(data) >= _DATA.size and data[:4] == _END:
                ended = True
                if stop_by is not None:
                    stop_by = now  # read what is queued behind it, then stop
                continue
            if len(data) < _DATA.size or data[:4] != _MAGIC:
                continue
            _, seq, _ = _DATA.unpack_from(data)
            index = 0
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack_from("=qq", value)  # struct timespec, CLOCK_REALTIME
                    now = sec + nsec / 1e9 + _monotonic_minus_realtime()  # the clock of the rest
                elif level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    index = struct.unpack_from("=i", value)[0]
                elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
                    index = struct.unpack_from("=i", value, 16)[0]  # struct in6_pktinfo
            if index not in names:
                try:
                    names[index] = socket.if_indextoname(index)
                except OSError:
                    names[index] = f"if{index}"
            if not arrivals:
                _say("flowing")
            arrivals.append((seq, now, names[index]))
        elif sys.stdin in ready:
            if ended:
                break
            # the sender's end marker follows its last data on the same path: until it is
            # here, packets the sender sent may still be on their way (a delay element or a
            # router that a loaded machine has not scheduled yet), not lost
            stop_by = time.monotonic() + END_WAIT
        elif stop_by is not None:
            break  # no end marker: the path is broken (what is missing is lost)
    _say(json.dumps({"arrivals": arrivals, "ended": ended}))


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


# --- PANA peers ------------------------------------------------------------------------------


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


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def non_mpa_handover(
    lab: MpaLab,
    *,
    interval: float = 0.01,
    settle: float = 0.5,
    bu_delay: float = 0.0,
    pac: Callable[[], PacSession] | None = None,
    aaa: Callable[[int], Any] | None = None,
    link_switch: Callable[[], Awaitable[None]] | None = None,
    address_check: Callable[[DhcpLease], Awaitable[None]] | None = None,
) -> HandoverResult:
    """Move, DHCP on the new link, PANA authentication with R2's PAA, binding update (draft s6).

    ``pac`` makes the PaC (default: EAP-PSK with the lab's key); ``aaa`` makes R2's PAA a
    pass-through authenticator (``serve_paa(aaa=...)``, e.g. RADIUS to a home AAA server);
    ``link_switch`` performs the link-layer move (default: the bridge port move);
    ``address_check`` runs between the DHCP ACK and configuring the address (the client's
    own duplicate-address check, RFC 5227 ARP probe).
    """
    paa = PaaServer(PaaConfig(pre_authentication=False)) if aaa else paa_server(pre_auth=False)
    async with ns_udp(lab.r2, str(PAA_ADDR), PANA_PORT) as paa_tr:
        loop = asyncio.get_running_loop()
        server = loop.create_task(serve_paa(paa, paa_tr, aaa=aaa))
        try:
            async with lab.meter(interval, bu_delay=bu_delay) as stream:
                await stream.flowing()
                await asyncio.sleep(settle)
                steps: dict[str, float] = {}
                t_move = time.monotonic()
                if link_switch is None:
                    await asyncio.to_thread(lab.move_to, 2)
                else:
                    await link_switch()
                mark = _marker(steps, t_move)
                mark("l2")
                # the MN learns of the new link out of band and drops its old configuration
                await asyncio.to_thread(lab.ip_batch, lab.mn, [f"addr del {OCOA}/24 dev mn0"])
                lease = await dhcp_client(lab.mn, "mn0", MN_MAC)
                mark("dhcp")
                if address_check is not None:
                    await address_check(lease)
                    mark("address_checked")
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
                    PacClient(
                        pac() if pac else pac_session(pre_auth=False), pac_tr, close_transport=False
                    ) as client,
                ):
                    await client.authenticate(timeout=10)
                    mark("pana")
                    t_done = await stream.register(lab.mn, lease.address)
                    mark("binding")
                    await asyncio.sleep(settle)
                    meter = await stream.stop()
                    await client.terminate(timeout=5)
        finally:
            await _cancel(server)
    return HandoverResult("non-MPA", meter, t_move, t_done, steps, {"ncoa": str(lease.address)})


def _marker(steps: dict[str, float], t0: float) -> Callable[[str], None]:
    def mark(name: str) -> None:
        steps[name] = (time.monotonic() - t0) * 1000

    return mark


def _mac(lab: MpaLab, ns: str, ifname: str) -> bytes:
    out = lab.base.ip(ns, "-j", "link", "show", ifname)
    return bytes.fromhex(str(json.loads(out)[0]["address"]).replace(":", ""))


class ProbedIpipDriver(LinuxIpipDriver):
    """LinuxIpipDriver that notes, for each deleted tunnel, its counters and unread packets."""

    def __init__(self, *, defer_delete: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.deleted: list[dict[str, Any]] = []
        self.defer_delete = defer_delete
        """Keep a tunnel until release_deferred() (the MN keeps its end until it leaves AP1)."""
        self._deferred: list[str] = []

    def release_deferred(self) -> None:
        """Delete the tunnels whose deletion was deferred."""
        self.defer_delete = False
        for name in self._deferred:
            self.delete(name)
        self._deferred.clear()

    def close(self) -> None:
        """Delete every tunnel, deferred or not."""
        self.release_deferred()
        super().close()

    def delete(self, name: str) -> None:
        """Record the tunnel's state, then delete it (or defer that)."""
        if self.defer_delete and name in self._tunnels:
            self._deferred.append(name)
            return
        t = self._tunnels.get(name)
        if t is not None:
            # bytes of the first datagram still waiting in the outer (raw) socket: a packet
            # that arrived through the tunnel but was not decapsulated yet (SIOCINQ; the
            # release delivers it)
            pending = struct.unpack(
                "i", fcntl.ioctl(t.raw.fileno(), termios.FIONREAD, b"\0\0\0\0")
            )[0]
            self.deleted.append(
                {
                    "time": time.monotonic(),
                    "encapsulated": t.stats.encapsulated,
                    "decapsulated": t.stats.decapsulated,
                    "held": t.stats.held,
                    "raw_pending_bytes": pending,
                }
            )
        super().delete(name)


async def udp_in(ns: str, host: str, port: int = 0) -> UdpTransport:
    """A UdpTransport bound in namespace ``ns`` (the caller closes it)."""
    with in_netns(ns):  # the socket is created before the first suspension point
        return await UdpTransport.bind(host, port)


class NeighborWatch:
    """ARP and IPv6 neighbour discovery frames on one interface of a namespace, both directions.

    An AF_PACKET socket read from the event loop (``start``/``stop``); ``counts`` tells whether
    proactive address resolution (RFC 6252 App. B) did its work on the new link. Each frame keeps
    the kernel's receive time, so a count can start at the move whatever the loop's delay in
    reading it.
    """

    def __init__(self, ns: str, ifname: str) -> None:
        with in_netns(ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind((ifname, 0))
        self.sock.setblocking(False)
        self.frames: list[NeighborFrame] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Read frames from the running loop."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._read)

    def _read(self) -> None:
        while True:
            try:
                f, anc, _flags, _addr = self.sock.recvmsg(2048, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            stamp = time.monotonic()
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack_from("=qq", value)  # CLOCK_REALTIME
                    stamp = sec + nsec / 1e9 + _monotonic_minus_realtime()
            frame = NeighborFrame.parse(f, stamp)
            if frame is not None:
                self.frames.append(frame)

    def stop(self) -> None:
        """Stop reading and close the socket (idempotent)."""
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
            self._loop = None
            self._read()
        self.sock.close()

    def counts(
        self, *, ncoa: str, mn_mac: bytes, router: str, after: float = float("-inf")
    ) -> dict[str, int]:
        """Announcements of nCoA by the MN, and the queries the announcement and the MN's
        pre-installed entry for the router should have made unnecessary; frames the kernel
        received after ``after`` (CLOCK_MONOTONIC) only.

        A query is address resolution: a broadcast ARP request or an NS to the solicited-node
        multicast address. A unicast one is a reachability probe of an entry that already has
        the MAC (Linux re-confirms a STALE entry 5 s after using it, RFC 4861 s7.3.3), counted
        apart (``ar_probes``, ``mn_probes``): neither shows that resolution was needed.
        """
        out = dict.fromkeys(
            ("announcements", "ar_queries", "mn_queries", "ar_probes", "mn_probes"), 0
        )
        for fr in self.frames:
            if fr.time <= after:
                continue
            if (
                fr.kind in ("who-has", "na")
                and fr.sha == mn_mac
                and fr.tpa == ncoa
                and fr.spa in (ncoa, "")
            ):
                if fr.group:
                    out["announcements"] += 1  # RFC 5227 s3 ARP Announcement / RFC 4861 s7.2.6 NA
            elif fr.kind in ("who-has", "ns") and fr.tpa == ncoa and fr.sha != mn_mac:
                out["ar_queries" if fr.group else "ar_probes"] += 1  # R2 resolving nCoA itself
            elif fr.kind in ("who-has", "ns") and fr.tpa == router and fr.sha == mn_mac:
                out["mn_queries" if fr.group else "mn_probes"] += 1  # the MN resolving R2
        return out


@dataclass(frozen=True, slots=True)
class NeighborFrame:
    """One ARP or neighbour discovery frame as ``NeighborWatch`` saw it."""

    kind: str
    """``who-has`` (ARP request), ``is-at`` (ARP reply), ``ns``, ``na`` (unsolicited) or
    ``na-solicited``."""
    sha: bytes
    """Sender MAC (the Ethernet source for IPv6)."""
    spa: str
    """Sender IPv4 address; "" for IPv6."""
    tpa: str
    """Target address."""
    group: bool
    """Sent to a group address (broadcast, multicast): resolution or an announcement."""
    time: float
    """The kernel's receive time, CLOCK_MONOTONIC."""

    @classmethod
    def parse(cls, f: bytes, stamp: float) -> NeighborFrame | None:
        """The frame's fields; None when it is neither ARP nor an NS/NA."""
        kind = struct.unpack_from("!H", f, 12)[0] if len(f) >= 14 else 0
        group = bool(f[0] & 1) if f else False  # I/G bit of the destination MAC
        if kind == 0x0806 and len(f) >= 42:
            op = struct.unpack_from("!H", f, 20)[0]
            spa, tpa = str(A(f[28:32])), str(A(f[38:42]))
            return cls("who-has" if op == 1 else "is-at", f[22:28], spa, tpa, group, stamp)
        if kind == 0x86DD and len(f) >= 78 and f[20] == 58 and f[54] in (135, 136):
            target = str(ipaddress.IPv6Address(f[62:78]))
            # an NA with S set answers an NS; only unsolicited ones (S clear) announce
            kind_ = "ns" if f[54] == 135 else "na-solicited" if f[58] & 0x40 else "na"
            return cls(kind_, f[6:12], "", target, group, stamp)
        return None


@dataclass(frozen=True, slots=True)
class Addressing:
    """The addresses of an MPA handover in the lab (default: the IPv4 lab's)."""

    paa: str = str(PAA_ADDR)
    """R2 on the CTN link: PAA, AR tunnel end point, the MN's router after the move."""
    ocoa: str = str(OCOA)
    ocoa_prefix: int = 24
    cn: str = str(CN_ADDR)
    router_advertisement: bytes | None = None
    """IPv6: the CTN's RA carried to the MN (SLAAC nCoA, no DHCP lease)."""

    @property
    def v6(self) -> bool:
        """Whether this is the IPv6 handover."""
        return ":" in self.ocoa


async def mpa_handover(
    lab: MpaLab,
    *,
    buffering: bool,
    interval: float = 0.01,
    settle: float = 0.5,
    announce: bool = True,
    timeout: float = 10.0,
    bu_delay: float = 0.0,
    lease_gate: Callable[[Any, int], Awaitable[None]] | None = None,
    bicast: bool = False,
    mn_keeps_tunnel: bool = False,
    update_delay: float = 0.0,
    peer: Callable[[], EapPeer] | None = None,
    aaa: Callable[[int], Any] | None = None,
    link_switch: Callable[[], Awaitable[None]] | None = None,
    addressing: Addressing | None = None,
    lease_provider: Callable[[int, bytes, bytes], Awaitable[Any]] | None = None,
) -> HandoverResult:
    """The MPA handover with the project's MpaController (MN) and MpaAgent (R2) on real links.

    ``bicast``: during the switch R2 copies each packet for nCoA into the tunnel and onto the CTN
    link to the MN's MAC (RFC 6252 s7.6) instead of buffering it. ``mn_keeps_tunnel``: the MN's
    tunnel end stays up after the DISABLE exchange until the MN leaves AP1 (MpaController deletes
    it right after the DISABLE answer), so packets tunneled during pre-switching still arrive.
    ``update_delay``: seconds between nCoA being configured and the PANA-Update (link-layer
    authentication, a lost first PANA-Update): the AR stays in its switch mode that long.
    ``announce``: proactive address resolution (RFC 6252 App. B): after pre-configuration the MN
    installs the AR's MAC (MPA-AR-Link-Address of PAR[C,E]) as its neighbour entry for the
    router, and right after nCoA is configured on the new link it announces nCoA (gratuitous
    ARP, RFC 5227 s3; unsolicited NA, RFC 4861 s7.2.6), so neither side resolves the other
    after the move; R2's CTN link accepts announcements for new entries (``arp_accept``).
    ``extra["announce"]`` counts what R2's CTN link saw (``NeighborWatch.counts``).

    ``lease_gate(agent, session_id)`` delays the lease (a test makes it arrive after PAR[C]).
    ``peer`` makes the MN's EAP peer, ``aaa`` makes the agent a pass-through authenticator
    (RADIUS to a home AAA server), ``link_switch`` performs the link-layer move;
    ``addressing`` gives the addresses (IPv6: nCoA by SLAAC from the carried RA, RFC 2473 tunnel).
    ``lease_provider`` replaces the DHCPv4 relay to dnsmasq (e.g. DHCPv6 to Kea via R2's relay).
    """
    ad = addressing or Addressing()
    from pana_mpa.mpa.drivers.agent import MpaAgent
    from pana_mpa.mpa.drivers.controller import MpaController
    from pana_mpa.mpa.drivers.dhcp_relay import relay_socket
    from pana_mpa.mpa.info import CandidateNetwork
    from pana_mpa.mpa.messages import PreConfiguration

    async def dhcp4_lease(sid: int, mac: bytes, client_id: bytes) -> DhcpLease:
        with in_netns(lab.r2):
            sock = relay_socket(PAA_ADDR)
        lease = await acquire_lease(
            server=DHCP_SERVER, giaddr=PAA_ADDR, chaddr=mac, client_id=client_id, sock=sock
        )
        assert agent is not None
        if lease_gate is not None:
            await lease_gate(agent, sid)
        return lease

    def lookup(ident: bytes) -> Secret | None:
        return Secret(PSK) if ident == IDENTITY else None

    def eap_authenticator() -> EapAuthenticator:
        return EapAuthenticator(methods=lambda ident: [lambda: PskServer(b"r2.ctn", lookup)])

    def eap_peer() -> EapPeer:
        return EapPeer(
            identity=IDENTITY, methods={EAP_TYPE_PSK: lambda: PskPeer(IDENTITY, Secret(PSK))}
        )

    ar_mac = _mac(lab, lab.r2, "r2d")
    bssid = _mac(lab, lab.radio, "ap2")
    agent: MpaAgent | None = None

    def hook(spec: TunnelSpec, packet: bytes) -> bool:
        return True if agent is None else agent.forward_hook(spec, packet)

    ar_tunnels = ProbedIpipDriver(netns=lab.r2, forward_hook=hook)
    mn_tunnels = ProbedIpipDriver(netns=lab.mn, defer_delete=mn_keeps_tunnel)
    steps: dict[str, float] = {}
    extra: dict[str, Any] = {}
    moved: dict[str, float] = {}
    paa_tr = await udp_in(lab.r2, ad.paa, PANA_PORT)
    watch: NeighborWatch | None = None
    if announce:
        # a Linux router takes a new neighbour from a gratuitous ARP / unsolicited NA only when
        # told to (arp_accept, accept_untracked_na; the latter since Linux 5.19)
        lab.base.exec(lab.r2, "sysctl", "-qw", "net.ipv4.conf.r2d.arp_accept=1")
        if ad.v6:
            lab.base.exec(lab.r2, "sysctl", "-qw", "net.ipv6.conf.r2d.accept_untracked_na=1")
        watch = NeighborWatch(lab.r2, "r2d")
        watch.start()
    agent = MpaAgent(
        paa_config=PaaConfig(),
        eap_factory=None if aaa else eap_authenticator,
        aaa=aaa,
        transport=paa_tr,
        ar_address=ad.paa,
        router_advertisement=ad.router_advertisement,
        lease_provider=lease_provider or (None if ad.router_advertisement else dhcp4_lease),
        tunnels=ar_tunnels,
        data_plane=ArDataPlane(BufferPolicy(buffering=buffering, period=2.0, bicast=bicast)),
        ar_link_address=ar_mac,
        bssids=(bssid,),
        inject=ar_tunnels.inject,
        ctn_interface="r2d",
        send_frame=ar_tunnels.send_frame,
    )
    agent_task = asyncio.get_running_loop().create_task(agent.run())
    controller: MpaController | None = None
    announcer: Announcer | None = None
    announcer_times: dict[str, float] = {}
    try:
        async with lab.meter(interval, bu_delay=bu_delay, cn=ad.cn, to=ad.ocoa) as stream:

            async def binding_update(address: Any) -> None:
                await stream.register(lab.mn, address)

            controller = MpaController(
                eap_factory=peer or eap_peer,
                mn_mac=MN_MAC,
                tunnels=mn_tunnels,
                binding_update=binding_update,
                timeout=timeout,
            )
            candidate = CandidateNetwork(
                name="ctn",
                paa=(ad.paa, PANA_PORT),
                ar_address=ipaddress.ip_address(ad.paa),
                bssids=(bssid,),
            )

            async def attach(cfg: PreConfiguration) -> UdpTransport:
                mn_tunnels.release_deferred()  # leaving AP1
                moved["t"] = time.monotonic()
                if link_switch is None:
                    await asyncio.to_thread(lab.move_to, 2)
                else:
                    await link_switch()
                steps["l2"] = (time.monotonic() - moved["t"]) * 1000
                lines = [
                    # IPv6: nCoA was formed before the move (and DAD could run proactively,
                    # RFC 6252 s7.3): usable at once
                    f"addr add {cfg.ncoa}/{cfg.prefix_length} dev mn0"
                    + (" nodad" if ad.v6 else ""),
                    # after nCoA is on: removing a device's last IPv4 address flushes its whole
                    # ARP table (arp_ifdown), the proactively installed entry for R2 with it
                    f"addr del {ad.ocoa}/{ad.ocoa_prefix} dev mn0",
                    f"route replace default via {cfg.router or ad.paa}",
                ]
                await asyncio.to_thread(lab.ip_batch, lab.mn, lines)
                steps["configured"] = (time.monotonic() - moved["t"]) * 1000
                if announcer is not None:
                    # RFC 6252 App. B: tell the new link's nodes where nCoA is, before the
                    # PANA-Update makes R2 route nCoA onto that link; the socket was opened
                    # before the move and is closed after the PANA-Update: only the send is here
                    announcer.announce()
                    steps["announced"] = (time.monotonic() - moved["t"]) * 1000
                return await udp_in(lab.mn, str(cfg.ncoa), 0)

            await stream.flowing()
            await asyncio.sleep(settle)
            pac_tr = await udp_in(lab.mn, ad.ocoa, 0)
            t0 = time.monotonic()
            try:
                await controller.pre_authenticate(candidate, pac_tr, ipaddress.ip_address(ad.ocoa))
                await controller.pre_configure()
                pre = controller.pre_configuration
                if announce and pre is not None and pre.ar_link_address is not None:
                    # proactive address resolution (RFC 6252 App. B), off the critical path: the
                    # AR's MAC from PAR[C,E] becomes the MN's entry for its next router
                    await asyncio.to_thread(
                        install_neighbor,
                        "mn0",
                        ipaddress.ip_address(pre.router or ad.paa),
                        pre.ar_link_address,
                        netns=lab.mn,
                    )
                if announce and pre is not None and pre.ncoa is not None:
                    # the announcement's socket, off the critical path (its close waits for an
                    # RCU grace period with IPv4, see drivers/announce.py)
                    announcer = Announcer("mn0", MN_MAC, pre.ncoa, netns=lab.mn)
                    announcer_times["opened"] = time.monotonic()
                cn_net = ipaddress.ip_network(f"{ad.cn}/{128 if ad.v6 else 32}")
                await controller.establish_tunnel(routes=(cn_net,))
                await controller.binding_update()
                await asyncio.sleep(settle)  # the stream flows through the tunnel
                await controller.switch(attach)
                if update_delay:
                    await asyncio.sleep(update_delay)
                await controller.complete()
            except Exception as exc:
                timeline = [(e.name, dict(e.detail)) for e in agent.events]
                mn = [(e.step, dict(e.detail)) for e in controller.events]
                raise RuntimeError(
                    f"MPA handover failed: {exc}; MN {mn}; agent {timeline}"
                ) from exc
            t_done = time.monotonic()
            if announcer is not None:
                await asyncio.to_thread(announcer.close)
                announcer_times["closed"] = time.monotonic()
            await asyncio.sleep(settle)
            meter = await stream.stop()
            t_move = moved["t"]
            for ev in controller.events:
                steps[ev.step] = (ev.time - t_move) * 1000
            steps["pre_switch_start"] = (t0 - t_move) * 1000
            cfg = controller.pre_configuration
            extra["ncoa"] = str(cfg.ncoa) if cfg else None
            extra["pre_auth"] = controller.session.pre_auth if controller.session else None
            extra["ar"] = {
                k: getattr(v, k)
                for v in agent.data_plane.stats.values()
                for k in (
                    "tunneled",
                    "held",
                    "flushed",
                    "bicast",
                    "dropped_overflow",
                    "dropped_expired",
                )
            }
            extra["bicast_sent"] = agent.bicast_sent
            extra["tunnel_ends"] = {
                "ar": [
                    {**d, "time": round((d["time"] - t_move) * 1000, 1)} for d in ar_tunnels.deleted
                ],
                "mn": [
                    {**d, "time": round((d["time"] - t_move) * 1000, 1)} for d in mn_tunnels.deleted
                ],
            }
            extra["agent"] = [
                (round((e.time - t_move) * 1000, 1), e.name, dict(e.detail)) for e in agent.events
            ]
            if watch is not None and cfg is not None and cfg.ncoa is not None:
                watch.stop()
                router = str(cfg.router or ad.paa)
                entry = json.loads(lab.base.ip(lab.r2, "-j", "neigh", "show", str(cfg.ncoa),
                                               "dev", "r2d") or "[]")  # fmt: skip
                extra["announce"] = {
                    # from the move on: before it the MN is not on R2's link (a query then, e.g. for
                    # the DHCP server's ICMP check of nCoA, is no resolution it could spare)
                    **watch.counts(ncoa=str(cfg.ncoa), mn_mac=MN_MAC, router=router, after=t_move),
                    "ar_entry": entry[0].get("lladdr") if entry else None,
                    # the announcement socket's life, ms after the move: opened before it,
                    # closed after the PANA-Update (handover_complete)
                    **{
                        f"socket_{k}_ms": round((t - t_move) * 1000, 1)
                        for k, t in announcer_times.items()
                    },
                }
            extra["keys"] = controller.keys is not None
            extra["switch_at"] = t_move
    finally:
        if announcer is not None:
            announcer.close()
        if controller is not None:
            await controller.close()
        agent.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await agent_task
        paa_tr.close()
        if watch is not None:
            watch.stop()
        mn_tunnels.close()
        ar_tunnels.close()
    name = "MPA+bicast" if bicast else "MPA+buffer" if buffering else "MPA"
    return HandoverResult(name, meter, t_move, t_done, steps, extra)


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
    s.add_argument("--bu-delay", type=float, default=0.0)
    r = sub.add_parser("receiver")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--v6", action="store_true", help="IPv6 socket")
    args = ap.parse_args(argv)
    if args.cmd == "sender":
        _sender_main(args.bind, args.port, args.to, args.interval, args.bu_delay)
    else:
        _receiver_main(args.port, args.v6)
    return 0


if __name__ == "__main__":
    sys.exit(main())

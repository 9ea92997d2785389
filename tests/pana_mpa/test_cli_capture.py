"""Capture our PaC <-> PAA on 127.0.0.1 with tshark and check tshark's own PANA dissector agrees."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.pcapfile import LINKTYPE_RAW, ipv4_udp, write_pcap
from tests.ports import free_udp_ports, tshark_udp_ports
from tests.realcomponents import need_binary, need_root

from .test_cli_udp import PSK, run_pac, running_paa

pytestmark = [pytest.mark.udp, pytest.mark.tshark]


def _probe_lines(log: Path, source: int, probe: int) -> int:
    """Datagrams from port ``source`` to the probe port in tshark's live output (-P -l)."""
    text = log.read_text(errors="replace")
    return text.count(f" {source} \u2192 {probe} ") + text.count(f" {source} -> {probe} ")


@dataclass
class _Capture:
    proc: subprocess.Popen[bytes]
    log: Path
    probe: int
    avoid: frozenset[int] = frozenset()
    """Ports tshark dissects by number: its summary line of such a datagram shows no ports."""
    sockets: list[socket.socket] = field(default_factory=list)
    """Each mark's probe socket, open until the capture stops: every mark has a port of its own."""

    def mark(self) -> None:
        """Send a probe datagram and wait until tshark has captured it (and so all before it).

        Only this mark's probe counts (its own source port): an earlier mark's probe that
        tshark prints late was sent before the exchange and proves nothing about it.
        """
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sockets.append(s)
        for _ in range(50):  # another process can take a port between its check and our bind
            try:
                s.bind(("127.0.0.1", free_udp_ports(avoid=self.avoid | {self.probe})))
                break
            except OSError:
                continue
        else:
            pytest.fail("no port for the capture probe's source")
        source = s.getsockname()[1]
        deadline = time.monotonic() + 60
        while _probe_lines(self.log, source, self.probe) == 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"tshark captured no probe: {self.log.read_text(errors='replace')}")
            s.sendto(b"probe", ("127.0.0.1", self.probe))
            time.sleep(0.1)  # waiting for an external program, not protocol time

    def close(self) -> None:
        """Close the probe sockets."""
        for s in self.sockets:
            s.close()
        self.sockets.clear()


def _capture(tshark: str, port: int, pcap: Path, log: Path) -> _Capture:
    """tshark on lo for ``port``; returns once a probe datagram shows it is really capturing.

    "Capturing on" is printed before dumpcap's socket sees packets on a loaded machine, so the
    exchange could run before the capture: a probe to a second port is sent until it shows up.
    """
    avoid = tshark_udp_ports(tshark) | {port}
    probe = free_udp_ports(avoid=avoid)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [tshark, "-i", "lo", "-f", f"udp port {port} or udp port {probe}", "-w", str(pcap),
             "-P", "-l"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    capture = _Capture(proc, log, probe, avoid)
    capture.mark()
    return capture


def _stop(capture: _Capture) -> None:
    proc = capture.proc
    try:
        if proc.poll() is None:
            capture.mark()  # everything sent before this probe is in the capture
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        capture.close()


def _fields(tshark: str, pcap: Path, *fields: str, display_filter: str = "") -> list[list[str]]:
    cmd = [tshark, "-2", "-r", str(pcap), "-T", "fields", "-E", "separator=;"]  # 2 passes
    if display_filter:
        cmd += ["-Y", display_filter]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    return [line.split(";") for line in out.splitlines() if line]


@dataclass(frozen=True)
class _Frame:
    """One PANA datagram as tshark dissected it."""

    number: int
    direction: tuple[int, int]  # UDP source and destination port
    payload: bytes
    type: int
    request: bool  # the R flag
    seq: int
    sid: int
    response_in: int | None  # tshark's request/answer matching
    response_to: int | None

    @property
    def kind(self) -> tuple[int, str]:
        """(type, request | answer); the PCI has no R flag and no answer (RFC 5191 s4.1)."""
        role = "request" if self.request else "initiation" if self.type == 1 else "answer"
        return (self.type, role)


_FRAME_FIELDS = (
    "frame.number",
    "udp.srcport",
    "udp.dstport",
    "udp.payload",
    "pana.type",
    "pana.seq",
    "pana.sid",
    "pana.response_in",
    "pana.response_to",
)


def _frames(tshark: str, pcap: Path, port: int) -> list[_Frame]:
    frames = []
    for number, sport, dport, payload, typ, seq, sid, rin, rto in _fields(
        tshark, pcap, *_FRAME_FIELDS, display_filter="pana"
    ):
        payload_bytes = bytes.fromhex(payload.replace(":", ""))
        frames.append(
            _Frame(
                number=int(number),
                direction=(int(sport), int(dport)),
                payload=payload_bytes,
                type=int(typ),
                # tshark 4.0 shows every flag as 0 (pana.flags, pana.flags.r; its -V view is
                # right), so the R bit is read from the header (RFC 5191 s6.2); tshark's own
                # reading of it shows in its matching (response_in on requests only).
                request=bool(int.from_bytes(payload_bytes[4:6], "big") & 0x8000),
                seq=int(seq, 0),
                sid=int(sid, 0),
                response_in=int(rin) if rin else None,
                response_to=int(rto) if rto else None,
            )
        )
    # only our conversation: the PAA's port and the port of the PaC whose PCI came to it (the
    # capture filter is by port, and loopback is shared with other processes)
    pac = next(f.direction[0] for f in frames if f.type == 1 and f.direction[1] == port)
    return [f for f in frames if f.direction in ((pac, port), (port, pac))]


# PCI; PAR/PAN[S]; Identity, 2 PSK rounds; PAR/PAN[C]; PNR/PNA[P]; PTR/PTA
_EXPECTED_FLOW = [
    (1, "initiation"),
    *[(2, "request"), (2, "answer")] * 5,
    *[(4, "request"), (4, "answer")],
    *[(3, "request"), (3, "answer")],
]


def _check_tshark_view(tshark: str, pcap: Path, port: int) -> None:
    """tshark decodes the exchange, pairs every request with its answer, reports no problem.

    Retransmissions (RFC 5191 s9) and answers re-sent from the cache repeat a datagram byte
    for byte; on a loaded machine they happen, so copies count once. tshark keys its matching
    by sequence number and keeps the last request of each: when a request was sent again after
    its answer (they crossed), no copy shows response_in, but the answer's response_to names
    the last copy. So each request must be paired from one end, each answer from its own.
    """
    frames = _frames(tshark, pcap, port)
    by_number = {f.number: f for f in frames}
    copies: dict[tuple[tuple[int, int], bytes], list[_Frame]] = {}
    for f in frames:
        copies.setdefault((f.direction, f.payload), []).append(f)
    distinct = [group[0] for group in copies.values()]  # dicts keep the first-seen order
    assert [f.kind for f in distinct] == _EXPECTED_FLOW
    assert len({f.sid for f in distinct[1:]}) == 1  # one session id throughout

    def same_exchange(a: _Frame, number: int | None, *, request: bool) -> bool:
        b = by_number.get(number) if number is not None else None
        return b is not None and b.request == request and (b.type, b.seq) == (a.type, a.seq)

    answered = {f.response_to for f in frames if not f.request}
    for group in copies.values():
        first = group[0]
        if first.type == 1:  # the PCI: neither a request nor an answer for tshark
            assert all(f.response_in is f.response_to is None for f in group)
        elif first.request:  # paired from either end: response_in, or an answer's response_to
            numbers = [f.number for f in group]
            paired = any(same_exchange(f, f.response_in, request=False) for f in group)
            assert paired or answered & set(numbers), f"request in frames {numbers} unpaired"
        else:
            for f in group:
                assert same_exchange(f, f.response_to, request=True), f"answer {f.number}"
    bad = _fields(
        tshark,
        pcap,
        "frame.number",
        display_filter="_ws.malformed || _ws.expert.severity >= 6291456",
    )
    assert bad == [], f"tshark reports problems in frames {bad}"


def _with_retransmissions(frames: list[_Frame], path: Path) -> Path:
    """The exchange again, with what a loaded machine adds: a second PCI, a request sent again
    before its answer came, and a PTR sent again after its PTA (crossing, never answered)."""
    packets = []
    for f in frames:
        packet = ipv4_udp("127.0.0.1", "127.0.0.1", *f.direction, f.payload)
        packets.append(packet)
        if f.kind in ((1, "initiation"), (2, "request")) and packets.count(packet) == 1:
            packets.append(packet)
        if f.kind == (3, "answer"):
            ptr = next(g for g in frames if g.kind == (3, "request"))
            packets.append(ipv4_udp("127.0.0.1", "127.0.0.1", *ptr.direction, ptr.payload))
    return write_pcap(path, LINKTYPE_RAW, packets)


def test_tshark_decodes_our_exchange_cleanly(tmp_path: Path) -> None:
    tshark = need_binary("tshark")
    need_root()  # capturing on lo
    port = free_udp_ports(avoid=tshark_udp_ports(tshark))
    pcap, log = tmp_path / "pana.pcapng", tmp_path / "tshark.log"
    proc = _capture(tshark, port, pcap, log)
    try:
        with running_paa("--user", f"alice:{PSK}", "--listen", f"127.0.0.1:{port}") as paa:
            result = run_pac("--paa", paa, "--identity", "alice", "--secret", PSK, "--once")
        assert result.returncode == 0, result.stderr
    finally:
        _stop(proc)
    _check_tshark_view(tshark, pcap, port)
    # the same check holds when the machine was loaded and datagrams were sent again
    frames = _frames(tshark, pcap, port)
    resent = _with_retransmissions(frames, tmp_path / "resent.pcap")
    assert len(_frames(tshark, resent, port)) > len(frames)
    _check_tshark_view(tshark, resent, port)

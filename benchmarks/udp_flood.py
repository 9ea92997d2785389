"""PCI flood over real UDP from spoofed sources, in network namespaces (root; issue 9).

Four namespaces (prefix ``pana-``): the PAA runs the real CLI (``pana-mpa paa``, EAP-PSK), a
legitimate PaC runs ``pana-mpa pac --once`` again and again, an attacker writes IPv4/UDP PCIs
with random spoofed source addresses and ports through a raw socket (IP_HDRINCL), and a sink
takes the PAA's PAR[S] answers to the spoofed addresses (it forwards nothing: they are counted
as IpInAddrErrors there and dropped)::

    pac 10.77.1.2 --- 10.77.1.1 [PAA :716] 10.77.3.1 --- 10.77.3.2 sink
                                 10.77.2.1                (PAA: 10.99.0.0/16 via the sink)
                                    |
                      attacker 10.77.2.2, spoofing 10.99.0.0/16 (rp_filter off in the PAA)

Each flood rate is a phase against the same PAA process, after a baseline without a flood:
PCIs the attacker sent (and its own CPU: on 2 cores it is often the bottleneck), datagrams the
PAA's kernel delivered and dropped (/proc/net/snmp in the PAA's namespace), the PAA's own counters
(SIGUSR1 statistics: read, answered, shed, rate-limited), PAA CPU per datagram received
(/proc/PID/stat), PAA RSS before, at its highest during and after (/proc/PID/status), and the
legitimate PaC: successes, its authentication time (PCI to Authenticated, from its trace) and its
whole run, as ratios to the baseline.

    python -m benchmarks.udp_flood                           # 1k, 5k, 20k PCIs/s, max; 10 s each
    python -m benchmarks.udp_flood --rates 5000,max --duration 5 --json
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import itertools
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from pana_codecs import encode_pana
from pana_codecs.pana import PanaMessage

from ._proc import cpu_seconds, rss_bytes

__all__ = ["FloodPhase", "LegitRun", "main", "run_benchmark"]

PAA_IP, PAC_IP, ATK_IP, SINK_IP = "10.77.1.1", "10.77.1.2", "10.77.2.2", "10.77.3.2"
SPOOFED = "10.99.0.0/16"
PORT = 716
IDENTITY, PSK = "legit", "udpflood-psk-16c"
PCI = encode_pana(PanaMessage(1, 0, 0, 0, ()))
"""The 16-octet PCI every spoofed datagram carries (RFC 5191 s4.1)."""
POOL = 1 << 20
"""Spoofed (address, port) pairs the attacker cycles through: a real one need never repeat; at
20,000/s this pool repeats after 52 s, long after the PAA's retry table forgot a source."""


# ---- the attacker (runs in its namespace: python -m benchmarks.udp_flood --attacker) ----------


def spoofed_pcis(n: int, subnet: str, dst: str, port: int) -> list[bytes]:
    """``n`` IPv4/UDP datagrams carrying a PCI, from random addresses of ``subnet`` (a /16) and
    random ports above 1023; UDP checksum 0 (none, RFC 768: the veth path checks none anyway)."""
    net = ipaddress.IPv4Network(subnet)
    if net.prefixlen != 16:
        raise ValueError("the spoofed subnet must be a /16")
    prefix = net.network_address.packed[:2]
    dst_b = socket.inet_aton(dst)
    length = 8 + len(PCI)
    # the kernel fills in the IP header checksum, the total length and the id (raw(7))
    head = struct.pack("!BBHHHBBH", 0x45, 0, 20 + length, 0, 0, 64, socket.IPPROTO_UDP, 0)
    tail = struct.pack("!HHH", port, length, 0) + PCI
    noise = os.urandom(4 * n)
    return [
        head + prefix + noise[k : k + 2] + dst_b + bytes((noise[k + 2] | 4,)) + noise[k + 3 : k + 4]
        + tail
        for k in range(0, 4 * n, 4)
    ]  # fmt: skip


def attacker(dst: str, port: int, rate: float | None, subnet: str, pool: int) -> int:
    """Send spoofed PCIs at ``rate`` per second (None: as fast as possible) until SIGTERM.

    Writes one JSON line every 0.25 s (``sent``, ``errors``, ``t``) and a last one with
    ``done`` and its own CPU time.
    """
    stop: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    packets = spoofed_pcis(pool, subnet, dst, port)
    pool = len(packets)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # IP_HDRINCL
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    send, dest = sock.sendto, (dst, 0)
    out = sys.stdout
    sent = errors = i = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    report_at = 0.0
    out.write(json.dumps({"sent": 0, "errors": 0, "t": 0.0}) + "\n")
    out.flush()
    while not stop:
        now = time.perf_counter() - t0
        if rate is None:
            burst = 256
        else:
            burst = min(int(now * rate) - sent - errors, 256)
            if burst <= 0:
                time.sleep(min(0.002, 1.0 / rate))
                continue
        for _ in range(burst):
            try:
                send(packets[i], dest)
                sent += 1
            except OSError:  # ENOBUFS: the kernel could not take it
                errors += 1
            i += 1
            if i == pool:
                i = 0
        if now >= report_at:
            report_at = now + 0.25
            out.write(json.dumps({"sent": sent, "errors": errors, "t": round(now, 4)}) + "\n")
            out.flush()
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    final = {"sent": sent, "errors": errors, "t": seconds, "cpu": cpu, "done": True}
    out.write(json.dumps(final) + "\n")
    out.flush()
    return 0


# ---- measuring the PAA from outside -------------------------------------------------------------


def _snmp(text: str) -> dict[str, int]:
    """``Udp.InDatagrams``, ``Ip.InAddrErrors``, ... from /proc/net/snmp."""
    lines = text.splitlines()
    out: dict[str, int] = {}
    for head, values in zip(lines[::2], lines[1::2], strict=False):
        proto, names = head.split(":", 1)
        for name, value in zip(names.split(), values.split(":", 1)[1].split(), strict=True):
            out[f"{proto}.{name}"] = int(value)
    return out


class Paa:
    """The PAA process (``pana-mpa paa`` in its namespace): CPU, RSS, kernel and own counters."""

    def __init__(self, proc: subprocess.Popen[bytes], stdout: Path, stderr: Path) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.stdout = stdout
        self.stderr = stderr

    def wait_listening(self, timeout: float = 60.0) -> None:
        """Until the PAA printed its ``listening on`` line."""
        deadline = time.monotonic() + timeout
        while "listening on" not in self.stdout.read_text():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the PAA exited: {self.stderr.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("the PAA did not start listening")
            time.sleep(0.05)

    def statistics(self, timeout: float = 30.0) -> dict[str, int]:
        """Ask the PAA for its counters (SIGUSR1) and read the line it prints."""
        before = self.stdout.read_text().count("statistics: ")
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while True:
            lines = [x for x in self.stdout.read_text().splitlines() if "statistics: " in x]
            if len(lines) > before and lines[-1].endswith("}"):
                stats: dict[str, int] = json.loads(lines[-1].split("statistics: ", 1)[1])
                return stats
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the PAA printed no statistics after SIGUSR1")
            time.sleep(0.02)

    def snapshot(self, sink_ns: str) -> dict[str, Any]:
        """CPU, RSS, the PAA's namespace's and the sink's UDP/IP counters, the PAA's own."""
        return {
            "time": time.monotonic(),
            "cpu": cpu_seconds(self.pid),
            "rss": rss_bytes(self.pid),
            "snmp": _snmp(Path(f"/proc/{self.pid}/net/snmp").read_text()),
            "sink": _snmp(_run("ip", "netns", "exec", sink_ns, "cat", "/proc/net/snmp")),
            "paa": self.statistics(),
        }

    def rx_queue(self) -> int:
        """Octets waiting in the PAA's socket receive queue (/proc/PID/net/udp, port 716)."""
        for line in Path(f"/proc/{self.pid}/net/udp").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[1].endswith(f":{PORT:04X}"):
                return int(cols[4].split(":")[1], 16)
        return 0

    def drain(self, timeout: float = 30.0) -> None:
        """Until the PAA has read everything the kernel queued for it."""
        deadline = time.monotonic() + timeout
        while self.rx_queue() and time.monotonic() < deadline:
            time.sleep(0.05)


def _run(*args: str) -> str:
    res = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


class _RssSampler:
    """The highest RSS of a process, sampled every 50 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            with contextlib.suppress(OSError, RuntimeError):
                self.peak = max(self.peak, rss_bytes(self.pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


# ---- the legitimate PaC -------------------------------------------------------------------------


@dataclass(slots=True)
class LegitRun:
    """One ``pana-mpa pac --once``: exit status, whole run, PCI-to-Authenticated, PCIs sent."""

    ok: bool
    wall: float
    auth: float | None
    pcis: int
    error: str = ""


def _legit(ns: str, workdir: Path, index: int, timeout: float) -> LegitRun:
    trace = workdir / f"pac-{index}.jsonl"
    cmd = [
        "ip", "netns", "exec", ns, sys.executable, "-m", "pana_mpa", "pac",
        "--paa", f"{PAA_IP}:{PORT}", "--identity", IDENTITY, "--secret", PSK, "--once",
        "--timeout", f"{timeout:g}", "--trace", str(trace), "-q",
    ]  # fmt: skip
    t0 = time.perf_counter()
    try:
        res = subprocess.run(  # noqa: S603 - our own command line
            cmd, capture_output=True, text=True, timeout=4 * timeout + 30
        )
        ok, error = res.returncode == 0, res.stderr.strip()[-300:]
    except subprocess.TimeoutExpired:
        ok, error = False, "killed: no exit"
    wall = time.perf_counter() - t0
    t_pci = t_auth = None
    pcis = 0
    with contextlib.suppress(OSError):
        for line in trace.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("event") == "message" and rec.get("dir") == "tx" and rec["type"] == "PCI":
                pcis += 1  # the first and every retransmission
                t_pci = rec["t"] if t_pci is None else t_pci
            if rec.get("event") == "session_event" and rec.get("name") == "Authenticated":
                t_auth = rec["t"]
    auth = t_auth - t_pci if t_auth is not None and t_pci is not None else None
    return LegitRun(ok=ok, wall=wall, auth=auth, pcis=pcis, error="" if ok else error)


# ---- one phase ----------------------------------------------------------------------------------


@dataclass(slots=True)
class FloodPhase:
    """What one flood rate (or the baseline, ``rate`` 0) did."""

    label: str
    rate: float | None
    """Target PCIs per second; None: as fast as the attacker can; 0: no flood."""
    seconds: float = 0.0
    sent: int = 0
    send_errors: int = 0
    attacker_cpu: float = 0.0
    kernel_delivered: int = 0
    """Udp InDatagrams in the PAA's namespace (queued on a socket)."""
    kernel_dropped: int = 0
    """Udp RcvbufErrors: the PAA's receive buffer was full."""
    paa_counters: dict[str, int] = field(default_factory=dict)
    """Increase of the PAA's own statistics (SIGUSR1) over the phase."""
    sink_received: int = 0
    """PAR[S] answers that reached the sink (its Ip InAddrErrors: not for it, not forwarded)."""
    paa_cpu: float = 0.0
    rss_before: int = 0
    rss_peak: int = 0
    rss_after: int = 0
    legit: list[LegitRun] = field(default_factory=list)

    @property
    def sent_rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_datagram(self) -> float | None:
        n = self.kernel_delivered
        return self.paa_cpu / n if n >= 100 else None

    def summary(self) -> dict[str, Any]:
        ok = [r for r in self.legit if r.ok]
        auths = [r.auth for r in ok if r.auth is not None]
        out = asdict(self)
        out.update(
            sent_per_s=round(self.sent_rate),
            paa_cpu_per_datagram_us=(
                None if self.cpu_per_datagram is None else round(self.cpu_per_datagram * 1e6, 2)
            ),
            paa_cpu_share=round(self.paa_cpu / self.seconds, 3) if self.seconds else 0.0,
            attacker_cpu_share=round(self.attacker_cpu / self.seconds, 3) if self.seconds else 0.0,
            legit_ok=len(ok),
            legit_runs=len(self.legit),
            legit_auth_median=statistics.median(auths) if auths else None,
            legit_wall_median=statistics.median(r.wall for r in ok) if ok else None,
            legit_pcis_max=max((r.pcis for r in self.legit), default=0),
        )
        return out


def _delta(after: dict[str, Any], before: dict[str, Any], key: str) -> int:
    return int(after.get(key, 0)) - int(before.get(key, 0))


class _Attacker:
    """The attacker process and a thread reading its progress lines."""

    def __init__(self, lab: Any, ns: str, rate: float | None, pool: int) -> None:
        cmd = [sys.executable, "-m", "benchmarks.udp_flood", "--attacker", "--pool", str(pool),
               "--rate", "max" if rate is None else f"{rate:g}"]  # fmt: skip
        self.proc = lab.spawn(ns, *cmd, stdout=subprocess.PIPE, cwd=str(_ROOT))
        self.last: dict[str, Any] = {}
        self.started = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.last = json.loads(raw)
                self.started.set()

    def stop(self) -> dict[str, Any]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._thread.join(timeout=10)
        return self.last


_ROOT = Path(__file__).resolve().parent.parent
_RUNS = itertools.count(1)


def _phase(
    lab: Any,
    paa: Paa,
    ns: dict[str, str],
    workdir: Path,
    rate: float | None,
    *,
    duration: float,
    min_runs: int,
    pac_timeout: float,
    pool: int,
    log: IO[str] | None,
) -> FloodPhase:
    label = "none" if rate == 0 else "max" if rate is None else f"{rate:g}/s"
    phase = FloodPhase(label=label, rate=rate)
    before = paa.snapshot(ns["sink"])
    phase.rss_before = before["rss"]
    sampler = _RssSampler(paa.pid)
    atk = None
    try:
        if rate != 0:
            atk = _Attacker(lab, ns["atk"], rate, pool)
            if not atk.started.wait(60):
                raise RuntimeError("the attacker did not start")
            time.sleep(min(1.0, duration / 4))  # the flood reaches its steady state first
        t0 = time.monotonic()
        while True:
            run = _legit(ns["pac"], workdir, next(_RUNS), pac_timeout)
            phase.legit.append(run)
            if log is not None:
                auth = "-" if run.auth is None else f"{run.auth:.3f} s"
                log.write(f"  [{label}] legit PaC: ok={run.ok} auth={auth} wall={run.wall:.2f} s"
                          f" PCIs={run.pcis} {run.error}\n")  # fmt: skip
            spent = time.monotonic() - t0
            if len(phase.legit) >= min_runs and (rate == 0 or spent >= duration):
                break
    finally:
        final = atk.stop() if atk is not None else {}
        peak = sampler.stop()
    phase.sent = int(final.get("sent", 0))
    phase.send_errors = int(final.get("errors", 0))
    phase.attacker_cpu = float(final.get("cpu", 0.0))
    paa.drain()
    after = paa.snapshot(ns["sink"])
    phase.seconds = float(final["t"]) if atk is not None else after["time"] - before["time"]
    phase.rss_peak = max(peak, after["rss"])
    phase.rss_after = after["rss"]
    phase.paa_cpu = after["cpu"] - before["cpu"]
    phase.kernel_delivered = _delta(after["snmp"], before["snmp"], "Udp.InDatagrams")
    phase.kernel_dropped = _delta(after["snmp"], before["snmp"], "Udp.RcvbufErrors")
    phase.sink_received = _delta(after["sink"], before["sink"], "Ip.InAddrErrors")
    phase.paa_counters = {k: _delta(after["paa"], before["paa"], k) for k in after["paa"]}
    phase.paa_counters["max_backlog"] = after["paa"].get("max_backlog", 0)
    phase.paa_counters["sessions"] = after["paa"].get("sessions", 0)
    return phase


# ---- the namespaces -----------------------------------------------------------------------------


def _build(lab: Any) -> dict[str, str]:
    ns = {role: lab.ns(role) for role in ("paa", "pac", "atk", "sink")}
    lab.veth(ns["paa"], "fpac", ns["pac"], "fpac0")
    lab.veth(ns["paa"], "fatk", ns["atk"], "fatk0")
    lab.veth(ns["paa"], "fsink", ns["sink"], "fsink0")
    lab.ip(ns["paa"], "addr", "add", f"{PAA_IP}/24", "dev", "fpac")
    lab.ip(ns["paa"], "addr", "add", "10.77.2.1/24", "dev", "fatk")
    lab.ip(ns["paa"], "addr", "add", "10.77.3.1/24", "dev", "fsink")
    lab.ip(ns["pac"], "addr", "add", f"{PAC_IP}/24", "dev", "fpac0")
    lab.ip(ns["atk"], "addr", "add", f"{ATK_IP}/24", "dev", "fatk0")
    lab.ip(ns["atk"], "route", "add", "default", "via", "10.77.2.1")
    lab.ip(ns["sink"], "addr", "add", f"{SINK_IP}/24", "dev", "fsink0")
    # the PAA's answers to spoofed sources go to the sink, which forwards nothing
    lab.ip(ns["paa"], "route", "add", SPOOFED, "via", SINK_IP)
    for key in ("net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
                "net.ipv4.conf.fatk.rp_filter=0", "net.ipv4.ip_forward=0"):  # fmt: skip
        lab.exec(ns["paa"], "sysctl", "-qw", key)
    lab.exec(ns["sink"], "sysctl", "-qw", "net.ipv4.ip_forward=0")
    return ns


def _start_paa(lab: Any, ns: str, workdir: Path) -> Paa:
    out, err = workdir / "paa.out", workdir / "paa.err"
    cmd = [sys.executable, "-m", "pana_mpa", "paa", "--listen", f"{PAA_IP}:{PORT}",
           "--user", f"{IDENTITY}:{PSK}"]  # fmt: skip
    with out.open("wb") as o, err.open("wb") as e:
        proc = lab.spawn(ns, *cmd, stdout=o, stderr=e, cwd=str(_ROOT))
    paa = Paa(proc, out, err)
    paa.wait_listening()
    return paa


@contextlib.contextmanager
def _workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="pana-udpflood-") as tmp:
        yield Path(tmp)


def run_benchmark(
    rates: Sequence[float | None],
    *,
    duration: float = 10.0,
    baseline_runs: int = 3,
    min_runs: int = 1,
    pac_timeout: float = 30.0,
    pool: int = POOL,
    workdir: Path | None = None,
    log: IO[str] | None = None,
) -> dict[str, Any]:
    """Baseline, then one flood phase per rate, then idle again: the figures, and the PAA's stderr.

    Needs root. Every namespace and process is removed on the way out, also on Ctrl-C.
    """
    from tests.netns import Lab

    if os.geteuid() != 0:
        raise PermissionError("benchmarks.udp_flood needs root (network namespaces, raw socket)")
    lab = Lab()
    phases: list[FloodPhase] = []
    load = [os.getloadavg()]
    with _workdir(workdir) as wd:
        try:
            ns = _build(lab)
            paa = _start_paa(lab, ns["paa"], wd)
            if log is not None:
                log.write(f"namespaces pana-{lab.tag}-*, PAA pid {paa.pid}, logs in {wd}\n")
            _legit(ns["pac"], wd, 0, pac_timeout)  # warm-up: first imports, ARP, page cache

            def phase(rate: float | None, runs: int) -> FloodPhase:
                return _phase(lab, paa, ns, wd, rate, duration=duration, min_runs=runs,
                              pac_timeout=pac_timeout, pool=pool, log=log)  # fmt: skip

            phases.append(phase(0, baseline_runs))
            for rate in rates:
                phases.append(phase(rate, min_runs))
            time.sleep(1.0)
            phases.append(phase(0, baseline_runs))
            phases[-1].label = "none (after)"
            load.append(os.getloadavg())
        finally:
            lab.close()
        stderr = (wd / "paa.err").read_text(errors="replace") if (wd / "paa.err").exists() else ""
    return {
        "phases": [p.summary() for p in phases],
        "baseline": phases[0].summary() if phases else None,
        "paa_stderr": stderr,
        "loadavg": load,
        "cpus": os.cpu_count(),
        "pool": pool,
    }


# ---- output -------------------------------------------------------------------------------------


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f}"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None:
        return "never"
    if not base:
        return f"{value:.2f} s"
    return f"{value:.2f} s ({value / base:.1f}x)"


def markdown(result: dict[str, Any]) -> str:
    """The figures as a Markdown table (one row per phase) and the notes that go with it."""
    base = result["baseline"]
    rows = [
        "| flood | PCIs sent | sent/s | attacker CPU | PAA kernel: delivered / dropped"
        " | PAA read | PAR[S] sent | shed | rate-limited | PAA CPU | PAA CPU per datagram"
        " | PAA RSS before / peak / after (MiB) | legit PaC ok | PCI→Authenticated (median)"
        " | whole `pac --once` (median) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in result["phases"]:
        c = p["paa_counters"]
        per = p["paa_cpu_per_datagram_us"]
        rows.append(
            f"| {p['label']} | {p['sent']:,} | {p['sent_per_s']:,} |"
            f" {p['attacker_cpu_share']:.0%} |"
            f" {p['kernel_delivered']:,} / {p['kernel_dropped']:,} |"
            f" {c.get('received', 0):,} | {c.get('pci_answered', 0):,} | {c.get('shed_pci', 0):,} |"
            f" {c.get('pci_rate_limited', 0):,} | {p['paa_cpu_share']:.0%} |"
            f" {'-' if per is None else f'{per:.1f} µs'} |"
            f" {_mib(p['rss_before'])} / {_mib(p['rss_peak'])} / {_mib(p['rss_after'])} |"
            f" {p['legit_ok']}/{p['legit_runs']} |"
            f" {_ratio(p['legit_auth_median'], base['legit_auth_median'])} |"
            f" {_ratio(p['legit_wall_median'], base['legit_wall_median'])} |"
        )
    load = ", ".join(f"{x:.2f}" for x in result["loadavg"][0])
    notes = [
        "",
        f"{result['cpus']} CPUs, load average at the start {load}. Spoofed sources: {SPOOFED},"
        f" {result['pool']:,} (address, port) pairs cycled. Shares are of one CPU over the"
        " phase; an attacker near 100 % sending less than its target is the bottleneck, not the"
        " PAA. PAA CPU per datagram is its utime+stime over the datagrams its kernel delivered"
        " (the kernel's receive work runs mostly on the sender's CPU). Ratios are to the"
        " baseline (first row), measured in the same run.",
    ]
    if result["paa_stderr"].strip():
        notes.append(f"PAA stderr: {result['paa_stderr'].strip()[-500:]}")
    return "\n".join(rows + notes)


def _rate(text: str) -> float | None:
    return None if text in ("max", "inf") else float(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.udp_flood", description=(__doc__ or "").splitlines()[0]
    )
    ap.add_argument(
        "--rates",
        default="1000,5000,20000,max",
        help="PCIs per second, comma-separated; max: as fast as the attacker can",
    )
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per flood (at least)")
    ap.add_argument("--baseline-runs", type=int, default=3, help="legit PaC runs without flood")
    ap.add_argument("--min-runs", type=int, default=1, help="legit PaC runs per flood, at least")
    ap.add_argument("--pac-timeout", type=float, default=30.0, help="pac --timeout")
    ap.add_argument("--pool", type=int, default=POOL, help="spoofed datagrams prepared")
    ap.add_argument("--workdir", type=Path, help="keep the logs and traces here")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--attacker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rate", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.attacker:
        return attacker(PAA_IP, PORT, _rate(args.rate), SPOOFED, args.pool)
    rates = [_rate(x.strip()) for x in args.rates.split(",") if x.strip()]
    try:
        result = run_benchmark(
            rates,
            duration=args.duration,
            baseline_runs=args.baseline_runs,
            min_runs=args.min_runs,
            pac_timeout=args.pac_timeout,
            pool=args.pool,
            workdir=args.workdir,
            log=None if args.json else sys.stderr,
        )
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: processes stopped, namespaces removed\n")
        return 130
    sys.stdout.write(json.dumps(result, indent=1) + "\n" if args.json else markdown(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Our PAA beside OpenPANA's (C) PAA: the same PaCs, the same AAA software, one machine, one run.

``sudo python -m benchmarks.openpana_side_by_side --openpaa /path/to/openpaa [--auths 300]``

OpenPANA 0.2.4 is not part of this project and is never built by it: build it yourself outside
the repository (its ``openpaa`` binary; see docs/interop.md for the version) and pass its path.

Both PAAs do EAP pass-through to a hostapd each (RADIUS + EAP-PSK server) and use the SHA-1 suite
(OpenPANA's only one), so each does the same work: PANA, the PANA SA, and three RADIUS round trips
per authentication. Everything runs inside a private network namespace (hostapd and openpaa bind
every address), on its loopback. The load generator (this process, our ``PacClient``) runs one PaC
at a time, each on a new UDP socket and its own loopback address (127.1.x.y: PANA's per-source
PCI limit is for one device, not for a load generator), and leaves its session open: OpenPANA's
PAA hangs or crashes with two or more PaCs in flight (docs/benchmarks.md), so concurrency 1 is
the only fair figure. Rounds alternate (ours, OpenPANA, ours local, ...) so that load from other
jobs falls on all alike, and each PAA takes each place in a round in turn (the first of a round
measures cheaper). Our PAA with its own EAP-PSK server is measured too: the difference is what
the pass-through costs.

Per PAA: authentications/s, failures, PAA process CPU (user + system from /proc) per
authentication, the same in HMAC-SHA256-of-64-octets equivalents measured in this run, hostapd's
CPU per authentication, and the PAA's RSS growth per session it holds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eap.keys import Secret
from eap.methods.psk import PskPeer
from eap.peer import EapPeer
from pana_mpa import PacConfig, PacSession
from pana_mpa.address import Address
from pana_mpa.aio import ClientError, PacClient, new_event_loop
from pana_mpa.aio.udp import UdpTransport

from ._proc import cpu_seconds, cpu_split, rss_bytes, wakeups

__all__ = ["main"]

IDENTITY = "user1"
PSK = b"SecretPassphrase"
RADIUS_SECRET = "testing123"
HOST = "127.0.0.1"
RADIUS_PORT, OPENPAA_PORT, OURS_PORT = 21812, 27160, 27161
OPENPANA = "OpenPANA 0.2.4"  # its row, the yardstick of the "x C" columns
TIMEOUT = 10.0

_OPENPAA_CONFIG = """<?xml version="1.0" encoding='ISO-8859-1'?>
<CONFIG>
  <IP_VERSION>4</IP_VERSION>
  <PAA>
    <INTERFACE>lo</INTERFACE>
    <PORT>{port}</PORT>
    <SESSION><TIMEOUT>100</TIMEOUT></SESSION>
    <ALGORITHMS><PRF>2</PRF><INTEGRITY>7</INTEGRITY></ALGORITHMS>
    <SERVER_CERTS><CA_CERT>ca.pem</CA_CERT><SERVER_CERT>server.pem</SERVER_CERT>
      <SERVER_KEY>server.key</SERVER_KEY></SERVER_CERTS>
    <TIMEOUT_CLIENT>3600</TIMEOUT_CLIENT>
    <TIME_ANSWER>3</TIME_ANSWER>
    <WORKERS>1</WORKERS>
    <AUTH_SERVER>
      <IP_VERSION_AUTH>4</IP_VERSION_AUTH>
      <AS_IP>{host}</AS_IP>
      <AS_PORT>{radius}</AS_PORT>
      <SHARED_SECRET>{secret}</SHARED_SECRET>
    </AUTH_SERVER>
    <PING_MECHANISM><PING_TIME>1</PING_TIME><NUMBER_PING>0</NUMBER_PING></PING_MECHANISM>
  </PAA>
</CONFIG>
"""


def hmac_cost(rounds: int = 200_000) -> float:
    """Seconds of CPU for one HMAC-SHA256 of 64 octets (the unit of docs/benchmarks.md)."""
    key, data = b"k" * 32, b"d" * 64
    start = time.process_time()
    for _ in range(rounds):
        hmac.digest(key, data, hashlib.sha256)
    return (time.process_time() - start) / rounds


def udp_bound(port: int) -> bool:
    """True when something in this namespace listens on UDP ``port``."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            if int(line.split()[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def wait_bound(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    """Wait until ``proc`` listens on UDP ``port``."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail}")
        if udp_bound(port):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} does not listen on UDP {port} after 20 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL, to the process's whole group (it was started in a new session)."""
    # A PANA_SBS_RUNNER such as strace or perf runs the PAA as its child: it must not outlive it.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(5)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # what is left of the group once the leader is gone


@dataclass
class Tally:
    """What the generator saw against one PAA, summed over its rounds."""

    ok: int = 0
    failures: int = 0
    wall: float = 0.0
    paa_cpu: float = 0.0
    aaa_cpu: float = 0.0
    paa_sys: float = 0.0
    paa_wakeups: int = 0
    latencies: list[float] = field(default_factory=list)
    crashed_after: list[int] = field(default_factory=list)
    """PaCs run against the PAA (all its processes) when one of its processes was found dead."""


def _exited(pid: int) -> bool:
    """True when the process is a zombie (exited, not yet reaped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")


def pac_addresses() -> Iterator[str]:
    """A loopback address per PaC, as real PaCs have, so per-source PCI limits do not apply."""
    while True:
        for n in range(1, 0xFFFF):
            yield f"127.1.{n >> 8}.{n & 0xFF or 1}"


_SOURCES = pac_addresses()


async def authenticate(paa: Address, tally: Tally) -> None:
    """One PaC: a new socket on its own address, one full EAP-PSK authentication, the session
    left open."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    peer = EapPeer(
        identity=IDENTITY.encode(),
        methods={PskPeer.method_type: lambda: PskPeer(IDENTITY.encode(), Secret(PSK))},
    )
    transport = await UdpTransport.bind(next(_SOURCES), 0)
    try:
        async with PacClient(PacSession(PacConfig(), paa=paa, eap=peer), transport) as client:
            await client.authenticate(timeout=TIMEOUT)
    except (ClientError, TimeoutError):
        tally.failures += 1
        return
    tally.ok += 1
    tally.latencies.append(loop.time() - start)


def run_round(paa: Address, count: int, pid: int, aaa: int, tally: Tally) -> None:
    """``count`` authentications one after another against the PAA ``pid`` (until it dies)."""
    cpu, aaa_cpu, wall = cpu_seconds(pid), cpu_seconds(aaa), time.monotonic()
    sys0, woke = cpu_split(pid)[1], wakeups(pid)
    loop = new_event_loop()
    try:
        for _ in range(count):
            if not Path(f"/proc/{pid}/stat").exists() or _exited(pid):
                # e.g. openpaa, on a PCI, after some dozens to hundreds of sessions
                tally.crashed_after.append(tally.ok + tally.failures)
                break
            loop.run_until_complete(authenticate(paa, tally))
    finally:
        loop.close()
    tally.wall += time.monotonic() - wall
    tally.paa_cpu += cpu_seconds(pid) - cpu
    if Path(f"/proc/{pid}/stat").exists():
        tally.paa_sys += cpu_split(pid)[1] - sys0
        tally.paa_wakeups += wakeups(pid) - woke
    tally.aaa_cpu += cpu_seconds(aaa) - aaa_cpu


def start_hostapd(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    """hostapd as RADIUS server on ``port`` with EAP-PSK for ``IDENTITY``.

    Each pass-through PAA gets its own: hostapd's RADIUS server holds at most 1,000 sessions,
    finished ones for 5 s (RADIUS_MAX_SESSION, RADIUS_SESSION_MAINTAIN in its radius_server.c),
    and two PAAs sharing one reached that and saw Access-Rejects.
    """
    (tmp / "clients").write_text(f"{HOST}/32 {RADIUS_SECRET}\n")
    (tmp / "eap_users").write_text(f'"{IDENTITY}" PSK {PSK.hex()}\n')
    conf = tmp / f"hostapd-{port}.conf"
    conf.write_text(
        "driver=none\ninterface=pasbs\nlogger_stdout=-1\nlogger_stdout_level=2\n"
        f"radius_server_clients={tmp / 'clients'}\nradius_server_auth_port={port}\n"
        f"eap_server=1\neap_user_file={tmp / 'eap_users'}\n"
    )
    log = tmp / f"hostapd-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [shutil.which("hostapd") or "hostapd", str(conf)],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    wait_bound(port, proc, "hostapd", log)
    return proc


def start_openpaa(binary: Path, tmp: Path) -> subprocess.Popen[bytes]:
    """OpenPANA's PAA with its stock settings but our ports; config.xml from its working dir."""
    work = tmp / "openpaa"
    work.mkdir(exist_ok=True)
    (work / "config.xml").write_text(
        _OPENPAA_CONFIG.format(
            port=OPENPAA_PORT, host=HOST, radius=RADIUS_PORT + 1, secret=RADIUS_SECRET
        )
    )
    log = tmp / "openpaa.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(binary)], cwd=work, stdout=out, stderr=out, start_new_session=True
        )
    wait_bound(OPENPAA_PORT, proc, "openpaa", log)
    return proc


def start_ours(tmp: Path, port: int = OURS_PORT, local: bool = False) -> subprocess.Popen[bytes]:
    """``pana-mpa paa`` in RADIUS pass-through to a hostapd (or, ``local``, its own
    EAP-PSK server), SHA-1 suite."""
    (tmp / "radius_secret").write_text(RADIUS_SECRET + "\n")
    (tmp / "users").write_text(f'"{IDENTITY}" PSK {PSK.hex()}\n')
    log = tmp / f"ours-{port}.log"
    cmd = [sys.executable, "-m", "pana_mpa", "paa"]
    if runner := os.environ.get("PANA_SBS_RUNNER"):  # e.g. a profiling wrapper script
        cmd[1:3] = [runner]
    cmd += ["--listen", f"{HOST}:{port}", "--suite", "sha1", "--lifetime", "3600"]
    cmd += [os.environ.get("PANA_SBS_VERBOSITY", "-q")]  # -vv: debug log in PANA_SBS_KEEP
    if local:
        cmd += ["--users", str(tmp / "users")]
    else:
        cmd += ["--radius", f"{HOST}:{RADIUS_PORT}"]
        cmd += ["--radius-secret-file", str(tmp / "radius_secret")]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)
    wait_bound(port, proc, "pana-mpa paa", log)
    return proc


def summary(tally: Tally, paa: subprocess.Popen[bytes], rss0: int, unit: float) -> dict[str, Any]:
    """One PAA's figures."""
    ok = max(tally.ok, 1)
    ordered = sorted(tally.latencies) or [float("nan")]
    return {
        "auths": tally.ok,
        "failures": tally.failures,
        "auth_per_s": tally.ok / tally.wall if tally.wall else 0.0,
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "max_ms": 1000 * ordered[-1],
        "paa_cpu_ms_per_auth": 1000 * tally.paa_cpu / ok,
        "paa_hmac_equiv_per_auth": tally.paa_cpu / ok / unit,
        "aaa_cpu_ms_per_auth": 1000 * tally.aaa_cpu / ok,
        # what authenticating a PaC costs the machine: the PAA and its EAP server (hostapd in
        # pass-through; our local EAP-PSK server is inside the PAA process)
        "with_eap_server_cpu_ms_per_auth": 1000 * (tally.paa_cpu + tally.aaa_cpu) / ok,
        "paa_sys_share": tally.paa_sys / tally.paa_cpu if tally.paa_cpu else float("nan"),
        "paa_wakeups_per_auth": tally.paa_wakeups / ok,
        "rss_bytes_per_held_session": (
            (rss_bytes(paa.pid) - rss0) / ok
            if paa.poll() is None and not tally.crashed_after
            else float("nan")  # a restarted PAA holds only the sessions since its restart
        ),
        "crashed_after": tally.crashed_after,
    }


def inside(openpaa: Path, auths: int, rounds: int, warmup: int) -> dict[str, Any]:
    """The measurement, in the namespace."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    unit = hmac_cost()
    with tempfile.TemporaryDirectory(prefix="pana-sbs-") as name:
        tmp = Path(name)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            aaa = start_hostapd(tmp, RADIUS_PORT)  # ours
            procs.append(aaa)
            aaa_theirs = start_hostapd(tmp, RADIUS_PORT + 1)
            procs.append(aaa_theirs)
            theirs = start_openpaa(openpaa, tmp)
            procs.append(theirs)
            ours = start_ours(tmp)
            procs.append(ours)
            local = start_ours(tmp, OURS_PORT + 1, local=True)
            procs.append(local)
            paas = {
                "pana-mpa": (ours, (HOST, OURS_PORT)),
                OPENPANA: (theirs, (HOST, OPENPAA_PORT)),
                "pana-mpa, local EAP-PSK server": (local, (HOST, OURS_PORT + 1)),
            }
            starts: dict[str, Callable[[], subprocess.Popen[bytes]]] = {
                "pana-mpa": lambda: start_ours(tmp),
                OPENPANA: lambda: start_openpaa(openpaa, tmp),
                "pana-mpa, local EAP-PSK server": lambda: start_ours(tmp, OURS_PORT + 1, True),
            }
            aaas = {  # the hostapd whose CPU counts for each PAA (the local one has none)
                (HOST, OURS_PORT): aaa.pid,
                (HOST, OPENPAA_PORT): aaa_theirs.pid,
                (HOST, OURS_PORT + 1): aaa.pid,
            }
            for proc, addr in paas.values():
                run_round(addr, warmup, proc.pid, aaas[addr], Tally())
            rss0 = {name: rss_bytes(proc.pid) for name, (proc, _) in paas.items()}
            tallies = {name: Tally() for name in paas}
            names = list(paas)
            for r in range(rounds):
                # each PAA takes each place in the round in turn: the first PAA of a round
                # measures cheaper (the machine has been quiet while the generator set up)
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    proc, addr = paas[name]
                    if proc.poll() is not None:  # it died in a round (counted there): restart
                        proc = starts[name]()
                        procs.append(proc)
                        paas[name] = (proc, addr)
                        run_round(addr, warmup, proc.pid, aaas[addr], Tally())
                    run_round(addr, auths // rounds, proc.pid, aaas[addr], tallies[name])
                print(f"round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
            figures = {
                name: summary(tallies[name], proc, rss0[name], unit)
                for name, (proc, _) in paas.items()
            }
        finally:
            for proc in reversed(procs):
                stop(proc)
            if keep := os.environ.get("PANA_SBS_KEEP"):  # a directory for the logs
                shutil.copytree(tmp, keep, dirs_exist_ok=True)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs",
        "load": Path("/proc/loadavg").read_text().split()[:3],
        "hmac_sha256_64_us": unit * 1e6,
        "auths_per_paa": auths,
        "paas": figures,
    }


def table(result: dict[str, Any]) -> str:
    """The figures as Markdown; "x C" columns: the ratio to OpenPANA's row of the same run."""
    rows = [
        "| PAA | auth/s | failures | p50 / p99 / max ms | PAA CPU ms/auth | x C | HMAC-eq/auth "
        "| kernel share | PAA sleeps/auth | hostapd CPU ms/auth | with EAP server ms/auth | x C "
        "| RSS B/held session |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    paas: dict[str, dict[str, Any]] = result["paas"]
    theirs = paas.get(OPENPANA)

    def versus(f: dict[str, Any], key: str) -> str:
        base = theirs[key] if theirs else 0.0
        return f"{f[key] / base:.2f}" if base > 0 else "-"

    for name, f in paas.items():
        with_aaa = f["with_eap_server_cpu_ms_per_auth"]
        rows.append(
            f"| {name} | {f['auth_per_s']:.0f} | {f['failures']} "
            f"| {f['p50_ms']:.1f} / {f['p99_ms']:.1f} / {f['max_ms']:.0f} "
            f"| {f['paa_cpu_ms_per_auth']:.2f} | {versus(f, 'paa_cpu_ms_per_auth')} "
            f"| {f['paa_hmac_equiv_per_auth']:.0f} "
            f"| {f['paa_sys_share']:.2f} | {f['paa_wakeups_per_auth']:.1f} "
            f"| {f['aaa_cpu_ms_per_auth']:.2f} | {with_aaa:.2f} "
            f"| {versus(f, 'with_eap_server_cpu_ms_per_auth')} "
            f"| {f['rss_bytes_per_held_session']:.0f} |"
            + (
                f" crashed after {', '.join(map(str, f['crashed_after']))} PaCs, restarted |"
                if f["crashed_after"]
                else ""
            )
        )
    load = ", ".join(result["load"])
    return "\n".join(rows) + f"\n\n{result['date']}, {result['machine']}, load {load}\n"


def main(argv: list[str] | None = None) -> int:
    """Create the namespace, run the measurement in it, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openpaa", type=Path, required=True, help="OpenPANA's openpaa binary")
    parser.add_argument("--auths", type=int, default=300, help="authentications per PAA")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # SIGTERM (e.g. from `timeout`) ends us through the finally clauses: namespace and processes
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.inside:
        result = inside(args.openpaa.resolve(), args.auths, args.rounds, args.warmup)
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    if os.geteuid() != 0:
        parser.error("needs root (a private network namespace)")
    if not args.openpaa.is_file():
        parser.error(f"{args.openpaa}: no such file")
    ns = f"pana-sbs-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "benchmarks.openpana_side_by_side"]
        cmd += ["--inside", "--openpaa", str(args.openpaa.resolve())]
        cmd += ["--auths", str(args.auths), "--rounds", str(args.rounds)]
        cmd += ["--warmup", str(args.warmup)]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            subprocess.run(["ip", "netns", "del", ns], check=False)
    result = json.loads(out.strip().splitlines()[-1])
    sys.stdout.write(json.dumps(result, indent=2) + "\n" if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

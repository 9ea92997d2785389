"""The PAA under load over real UDP: auth/s, failures, latency, PAA CPU and memory per session.

``python -m benchmarks.bench_paa [--concurrency 1 100 1000] [--seconds 10] [--workers 1 [2 ...]]
[--rounds R] [--replay PACS] [--virtual 10000]``

- The PAA (``PaaRunner`` on ``UdpTransport``, EAP-PSK, as ``pana-mpa paa``) runs in its own
  process (``--workers N``: N SO_REUSEPORT worker processes steered by Session-Id); this
  process is the load generator: ``concurrency`` PaCs at a time, each a new ``PacSession`` on
  a new UDP socket (its own loopback address, a new one every 32 PaCs: the PAA limits PCIs per
  address) doing one full EAP-PSK authentication (10 s timeout), then the next. The sessions
  stay open at the PAA, so its RSS growth over the run divided by the sessions it holds is the
  memory per open session.
- PAA CPU per authentication is the PAA process's CPU time (user + system, from
  /proc/<pid>/stat) over the run divided by the authentications completed; it is compared with
  the sans-IO PAA cost measured in this process (the same authentication pumped between a
  PacSession and a PaaServer in memory, PAA-side calls only) and with HMAC-SHA256 of 64 octets.
- The generator's own CPU is reported: when it is near one CPU-second per second, the
  generator, not the PAA, limits auth/s (the PaC side of EAP-PSK costs about what the PAA's
  does; two cores are shared by both).
- ``--replay PACS``: the replay generator (``benchmarks/replay_load.py``) instead: the PAA gets
  benchmark-only injected randomness (hidden ``--injected-rng``), PACS PaCs' datagrams are
  computed beforehand, and the run only sends them and compares the answers.
- Several ``--workers`` counts: each round runs them all (alternating order); the summary lines
  give the median ratios (CPU per authentication, auth/s) against the first count.
- ``--virtual N``: N concurrent PaCs against one PaaRunner on the in-memory loopback in
  virtual time (10 ms one-way delay): failures, PCIs shed by admission control, virtual
  seconds to finish, CPU per authentication (both sides, one process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eap.keys import Secret
from eap.methods.psk import PskPeer
from eap.peer import EapPeer
from eap.rng import Rng, system_rng
from pana_mpa import PaaConfig, PaaServer, PacConfig, PacSession, User, user_table
from pana_mpa.address import Address
from pana_mpa.aio import ClientError, PaaRunner, PacClient, new_event_loop
from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
from pana_mpa.aio.udp import UdpTransport

from .replay_load import InjectedRng, ReplayResult, pac_address, precompute, replay

PSK = Secret(b"bench-16-octets!")
IDENTITY = b"alice"
TIMEOUT = 10.0
HOST = "127.0.0.1"


def paa_server(index: int = 0, bits: int = 0, rng: Rng = system_rng) -> PaaServer:
    """The PAA of every figure: EAP-PSK standalone, default algorithms, system randomness.

    ``index``/``bits``: worker ``index`` of a WorkerPool (Session-Id bits name the worker).
    ``rng``: only the replay generator's runs inject one (``replay_load.InjectedRng``).
    """
    config = PaaConfig(worker_index=index, worker_bits=bits)
    users = user_table({IDENTITY: User("psk", PSK)}, rng=rng)
    return PaaServer(config, eap_factory=users, rng=rng)


def pac_session(paa: Address, rng: Callable[[int], bytes] = os.urandom) -> PacSession:
    """One PaC with EAP-PSK."""
    peer = EapPeer(
        identity=IDENTITY, methods={PskPeer.method_type: lambda: PskPeer(IDENTITY, PSK, rng)}
    )
    return PacSession(PacConfig(), paa=paa, eap=peer, rng=rng)


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (the ``fast`` extra; PANA_MPA_LOOP=asyncio: never), else asyncio's."""
    return new_event_loop()


# ---- baselines in this process ---------------------------------------------------------------


def hmac_cost(seconds: float = 0.3) -> float:
    """CPU seconds of one HMAC-SHA256 over 64 octets."""
    key, msg = b"k" * 32, b"m" * 64
    n, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        for _ in range(1000):
            hmac.new(key, msg, hashlib.sha256).digest()
        n += 1000
    return (time.process_time() - start) / n


def paa_step(
    server: PaaServer, sent: list[tuple[bytes, Address]], addr: Address, now: float
) -> list[tuple[bytes, Address]]:
    """What a runtime asks of the PAA core for one batch: feed, answers, events, timer."""
    for data, _ in sent:
        server.receive_datagram(data, addr, now)
    answers = server.datagrams_to_send(now)
    while server.next_event() is not None:
        pass
    server.get_timer()
    return answers


def sansio_paa_cost(count: int = 300, pause: float = 0.0) -> float:
    """CPU seconds the PAA core spends per full authentication (calls into PaaServer only).

    ``pause``: sleep this long before each PAA step, as a PAA serving one PaC at a time does
    between datagrams; on a shared machine the caches are then cold at every step.
    """
    paa_addr: Address = ("192.0.2.1", 716)
    server = paa_server()
    spent = 0.0
    clock = time.process_time
    for i in range(count):
        addr: Address = (f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 40000)
        pac = pac_session(paa_addr)
        now = float(i)
        pac.start(now)
        while True:
            sent = pac.datagrams_to_send(now)
            if not sent:
                break
            if pause:
                time.sleep(pause)
            t0 = clock()
            answers = paa_step(server, sent, addr, now)
            spent += clock() - t0
            for data, _ in answers:
                pac.receive_datagram(data, paa_addr, now)
        assert pac.has_key
    return spent / count


# ---- the PAA process ---------------------------------------------------------------------------


def worker_rng(seed: int | None, index: int) -> Rng:
    """The PAA's randomness: the system's, or (``--injected-rng``, replay runs only) injected."""
    return system_rng if seed is None else InjectedRng(seed, index)


def serve(port: int, workers: int, seed: int | None = None) -> None:
    """PAA process: serve on HOST:port; answer 'stats' lines on stdin with one JSON line.

    ``seed`` (the hidden ``--injected-rng``; benchmarks only, never production): every worker
    draws InjectedRng(seed, its index), so the replay generator can pre-compute its answers.
    """
    if workers > 1:
        serve_workers(port, workers, seed)
        return
    loop = new_loop()
    asyncio.set_event_loop(loop)

    async def main() -> None:
        transport = await UdpTransport.bind(HOST, port, receive_buffer=4 << 20)
        server = paa_server(rng=worker_rng(seed, 0))
        events: asyncio.Queue[Any] = asyncio.Queue()
        runner = PaaRunner(server, transport, events=events)
        task = asyncio.create_task(runner.run())

        def command() -> None:
            line = sys.stdin.readline()
            if not line or line.strip() == "quit":
                runner.stop()
                return
            while not events.empty():
                events.get_nowait()
            stats = process_stats(len(server), runner)
            stats["received"] = transport.received
            stats["batches"] = transport.batches
            stats["per_worker"] = [dict(stats)]
            sys.stdout.write(json.dumps(stats) + "\n")
            sys.stdout.flush()

        loop.add_reader(sys.stdin.fileno(), command)
        sys.stdout.write(json.dumps({"port": transport.local_address[1]}) + "\n")
        sys.stdout.flush()
        await task

    loop.run_until_complete(main())


def worker_server(index: int, bits: int, seed: int | None = None) -> PaaServer:
    """paa_server() as worker ``index`` of a WorkerPool (module level: pickled to the worker)."""
    return paa_server(index, bits, worker_rng(seed, index))


def serve_workers(port: int, workers: int, seed: int | None = None) -> None:
    """PAA as a WorkerPool; 'stats' sums the workers (and lists each one's counters)."""
    from pana_mpa.aio.workers import WorkerPool

    pool = WorkerPool(HOST, port, workers, functools.partial(worker_server, seed=seed))
    pool.start()
    try:
        sys.stdout.write(json.dumps({"port": pool.local_address[1]}) + "\n")
        sys.stdout.flush()
        for line in sys.stdin:
            if line.strip() != "stats":
                break
            per = pool.stats()
            keys = ["cpu", "sys", "rss", "sessions", "shed_pci", "received", "batches"]
            keys += ["sleeps", "preempted"]
            total: dict[str, Any] = {k: sum(w[k] for w in per) for k in keys}
            total["per_worker"] = per
            sys.stdout.write(json.dumps(total) + "\n")
            sys.stdout.flush()
    finally:
        pool.stop()


def process_stats(sessions: int, runner: PaaRunner[Any] | None) -> dict[str, Any]:
    """CPU seconds, RSS, sessions and admission counters of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/self/statm") as f:
        rss_pages = int(f.read().split()[1])
    stats: dict[str, Any] = {
        "cpu": usage.ru_utime + usage.ru_stime,
        "sys": usage.ru_stime,
        "rss": rss_pages * os.sysconf("SC_PAGE_SIZE"),
        "sessions": sessions,
        "sleeps": usage.ru_nvcsw,
        "preempted": usage.ru_nivcsw,
    }
    if runner is not None:
        stats["shed_pci"] = runner.stats.shed_pci
        stats["max_backlog"] = runner.stats.max_backlog
    return stats


class PaaProcess:
    """The PAA subprocess and its stats pipe."""

    def __init__(self, workers: int, seed: int | None = None) -> None:
        command = [sys.executable, "-m", "benchmarks.bench_paa", "--serve", "0"]
        command += ["--workers", f"{workers}"]
        if seed is not None:
            command += ["--injected-rng", f"{seed}"]
        self.proc = subprocess.Popen(  # noqa: S603 - our own module
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.port = int(json.loads(self.proc.stdout.readline())["port"])

    def stats(self) -> dict[str, Any]:
        """One stats snapshot (summed over workers, and per worker)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))

    def close(self) -> None:
        """Stop the PAA."""
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---- the load generator ------------------------------------------------------------------------


@dataclass
class Load:
    """What one run of the generator saw."""

    ok: int = 0
    failures: int = 0
    latencies: list[float] = field(default_factory=list)


async def one_pac(paa: Address, load: Load, number: int) -> None:
    """One PaC: new socket, full authentication, then leave the session open at the PAA.

    PaC ``number`` binds its own loopback address (127.78.x.y, a new one every 32 PaCs) and a
    free port: all PaCs on 127.0.0.1 would hit the PAA's per-address PCI limit (10/s).
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    transport = await UdpTransport.bind(pac_address(number, net=78)[0], 0)
    try:
        async with PacClient(pac_session(paa), transport) as client:
            await client.authenticate(timeout=TIMEOUT)
    except (ClientError, TimeoutError):
        load.failures += 1
        return
    load.ok += 1
    load.latencies.append(loop.time() - start)


async def generate(paa: Address, concurrency: int, seconds: float) -> tuple[Load, float]:
    """``concurrency`` PaCs at a time for ``seconds``; the load and the wall time it took."""
    load = Load()
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds

    numbers = iter(range(1 << 30))

    async def worker() -> None:
        while loop.time() < end:
            await one_pac(paa, load, next(numbers))

    start = loop.time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return load, loop.time() - start


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def paa_figures(
    before: dict[str, Any], after: dict[str, Any], ok: int, wall: float
) -> dict[str, Any]:
    """The PAA side of a run from two stats snapshots: CPU per auth, share, memory, spread."""
    cpu = after["cpu"] - before["cpu"]
    per_auth = cpu / ok if ok else float("nan")
    sessions = after["sessions"] - before["sessions"]
    received = after.get("received", 0) - before.get("received", 0)
    batches = after.get("batches", 0) - before.get("batches", 0)
    sleeps = after["sleeps"] - before["sleeps"]
    pairs = list(zip(before["per_worker"], after["per_worker"], strict=True))
    return {
        "auth_per_s": ok / wall,
        "paa_cpu_per_auth_ms": per_auth * 1e3,
        "paa_cpu_share": cpu / wall,
        "paa_system_share_of_cpu": (after["sys"] - before["sys"]) / cpu if cpu else 0.0,
        "bytes_per_session": (after["rss"] - before["rss"]) / sessions if sessions else 0.0,
        "shed_pci": after.get("shed_pci", 0) - before.get("shed_pci", 0),
        "wakeups": batches,
        "datagrams_per_auth": received / ok if ok else 0.0,
        "datagrams_per_wakeup": received / batches if batches else 0.0,
        "datagrams_per_sleep": received / sleeps if sleeps else 0.0,
        "preempted_per_auth": (after["preempted"] - before["preempted"]) / ok if ok else 0.0,
        "per_worker_sessions": [a["sessions"] - b["sessions"] for b, a in pairs],
        "per_worker_cpu_share": [round((a["cpu"] - b["cpu"]) / wall, 3) for b, a in pairs],
    }


def run_udp(concurrency: int, seconds: float, workers: int, sansio: float) -> dict[str, Any]:
    """One figure over real UDP: a fresh PAA process, the PaC generator here."""
    paa = PaaProcess(workers)
    try:
        before = paa.stats()
        gen_before = time.process_time()
        loop = new_loop()
        try:
            load, wall = loop.run_until_complete(generate((HOST, paa.port), concurrency, seconds))
        finally:
            loop.close()
        gen_cpu = time.process_time() - gen_before
        after = paa.stats()
    finally:
        paa.close()
    row: dict[str, Any] = {"concurrency": concurrency, "workers": workers, "generator": "pac"}
    row.update(paa_figures(before, after, load.ok, wall))
    row.update(
        failures=load.failures,
        p50_ms=percentile(load.latencies, 0.5) * 1e3,
        p99_ms=percentile(load.latencies, 0.99) * 1e3,
        vs_sansio=row["paa_cpu_per_auth_ms"] / 1e3 / sansio,
        generator_cpu_share=gen_cpu / wall,
    )
    if row["datagrams_per_wakeup"] < PACED_BELOW:
        row.update(paced_core(row, wall))
    return row


PACED_BELOW = 1.5
"""Datagrams per PAA wake-up under which a row also gets the core paced like the PAA was."""


def paced_core(row: dict[str, Any], wall: float) -> dict[str, Any]:
    """The sans-IO core with the idle gap the PAA process had between wake-ups in this run.

    When nearly every datagram is its own wake-up (one PaC at a time), the PAA sleeps between
    steps and finds its caches cold; the core alone pumped back to back is then no yardstick
    for the asyncio layer. This pumps the same core with a sleep of the run's mean idle gap
    (wall time minus PAA CPU, per wake-up) before each step, in this process, right after the
    run, and gives the PAA process's CPU per authentication as a ratio to that.
    """
    wakeups = row["wakeups"]
    cpu = row["paa_cpu_share"] * wall
    gap = max(0.0, (wall - cpu) / wakeups) if wakeups else 0.0
    paced = sansio_paa_cost(100, pause=gap)
    return {
        "idle_gap_per_wakeup_ms": gap * 1e3,
        "sansio_paced_ms": paced * 1e3,
        "vs_sansio_paced": row["paa_cpu_per_auth_ms"] / 1e3 / paced,
    }


REPLAY_SEED = 10
"""The injected-randomness seed of replay runs (any value; the PAA and the generator agree)."""


def replay_conversations(count: int, workers: int) -> list[Any]:
    """Pre-compute ``count`` PaCs' datagrams for a PAA of ``workers`` (offline, not timed)."""
    return precompute(count, workers, paa_server, seed=REPLAY_SEED, identity=IDENTITY, psk=PSK)


def run_replay(
    conversations: list[Any], concurrency: int, workers: int, sansio: float
) -> dict[str, Any]:
    """One figure with the replay generator: a fresh PAA process with injected randomness."""
    paa = PaaProcess(workers, seed=REPLAY_SEED)
    try:
        before = paa.stats()
        result: ReplayResult = replay((HOST, paa.port), conversations, concurrency, timeout=TIMEOUT)
        after = paa.stats()
    finally:
        paa.close()
    row: dict[str, Any] = {
        "concurrency": concurrency,
        "workers": workers,
        "generator": "replay",
        "pacs": len(conversations),
    }
    row.update(paa_figures(before, after, result.ok, result.wall))
    row.update(
        failures=result.failures,
        bind_failures=result.bind_failures,
        unexpected=result.unexpected,
        resent=result.resent,
        p50_ms=percentile(result.latencies, 0.5) * 1e3,
        p99_ms=percentile(result.latencies, 0.99) * 1e3,
        vs_sansio=row["paa_cpu_per_auth_ms"] / 1e3 / sansio,
        generator_cpu_share=result.cpu / result.wall,
        generator_cpu_per_auth_ms=result.cpu / max(1, result.ok) * 1e3,
        per_worker_auth=result.per_worker,
    )
    return row


def run_virtual_load(count: int) -> dict[str, Any]:
    """``count`` concurrent PaCs against one PaaRunner on the loopback, in virtual time."""

    async def main() -> dict[str, Any]:
        net = LoopbackNetwork(delay=0.01, queue_limit=1 << 20)
        paa_addr: Address = ("192.0.2.1", 716)
        runner = PaaRunner(paa_server(), net.endpoint(paa_addr))
        task = asyncio.create_task(runner.run())
        load = Load()
        loop = asyncio.get_running_loop()

        async def pac(i: int) -> None:
            start = loop.time()
            endpoint = net.endpoint((f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 40000))
            try:
                async with PacClient(pac_session(paa_addr), endpoint) as client:
                    await client.authenticate(timeout=TIMEOUT)
            except (ClientError, TimeoutError):
                load.failures += 1
                return
            load.ok += 1
            load.latencies.append(loop.time() - start)

        cpu = time.process_time()
        await asyncio.gather(*(pac(i) for i in range(count)))
        cpu = time.process_time() - cpu
        runner.stop()
        await task
        return {
            "concurrency": count,
            "ok": load.ok,
            "failures": load.failures,
            "shed_pci": runner.stats.shed_pci,
            "virtual_s": loop.time(),
            "p50_ms": percentile(load.latencies, 0.5) * 1e3,
            "p99_ms": percentile(load.latencies, 0.99) * 1e3,
            "cpu_per_auth_both_sides_ms": cpu / max(1, load.ok) * 1e3,
        }

    return run_virtual(main)


def _rounded(row: dict[str, Any]) -> str:
    return json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})


def compare_workers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per concurrency: median over rounds of each worker count's CPU/auth and auth/s ratios.

    The baseline is the first worker count of the same round (runs of a round alternate their
    order, so load that shifts during the run moves both sides alike).
    """
    out = []
    for concurrency in sorted({r["concurrency"] for r in rows}):
        same = [r for r in rows if r["concurrency"] == concurrency]
        counts = list(dict.fromkeys(r["workers"] for r in same))
        for workers in counts[1:]:
            cpu, rate = [], []
            for rnd in sorted({r["round"] for r in same}):
                base = [r for r in same if r["round"] == rnd and r["workers"] == counts[0]]
                this = [r for r in same if r["round"] == rnd and r["workers"] == workers]
                if base and this and base[0]["auth_per_s"] and this[0]["auth_per_s"]:
                    cpu.append(this[0]["paa_cpu_per_auth_ms"] / base[0]["paa_cpu_per_auth_ms"])
                    rate.append(this[0]["auth_per_s"] / base[0]["auth_per_s"])
            if cpu:
                out.append(
                    {
                        "concurrency": concurrency,
                        "workers": f"{workers} vs {counts[0]}",
                        "cpu_per_auth_ratio_median": statistics.median(cpu),
                        "cpu_per_auth_ratios": [round(x, 2) for x in cpu],
                        "auth_per_s_ratio_median": statistics.median(rate),
                        "auth_per_s_ratios": [round(x, 2) for x in rate],
                    }
                )
    return out


def main() -> None:
    """Run the figures and print one JSON object per line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 100, 1000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="worker counts; several: each round runs them all (alternating order) and the"
        " summary gives the median ratios against the first",
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--virtual", type=int, nargs="*", default=[10_000])
    parser.add_argument(
        "--replay",
        type=int,
        default=0,
        metavar="PACS",
        help="use the replay generator: PACS pre-computed PaCs per run (PAA with injected rng)",
    )
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    # benchmark-only: the PAA draws InjectedRng(seed, worker) (replay runs; never production)
    parser.add_argument("--injected-rng", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.workers[0], args.injected_rng)
        return
    hmac_s = hmac_cost()
    sansio = sansio_paa_cost()
    cold = sansio_paa_cost(60, pause=0.004)
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}",
        "python": platform.python_version(),
        "loop": type(new_loop()).__module__,
        "command": " ".join(["python -m benchmarks.bench_paa", *sys.argv[1:]]),
        "load_average": os.getloadavg(),
        "hmac_sha256_64B_us": hmac_s * 1e6,
        "sansio_paa_cpu_per_auth_ms": sansio * 1e3,
        "sansio_hmac_ratio": sansio / hmac_s,
        "sansio_cold_paa_cpu_per_auth_ms": cold * 1e3,
    }
    print(json.dumps(info), flush=True)
    conversations = {}
    if args.replay:
        for workers in args.workers:
            conversations[workers] = replay_conversations(args.replay, workers)
    rows = []
    for rnd in range(args.rounds):
        for concurrency in args.concurrency:
            order = args.workers if rnd % 2 == 0 else args.workers[::-1]
            for workers in order:
                load = os.getloadavg()[0]
                if args.replay:
                    row = run_replay(conversations[workers], concurrency, workers, sansio)
                else:
                    row = run_udp(concurrency, args.seconds, workers, sansio)
                row["hmac_ratio"] = row["paa_cpu_per_auth_ms"] / 1e3 / hmac_s
                row["round"] = rnd
                row["load_1min"] = load
                rows.append(row)
                print(_rounded(row), flush=True)
    for summary in compare_workers(rows):
        print(_rounded(summary), flush=True)
    for count in args.virtual:
        print(_rounded(run_virtual_load(count)), flush=True)


if __name__ == "__main__":
    main()

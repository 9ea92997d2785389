"""GC pauses and memory with 100,000 open EAP-PSK sessions in the sans-IO PAA (issue 10).

``python -m benchmarks.gc_pause [--sessions 10000 100000] [--churn 10000] [--traced 100000]
[--concurrency 1] [--modes default policy]``

- **Recording** (once, cached in a temporary directory keyed by the source of ``eap``,
  ``pana_codecs`` and ``pana_mpa``): full EAP-PSK authentications between a live PaC and a PAA,
  each conversation stored as the PaC's datagrams, its PTR (sent later), and the random octets the
  PAA drew for it. Replaying them into a fresh PAA whose ``rng`` plays those octets back makes it
  compute exactly what it computed while recording, at the PAA's cost only.
- **Two fresh processes per N** (tracemalloc off), one with the default GC, one with the
  runtime's policy from the start (``pana_mpa.aio.GcFreezer``, as ``PaaRunner.run()`` applies
  it: ``gc.freeze()`` after warm-up and after every ``GcPolicy.refreeze_after`` new sessions, the
  collection before each freeze included in the figures): every collection the interpreter
  runs while N sessions are opened, timed through ``gc.callbacks``; RSS before and after (RSS
  delta / N); GC-tracked objects per session; explicit full ``gc.collect()`` pauses (median and
  max of five); then steady traffic (``--churn`` new authentications, each followed by the PTR
  of the oldest open session, so N stays put) with every collection timed again;
  ``sys.getsizeof`` of one session's objects and of the PAA's tables per session.
  ``--concurrency K``: the N sessions are opened K at a time (one datagram of each in turn), so
  K sessions are in progress (EAP authenticator, nonces, outstanding requests) at every moment,
  as in ``bench_paa`` with K concurrent PaCs: what that leaves in RSS.
- **tracemalloc** in another fresh process (``--traced N``): bytes per open session.

Pauses are given as CPU time of the collecting thread (``time.thread_time``; on a shared machine
wall time mostly measures the neighbours) and as wall time next to it.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import pickle
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.bench_paa_core import SUITES, TapeRng, make_paa, make_pac, pac_address
from pana_mpa import Authenticated, PaaServer
from pana_mpa.address import Address
from pana_mpa.aio.gcpolicy import GcFreezer, GcPolicy

PAA_ADDR: Address = ("192.0.2.1", 716)
NOW = 1.0  # one instant: no timer fires, the cookie secret is drawn once (as while recording)
ROOT = Path(__file__).resolve().parent.parent

Conversation = tuple[Address, list[bytes], bytes, bytes]
"""PaC address, its datagrams up to PAN[C], its PTR, the PAA's random octets."""


def _source_digest() -> str:
    digest = hashlib.sha256()
    for package in ("eap", "pana_codecs", "pana_mpa"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.parent.name not in ("aio", "cli"):  # the sans-IO core is what is replayed
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def recording_path(suite: str, count: int, cache: Path) -> Path:
    """A cached recording of at least ``count`` conversations of this source tree, or where the
    new one goes."""
    digest = _source_digest()
    for path in cache.glob(f"gc-pause-{suite}-*-{digest}.pickle"):
        if int(path.name.split("-")[3]) >= count:
            return path
    return cache / f"gc-pause-{suite}-{count}-{digest}.pickle"


def record(suite_name: str, count: int, path: Path) -> None:
    """Record ``count`` conversations (authentication, then a PTR) into ``path``."""
    suite = SUITES[suite_name]
    rng = TapeRng(11)
    rng.log = bytearray()
    paa = make_paa(suite, rng)
    pac_rng = random.Random(12)  # noqa: S311 - benchmark input
    tmp = path.with_suffix(".partial")
    start = time.process_time()
    with tmp.open("wb") as out:
        for i in range(count):
            addr = pac_address(i, net=10)
            first = len(rng.log)
            pac = make_pac(suite, i, pac_rng)
            pac.start(NOW)
            datagrams: list[bytes] = []
            while sent := pac.datagrams_to_send(NOW):
                for data, _dst in sent:
                    datagrams.append(data)
                    paa.receive_datagram(data, addr, NOW)
                for data, dst in paa.datagrams_to_send(NOW):
                    if dst == addr:
                        pac.receive_datagram(data, PAA_ADDR, NOW)
            assert pac.has_key, "authentication failed while recording"
            tape = bytes(rng.log[first:])
            pac.terminate(NOW)
            (ptr, _), *rest = pac.datagrams_to_send(NOW)
            assert not rest
            paa.receive_datagram(ptr, addr, NOW)  # the PAA stays small; a PTR draws nothing
            paa.datagrams_to_send(NOW)
            assert len(rng.log) == first + len(tape)
            while paa.next_event() is not None:
                pass
            pickle.dump((addr, datagrams, ptr, tape), out, protocol=5)
            if (i + 1) % 10000 == 0:
                cpu = time.process_time() - start
                print(f"  recorded {i + 1:,} conversations ({cpu:,.0f} CPU-s)", flush=True)
    tmp.rename(path)


def conversations(path: Path) -> Iterator[Conversation]:
    """The recorded conversations, streamed (the recording is never held in memory)."""
    with path.open("rb") as src:
        while True:
            try:
                yield pickle.load(src)  # noqa: S301 - our own file
            except EOFError:
                return


class Replayer:
    """Feeds recorded conversations into one fresh PAA, in recording order."""

    def __init__(self, suite: str, path: Path) -> None:
        self.rng = TapeRng(0)
        self.paa: PaaServer = make_paa(SUITES[suite], self.rng)
        self._source = conversations(path)
        self.opened: list[tuple[Address, bytes]] = []  # (address, PTR) of open sessions
        self._oldest = 0

    def open(self, count: int, freezer: GcFreezer | None = None) -> None:
        """Authenticate the next ``count`` recorded PaCs."""
        paa, rng = self.paa, self.rng
        receive, send, event = paa.receive_datagram, paa.datagrams_to_send, paa.next_event
        for _ in range(count):
            addr, datagrams, ptr, tape = next(self._source)
            rng.tape, rng.pos = tape, 0
            for data in datagrams:
                receive(data, addr, NOW)
                send(NOW)
            while (ev := event()) is not None:
                if freezer is not None and isinstance(ev, Authenticated):
                    freezer.settled()  # what PaaRunner counts
            if rng.pos != len(tape):
                raise SystemExit("the replay diverged from the recording: delete the cache")
            self.opened.append((addr, ptr))
        rng.tape = None

    def open_concurrently(self, count: int, window: int, freezer: GcFreezer | None = None) -> None:
        """Authenticate the next ``count`` recorded PaCs, ``window`` of them in progress at once
        (one datagram of each in turn), as a PAA serving that many PaCs at a time sees them."""
        paa, rng = self.paa, self.rng
        receive, send, event = paa.receive_datagram, paa.datagrams_to_send, paa.next_event
        active: list[list[Any]] = []  # [address, datagrams, PTR, tape, next datagram, tape pos]
        started = 0
        while started < count or active:
            while started < count and len(active) < window:
                active.append([*next(self._source), 0, 0])
                started += 1
            still: list[list[Any]] = []
            for conv in active:
                addr, datagrams, ptr, tape, step, pos = conv
                rng.tape, rng.pos = tape, pos
                receive(datagrams[step], addr, NOW)
                send(NOW)
                conv[4], conv[5] = step + 1, rng.pos
                if step + 1 < len(datagrams):
                    still.append(conv)
                    continue
                if rng.pos != len(tape):
                    raise SystemExit("the replay diverged from the recording: delete the cache")
                self.opened.append((addr, ptr))
            while (ev := event()) is not None:
                if freezer is not None and isinstance(ev, Authenticated):
                    freezer.settled()
            active = still
        rng.tape = None

    def end_oldest(self) -> None:
        """The PTR of the oldest open session."""
        addr, ptr = self.opened[self._oldest]
        self.opened[self._oldest] = (addr, b"")
        self._oldest += 1
        self.paa.receive_datagram(ptr, addr, NOW)
        self.paa.datagrams_to_send(NOW)
        while self.paa.next_event() is not None:
            pass


def rss_bytes() -> int:
    """Resident set size of this process now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class CollectionTimer:
    """Each collection the interpreter runs, timed through gc.callbacks: (generation, cpu, wall)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float, float]] = []
        self._start = (0.0, 0.0)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = (time.thread_time(), time.perf_counter())
        else:
            cpu, wall = self._start
            self.pauses.append(
                (info["generation"], time.thread_time() - cpu, time.perf_counter() - wall)
            )

    def __enter__(self) -> CollectionTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def summary(self) -> dict[str, Any]:
        """Count, median and max pause (ms) per generation."""
        out: dict[str, Any] = {}
        for gen in range(3):
            cpu = [c * 1e3 for g, c, _ in self.pauses if g == gen]
            wall = [w * 1e3 for g, _, w in self.pauses if g == gen]
            if cpu:
                out[f"gen{gen}"] = {
                    "count": len(cpu),
                    "cpu_median_ms": round(statistics.median(cpu), 3),
                    "cpu_max_ms": round(max(cpu), 3),
                    "wall_max_ms": round(max(wall), 3),
                }
        return out


def full_collections(times: int = 5) -> dict[str, float]:
    """``times`` full collections: median and max, CPU and wall, ms."""
    cpu, wall = [], []
    for _ in range(times):
        c, w = time.thread_time(), time.perf_counter()
        gc.collect()
        cpu.append((time.thread_time() - c) * 1e3)
        wall.append((time.perf_counter() - w) * 1e3)
    return {
        "cpu_median_ms": round(statistics.median(cpu), 2),
        "cpu_max_ms": round(max(cpu), 2),
        "wall_median_ms": round(statistics.median(wall), 2),
        "wall_max_ms": round(max(wall), 2),
    }


def session_sizes(paa: PaaServer) -> dict[str, int]:
    """``sys.getsizeof`` of one open session's own objects and the PAA's tables, per session."""
    sessions = iter(paa)
    session = next(sessions)
    sizes: dict[str, int] = {}
    seen: set[int] = set()
    shared: set[int] = set()

    def mark(obj: object, depth: int) -> None:  # another session's objects: shared if the same
        if depth > 3 or isinstance(obj, type) or id(obj) in shared:
            return
        shared.add(id(obj))
        for cls in type(obj).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                value = getattr(obj, slot, None)
                if value is not None and not isinstance(value, (bool, int, float)):
                    mark(value, depth + 1)

    mark(next(sessions), 0)

    def walk(name: str, obj: object, depth: int) -> None:
        if id(obj) in seen or id(obj) in shared or depth > 3 or isinstance(obj, type):
            return
        seen.add(id(obj))
        sizes[name] = sys.getsizeof(obj)
        slots = [s for cls in type(obj).__mro__ for s in getattr(cls, "__slots__", ())]
        for slot in slots:
            value = getattr(obj, slot, None)
            if value is None or isinstance(value, (bool, int, float)):
                continue
            walk(f"{name}.{slot}", value, depth + 1)

    walk("session", session, 0)
    n = len(paa)
    for name in dir(paa):
        value = getattr(paa, name, None)
        if isinstance(value, (dict, list, set)) and len(value) >= n // 2:
            sizes[f"PaaServer.{name} (per session)"] = sys.getsizeof(value) // max(1, n)
    return sizes


def child_rss(args: argparse.Namespace) -> dict[str, Any]:
    """Open N sessions in this fresh process; RSS, tracked objects, GC pauses (see module doc).

    ``--child policy``: the runtime's GC policy from the start, as PaaRunner.run() applies it
    (freeze after warm-up, then after every ``refreeze_after`` new sessions); ``default``: none.
    """
    n, churn = args.child_n, args.churn
    path = Path(args.recording)
    warm = Replayer(args.suite, path)
    warm.open(50)
    del warm
    gc.collect()
    freezer = (
        GcFreezer(GcPolicy(refreeze_after=args.refreeze_after)) if args.child == "policy" else None
    )
    rss0, objects0 = rss_bytes(), len(gc.get_objects())
    replayer = Replayer(args.suite, path)
    first_freeze = None
    if freezer is not None:
        with CollectionTimer() as timer:
            freezer.start()  # what PaaRunner.run() does first
        first_freeze = timer.summary()
    with CollectionTimer() as opening:
        start = time.process_time()
        if args.concurrency > 1:
            replayer.open_concurrently(n, args.concurrency, freezer)
        else:
            replayer.open(n, freezer)
        open_cpu = time.process_time() - start
    if freezer is not None:
        gc.unfreeze()  # to count the tracked objects
    gc.collect()
    rss1, objects1 = rss_bytes(), len(gc.get_objects())
    if freezer is not None:
        gc.freeze()
    assert len(replayer.paa) == n
    out: dict[str, Any] = {
        "gc": args.child,
        "sessions": n,
        "concurrency": args.concurrency,
        "open_cpu_s": round(open_cpu, 1),
        "rss_before_mb": round(rss0 / 2**20, 1),
        "rss_after_mb": round(rss1 / 2**20, 1),
        "rss_per_session_b": round((rss1 - rss0) / n),
        "tracked_objects_per_session": round((objects1 - objects0) / n, 2),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "start_freeze": first_freeze,
        "collections_while_opening": opening.summary(),
        "full_collect": full_collections(),
    }
    if churn:
        with CollectionTimer() as timer:
            for _ in range(churn):
                replayer.open(1, freezer)
                replayer.end_oldest()
        out["collections_during_churn"] = timer.summary()
        out["full_collect_after_churn"] = full_collections()
    if freezer is not None:
        out["freezes"] = freezer.freezes
        freezer.stop()
    out["rss_end_mb"] = round(rss_bytes() / 2**20, 1)
    out["sizes"] = session_sizes(replayer.paa)
    return out


def child_traced(args: argparse.Namespace) -> dict[str, Any]:
    """tracemalloc bytes per open session for N sessions, in this fresh process."""
    n, path = args.child_n, Path(args.recording)
    warm = Replayer(args.suite, path)
    warm.open(50)
    del warm
    gc.collect()
    tracemalloc.start()
    replayer = Replayer(args.suite, path)
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    replayer.open(n)
    replayer.opened = []  # the benchmark's own list of (address, PTR) is not the PAA's
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"sessions": n, "tracemalloc_per_session_b": round((after - before) / n)}


def run_child(args: argparse.Namespace, mode: str, n: int, recording: Path) -> dict[str, Any]:
    """Run this module in a fresh process for one measurement; its JSON result."""
    cmd = [sys.executable, "-m", "benchmarks.gc_pause", "--child", mode, "--child-n", str(n),
           "--recording", str(recording), "--suite", args.suite, "--churn", str(args.churn),
           "--refreeze-after", str(args.refreeze_after),
           "--concurrency", str(args.concurrency)]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)  # noqa: S603
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    """Record once, then measure each N in a fresh process and print JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--churn", type=int, default=10000)
    parser.add_argument(
        "--concurrency", type=int, default=1, help="PaCs in progress at once while opening"
    )
    parser.add_argument("--traced", type=int, nargs="*", default=[100000])
    parser.add_argument("--suite", choices=list(SUITES), default="sha256")
    parser.add_argument("--refreeze-after", type=int, default=GcPolicy().refreeze_after)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "pana-bench")
    parser.add_argument("--record-only", action="store_true")
    parser.add_argument("--modes", nargs="+", choices=["default", "policy"],
                        default=["default", "policy"])  # fmt: skip
    parser.add_argument("--child", choices=["default", "policy", "traced"], help=argparse.SUPPRESS)
    parser.add_argument("--child-n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--recording", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child_traced(args) if args.child == "traced" else child_rss(args)
        sys.stdout.write(json.dumps(result) + "\n")
        return
    print(f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()};"
          f" load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    count = max([*args.sessions, *args.traced, 0]) + args.churn * 2 + 100
    args.cache.mkdir(parents=True, exist_ok=True)
    path = recording_path(args.suite, count, args.cache)
    if not path.exists():
        print(f"recording {count:,} conversations into {path}", flush=True)
        record(args.suite, count, path)
    if args.record_only:
        return
    for n in args.sessions:
        for mode in args.modes:
            result = run_child(args, mode, n, path)
            print(json.dumps(result), f"load {os.getloadavg()[0]:.1f}", flush=True)
    for n in args.traced:
        result = run_child(args, "traced", n, path)
        print(json.dumps(result), f"load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()

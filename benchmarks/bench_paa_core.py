"""The sans-IO PAA alone: CPU per full EAP-PSK authentication, memory per session, GC pause.

``python -m benchmarks.bench_paa_core [--open 1 1000 10000 100000] [--memory 10000 100000]``

- **Cost.** PaC datagrams of full authentications (PCI ... PAN[C], EAP-PSK) are recorded once,
  together with every random octet the PAA drew; they are then replayed into a PAA whose ``rng``
  plays the same octets back, so the PAA computes exactly what it computed while recording and
  only the PAA's work is timed (no PaC, no network model). The cost is reported in HMAC-SHA256
  over 64 octets (``benchmarks._timing.reference_op``) timed in the same rounds, for a PAA that
  holds 1 open session and for PAAs that hold N open sessions (flatness).
- **Memory.** N sessions authenticated and held open (tracemalloc, after ``gc.collect()``), bytes
  per open session; then each PaC terminates (PTR/PTA), the linger passes with no traffic
  (only ``handle_timer`` at ``get_timer()``), and the bytes still retained per ended session.
- **GC.** The time of one full ``gc.collect()`` with N sessions open, before and after
  ``gc.freeze()`` (what a long-running PAA does after warm-up).
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks._timing import reference_op
from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import PskPeer, PskServer
from eap.peer import EapPeer
from pana_mpa import PaaConfig, PaaServer, PacConfig, PacSession
from pana_mpa.address import Address

PAA: Address = ("192.0.2.1", 716)
SUITES = {"sha1": (2, 7), "sha256": (5, 12)}
PSK = Secret(b"bench-16-octets!")
SERVER_ID = b"pana-mpa"


class TapeRng:
    """The PAA's randomness: live from a seeded generator (optionally logged), or a replay."""

    def __init__(self, seed: int) -> None:
        self._live = random.Random(seed).randbytes  # noqa: S311 - benchmark input
        self.log: bytearray | None = None
        self.tape: bytes | None = None
        self.pos = 0

    def __call__(self, n: int) -> bytes:
        if self.tape is not None:
            out = self.tape[self.pos : self.pos + n]
            self.pos += n
            return out
        out = self._live(n)
        if self.log is not None:
            self.log += out
        return out


def _lookup(identity: bytes) -> Secret | None:
    return PSK if identity.startswith(b"user") else None


def make_paa(suite: tuple[int, int], rng: Callable[[int], bytes], **config: object) -> PaaServer:
    """A standalone EAP-PSK PAA offering exactly ``suite``; all its randomness from ``rng``."""

    def authenticator() -> EapAuthenticator:
        return EapAuthenticator(
            methods=lambda _identity: [lambda: PskServer(SERVER_ID, _lookup, rng)], rng=rng
        )

    prf, integrity = suite
    cfg = PaaConfig(prf_algorithms=(prf,), integrity_algorithms=(integrity,), **config)  # type: ignore[arg-type]
    return PaaServer(cfg, eap_factory=authenticator, rng=rng)


def make_pac(suite: tuple[int, int], i: int, rng: random.Random) -> PacSession:
    """PaC number ``i`` (identity ``user<i>``) accepting exactly ``suite``."""
    identity = b"user%d" % i
    peer = EapPeer(
        identity=identity,
        methods={PskPeer.method_type: lambda: PskPeer(identity, PSK, rng.randbytes)},
    )
    prf, integrity = suite
    config = PacConfig(prf_algorithms=(prf,), integrity_algorithms=(integrity,))
    return PacSession(config, paa=PAA, eap=peer, rng=rng.randbytes)


def pac_address(i: int, net: int = 10) -> Address:
    """A distinct PaC address per index."""
    return (f"{net}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", 40000)


def pump(
    pac: PacSession,
    addr: Address,
    paa: PaaServer,
    now: float,
    record: list[bytes] | None = None,
    terminate: bool = False,
) -> None:
    """Carry datagrams between one PaC and the PAA until both are quiet (events consumed)."""
    pac.start(now)
    for phase in range(2 if terminate else 1):
        if phase:
            pac.terminate(now)
        while sent := pac.datagrams_to_send(now):
            for data, _dst in sent:
                if record is not None:
                    record.append(data)
                paa.receive_datagram(data, addr, now)
            for data, dst in paa.datagrams_to_send(now):
                if dst == addr:
                    pac.receive_datagram(data, PAA, now)
        while paa.next_event() is not None:
            pass
    assert pac.has_key or terminate


@dataclass
class Recording:
    """PaC datagrams of ``count`` authentications and the PAA's random octets for each."""

    suite: tuple[int, int]
    seed: int = 1
    conversations: list[tuple[Address, list[bytes], int]] = field(default_factory=list)
    tape: bytes = b""


def record(suite: tuple[int, int], count: int, seed: int = 1) -> Recording:
    """Run ``count`` authentications against a fresh PAA, logging what a replay needs."""
    rng = TapeRng(seed)
    rng.log = bytearray()
    paa = make_paa(suite, rng)
    pac_rng = random.Random(seed + 1)  # noqa: S311 - benchmark input
    rec = Recording(suite, seed)
    for i in range(count):
        addr = pac_address(i, net=172)
        start = len(rng.log)
        datagrams: list[bytes] = []
        pump(make_pac(suite, i, pac_rng), addr, paa, 0.0, datagrams)
        rec.conversations.append((addr, datagrams, start))
    rec.tape = bytes(rng.log)
    return rec


def replay(rec: Recording, paa: PaaServer, rng: TapeRng, first: int, count: int) -> None:
    """Feed conversations ``first .. first+count`` into ``paa`` (its rng set to the tape)."""
    rng.tape, rng.pos = rec.tape, rec.conversations[first][2]
    receive, send, event = paa.receive_datagram, paa.datagrams_to_send, paa.next_event
    for addr, datagrams, _start in rec.conversations[first : first + count]:
        for data in datagrams:
            receive(data, addr, 1.0)
            send(1.0)
        while event() is not None:
            pass
    rng.tape = None


def _check_replay(rec: Recording, paa: PaaServer, first: int, count: int) -> None:
    held = {s.peer: s for s in paa}
    for addr, _datagrams, _start in rec.conversations[first : first + count]:
        session = held.get(addr)
        assert session is not None and session.has_key, "the replay diverged from the recording"


def load(paa: PaaServer, suite: tuple[int, int], n: int, *, terminate: bool = False) -> None:
    """Authenticate ``n`` live PaCs against ``paa`` (PaC state dropped afterwards)."""
    pac_rng = random.Random(n)  # noqa: S311 - benchmark input
    for i in range(n):
        pump(make_pac(suite, i, pac_rng), pac_address(i), paa, i * 1e-4, terminate=terminate)


def cost(suite: tuple[int, int], opens: list[int], rounds: int, per_round: int) -> None:
    """Print the PAA's cost per authentication in reference HMACs, per open-session count."""
    # conversation 0's random draws begin with the cookie secret, which a loaded PAA already
    # holds: the rounds into a loaded PAA replay conversations 1 .. rounds * per_round
    rec = record(suite, rounds * per_round + 1)
    base: float | None = None
    for n in opens:
        # The loaded PAA draws its PCI cookie secret first, as the recording PAA did: the same
        # seed gives it the same secret, so the recorded PAN[S] answer its cookies (s4.1).
        rng = TapeRng(rec.seed)
        loaded = make_paa(suite, rng) if n > 1 else None
        if loaded is not None:
            load(loaded, suite, n - 1)
            # what PaaRunner's GC policy does after warm-up: the open sessions leave the
            # collector's generations, so a full collection does not scan them (docs/benchmarks.md)
            gc.collect()
            gc.freeze()
        costs, refs = [], []
        for r in range(rounds):
            paa = loaded if loaded is not None else make_paa(suite, rng)
            first = 1 + r * per_round if loaded is not None else 0
            ref_start = time.process_time()
            ref_count = 0
            while time.process_time() - ref_start < 0.2:
                for _ in range(1000):
                    reference_op()
                ref_count += 1000
            ref_cost = (time.process_time() - ref_start) / ref_count
            start = time.process_time()
            replay(rec, paa, rng, first, per_round)
            elapsed = time.process_time() - start
            _check_replay(rec, paa, first, per_round)
            costs.append(elapsed / per_round / ref_cost)
            refs.append(ref_cost)
        if loaded is not None:
            gc.unfreeze()
            del loaded
            gc.collect()
        ratio = statistics.median(costs)
        base = base or ratio
        per_auth_us = ratio * statistics.median(refs) * 1e6
        print(
            f"  {n:>7} open: {ratio:6.0f} HMAC-SHA256(64 B) per authentication"
            f" ({per_auth_us:,.0f} us; {ratio / base:.2f}x the 1-session cost;"
            f" rounds {min(costs):.0f}-{max(costs):.0f})",
            flush=True,
        )


def _traced(fn: Callable[[], object]) -> int:
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    fn()
    gc.collect()
    return tracemalloc.get_traced_memory()[0] - before


def memory(suite: tuple[int, int], n: int, linger: float) -> None:
    """Bytes per open session, bytes retained per ended session after the linger, GC pause."""
    rng = TapeRng(7)
    warm = make_paa(suite, rng)
    load(warm, suite, 3)
    del warm
    gc.collect()
    base_pause, base_objects = _gc_pause(), len(gc.get_objects())
    tracemalloc.start()
    try:
        paa = make_paa(suite, rng, closed_linger=linger)
        open_bytes = _traced(lambda: load(paa, suite, n))
        assert len(paa) == n
        print(f"  N={n}: {open_bytes / n:,.0f} B per open session (tracemalloc)", flush=True)
    finally:
        tracemalloc.stop()
    gc.collect()
    tracked = (len(gc.get_objects()) - base_objects) / n
    pause = _gc_pause()
    gc.freeze()
    frozen = _gc_pause()
    gc.unfreeze()
    print(
        f"  N={n}: {tracked:.1f} GC-tracked objects per session; full gc.collect(): "
        f"{pause * 1e3:,.1f} ms with them open ({base_pause * 1e3:,.1f} ms before),"
        f" {frozen * 1e3:,.1f} ms after gc.freeze()",
        flush=True,
    )
    del paa
    gc.collect()
    tracemalloc.start()
    try:
        paa = make_paa(suite, rng, closed_linger=linger)
        ended = _traced(lambda: load(paa, suite, n, terminate=True))

        def idle() -> None:
            while (deadline := paa.get_timer()) is not None:
                paa.handle_timer(deadline)

        retained = ended + _traced(idle)
        assert len(paa) == 0
        print(
            f"  N={n}: ended sessions: {ended / n:,.0f} B each during the linger,"
            f" {retained / n:,.1f} B each retained after it (no traffic)",
            flush=True,
        )
    finally:
        tracemalloc.stop()


def _gc_pause() -> float:
    """Median of three full collections, CPU seconds (wall time on a shared machine mostly
    measures the neighbours)."""
    times = []
    for _ in range(3):
        start = time.thread_time()
        gc.collect()
        times.append(time.thread_time() - start)
    return statistics.median(times)


def main() -> None:
    """Print the PAA's cost per authentication, its memory per session and the GC pause."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--open", type=int, nargs="+", default=[1, 1000, 10000])
    parser.add_argument("--memory", type=int, nargs="*", default=[10000])
    parser.add_argument("--suites", nargs="+", choices=list(SUITES), default=list(SUITES))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=100)
    parser.add_argument("--linger", type=float, default=240.0)
    args = parser.parse_args()
    print(f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}")
    for name in args.suites:
        suite = SUITES[name]
        print(f"sans-IO PAA, EAP-PSK, {name} (PRF {suite[0]} / AUTH {suite[1]})", flush=True)
        cost(suite, args.open, args.rounds, args.per_round)
        for n in args.memory:
            memory(suite, n, args.linger)


if __name__ == "__main__":
    main()

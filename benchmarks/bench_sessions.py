"""PANA sessions: authentications per second (virtual time) and PAA memory per open session.

``python -m benchmarks.bench_sessions [--seconds S] [--rounds R] [--sessions 1000 10000]``

Each number comes with a baseline measured in the same process, so the ratios travel between
machines better than the raw numbers:

- Rate: a full PaC<->PAA authentication (PCI, PAR/PAN[S], EAP-Identity and the four EAP-PSK
  messages in PAR/PAN, PAR/PAN[C] with AUTH; RFC 5191 s4.1-4.3) in virtual time, sans-IO, once
  through ``VirtualNet`` and once through a bare datagram pump, divided by the cost of the bare
  EAP conversation it carries (``EapPeer`` <-> ``EapAuthenticator``: Identity, EAP-PSK 1-4,
  Success) -- the "PANA overhead factor".
- Memory: one ``PaaServer`` holding N authenticated sessions open (tracemalloc, after
  ``gc.collect()``; the PaCs are dropped as soon as they are authenticated, and the PAA's events
  are consumed as an application would), per session, against a dict of N session ids mapped
  to an empty object (the least any session table costs).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from functools import partial

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import PskPeer, PskServer
from eap.peer import EapPeer
from pana_mpa import PaaConfig, PaaServer, PacConfig, PacSession, VirtualNet
from pana_mpa.address import Address

PAA: Address = ("192.0.2.1", 716)
SUITES = {"sha1 (PRF 2 / AUTH 7)": (2, 7), "sha256 (PRF 5 / AUTH 12)": (5, 12)}
PSK = Secret(b"bench-16-octets!")
IDENTITY = b"alice"
SERVER_ID = b"pana-mpa"


class Bench:
    """Seeded factories for both ends (one ``random.Random``: reproducible runs)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - benchmark input, not key material

    def peer(self) -> EapPeer:
        """The PaC's EAP peer with EAP-PSK."""
        return EapPeer(
            identity=IDENTITY,
            methods={PskPeer.method_type: lambda: PskPeer(IDENTITY, PSK, self.rng.randbytes)},
        )

    def authenticator(self) -> EapAuthenticator:
        """The PAA's standalone EAP-PSK authenticator (as ``pana-mpa paa --method psk``)."""

        def lookup(identity: bytes) -> Secret | None:
            return PSK if identity == IDENTITY else None

        return EapAuthenticator(
            methods=lambda _identity: [lambda: PskServer(SERVER_ID, lookup, self.rng.randbytes)],
            rng=self.rng.randbytes,
        )

    def paa(self, suite: tuple[int, int]) -> PaaServer:
        """A PAA offering exactly one suite."""
        prf, integrity = suite
        config = PaaConfig(prf_algorithms=(prf,), integrity_algorithms=(integrity,))
        return PaaServer(config, eap_factory=self.authenticator, rng=self.rng.randbytes)

    def pac(self, suite: tuple[int, int]) -> PacSession:
        """A PaC accepting exactly one suite."""
        prf, integrity = suite
        config = PacConfig(prf_algorithms=(prf,), integrity_algorithms=(integrity,))
        return PacSession(config, paa=PAA, eap=self.peer(), rng=self.rng.randbytes)


def bare_eap(bench: Bench) -> None:
    """The baseline: one EAP-PSK conversation, peer <-> authenticator, no PANA around it."""
    peer, auth = bench.peer(), bench.authenticator()
    packet = auth.start().packet
    while packet is not None:
        answer = peer.receive(packet).response
        if answer is None:
            break
        packet = auth.receive(answer).packet
        if auth.result is not None and packet is not None:
            peer.receive(packet)  # EAP Success
            break
    assert auth.result is not None and auth.result.success and peer.result is not None


def pana_over_virtualnet(bench: Bench, suite: tuple[int, int]) -> None:
    """One full authentication through ``VirtualNet`` (1 ms latency, virtual clock)."""
    net = VirtualNet(seed=1)
    pac = bench.pac(suite)
    net.add(("192.0.2.10", 40000), pac)
    net.add(PAA, bench.paa(suite))
    pac.start(0.0)
    net.run_until(lambda: pac.has_key, 5.0)
    assert pac.has_key


def pump(pac: PacSession, addr: Address, paa: PaaServer, now: float) -> None:
    """Carry datagrams between one PaC at ``addr`` and the PAA until both are quiet.

    The PAA's events are consumed once the PaC is done, as an application would.
    """
    pac.start(now)
    while True:
        sent = pac.datagrams_to_send(now)
        for data, _dst in sent:
            paa.receive_datagram(data, addr, now)
        if not sent:
            break
        for data, dst in paa.datagrams_to_send(now):
            if dst == addr:
                pac.receive_datagram(data, PAA, now)
    while paa.next_event() is not None:  # an application consumes the PAA's events
        pass
    assert pac.has_key


def pana_pumped(bench: Bench, suite: tuple[int, int]) -> None:
    """One full authentication through the bare pump (no network model)."""
    pump(bench.pac(suite), ("192.0.2.10", 40000), bench.paa(suite), 0.0)


def rate_of(fn: Callable[[], object], seconds: float) -> float:
    """Calls per CPU-second over about ``seconds`` of CPU.

    Process time, not wall time: the code is single-threaded and never waits (virtual time),
    and on a shared machine wall time mostly measures the neighbours.
    """
    count = 0
    start = time.process_time()
    while (elapsed := time.process_time() - start) < seconds:
        fn()
        count += 1
    return count / elapsed


def interleaved(
    baseline: Callable[[], object],
    cases: dict[str, Callable[[], object]],
    seconds: float,
    rounds: int,
) -> tuple[float, dict[str, tuple[float, float]]]:
    """Median baseline rate, and per case (median rate, median of per-round cost ratios).

    Each round times the baseline and then every case, so a ratio compares runs made moments
    apart: the neighbours' load on a shared machine shifts both alike.
    """
    base_rates: list[float] = []
    rates: dict[str, list[float]] = {name: [] for name in cases}
    ratios: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        base = rate_of(baseline, seconds)
        base_rates.append(base)
        for name, fn in cases.items():
            rate = rate_of(fn, seconds)
            rates[name].append(rate)
            ratios[name].append(base / rate)
    result = {n: (statistics.median(rates[n]), statistics.median(ratios[n])) for n in cases}
    return statistics.median(base_rates), result


def pac_address(i: int) -> Address:
    """A distinct PaC address per session: 10.x.y.z, port 40000."""
    return (f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", 40000)


def loaded_paa(
    bench: Bench, suite: tuple[int, int], n: int, progress: bool = False
) -> tuple[PaaServer, float]:
    """A PAA holding ``n`` authenticated sessions open, and its traced bytes per session."""
    for i in range(3):  # warm caches (construct parsers, hash objects) outside the measurement
        pump(bench.pac(suite), pac_address(n + i), bench.paa(suite), 0.0)
    gc.collect()
    tracemalloc.start()
    try:
        paa = bench.paa(suite)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            pump(bench.pac(suite), pac_address(i), paa, i * 1e-3)
            if progress and (i + 1) % 1000 == 0:
                print(f"    ... {i + 1} sessions, {time.process_time():.0f} CPU-s", flush=True)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    held = sum(1 for _ in paa)
    assert held == n, f"the PAA holds {held} sessions, not {n}"
    return paa, (after - before) / n


def extra_rate(
    bench: Bench, suite: tuple[int, int], paa: PaaServer, count: int, first: int = 0
) -> float:
    """Authentications per CPU-second of ``count`` further PaCs against ``paa`` as it is."""
    start = time.process_time()
    for i in range(first, first + count):
        pump(bench.pac(suite), pac_address((1 << 24) + i), paa, 1e6 + i * 1e-3)
    return count / (time.process_time() - start)


def loaded_cost_ratio(
    bench: Bench, suite: tuple[int, int], paa: PaaServer, rounds: int = 5, count: int = 40
) -> tuple[float, float, float]:
    """(median rate on ``paa``, on a PAA that starts empty, median per-round cost ratio).

    Rounds alternate between the two PAAs; the "empty" one holds ``rounds * count`` sessions
    at most by the end.
    """
    empty = bench.paa(suite)
    loaded_rates, empty_rates, ratios = [], [], []
    for r in range(rounds):
        e = extra_rate(bench, suite, empty, count, r * count)
        loaded = extra_rate(bench, suite, paa, count, r * count)
        empty_rates.append(e)
        loaded_rates.append(loaded)
        ratios.append(e / loaded)
    return (
        statistics.median(loaded_rates),
        statistics.median(empty_rates),
        statistics.median(ratios),
    )


def dict_bytes_per_entry(n: int) -> float:
    """The baseline: a dict of ``n`` 32-bit session ids, each mapped to an empty object."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        table = {0x10000000 + i: object() for i in range(n)}
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(table) == n
    return (after - before) / n


def main() -> None:
    """Print the rates, the memory per session, and their ratios to the baselines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="CPU-seconds of one timed run")
    parser.add_argument(
        "--sessions",
        type=int,
        nargs="+",
        default=[1000],
        help="open sessions held by one PAA (default 1000)",
    )
    parser.add_argument(
        "--memory-suites",
        nargs="+",
        choices=["sha1", "sha256"],
        default=["sha1", "sha256"],
        help="suites for the memory runs",
    )
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (median)")
    parser.add_argument("--seed", type=int, default=5191)
    args = parser.parse_args()
    bench = Bench(args.seed)

    print(f"Authentications per CPU-second (virtual time, median of {args.rounds} rounds)")
    cases: dict[str, Callable[[], object]] = {}
    for name, suite in SUITES.items():
        cases[f"{name}, VirtualNet"] = partial(pana_over_virtualnet, bench, suite)
        cases[f"{name}, bare pump"] = partial(pana_pumped, bench, suite)
    eap_rate, results = interleaved(partial(bare_eap, bench), cases, args.seconds, args.rounds)
    print(f"  baseline: bare EAP-PSK conversation (Identity, PSK 1-4, Success): {eap_rate:,.0f}/s")
    for case, (rate, ratio) in results.items():
        print(f"  PANA+EAP-PSK {case}: {rate:,.0f}/s = {ratio:.2f}x the bare EAP cost")

    print("PAA memory per open session (tracemalloc), and the auth rate with them open")
    for n in args.sessions:
        base = dict_bytes_per_entry(n)
        print(f"  N={n}: baseline dict[int, object] entry: {base:,.0f} B")
        for name, suite in SUITES.items():
            if name.split()[0] not in args.memory_suites:
                continue
            start = time.process_time()
            paa, per = loaded_paa(bench, suite, n, progress=n >= 5000)
            built = time.process_time() - start
            print(
                f"  N={n}: PaaServer, EAP-PSK, {name}: {per:,.0f} B/session"
                f" = {per / base:.1f}x the dict entry ({built:,.0f} CPU-s to open them)"
            )
            loaded, empty, ratio = loaded_cost_ratio(bench, suite, paa)
            print(
                f"  N={n}: 5 x 40 more authentications: {loaded:,.0f}/s with {n} open vs"
                f" {empty:,.0f}/s on a PAA that starts empty (cost ratio {ratio:.2f})"
            )


if __name__ == "__main__":
    main()

"""The replay load generator of ``benchmarks/bench_paa.py`` (``benchmarks/replay_load.py``).

Counts only. The PAA's injected randomness must not depend on the order of the draws, the
pre-computed conversations must be what a PAA with that randomness answers, and a replay over
real UDP against PAA processes (one, and two SO_REUSEPORT workers) must authenticate every PaC
with no unexpected datagram.
"""

from __future__ import annotations

import functools
import socket
import threading

from benchmarks.bench_paa import (
    HOST,
    REPLAY_SEED,
    PaaProcess,
    compare_workers,
    paa_server,
    replay_conversations,
    worker_server,
)
from benchmarks.replay_load import InjectedRng, pac_address, replay
from pana_mpa.aio.workers import WorkerPool
from tests.realcomponents import linux_only


def test_injected_rng_is_the_same_whatever_the_order() -> None:
    a, b = InjectedRng(7, 0), InjectedRng(7, 0)
    first = [a(n) for n in (32, 1, 16, 4, 2, 32)]
    second = [b(n) for n in (2, 4, 16, 1, 32, 32)]
    assert first[0] == first[5] == second[4] == second[5]
    assert sorted(first) == sorted(second)
    assert [len(x) for x in first] == [32, 1, 16, 4, 2, 32]
    assert a.calls == b.calls == 6
    assert InjectedRng(7, 1)(16) != a(16) != InjectedRng(8, 0)(16)


def test_pac_addresses_are_distinct_and_share_an_ip_at_most_32_times() -> None:
    addresses = [pac_address(i) for i in range(1000)]
    assert len(set(addresses)) == 1000
    per_ip: dict[str, int] = {}
    for host, _port in addresses:
        assert host.startswith("127.77.")
        per_ip[host] = per_ip.get(host, 0) + 1
    assert max(per_ip.values()) == 32


def test_precomputed_conversations_are_what_the_injected_paa_answers() -> None:
    conversations = replay_conversations(12, 2)
    assert len(conversations) == 12
    assert len({c.addr for c in conversations}) == 12
    for worker in (0, 1):
        # one PAA holding every session, fed in reverse order and interleaved: the answers
        # still equal the recorded ones, byte for byte (the randomness is order-independent)
        rng = InjectedRng(REPLAY_SEED, worker)
        paa = paa_server(worker, 1, rng)
        matched = 0
        for step in range(6):
            for conv in reversed(conversations):
                paa.receive_datagram(conv.sends[worker][step], conv.addr, 1.0)
                answers = [d for d, dst in paa.datagrams_to_send(1.0) if dst == conv.addr]
                expected = conv.expects[worker][step : step + 1]
                assert answers == list(expected)
                matched += len(answers)
            while paa.next_event() is not None:
                pass
        assert matched == 12 * 5
        assert len(paa) == 12 and all(s.has_key for s in paa)
        assert {s.session_id >> 31 for s in paa} == {worker}
        assert rng.calls > 0
    # the PAR[S] names the worker; the PCI is the same for both
    for conv in conversations:
        assert conv.first == {conv.expects[0][0]: 0, conv.expects[1][0]: 1}
        assert conv.sends[0][0] == conv.sends[1][0]


@linux_only
def test_replay_resends_answers_repeats_and_counts_the_unexpected() -> None:
    """A scripted PAA: drops each PaC's first PCI, sends its PAR[S] twice, and some junk."""
    conversations = replay_conversations(3, 2)
    answers = {}  # (PaC datagram, PaC address) -> the worker-1 PAA's answer
    for conv in conversations:
        for sent, answer in zip(conv.sends[1], conv.expects[1], strict=False):
            answers[sent, conv.addr] = answer
    paa = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    paa.bind((HOST, 0))
    paa.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        seen: dict[tuple[bytes, tuple[str, int]], int] = {}
        pci = conversations[0].sends[1][0]  # the same 16 octets for every PaC
        while not done.is_set():
            try:
                data, addr = paa.recvfrom(4096)
            except TimeoutError:
                continue
            count = seen[data, addr] = seen.get((data, addr), 0) + 1
            answer = answers.get((data, addr))
            if answer is None or count != (2 if data == pci else 1):
                continue  # the first PCI of every PaC is lost; repeats go unanswered
            paa.sendto(answer, addr)
            if data == pci:  # PAR[S] twice, then junk
                paa.sendto(answer, addr)
                paa.sendto(b"junk", addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = replay(paa.getsockname(), conversations, 3, timeout=60)
    finally:
        done.set()
        thread.join()
        paa.close()
    assert (result.ok, result.failures, result.per_worker) == (3, 0, [0, 3])
    assert result.resent == 3  # each lost PCI, once
    assert result.duplicates == 3  # each repeated PAR[S] answered again (the scripted PAA
    assert result.unexpected == 3  # ignores the repeated PAN[S]); each junk datagram
    assert result.sent == 3 * (6 + 1 + 1) and result.received == 3 * (5 + 2)
    assert result.send_errors == 0


@linux_only
def test_replay_over_udp_against_one_paa_process() -> None:
    conversations = replay_conversations(20, 1)
    paa = PaaProcess(1, seed=REPLAY_SEED)  # the hidden --injected-rng option
    try:
        result = replay((HOST, paa.port), conversations, 5, timeout=60)
        stats = paa.stats()
    finally:
        paa.close()
    assert (result.ok, result.failures, result.bind_failures) == (20, 0, 0)
    assert result.unexpected == 0 and result.per_worker == [20]
    assert len(result.latencies) == 20
    assert result.sent >= 20 * 6 and result.received >= 20 * 5
    assert stats["sessions"] == 20


@linux_only
def test_replay_over_udp_against_two_workers() -> None:
    conversations = replay_conversations(40, 2)
    pool = WorkerPool(HOST, 0, 2, functools.partial(worker_server, seed=REPLAY_SEED))
    pool.start()
    try:
        result = replay(pool.local_address, conversations, 10, timeout=60)
        per_worker = pool.stats()
    finally:
        pool.stop()
    assert (result.ok, result.failures, result.unexpected) == (40, 0, 0)
    assert sum(result.per_worker) == 40
    assert [w["sessions"] for w in per_worker] == result.per_worker
    # the kernel's 4-tuple hash spreads 40 PCIs over both workers (chance of all on one: 2^-39)
    assert min(result.per_worker) > 0


def test_worker_comparison_takes_the_median_of_same_round_ratios() -> None:
    def row(rnd: int, workers: int, cpu: float, rate: float) -> dict[str, object]:
        return {"concurrency": 100, "round": rnd, "workers": workers,
                "paa_cpu_per_auth_ms": cpu, "auth_per_s": rate}  # fmt: skip

    rows = [row(0, 1, 1.0, 100), row(0, 2, 1.2, 150), row(1, 2, 0.9, 90), row(1, 1, 1.0, 100)]
    rows += [row(2, 1, 2.0, 50), row(2, 2, 2.0, 100)]
    (summary,) = compare_workers(rows)
    assert summary["workers"] == "2 vs 1"
    assert summary["cpu_per_auth_ratios"] == [1.2, 0.9, 1.0]
    assert summary["cpu_per_auth_ratio_median"] == 1.0
    assert summary["auth_per_s_ratios"] == [1.5, 0.9, 2.0]
    assert summary["auth_per_s_ratio_median"] == 1.5

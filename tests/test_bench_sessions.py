"""``benchmarks/bench_sessions.py`` still runs what it claims to measure (no timing asserted)."""

from __future__ import annotations

import pytest

from benchmarks.bench_sessions import (
    SUITES,
    Bench,
    bare_eap,
    dict_bytes_per_entry,
    extra_rate,
    loaded_cost_ratio,
    loaded_paa,
    pana_over_virtualnet,
    pana_pumped,
)


@pytest.mark.parametrize("suite", list(SUITES.values()), ids=list(SUITES))
def test_each_measured_operation_completes(suite: tuple[int, int]) -> None:
    bench = Bench(1)
    bare_eap(bench)  # each asserts its own success (keys on both ends)
    pana_over_virtualnet(bench, suite)
    pana_pumped(bench, suite)


def test_memory_run_holds_the_sessions_it_counts() -> None:
    bench = Bench(2)
    paa, per_session = loaded_paa(bench, (5, 12), 5)
    assert sum(1 for _ in paa) == 5
    assert {s.has_key for s in paa} == {True}
    assert per_session > dict_bytes_per_entry(100) > 0
    assert extra_rate(bench, (5, 12), paa, count=2) > 0
    assert sum(1 for _ in paa) == 7
    loaded, empty, ratio = loaded_cost_ratio(bench, (5, 12), paa, rounds=2, count=2)
    assert loaded > 0 and empty > 0 and ratio > 0
    assert sum(1 for _ in paa) == 11

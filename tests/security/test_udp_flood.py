"""The PCI flood over real UDP from spoofed sources, in namespaces (benchmarks.udp_flood, short).

Only relations that hold on a loaded 2-core machine: the legitimate PaC authenticates while the
flood runs, the PAA's RSS grows by less than a generous constant, and nothing crashed in it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.realcomponents import need_binary, need_root

pytestmark = [pytest.mark.flood, pytest.mark.netns]

RSS_GROWTH_LIMIT = 8 << 20
"""Octets the PAA may grow by over the whole run; a per-source state would take far more."""


def test_legitimate_pac_authenticates_during_a_spoofed_udp_flood(tmp_path: Path) -> None:
    need_root()
    need_binary("ip")
    from benchmarks.udp_flood import run_benchmark

    result = run_benchmark(
        [2000], duration=2.0, baseline_runs=1, min_runs=1, pool=1 << 17, workdir=tmp_path
    )
    before, flood, after = result["phases"]
    assert before["legit_ok"] == before["legit_runs"] == 1
    # the attacker ran before, during and after the legitimate PaC's whole run
    assert flood["sent"] >= 2000, flood
    assert flood["paa_counters"]["received"] >= 1000, flood
    assert flood["legit_ok"] >= 1, flood["legit"]
    assert after["legit_ok"] == after["legit_runs"], after["legit"]
    peak = max(p["rss_peak"] for p in result["phases"])
    assert peak - before["rss_before"] < RSS_GROWTH_LIMIT, [p["rss_peak"] for p in result["phases"]]
    stderr = result["paa_stderr"]
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr[-2000:]

"""MPA vs non-MPA handover in the namespace testbed: packets lost and outage (root).

Each run builds the lab of tests/mpa_lab.py afresh (MN, radio APs, R1, R2 = PAA + AR + DHCP relay,
dnsmasq, core, CN), streams UDP from the CN to the MN every ``--interval`` seconds, performs one
handover and reports what the MN's meter saw. Scenarios:

- ``non-mpa-ping``: move, DHCP through the relay with dnsmasq's ping check (its duplicate-address
  detection), PANA authentication, binding update (the draft's non-MPA case)
- ``non-mpa``: the same with ``--no-ping``
- ``mpa``: RFC 6252 s6.3 with MpaController and MpaAgent, no buffering at the AR
- ``mpa-buffer``: the same with the AR buffering during the switch (RFC 6252 s7.6)

``python -m benchmarks.handover [--runs 3] [--interval 0.01] [--scenario ...] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

SCENARIOS = ("non-mpa-ping", "non-mpa", "mpa", "mpa-buffer")


def run_once(scenario: str, interval: float, bu_delay: float = 0.0) -> dict[str, Any]:
    """One handover in a fresh lab; its summary."""
    from tests.mpa_lab import MpaLab, mpa_handover, non_mpa_handover
    from tests.netns import Lab

    base = Lab()
    try:
        with tempfile.TemporaryDirectory(prefix="pana-handover-") as tmp:
            lab = MpaLab(base, Path(tmp)).build()
            lab.start_dhcp_server(ping_check=scenario == "non-mpa-ping")
            if scenario.startswith("non-mpa"):
                lab.start_relay()
                result = asyncio.run(non_mpa_handover(lab, interval=interval, bu_delay=bu_delay))
            else:
                buffering = scenario == "mpa-buffer"
                result = asyncio.run(
                    mpa_handover(lab, buffering=buffering, interval=interval, bu_delay=bu_delay)
                )
            return result.summary()
    finally:
        base.close()


def _stats(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} [{min(values):.0f}-{max(values):.0f}]"


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios and print a table (or JSON lines)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.handover", description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--interval", type=float, default=0.01, help="stream spacing in seconds")
    ap.add_argument("--scenario", choices=SCENARIOS, action="append")
    ap.add_argument(
        "--bu-delay",
        type=float,
        default=0.0,
        help="seconds until a binding update takes effect at the CN (a distant CN/home agent)",
    )
    ap.add_argument("--json", action="store_true", help="one JSON object per run")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (network namespaces, TUN, raw sockets)", file=sys.stderr)
        return 2
    scenarios = args.scenario or list(SCENARIOS)
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in scenarios}
    failures: list[str] = []
    for _ in range(args.runs):
        for s in scenarios:
            try:
                summary = run_once(s, args.interval, args.bu_delay)
            except Exception as exc:  # report and go on: one bad run must not hide the others
                failures.append(f"{s}: {exc}")
                print(f"{s}: FAILED: {exc}", file=sys.stderr, flush=True)
                continue
            rows[s].append(summary)
            if args.json:
                print(json.dumps({"scenario": s, **summary}, default=str), flush=True)
    if args.json:
        return 1 if failures else 0
    print(
        f"stream: one UDP packet every {args.interval * 1000:g} ms, binding updates take "
        f"{args.bu_delay * 1000:g} ms at the CN, {args.runs} runs each"
    )
    print("median [min-max]")
    print(f"{'scenario':<14}{'lost':>20}{'outage ms':>22}{'handover ms':>22}")
    for s, runs in rows.items():
        if not runs:
            print(f"{s:<14}{'(every run failed)':>20}")
            continue
        lost = [float(r["lost"]) for r in runs]
        gap = [float(r["longest_gap_ms"]) for r in runs]
        done = [float(r["completion_ms"]) for r in runs]
        print(f"{s:<14}{_stats(lost):>20}{_stats(gap):>22}{_stats(done):>22}")
    print("lost: packets the MN never received; outage: longest gap between arrivals;")
    print("handover: move -> binding update acknowledged (non-MPA) / buffer flushed (MPA)")
    if failures:
        print(f"{len(failures)} failed runs (see stderr)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

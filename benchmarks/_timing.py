"""Shared timing for the benchmarks: rates, and a reference workload measured in the same run.

The machines are shared and noisy, so every benchmark reports its case against a baseline run
interleaved with it: ``ratio`` is the case's rate over the reference's rate (the reference is one
HMAC-SHA256 of 64 octets, a C-implemented operation), which moves far less with the load than the
rates themselves.
"""

from __future__ import annotations

import hashlib
import hmac
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Measurement", "measure", "rate", "reference_op"]

_KEY = bytes(range(32))
_MSG = bytes(64)


def reference_op() -> None:
    """The baseline workload: one HMAC-SHA256 over 64 octets."""
    hmac.new(_KEY, _MSG, hashlib.sha256).digest()


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls of ``fn`` per second over about ``seconds``."""
    count = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        count += 1
    return count / elapsed


@dataclass(frozen=True, slots=True)
class Measurement:
    """Median rate of a case and of the reference, and the median of the per-round ratios."""

    rate: float
    reference: float
    ratio: float

    def __str__(self) -> str:
        return (f"{self.rate:12,.0f}/s   = 1/{1 / self.ratio:,.0f} of the reference "
                f"({self.reference:,.0f} HMAC-SHA256/s)")  # fmt: skip


def measure(fn: Callable[[], object], seconds: float, rounds: int = 3) -> Measurement:
    """Interleave ``rounds`` runs of the reference and of ``fn``; medians and per-round ratio."""
    rates, refs, ratios = [], [], []
    for _ in range(rounds):
        ref = rate(reference_op, seconds / 4)
        got = rate(fn, seconds)
        rates.append(got)
        refs.append(ref)
        ratios.append(got / ref)
    return Measurement(statistics.median(rates), statistics.median(refs), statistics.median(ratios))

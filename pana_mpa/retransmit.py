"""Retransmission timers of RFC 5191 s9 (RFC 3315 model) with RAND from the injected rng."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PCI_TIMERS", "REQ_TIMERS", "Retransmitter", "TimerParameters", "rand_from"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerParameters:
    """IRT/MRT/MRC/MRD of one message kind (RFC 5191 s9); 0 for MRC/MRD means unlimited."""

    irt: float
    """Initial retransmission timeout, seconds."""
    mrt: float
    """Maximum retransmission timeout, seconds (0: no maximum)."""
    mrc: int
    """Maximum retransmissions (0: unlimited)."""
    mrd: float
    """Maximum total duration, seconds (0: unlimited)."""

    def __post_init__(self) -> None:
        if self.irt <= 0 or self.mrt < 0 or self.mrc < 0 or self.mrd < 0:
            raise ValueError("retransmission timers must be positive (IRT) or non-negative")


PCI_TIMERS = TimerParameters(irt=1.0, mrt=120.0, mrc=0, mrd=0.0)
"""PCI_IRT 1 s, PCI_MRT 120 s, PCI_MRC 0, PCI_MRD 0 (RFC 5191 s9)."""
REQ_TIMERS = TimerParameters(irt=1.0, mrt=30.0, mrc=10, mrd=0.0)
"""REQ_IRT 1 s, REQ_MRT 30 s, REQ_MRC 10, REQ_MRD 0 (RFC 5191 s9)."""


def rand_from(rng: Callable[[int], bytes]) -> float:
    """RAND uniform in [-0.1, +0.1] from two random octets (RFC 3315 s14; need not be crypto)."""
    value = int.from_bytes(rng(2), "big") / 0xFFFF
    return -0.1 + 0.2 * value


class Retransmitter:
    """One outstanding message's timer: RT doubling with jitter, MRT cap, MRC/MRD limits."""

    __slots__ = ("_rng", "count", "deadline", "params", "rt", "started")

    def __init__(self, params: TimerParameters, rng: Callable[[int], bytes], now: float) -> None:
        self.params = params
        self._rng = rng
        self.started = now
        self.count = 0
        """Retransmissions done so far."""
        self.rt = params.irt + rand_from(rng) * params.irt
        self.deadline = now + self.rt

    def expired(self) -> bool:
        """True when no retransmission may follow (MRC reached); check at a deadline."""
        return self.params.mrc != 0 and self.count >= self.params.mrc

    def backoff(self, now: float) -> bool:
        """Count one retransmission and compute the next RT; False when MRC/MRD forbid it."""
        p = self.params
        if self.expired() or (p.mrd != 0 and now - self.started >= p.mrd):
            return False
        self.count += 1
        rt = 2 * self.rt + rand_from(self._rng) * self.rt
        if p.mrt != 0 and rt > p.mrt:
            rt = p.mrt + rand_from(self._rng) * p.mrt
        self.rt = rt
        deadline = now + rt
        if p.mrd != 0:
            # the last wait ends exactly at MRD (RFC 3315 s14)
            deadline = min(deadline, self.started + p.mrd)
        self.deadline = deadline
        return True

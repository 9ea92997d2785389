"""The runtime's garbage-collection policy: short GC pauses with 100,000 sessions open (issue 10).

CPython's cyclic collector visits every tracked object of the generations it collects; a full
collection with N open sessions costs about 2 us of CPU per session (some 200 ms at N = 100,000,
docs/benchmarks.md). Open sessions are long-lived and form no reference cycles, so they are freed
by reference counting alone and the collector has nothing to find in them. ``gc.freeze()`` moves
every tracked object into the permanent generation, which collections skip: frozen objects are
still freed by reference counting, but a frozen object that later becomes part of cyclic garbage
is never collected (until ``gc.unfreeze()``). Hence the policy:

- ``gc.freeze()`` when the runner starts (after start-up and the imports: the interpreter's and
  the application's long-lived objects), after collecting the young generations only, so the
  start costs no full collection of whatever heap the application has (cyclic garbage already in
  the oldest generation then stays frozen until the runner stops: a one-time amount);
- ``gc.collect()`` then ``gc.freeze()`` after every ``refreeze_after`` new or re-keyed sessions
  (Authenticated/Reauthenticated events). A collection visits only what was not frozen yet (at
  most the sessions settled since the last freeze and the runtime's garbage), so its pause stays
  bounded whatever the number of open sessions, and nothing that is garbage then gets frozen;
- ``gc.unfreeze()`` when the runner stops, so a process that goes on to do other things
  (a test suite) gets its normal collector back and frozen garbage is found by the next full
  collection;
- thresholds are left alone unless ``threshold`` is given: young collections only visit young
  objects (medians of 0.05-1.6 ms of CPU with 100,000 sessions open, docs/benchmarks.md).
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass

__all__ = ["GcFreezer", "GcPolicy"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class GcPolicy:
    """When the runtime freezes the long-lived objects out of the cyclic collector's way."""

    freeze: bool = True
    """``gc.freeze()`` at start and after every ``refreeze_after`` sessions; False: gc untouched."""
    refreeze_after: int = 2000
    """New or re-authenticated sessions between two freezes (the collection before each freeze
    visits about these sessions and what they left: a median of 3-16 ms of CPU at 2,000, with
    10,000-100,000 sessions open on the loaded machine of docs/benchmarks.md)."""
    threshold: tuple[int, int, int] | None = None
    """``gc.set_threshold()`` while the runner runs (restored when it stops); None: unchanged."""
    unfreeze_on_stop: bool = True
    """``gc.unfreeze()`` when the runner stops (the process gets its normal collector back)."""

    def __post_init__(self) -> None:
        if self.refreeze_after < 1:
            raise ValueError("GcPolicy.refreeze_after must be at least 1")


class GcFreezer:
    """Applies a GcPolicy: ``start()``, ``settled()`` per new session, ``stop()``."""

    def __init__(self, policy: GcPolicy | None = None) -> None:
        self.policy = policy if policy is not None else GcPolicy()
        self.freezes = 0
        """gc.freeze() calls made."""
        self.collected = 0
        """Unreachable objects found by the collections made before freezing."""
        self._since = 0
        self._saved_threshold: tuple[int, int, int] | None = None
        self._running = False

    def start(self) -> None:
        """The runner starts: set the thresholds, freeze what start-up made."""
        if self._running:
            return
        self._running = True
        if self.policy.threshold is not None:
            self._saved_threshold = gc.get_threshold()
            gc.set_threshold(*self.policy.threshold)
        if self.policy.freeze:
            self.freeze_now(generation=1)

    def settled(self, count: int = 1) -> None:
        """``count`` sessions were authenticated or re-keyed: freeze again when due."""
        if not (self._running and self.policy.freeze):
            return
        self._since += count
        if self._since >= self.policy.refreeze_after:
            self.freeze_now()

    def freeze_now(self, generation: int = 2) -> None:
        """Collect what is garbage now (only unfrozen objects of generations up to
        ``generation`` are visited), then freeze everything."""
        self._since = 0
        found = gc.collect(generation)
        gc.freeze()
        self.freezes += 1
        self.collected += found
        logger.debug("gc.freeze(): %d objects frozen, %d unreachable found", gc.get_freeze_count(),
                     found)  # fmt: skip

    def stop(self) -> None:
        """The runner stops: unfreeze (if the policy says so) and restore the thresholds."""
        if not self._running:
            return
        self._running = False
        if self.freezes and self.policy.unfreeze_on_stop:
            gc.unfreeze()
        if self._saved_threshold is not None:
            gc.set_threshold(*self._saved_threshold)
            self._saved_threshold = None

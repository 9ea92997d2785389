"""VirtualNet: an in-memory network in virtual time for sans-IO PANA nodes (tests, demos)."""

from __future__ import annotations

import heapq
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..address import Address
from ..events import PanaEvent

__all__ = ["Datagram", "SansIoNode", "VirtualNet"]

logger = logging.getLogger(__name__)


class SansIoNode(Protocol):
    """What VirtualNet drives: the sans-IO surface of PacSession and PaaServer."""

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None: ...
    def handle_timer(self, now: float) -> None: ...
    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]: ...
    def get_timer(self) -> float | None: ...
    def next_event(self) -> PanaEvent | None: ...


@dataclass(frozen=True, slots=True)
class Datagram:
    """One datagram in flight (or delivered)."""

    time: float
    """When it was sent."""
    src: Address
    """Sender's address."""
    dst: Address
    """Receiver's address."""
    data: bytes
    """UDP payload."""


@dataclass(order=True)
class _Flight:
    arrival: float
    order: int
    datagram: Datagram = field(compare=False)


class VirtualNet:
    """Nodes by address; delivers datagrams with latency, loss, duplication and reordering hooks.

    Time jumps straight to the next delivery or timer, so a 24-hour session lifetime or ten
    retransmissions take microseconds. Randomness comes from ``seed`` only. Deadlines sit in a
    heap, so a step costs O(log n) for n nodes (a PAA with thousands of PaCs).
    """

    def __init__(
        self,
        *,
        latency: float = 0.001,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        seed: int = 0,
        now: float = 0.0,
    ) -> None:
        self.now = now
        self.latency = latency
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder
        self._random = random.Random(seed)  # noqa: S311 - network simulation, not crypto
        self.nodes: dict[Address, SansIoNode] = {}
        self.events: dict[Address, list[PanaEvent]] = {}
        self.log: list[Datagram] = []
        """Every datagram sent, in order (before loss)."""
        self.delivered: list[Datagram] = []
        """Every datagram delivered, in order."""
        self.drop: Callable[[Datagram], bool] | None = None
        """Hook: return True to lose this datagram (after the random loss)."""
        self.tamper: Callable[[Datagram], bytes | None] | None = None
        """Hook: return replacement bytes for a datagram in flight (None keeps it)."""
        self._flights: list[_Flight] = []
        self._timers: list[tuple[float, Address]] = []
        self._order = 0

    def add(self, addr: Address, node: SansIoNode) -> None:
        """Attach a node at ``addr``."""
        self.nodes[addr] = node
        self.events.setdefault(addr, [])

    def inject(self, src: Address, dst: Address, data: bytes, delay: float = 0.0) -> None:
        """Put a datagram from ``src`` (which need not be a node) on the wire."""
        self._queue(Datagram(self.now, src, dst, data), self.now + delay)

    def _queue(self, dgram: Datagram, arrival: float) -> None:
        self._order += 1
        heapq.heappush(self._flights, _Flight(arrival, self._order, dgram))

    def _collect(self, addrs: list[Address] | None = None) -> None:
        """Take what the nodes (all, or ``addrs``) queued, and note their deadlines."""
        for addr in self.nodes if addrs is None else addrs:
            node = self.nodes.get(addr)
            if node is None:
                continue
            for data, dst in node.datagrams_to_send(self.now):
                dgram = Datagram(self.now, addr, dst, data)
                self.log.append(dgram)
                if self.loss and self._random.random() < self.loss:
                    continue
                if self.drop is not None and self.drop(dgram):
                    continue
                delay = self.latency
                if self.reorder and self._random.random() < self.reorder:
                    delay += self.latency * 3 * self._random.random()
                self._queue(dgram, self.now + delay)
                if self.duplicate and self._random.random() < self.duplicate:
                    self._queue(dgram, self.now + delay + self.latency)
            while (event := node.next_event()) is not None:
                self.events[addr].append(event)
            deadline = node.get_timer()
            if deadline is not None:
                heapq.heappush(self._timers, (deadline, addr))
        if len(self._timers) > 4 * len(self.nodes) + 64:
            # stale entries of lazy deletion: rebuild so memory stays O(nodes)
            self._timers = [
                (t, a) for a, n in self.nodes.items() if (t := n.get_timer()) is not None
            ]
            heapq.heapify(self._timers)

    def _next_timer(self) -> tuple[float, Address] | None:
        while self._timers:
            deadline, addr = self._timers[0]
            node = self.nodes.get(addr)
            if node is not None and node.get_timer() == deadline:
                return deadline, addr
            heapq.heappop(self._timers)  # stale entry (lazy deletion)
        return None

    def step(self, until: float) -> bool:
        """Advance to the next delivery or deadline not after ``until``; False when none is left."""
        self._collect()
        return self._step(until)

    def _step(self, until: float) -> bool:
        # only the node that acts is collected afterwards: O(log n) per step for n nodes
        next_timer = self._next_timer()
        next_flight = self._flights[0].arrival if self._flights else None
        timer_time = next_timer[0] if next_timer else None
        candidates = [t for t in (next_flight, timer_time) if t is not None]
        if not candidates or min(candidates) > until:
            return False
        if next_flight is not None and (next_timer is None or next_flight <= next_timer[0]):
            flight = heapq.heappop(self._flights)
            self.now = max(self.now, flight.arrival)
            dgram = flight.datagram
            node = self.nodes.get(dgram.dst)
            if node is None:
                return True  # nobody there: lost
            data = dgram.data
            if self.tamper is not None:
                replaced = self.tamper(dgram)
                if replaced is not None:
                    data = replaced
            self.delivered.append(Datagram(dgram.time, dgram.src, dgram.dst, data))
            node.receive_datagram(data, dgram.src, self.now)
            self._collect([dgram.dst])
        else:
            assert next_timer is not None
            self.now = max(self.now, next_timer[0])
            self.nodes[next_timer[1]].handle_timer(self.now)
            self._collect([next_timer[1]])
        return True

    def run(self, until: float) -> None:
        """Run until nothing is left to do before ``until``; then the clock reads ``until``.

        Nodes must not be driven from outside while it runs (hooks only observe or rewrite).
        """
        self._collect()
        while self._step(until):
            pass
        self.now = max(self.now, until)

    def run_until(self, predicate: Callable[[], bool], limit: float) -> bool:
        """Run until ``predicate()`` holds (checked after every step) or time ``limit``."""
        self._collect()
        while not predicate():
            if not self._step(limit):
                return predicate()
        return True

    def take_events(self, addr: Address) -> list[PanaEvent]:
        """The events the node at ``addr`` reported so far (and forget them)."""
        self._collect()
        out, self.events[addr] = self.events[addr], []
        return out

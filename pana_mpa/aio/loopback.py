"""In-memory datagram network with seeded impairments; an asyncio loop running in virtual time."""

from __future__ import annotations

import asyncio
import logging
import random
import selectors
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from .transport import Address, DatagramSink, TransportClosed, format_address

__all__ = [
    "DropHook",
    "LoopbackNetwork",
    "LoopbackTransport",
    "TapHook",
    "VirtualTimeLoop",
    "run_virtual",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DropHook = Callable[[bytes, Address, Address], bool]
"""drop(data, src, dst) -> True to lose this datagram (deterministic loss patterns)."""

TapHook = Callable[[float, Address, Address, bytes], None]
"""tap(now, src, dst, data): sees every datagram sent, before impairments."""

_EPHEMERAL_FIRST = 49152


def _probability(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], not {value!r}")
    return value


class LoopbackNetwork:
    """Datagrams between in-memory endpoints, with seeded loss, duplication, reordering and delay.

    Every random choice comes from ``random.Random(seed)``, so a run with the same seed and the
    same traffic loses, duplicates and reorders the same datagrams. Delays use the running loop's
    clock (``call_later``), so under VirtualTimeLoop they cost no wall-clock time.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        delay: float = 0.0,
        jitter: float = 0.0,
        reorder_delay: float = 0.05,
        drop: DropHook | None = None,
        tap: TapHook | None = None,
        queue_limit: int = 1024,
    ) -> None:
        if delay < 0 or jitter < 0 or reorder_delay < 0:
            raise ValueError("delay, jitter and reorder_delay must not be negative")
        self.loss = _probability("loss", loss)
        self.duplicate = _probability("duplicate", duplicate)
        self.reorder = _probability("reorder", reorder)
        self.delay = delay
        self.jitter = jitter
        self.reorder_delay = reorder_delay
        self.drop = drop
        self.tap = tap
        self.queue_limit = queue_limit
        self._random = random.Random(seed)  # noqa: S311 - impairment simulation, not crypto
        self._endpoints: dict[Address, LoopbackTransport] = {}
        self._next_port = _EPHEMERAL_FIRST
        self.sent = 0
        """Datagrams handed to sendto()."""
        self.delivered = 0
        """Datagrams put into a receiver's queue (duplicates count twice)."""
        self.dropped = 0
        """Datagrams lost: by loss, the drop hook, no receiver, or a full queue."""
        self.duplicated = 0
        """Extra copies made by the duplication impairment."""

    @property
    def endpoints(self) -> Mapping[Address, LoopbackTransport]:
        """Open endpoints by address."""
        return self._endpoints

    def endpoint(self, addr: Address) -> LoopbackTransport:
        """A new endpoint bound to ``addr``; port 0 picks a free ephemeral port."""
        host, port = addr
        if port == 0:
            while (host, self._next_port) in self._endpoints:
                self._next_port += 1
            port = self._next_port
            self._next_port += 1
        bound = (host, port)
        if bound in self._endpoints:
            raise OSError(f"address {format_address(bound)} already in use on this network")
        transport = LoopbackTransport(self, bound)
        self._endpoints[bound] = transport
        return transport

    def _unregister(self, transport: LoopbackTransport) -> None:
        if self._endpoints.get(transport.local_address) is transport:
            del self._endpoints[transport.local_address]

    def _now(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return 0.0

    def _send(self, data: bytes, src: Address, dst: Address) -> None:
        self.sent += 1
        if self.tap is not None:
            self.tap(self._now(), src, dst, data)
        rnd = self._random
        # Draw every random number for every datagram, so one impairment's setting does not
        # shift the sequence another one sees.
        lost = rnd.random() < self.loss
        copies = 2 if rnd.random() < self.duplicate else 1
        late = rnd.random() < self.reorder
        jitters = [rnd.uniform(0.0, self.jitter) for _ in range(copies)]
        if lost or (self.drop is not None and self.drop(data, src, dst)):
            self.dropped += 1
            logger.debug("loopback: lost %d octets %s -> %s", len(data), src, dst)
            return
        self.duplicated += copies - 1
        for extra in jitters:
            wait = self.delay + extra + (self.reorder_delay if late else 0.0)
            if wait <= 0.0:
                self._deliver(data, src, dst)
            else:
                asyncio.get_running_loop().call_later(wait, self._deliver, data, src, dst)

    def _deliver(self, data: bytes, src: Address, dst: Address) -> None:
        receiver = self._endpoints.get(dst)
        if receiver is None or not receiver._accept(data, src):
            self.dropped += 1
            logger.debug("loopback: nobody takes %d octets for %s", len(data), dst)
            return
        self.delivered += 1


class LoopbackTransport:
    """One endpoint of a LoopbackNetwork; satisfies the Transport protocol."""

    def __init__(self, network: LoopbackNetwork, local_address: Address) -> None:
        self.network = network
        self.local_address = local_address
        self._queue: asyncio.Queue[tuple[bytes, Address] | None] = asyncio.Queue()
        self._closed = False
        self._sink: DatagramSink | None = None
        self._pending: list[tuple[bytes, Address]] = []
        self._scheduled = False

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closed

    def sendto(self, data: bytes, addr: Address) -> None:
        """Send one datagram through the network (dropped silently after close())."""
        if self._closed:
            logger.debug("loopback: send on closed endpoint %s dropped", self.local_address)
            return
        self.network._send(bytes(data), self.local_address, (addr[0], addr[1]))

    async def recvfrom(self) -> tuple[bytes, Address]:
        """The next datagram and its source."""
        if self._closed:
            raise TransportClosed(f"endpoint {format_address(self.local_address)} is closed")
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)  # wake the next waiter too
            raise TransportClosed(f"endpoint {format_address(self.local_address)} is closed")
        return item

    def close(self) -> None:
        """Leave the network and wake any recvfrom() waiter (or tell the sink)."""
        if not self._closed:
            self._closed = True
            self.network._unregister(self)
            self._queue.put_nowait(None)
            self._pending.clear()
            sink, self._sink = self._sink, None
            if sink is not None:
                sink.transport_closed()

    def attach(self, sink: DatagramSink) -> None:
        """Hand datagrams to ``sink`` (PushTransport): all that arrive in one loop iteration
        make one batch, delivered by one ``call_soon`` (never from inside a sender's call)."""
        self._sink = sink
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                self._queue.put_nowait(None)
                break
            self._pending.append(item)
        if self._closed:
            self._sink = None
            sink.transport_closed()
        elif self._pending:
            self._schedule()

    def detach(self) -> None:
        """Queue datagrams for recvfrom() again."""
        self._sink = None
        pending, self._pending = self._pending, []
        for item in pending:
            self._queue.put_nowait(item)

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._hand_over)

    def _hand_over(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if batch and self._sink is not None:
            self._sink.receive_batch(batch)
        elif batch:
            for item in batch:
                self._queue.put_nowait(item)

    def _accept(self, data: bytes, src: Address) -> bool:
        if self._closed:
            return False
        if self._sink is not None:
            if len(self._pending) >= self.network.queue_limit:
                return False
            self._pending.append((data, src))
            self._schedule()
            return True
        if self._queue.qsize() >= self.network.queue_limit:
            return False
        self._queue.put_nowait((data, src))
        return True


class _VirtualSelector(selectors.BaseSelector):
    """Delegates to a real selector but never waits: a wait advances the loop's virtual clock."""

    def __init__(self, loop_clock: Callable[[float], None]) -> None:
        self._inner = selectors.DefaultSelector()
        self._advance = loop_clock

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._inner.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise RuntimeError(
                "virtual-time loop has nothing scheduled and would wait forever (deadlock)"
            )
        self._advance(timeout)
        return []

    def close(self) -> None:
        self._inner.close()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps to the next timer instead of sleeping.

    Only for in-memory work (LoopbackNetwork): real sockets would see the clock race ahead.
    When nothing is ready or scheduled the loop raises RuntimeError instead of hanging.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._virtual_now = start
        super().__init__(_VirtualSelector(self._advance))

    def _advance(self, seconds: float) -> None:
        self._virtual_now += seconds

    def time(self) -> float:
        """The virtual clock, in seconds."""
        return self._virtual_now


def run_virtual(main: Callable[[], Coroutine[Any, Any, T]], *, start: float = 0.0) -> T:
    """Run ``main()`` on a fresh VirtualTimeLoop, cancel leftover tasks, close the loop."""
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(start)) as runner:
        return runner.run(main())

"""asyncio layer: runs one sans-IO node on a transport (STYLE 2.8, aioquic's asyncio protocol).

The core is called straight from the transport's datagram callback; whatever it queued is sent
at once; one ``loop.call_at`` timer is re-armed after each call. No task per datagram and no
queue in between. Transports that cannot push (only ``recvfrom()``) get one reader task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from ..flow import FlowTrace
from .transport import Address, PushTransport, Transport, TransportClosed

__all__ = ["Driver", "FlowTrace", "SansIo", "drive"]

logger = logging.getLogger(__name__)

E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)

# asyncio may run a call_at handle up to one clock tick early (uvloop: a millisecond);
# a deadline this close is treated as due and handed to the node as the time.
_TIMER_SLACK = 0.002
_STUCK_TIMER_BACKOFF = 0.01

AdmitHook = Callable[[Sequence[tuple[bytes, Address]]], Sequence[tuple[bytes, Address]]]
"""admit(batch) -> the datagrams of the batch to hand to the node (admission control)."""


class SansIo(Protocol[E_co]):
    """The sans-IO surface shared by PacSession, PaaServer and MpaController (docs/contracts.md)."""

    @property
    def closed(self) -> bool:
        """True once the node has nothing more to do."""
        ...

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """Feed one received datagram."""
        ...

    def handle_timer(self, now: float) -> None:
        """Called at (or after) the deadline get_timer() returned."""
        ...

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """Datagrams queued since the last call."""
        ...

    def get_timer(self) -> float | None:
        """The earliest deadline (absolute, same clock as ``now``), or None."""
        ...

    def next_event(self) -> E_co | None:
        """The next event, or None when the queue is empty."""
        ...


class Driver(Generic[E]):
    """Runs one sans-IO node on a transport: feed datagrams, send, deliver events, one timer.

    ``run()`` returns when the node is closed, the transport is closed, or ``stop()`` is called.
    ``wake()`` flushes work the caller queued on the node (start, ping, an AAA answer ...).
    ``admit`` (PaaRunner's admission control) sees each received batch before the node does.
    """

    def __init__(
        self,
        node: SansIo[E],
        transport: Transport,
        on_event: Callable[[E], None],
        *,
        trace: FlowTrace | None = None,
        after_step: Callable[[], None] | None = None,
        contain_errors: bool = False,
        admit: AdmitHook | None = None,
    ) -> None:
        self.node = node
        self.transport = transport
        self._on_event = on_event
        self._trace = trace
        self._after_step = after_step
        self._contain_errors = contain_errors
        self._admit = admit
        self.datagrams_received = 0
        """Datagrams received from the transport so far (before admission control)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Future[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed: float | None = None  # the node deadline the timer is armed for
        self._fired: float | None = None  # the deadline handle_timer() was last called for
        self._backed_off = False
        self._warned = False
        self._busy = False
        self._again = False
        self._stopping = False
        self._error: BaseException | None = None

    # ---- control -------------------------------------------------------------------------------

    def start(self) -> None:
        """Attach to the transport and flush the node; run() calls it (idempotent)."""
        if self._done is not None:
            return
        loop = self._loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        transport = self.transport
        if isinstance(transport, PushTransport):
            transport.attach(self)
        else:
            self._reader = loop.create_task(self._pull(transport))
        self._step()

    async def run(self) -> None:
        """Drive the node until it is closed, the transport is closed, or stop() is called."""
        self.start()
        assert self._done is not None
        try:
            await asyncio.shield(self._done)
        finally:
            await self._teardown()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def wake(self) -> None:
        """Flush the node now: the caller queued work (start, ping, an AAA answer ...)."""
        if self._done is None or self._done.done():
            return
        self._step()

    def stop(self) -> None:
        """Make run() return (after flushing what the node queued)."""
        self._stopping = True
        if self._done is not None and not self._done.done() and not self._busy:
            self._step()  # (when busy, the running step sees the flag when it ends)

    # ---- DatagramSink --------------------------------------------------------------------------

    def receive_batch(self, batch: Sequence[tuple[bytes, Address]]) -> None:
        """Feed a batch read from the transport to the node; send its answers at once."""
        if self._done is None or self._done.done():
            return
        loop = self._loop
        assert loop is not None
        self.datagrams_received += len(batch)
        if self._admit is not None:
            batch = self._admit(batch)
        if self._busy:  # cannot happen with our transports (they call from the loop)
            loop.call_soon(self._feed, batch)
            return
        self._feed(batch)

    def transport_closed(self) -> None:
        """The transport is gone: flush what can still be flushed, then finish."""
        logger.debug("transport closed; driver stops")
        self._stopping = True
        if self._done is not None and not self._done.done():
            self._step()

    # ---- internals -----------------------------------------------------------------------------

    def _feed(self, batch: Sequence[tuple[bytes, Address]]) -> None:
        loop = self._loop
        assert loop is not None
        node = self.node
        trace = self._trace
        self._busy = True
        try:
            for data, addr in batch:
                now = loop.time()
                if trace is not None:
                    trace.datagram(now, "rx", data)
                if self._contain_errors:
                    try:
                        node.receive_datagram(data, addr, now)
                    except Exception:  # a bug in the core must not let one datagram stop a server
                        logger.exception(
                            "internal error on %d octets from %s; datagram dropped",
                            len(data),
                            addr,
                        )
                else:
                    node.receive_datagram(data, addr, now)
                self._flush(now)
        except BaseException as exc:
            self._fail(exc)
            return
        finally:
            self._busy = False
        self._step()

    def _step(self) -> None:
        """Flush the node, then re-arm the timer (or finish); safe against re-entry."""
        if self._busy:
            self._again = True
            return
        loop = self._loop
        assert loop is not None
        self._busy = True
        try:
            while True:
                self._again = False
                self._flush(loop.time())
                if not self._again:
                    break
        except BaseException as exc:
            self._busy = False
            self._fail(exc)
            return
        self._busy = False
        if self.node.closed or self._stopping:
            self._finish()
        else:
            self._rearm()

    def _flush(self, now: float) -> None:
        node = self.node
        trace = self._trace
        send = self.transport.sendto
        while True:
            for data, addr in node.datagrams_to_send(now):
                if trace is not None:
                    trace.datagram(now, "tx", data)
                send(data, addr)
            delivered = False
            while (event := node.next_event()) is not None:
                delivered = True
                if trace is not None:
                    trace.session_event(now, event)
                self._on_event(event)
            if self._after_step is not None:
                self._after_step()
            if not delivered:
                return  # else an event handler may have queued more (a PTR, a ping ...)

    def _rearm(self) -> None:
        deadline = self.node.get_timer()
        if deadline == self._armed and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed = deadline
        if deadline is not None:
            assert self._loop is not None
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._armed = None
        loop = self._loop
        assert loop is not None
        now = loop.time()
        deadline = self.node.get_timer()
        if deadline is not None and deadline - now <= _TIMER_SLACK:
            if deadline == self._fired and not self._backed_off:
                # The node kept a deadline it was just called for: wait a little before calling
                # again rather than spin (a core bug; it must not eat a CPU).
                if not self._warned:
                    logger.warning("node keeps an expired timer; retrying every 10 ms")
                    self._warned = True
                self._backed_off = True
                self._armed = deadline
                self._timer = loop.call_at(now + _STUCK_TIMER_BACKOFF, self._on_timer)
                return
            self._fired, self._backed_off = deadline, False
            try:
                self.node.handle_timer(max(now, deadline))
            except BaseException as exc:
                if not self._contain_errors:
                    self._fail(exc)
                    return
                logger.exception("internal error in handle_timer")
        self._step()

    async def _pull(self, transport: Transport) -> None:
        """The fallback for a transport without attach(): one reader task, not one per datagram."""
        try:
            while True:
                item = await transport.recvfrom()
                self.receive_batch((item,))
        except TransportClosed:
            self.transport_closed()

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        self._finish()

    def _finish(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._armed = None
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def _teardown(self) -> None:
        self._finish()
        transport = self.transport
        if isinstance(transport, PushTransport):
            transport.detach()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, TransportClosed):
                await reader
        self._done = None  # run() may be called again (e.g. on a new transport)
        self._stopping = False


async def drive(
    node: SansIo[E],
    transport: Transport,
    events: asyncio.Queue[E],
    *,
    trace: FlowTrace | None = None,
) -> None:
    """Run ``node`` on ``transport``, putting its events into ``events``, until it closes."""
    await Driver(node, transport, events.put_nowait, trace=trace).run()

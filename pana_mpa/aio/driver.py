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


def _no_clock() -> float:
    raise RuntimeError("Driver.start() was not called")


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
        # the loop bodies are chosen once (tracing or not) and the hot callables bound once
        self._receive = self._receive_plain if trace is None else self._receive_traced
        self._out = self._out_plain if trace is None else self._out_traced
        self._node_receive = node.receive_datagram
        self._send = transport.sendto
        self._time: Callable[[], float] = _no_clock  # loop.time once started

    # ---- control -------------------------------------------------------------------------------

    def start(self) -> None:
        """Attach to the transport and flush the node; run() calls it (idempotent)."""
        if self._done is not None:
            return
        loop = self._loop = asyncio.get_running_loop()
        self._time = loop.time
        self._done = loop.create_future()
        transport = self.transport
        self._node_receive = self.node.receive_datagram  # (node and transport are attributes)
        self._send = transport.sendto
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

    def now(self) -> float:
        """The event loop's clock (the node's ``now``): the started loop's, else the running one."""
        loop = self._loop
        return (loop if loop is not None else asyncio.get_running_loop()).time()

    def stop(self) -> None:
        """Make run() return (after flushing what the node queued)."""
        self._stopping = True
        if self._done is not None and not self._done.done() and not self._busy:
            self._step()  # (when busy, the running step sees the flag when it ends)

    # ---- DatagramSink --------------------------------------------------------------------------

    def receive_batch(self, batch: Sequence[tuple[bytes, Address]]) -> None:
        """Feed a batch read from the transport to the node; send its answers at once."""
        done = self._done
        if done is None or done.done():
            return
        self.datagrams_received += len(batch)
        if self._admit is not None:
            batch = self._admit(batch)
        if self._busy:  # cannot happen with our transports (they call from the loop)
            assert self._loop is not None
            self._loop.call_soon(self._feed, batch)
            return
        if not batch:
            return  # admission control shed all of it
        # _feed() inlined: this runs once per wake-up of a quiet server
        self._busy = True
        self._again = False
        try:
            self._receive(batch)
            if self._after_step is not None:
                self._after_step()
            if self._again:
                self._rerun()
        except BaseException as exc:
            self._busy = False
            self._fail(exc)
            return
        self._busy = False
        if self._stopping or self.node.closed:
            self._finish()
        else:
            self._rearm()

    def transport_closed(self) -> None:
        """The transport is gone: flush what can still be flushed, then finish."""
        logger.debug("transport closed; driver stops")
        self._stopping = True
        if self._done is not None and not self._done.done():
            self._step()

    # ---- internals -----------------------------------------------------------------------------
    # One step = one batch, one timer, or one wake(): each datagram's answers are sent at once,
    # after_step runs once at the end of the step (again only if it or an event handler called
    # wake()), then get_timer() once.

    def _feed(self, batch: Sequence[tuple[bytes, Address]]) -> None:
        """receive_batch()'s work, for a batch that came while a step was running."""
        if not batch or (self._done is not None and self._done.done()):
            return  # (admission control shed all of it; or stopped while queued)
        self._busy = True
        self._again = False
        try:
            self._receive(batch)
            self._end_step()
        except BaseException as exc:
            self._busy = False
            self._fail(exc)
            return
        self._busy = False
        self._settle()

    def _receive_plain(self, batch: Sequence[tuple[bytes, Address]]) -> None:
        time = self._time
        node = self.node
        receive = self._node_receive
        send = self._send
        on_event = self._on_event
        for data, addr in batch:
            now = time()
            try:
                receive(data, addr, now)
            except Exception:
                if not self._contain_errors:
                    raise
                # a bug in the core must not let one datagram stop a server
                logger.exception(
                    "internal error on %d octets from %s; datagram dropped", len(data), addr
                )
            # _out_plain(now) inlined for the common case: answers, then maybe an event
            for answer, to in node.datagrams_to_send(now):
                send(answer, to)
            event = node.next_event()
            if event is not None:
                while event is not None:
                    on_event(event)
                    event = node.next_event()
                self._out_plain(now)  # what the handlers queued (and its events)

    def _receive_traced(self, batch: Sequence[tuple[bytes, Address]]) -> None:
        trace = self._trace
        assert trace is not None
        time = self._time
        for data, addr in batch:
            now = time()
            trace.datagram(now, "rx", data)
            try:
                self.node.receive_datagram(data, addr, now)
            except Exception:
                if not self._contain_errors:
                    raise
                logger.exception(
                    "internal error on %d octets from %s; datagram dropped", len(data), addr
                )
            self._out_traced(now)

    def _step(self) -> None:
        """Flush the node, then re-arm the timer (or finish); safe against re-entry."""
        if self._busy:
            self._again = True
            return
        self._busy = True
        self._again = False
        try:
            self._out(self._time())
            self._end_step()
        except BaseException as exc:
            self._busy = False
            self._fail(exc)
            return
        self._busy = False
        self._settle()

    def _end_step(self) -> None:
        """after_step once; flush again while something called wake() meanwhile."""
        if self._after_step is not None:
            self._after_step()
        self._rerun()

    def _rerun(self) -> None:
        """Flush again (and after_step) while something called wake() during the step."""
        after_step = self._after_step
        while self._again:
            self._again = False
            self._out(self._time())
            if after_step is not None:
                after_step()

    def _settle(self) -> None:
        if self._stopping or self.node.closed:
            self._finish()
        else:
            self._rearm()

    def _out_plain(self, now: float) -> None:
        """Send what the node queued and deliver its events (a handler may queue more)."""
        node = self.node
        send = self._send
        on_event = self._on_event
        while True:
            for data, addr in node.datagrams_to_send(now):
                send(data, addr)
            event = node.next_event()
            if event is None:
                return
            while event is not None:
                on_event(event)
                event = node.next_event()

    def _out_traced(self, now: float) -> None:
        node = self.node
        trace = self._trace
        assert trace is not None
        while True:
            for data, addr in node.datagrams_to_send(now):
                trace.datagram(now, "tx", data)
                self.transport.sendto(data, addr)
            event = node.next_event()
            if event is None:
                return
            while event is not None:
                trace.session_event(now, event)
                self._on_event(event)
                event = node.next_event()

    def _rearm(self) -> None:
        """Arm the timer for the node's deadline, unless it is armed no later than that.

        A deadline that moved later (a retransmission timer restarted, RFC 5191 s9) or went
        away keeps the armed handle: it fires early, once, and _on_timer arms the real one.
        That spares a cancel and a new handle per datagram.
        """
        deadline = self.node.get_timer()
        if deadline is None:
            return
        armed = self._armed
        if armed is not None and armed <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed = deadline
        assert self._loop is not None
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._armed = None
        loop = self._loop
        assert loop is not None
        now = loop.time()
        deadline = self.node.get_timer()
        if deadline is None:
            return  # the deadline went away after the handle was armed
        if deadline - now > _TIMER_SLACK:  # armed for an earlier deadline that moved later
            self._armed = deadline
            self._timer = loop.call_at(deadline, self._on_timer)
            return
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

"""asyncio layer: moves datagrams and arms one timer for a sans-IO node (STYLE 2.8).

``drive()`` runs any node with the sans-IO surface of docs/contracts.md; ``PacClient`` wraps a PaC
session as an async context manager; ``serve_paa()`` runs a PAA server, including pass-through
AAA exchanges (RFC 5191 s2: the PAA may relay EAP to an AAA server).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from eap.authenticator import AuthOutput
from eap.peer import EapResult

from ..flow import FlowTrace
from .transport import Address, Transport, TransportClosed

__all__ = [
    "AAA_FAILURE",
    "AaaBackend",
    "ClientError",
    "Driver",
    "FlowTrace",
    "PacClient",
    "PacNode",
    "PassThroughNode",
    "SansIo",
    "drive",
    "serve_paa",
]

logger = logging.getLogger(__name__)

AAA_FAILURE = AuthOutput(None, EapResult(success=False, keys=None, method_type=None))
"""What serve_paa hands a session whose AAA exchange raised: EAP failure, no EAP packet."""

E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)

# A timer that asyncio fires up to one clock tick early is treated as due.
_TIMER_SLACK = 1e-6
_STUCK_TIMER_BACKOFF = 0.01


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


class PacNode(SansIo[E_co], Protocol[E_co]):
    """What PacClient needs of a PacSession (docs/contracts.md)."""

    def start(self, now: float) -> None:
        """Queue the PCI (RFC 5191 s4.1)."""
        ...

    def ping(self, now: float) -> None:
        """Queue a PNR with the P flag (RFC 5191 s4.2)."""
        ...

    def reauthenticate(self, now: float) -> None:
        """Queue a PNR with the A flag (RFC 5191 s4.3)."""
        ...

    def terminate(self, now: float) -> None:
        """Queue a PTR (RFC 5191 s4.4)."""
        ...


class AaaBackend(Protocol):
    """The async half of a pass-through EAP server (eap.aaa.passthrough.RadiusPassThrough)."""

    async def exchange(self, eap_response: bytes | None) -> Any:
        """Forward one EAP response (None: start) and return the AAA server's AuthOutput."""
        ...


class PassThroughNode(Protocol):
    """A PAA server whose sessions can wait for an AAA server (docs/contracts.md, pass-through)."""

    def pending_aaa(self) -> list[tuple[int, bytes | None]]:
        """Take the queued AAA work: (session id, EAP response to forward or None to start)."""
        ...

    def aaa_answer(self, session_id: int, output: Any, now: float) -> None:
        """Hand the AAA server's AuthOutput back to the session."""
        ...


class ClientError(Exception):
    """A PacClient operation ended without the outcome asked for; ``event`` says why."""

    def __init__(self, message: str, event: object | None = None) -> None:
        super().__init__(message)
        self.event = event


class Driver(Generic[E]):
    """Runs one sans-IO node on a transport: send, deliver events, await a datagram or the timer."""

    def __init__(
        self,
        node: SansIo[E],
        transport: Transport,
        on_event: Callable[[E], None],
        *,
        trace: FlowTrace | None = None,
        after_step: Callable[[], None] | None = None,
        contain_errors: bool = False,
    ) -> None:
        self.node = node
        self._contain_errors = contain_errors
        self.transport = transport
        self._on_event = on_event
        self._trace = trace
        self._after_step = after_step
        self.datagrams_received = 0
        """Datagrams handed to the node so far."""
        self._wake: asyncio.Future[None] | None = None
        self._woken = False
        self._stopping = False

    def wake(self) -> None:
        """Flush the node now: the caller queued work (start, ping, an AAA answer ...)."""
        self._woken = True
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def stop(self) -> None:
        """Make run() return after its current step."""
        self._stopping = True
        self.wake()

    def _flush(self, now: float) -> None:
        while True:
            for data, addr in self.node.datagrams_to_send(now):
                if self._trace is not None:
                    self._trace.datagram(now, "tx", data)
                self.transport.sendto(data, addr)
            delivered = 0
            while (event := self.node.next_event()) is not None:
                delivered += 1
                if self._trace is not None:
                    self._trace.session_event(now, event)
                self._on_event(event)
            if self._after_step is not None:
                self._after_step()
            if not delivered:
                return  # else an event handler may have queued more (a PTR, a ping ...)

    def _receive(self, data: bytes, addr: Address, now: float) -> None:
        if not self._contain_errors:
            self.node.receive_datagram(data, addr, now)
            return
        try:
            self.node.receive_datagram(data, addr, now)
        except Exception:  # a bug in the core must not let one datagram stop a server
            logger.exception(
                "internal error on %d octets from %s; datagram dropped", len(data), addr
            )

    async def run(self) -> None:
        """Drive the node until it is closed, the transport is closed, or stop() is called."""
        loop = asyncio.get_running_loop()
        node = self.node
        recv: asyncio.Task[tuple[bytes, Address]] | None = None
        fired: float | None = None  # the deadline handle_timer() was last called for
        backed_off = warned = False
        try:
            while True:
                self._flush(loop.time())
                if node.closed or self._stopping:
                    return
                if self._woken:
                    self._woken = False
                    continue  # the flush above already saw the caller's work; look again
                now = loop.time()
                deadline = node.get_timer()
                timeout = None if deadline is None else deadline - now
                if deadline is not None and deadline - now <= _TIMER_SLACK:
                    if deadline != fired or backed_off:
                        fired, backed_off = deadline, False
                        node.handle_timer(max(now, deadline))
                        continue
                    # The node kept a deadline it was just called for: wait a little before
                    # calling again rather than spin (a core bug; it must not eat a CPU).
                    if not warned:
                        logger.warning("node keeps an expired timer; retrying every 10 ms")
                        warned = True
                    backed_off, timeout = True, _STUCK_TIMER_BACKOFF
                if recv is None:
                    recv = asyncio.ensure_future(self.transport.recvfrom())
                self._wake = loop.create_future()
                waitables: set[asyncio.Future[Any]] = {recv, self._wake}
                done, _ = await asyncio.wait(
                    waitables, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                self._wake = None
                if recv in done:
                    finished, recv = recv, None
                    try:
                        data, addr = finished.result()
                    except TransportClosed:
                        logger.debug("transport closed; driver stops")
                        self._flush(loop.time())
                        return
                    self.datagrams_received += 1
                    if self._trace is not None:
                        self._trace.datagram(loop.time(), "rx", data)
                    self._receive(data, addr, loop.time())
        finally:
            if recv is not None:
                recv.cancel()
                with contextlib.suppress(asyncio.CancelledError, TransportClosed):
                    await recv


async def drive(
    node: SansIo[E],
    transport: Transport,
    events: asyncio.Queue[E],
    *,
    trace: FlowTrace | None = None,
) -> None:
    """Run ``node`` on ``transport``, putting its events into ``events``, until it closes."""
    await Driver(node, transport, events.put_nowait, trace=trace).run()


def _describe_outcome(event: object) -> str:
    parts = [type(event).__name__]
    for name in ("result_code", "cause", "reason", "by_peer"):
        value = getattr(event, name, None)
        if value is not None:
            shown = getattr(value, "name", value)
            parts.append(f"{name}={shown}")
    return " ".join(parts)


class _End:
    """Marks the end of PacClient.events()."""


_END = _End()


class PacClient(Generic[E]):
    """An asyncio PaC: ``async with PacClient(session, transport) as c: await c.authenticate()``.

    Outcomes are recognised by event class name (docs/contracts.md: Authenticated, Reauthenticated,
    PingAnswered, SessionTerminated, AuthenticationFailed); every event also goes to events().
    """

    def __init__(
        self,
        session: PacNode[E],
        transport: Transport,
        *,
        trace: FlowTrace | None = None,
        close_transport: bool = True,
    ) -> None:
        self.session = session
        self.transport = transport
        self._close_transport = close_transport
        self._driver: Driver[E] = Driver(session, transport, self._on_event, trace=trace)
        self._queue: asyncio.Queue[E | _End] = asyncio.Queue()
        self._waiters: list[tuple[Collection[str], Collection[str], asyncio.Future[E]]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def datagrams_received(self) -> int:
        """Datagrams received from the network so far (tells silence from a stalled exchange)."""
        return self._driver.datagrams_received

    async def __aenter__(self) -> PacClient[E]:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _run(self) -> None:
        try:
            await self._driver.run()
        finally:
            self._finish()

    def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(_END)
        for _, _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(ClientError("PANA session closed before the outcome"))
        self._waiters.clear()

    async def close(self) -> None:
        """Stop driving the session (without terminating it) and release the transport."""
        self._driver.stop()
        if self._task is not None:
            try:
                await self._task
            finally:
                self._task = None
        self._finish()
        if self._close_transport:
            self.transport.close()

    def _on_event(self, event: E) -> None:
        self._queue.put_nowait(event)
        name = type(event).__name__
        keep = []
        for ok, fail, fut in self._waiters:
            if fut.done():
                continue
            if name in ok:
                fut.set_result(event)
            elif name in fail:
                fut.set_exception(ClientError(_describe_outcome(event), event))
            else:
                keep.append((ok, fail, fut))
        self._waiters = keep

    async def events(self) -> AsyncIterator[E]:
        """Every session event, in order, until the session or the client is closed."""
        while True:
            item = await self._queue.get()
            if isinstance(item, _End):
                self._queue.put_nowait(item)
                return
            yield item

    async def _request(
        self,
        action: Callable[[float], None],
        ok: Collection[str],
        fail: Collection[str],
        timeout: float | None,
    ) -> E:
        if self._task is None or self._closed:
            raise ClientError("PacClient is not running (use 'async with')")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[E] = loop.create_future()
        self._waiters.append((ok, fail, fut))
        try:
            action(loop.time())
        except BaseException:
            self._waiters.pop()
            raise
        self._driver.wake()
        async with asyncio.timeout(timeout):
            return await fut

    async def request(
        self,
        action: Callable[[float], None],
        *,
        done: tuple[type, ...],
        fail: tuple[type, ...] = (),
        timeout: float | None = None,
    ) -> E:
        """Run ``action(now)`` on the session and wait for an event of a ``done`` type.

        An event of a ``fail`` type raises ClientError. This is how protocol extensions (e.g. MPA's
        PANA-Update: ``lambda now: session.ping(now, avps)``) ask for an exchange.
        """
        return await self._request(
            action, {t.__name__ for t in done}, {t.__name__ for t in fail}, timeout
        )

    async def authenticate(self, timeout: float | None = None) -> E:
        """Send the PCI and wait for Authenticated; ClientError on failure (RFC 5191 s4.1)."""
        return await self._request(
            self.session.start,
            {"Authenticated"},
            {"AuthenticationFailed", "SessionTerminated"},
            timeout,
        )

    async def reauthenticate(self, timeout: float | None = None) -> E:
        """PaC-initiated re-authentication; wait for Reauthenticated (RFC 5191 s4.3)."""
        return await self._request(
            self.session.reauthenticate,
            {"Reauthenticated", "Authenticated"},
            {"AuthenticationFailed", "SessionTerminated"},
            timeout,
        )

    async def ping(self, timeout: float | None = None) -> E:
        """Send a PNR[P] and wait for PingAnswered (RFC 5191 s4.2)."""
        return await self._request(
            self.session.ping, {"PingAnswered"}, {"SessionTerminated"}, timeout
        )

    async def terminate(self, timeout: float | None = None) -> E:
        """Send a PTR and wait for SessionTerminated (RFC 5191 s4.4)."""
        return await self._request(self.session.terminate, {"SessionTerminated"}, (), timeout)


_SESSION_END = frozenset({"SessionTerminated", "AuthenticationFailed"})


async def serve_paa(
    server: SansIo[E],
    transport: Transport,
    *,
    events: asyncio.Queue[E] | None = None,
    aaa: Callable[[int], AaaBackend] | None = None,
    trace: FlowTrace | None = None,
    shutdown: asyncio.Event | None = None,
    grace: float = 2.0,
) -> None:
    """Run a PAA server until it closes, the transport closes, or the task is cancelled.

    Setting ``shutdown`` stops it in order: every live session gets a PTR (``terminate``,
    RFC 5191 s4.4, Termination-Cause ADMINISTRATIVE) and the runner returns once they are all
    closed, or after ``grace`` seconds.

    With ``aaa`` (pass-through, docs/contracts.md), the server must be a PassThroughNode: after
    each step the runner takes ``server.pending_aaa()``, gets each session's back-end
    (``aaa(session_id)``, once per session; ``restart()`` when a new conversation begins),
    awaits ``backend.exchange()`` (one at a time per session) and feeds the answer back with
    ``server.aaa_answer()``.
    """
    loop = asyncio.get_running_loop()
    pass_through: PassThroughNode | None = None
    if aaa is not None:
        if not (hasattr(server, "pending_aaa") and hasattr(server, "aaa_answer")):
            raise TypeError("serve_paa(aaa=...) needs a server with pending_aaa()/aaa_answer()")
        pass_through = server  # type: ignore[assignment]
    backends: dict[int, AaaBackend] = {}
    locks: dict[int, asyncio.Lock] = {}
    tasks: set[asyncio.Task[None]] = set()
    driver: Driver[E]

    async def exchange(session_id: int, eap_response: bytes | None) -> None:
        assert pass_through is not None and aaa is not None
        lock = locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            backend = backends.get(session_id)
            if backend is None:
                backend = backends[session_id] = aaa(session_id)
            elif eap_response is None:
                restart = getattr(backend, "restart", None)
                if callable(restart):
                    restart()  # re-authentication: a new EAP conversation (RFC 5191 s4.3)
            try:
                output = await backend.exchange(eap_response)
            except Exception as exc:  # AAA unreachable, wrong shared secret, bad answers
                # RFC 4137 s6 (aaaTimeout): the conversation fails. The session hears it as an
                # EAP failure without an EAP packet, so the PaC gets PAR[C] with Result-Code
                # PANA_AUTHENTICATION_REJECTED at once (RFC 5191 s4.1), not at its timer.
                logger.warning("AAA exchange for session 0x%08x failed: %s", session_id, exc)
                output = AAA_FAILURE
            try:
                pass_through.aaa_answer(session_id, output, loop.time())
            except Exception as exc:  # the session ended while the AAA server thought
                logger.debug("AAA answer for session 0x%08x not taken: %s", session_id, exc)
                return
            driver.wake()

    def release(backend: AaaBackend | None) -> None:
        close = getattr(backend, "close", None)
        if callable(close):
            close()  # RadiusPassThrough.close(): its socket toward the RADIUS server

    def pick_up_aaa() -> None:
        if pass_through is None:
            return
        for session_id, eap_response in pass_through.pending_aaa():
            task = asyncio.create_task(exchange(session_id, eap_response))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    def on_event(event: E) -> None:
        session_id = getattr(event, "session_id", None)
        name = type(event).__name__
        if name in _SESSION_END and isinstance(session_id, int):
            release(backends.pop(session_id, None))
            locks.pop(session_id, None)
        elif closing and name in ("Authenticated", "Reauthenticated"):
            say_goodbye(session_id)  # it reached OPEN while we were closing
        if events is not None:
            events.put_nowait(event)

    def say_goodbye(session_id: object) -> None:
        terminate = getattr(server, "terminate", None)
        if terminate is None or not isinstance(session_id, int):
            return
        try:
            terminate(session_id, loop.time())
        except Exception as exc:  # not OPEN yet: terminated once it gets there, or at the end
            logger.debug("session 0x%08x not terminated yet: %s", session_id, exc)

    def live_sessions() -> list[Any]:
        sessions = server if hasattr(server, "__iter__") else ()
        return [s for s in sessions if not getattr(s, "closed", True)]

    closing = False

    def after_step() -> None:
        pick_up_aaa()
        if closing and not live_sessions():
            driver.stop()

    async def close_in_order() -> None:
        nonlocal closing
        assert shutdown is not None
        await shutdown.wait()
        closing = True
        for session in live_sessions():
            say_goodbye(session.session_id)
        loop.call_later(grace, driver.stop)
        driver.wake()

    driver = Driver(
        server, transport, on_event, trace=trace, after_step=after_step, contain_errors=True
    )
    watcher = None if shutdown is None else asyncio.create_task(close_in_order())
    try:
        await driver.run()
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        for task in list(tasks):
            task.cancel()
        for task in list(tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for backend in backends.values():
            release(backend)

"""PacClient: an asyncio PaC over one transport (``async with PacClient(session, t) as c``)."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Callable, Collection
from types import TracebackType
from typing import Generic, Protocol, TypeVar

from .._avps import ResultCode, TerminationCause
from ..address import format_address
from ..events import (
    Authenticated,
    AuthenticationFailed,
    PingAnswered,
    Reauthenticated,
    SessionTerminated,
)
from ..flow import FlowTrace
from ..pac import PacSession
from .driver import Driver, SansIo
from .errors import AuthenticationRejected, ClientClosed, ClientError, NoAnswer, SessionEnded
from .transport import Transport

__all__ = ["ClientError", "PacClient", "PacNode"]

E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)

EventTypes = tuple[type, ...]
"""The event classes that end a request (matched with isinstance)."""

_OUTCOMES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        Authenticated,
        Reauthenticated,
        PingAnswered,
        SessionTerminated,
        AuthenticationFailed,
    )
}


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


def _shown(value: object) -> object:
    return value.name if isinstance(value, enum.Enum) else value


_END_REASONS = {
    "termination": "terminated",
    "lifetime": "Session-Lifetime expired",
    "retransmissions": "no answer from the peer, retransmissions exhausted (RFC 5191 s9)",
    "failed": "not completed in time, no answer from the PAA? (RFC 5191 s9)",
    "authentication": "authentication failed",
    "eap": "the EAP conversation failed",
}
"""SessionTerminated.reason, for a person."""


def _failure(event: object) -> ClientError:
    """The ClientError for an event that ended a request, with a message a person can read."""
    match event:
        case AuthenticationFailed(result_code=code, reason=reason):
            why = f": {reason}" if reason else ""
            text = (
                f"authentication rejected by the PAA (Result-Code {_named(ResultCode, code)}){why}"
            )
            return AuthenticationRejected(text, event)
        case SessionTerminated(cause=cause, by_peer=by_peer, reason=reason):
            why = _END_REASONS.get(reason, reason)
            if cause is not None:
                why += f", Termination-Cause {_named(TerminationCause, cause)}"
            return SessionEnded(
                f"session ended: {why}, {'by the peer' if by_peer else 'by us'}", event
            )
    return ClientError(_describe_outcome(event), event)


def _named(enum_type: type[enum.IntEnum], value: int) -> str:
    try:
        return enum_type(value).name
    except ValueError:
        return str(value)


def _describe_outcome(event: object) -> str:
    parts = [type(event).__name__]
    match event:
        case AuthenticationFailed(result_code=code):
            parts.append(f"result_code={_shown(code)}")
        case SessionTerminated(cause=cause, by_peer=by_peer, reason=reason):
            if cause is not None:
                parts.append(f"cause={_shown(cause)}")
            parts += [f"reason={reason}", f"by_peer={by_peer}"]
    return " ".join(parts)


def _types(spec: Collection[type | str]) -> EventTypes:
    """Event classes from classes or (for older callers) their names."""
    return tuple(_OUTCOMES[item] if isinstance(item, str) else item for item in spec)


class _End:
    """Marks the end of PacClient.events()."""


_END = _End()


class PacClient(Generic[E]):
    """An asyncio PaC: ``async with PacClient(session, transport) as c: await c.authenticate()``.

    Outcomes are matched by event type (``pana_mpa.events``: Authenticated, Reauthenticated,
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
        self._waiters: list[tuple[EventTypes, EventTypes, asyncio.Future[E]]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def datagrams_received(self) -> int:
        """Datagrams received from the network so far (tells silence from a stalled exchange)."""
        return self._driver.datagrams_received

    async def __aenter__(self) -> PacClient[E]:
        self._driver.start()
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
                fut.set_exception(self._closed_error())
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
        keep = []
        for ok, fail, fut in self._waiters:
            if fut.done():
                continue
            if isinstance(event, ok):
                fut.set_result(event)
            elif isinstance(event, fail):
                fut.set_exception(_failure(event))
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

    async def request(
        self,
        action: Callable[[float], None],
        *,
        done: EventTypes,
        fail: EventTypes = (),
        timeout: float | None = None,
        what: str = "request",
    ) -> E:
        """Run ``action(now)`` on the session and wait for an event of a ``done`` type.

        An event of a ``fail`` type raises ClientError (AuthenticationRejected, SessionEnded); so
        does the session closing first; no outcome within ``timeout`` raises NoAnswer, whose
        message names ``what``. This is how protocol extensions (e.g. MPA's PANA-Update:
        ``lambda now: session.ping(now, avps)``) ask for an exchange.
        """
        if self._task is None or self._closed:
            raise ClientClosed("PacClient is not running (use 'async with')")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[E] = loop.create_future()
        self._waiters.append((done, fail, fut))
        try:
            action(loop.time())
        except BaseException:
            self._waiters.pop()
            raise
        self._driver.wake()
        try:
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            if timeout is None:  # not our deadline: an outer asyncio.timeout() fired
                raise
            raise NoAnswer(self._timeout_text(what, timeout)) from None

    def _closed_error(self) -> ClientError:
        if self.session.closed:
            return SessionEnded("PANA session closed before the outcome")
        return ClientClosed("PANA session closed before the outcome (client closed)")

    def _timeout_text(self, what: str, timeout: float) -> str:
        """Silence, a PAA whose offer we declined, or an exchange that did not finish."""
        session: object = self.session  # a PacSession, or another PacNode (tests, MPA)
        paa = format_address(session.peer) if isinstance(session, PacSession) else "the PAA"
        if self.datagrams_received == 0:
            return f"{what}: no answer from {paa} within {timeout:g} s"
        declined = session.declined if isinstance(session, PacSession) else None
        if declined and what == "authentication":
            # RFC 5191 s4.1: the PaC drops an unacceptable PAR[S] silently; say why
            return f"{what}: {paa} answered but was not accepted: {declined}"
        received = self.datagrams_received
        return f"{what}: not completed within {timeout:g} s ({received} datagrams from {paa})"

    async def _request(
        self,
        action: Callable[[float], None],
        ok: Collection[type | str],
        fail: Collection[type | str],
        timeout: float | None,
    ) -> E:
        """Deprecated spelling of request() that also takes event class names."""
        return await self.request(action, done=_types(ok), fail=_types(fail), timeout=timeout)

    async def authenticate(self, timeout: float | None = None) -> E:
        """Send the PCI and wait for Authenticated; ClientError on failure (RFC 5191 s4.1)."""
        return await self.request(
            self.session.start,
            done=(Authenticated,),
            fail=(AuthenticationFailed, SessionTerminated),
            timeout=timeout,
            what="authentication",
        )

    async def reauthenticate(self, timeout: float | None = None) -> E:
        """PaC-initiated re-authentication; wait for Reauthenticated (RFC 5191 s4.3)."""
        return await self.request(
            self.session.reauthenticate,
            done=(Reauthenticated, Authenticated),
            fail=(AuthenticationFailed, SessionTerminated),
            timeout=timeout,
            what="re-authentication",
        )

    async def ping(self, timeout: float | None = None) -> E:
        """Send a PNR[P] and wait for PingAnswered (RFC 5191 s4.2)."""
        return await self.request(
            self.session.ping,
            done=(PingAnswered,),
            fail=(SessionTerminated,),
            timeout=timeout,
            what="ping",
        )

    async def terminate(self, timeout: float | None = None) -> E:
        """Send a PTR and wait for SessionTerminated (RFC 5191 s4.4)."""
        return await self.request(
            self.session.terminate, done=(SessionTerminated,), timeout=timeout, what="termination"
        )

"""PaaRunner: a PAA server on a transport, with pass-through AAA, admission control, shutdown.

``serve_paa()`` is the function form (docs/contracts.md). Admission control (issue 10): the
transport hands over each batch of datagrams it read at once; the batch size is the measured
backlog. Above ``AdmissionPolicy.backlog_limit`` new PCIs are shed before they reach the core
(the PaC retransmits its PCI, RFC 5191 s4.1) while every datagram of a session in progress is
served, so goodput holds near capacity instead of collapsing. GC policy (issue 10): the runner
freezes long-lived objects out of the cyclic collector's way (``GcPolicy``, pana_mpa.aio.gcpolicy)
so a collection's pause stays short with 100,000 sessions open. Pass-through (issue 10): a
back end with ``begin_exchange()`` is driven by callbacks, so an AAA round trip costs no task,
lock or future, and the answer reaches the session in the loop iteration that read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from eap.authenticator import AuthOutput
from eap.peer import EapResult

from ..events import (
    Authenticated,
    AuthenticationFailed,
    PanaEvent,
    Reauthenticated,
    SessionTerminated,
)
from ..flow import FlowTrace
from .driver import Driver, SansIo
from .gcpolicy import GcFreezer, GcPolicy
from .transport import Address, Transport

__all__ = [
    "AAA_FAILURE",
    "AaaBackend",
    "AaaCallbackBackend",
    "AdmissionPolicy",
    "AdmissionStats",
    "PaaRunner",
    "PassThroughNode",
    "serve_paa",
]

logger = logging.getLogger(__name__)

E = TypeVar("E")

AAA_FAILURE = AuthOutput(None, EapResult(success=False, keys=None, method_type=None))
"""What the runner hands a session whose AAA exchange raised: EAP failure, no EAP packet."""

_PCI = b"\x00\x01"  # Message Type 1 at octets 6-7 of the PANA header (RFC 5191 s6.2)
_RETRY_GAP = 0.5
"""Seconds between sightings of a PCI source for the later one to count as a retransmission."""


class AaaBackend(Protocol):
    """The async half of a pass-through EAP server (eap.aaa.passthrough.RadiusPassThrough).

    It may also have ``restart()`` (a new EAP conversation) and ``close()`` (release it).
    """

    async def exchange(self, eap_response: bytes | None) -> Any:
        """Forward one EAP response (None: start) and return the AAA server's AuthOutput."""
        ...


class AaaCallbackBackend(AaaBackend, Protocol):
    """An AaaBackend that can also step without a coroutine (eap.aaa.RadiusPassThrough).

    The runner prefers ``begin_exchange`` when a back end has it: no task per exchange.
    """

    def begin_exchange(self, eap_response: bytes | None, done: Callable[[Any], None]) -> Any:
        """Start one step: return its AuthOutput when known at once (``done`` is then not
        called), else None and call ``done(output or exception)`` once, later, from the event
        loop. ``close()`` withdraws a step in progress (``done`` is never called)."""
        ...


@runtime_checkable
class PassThroughNode(Protocol):
    """A PAA server whose sessions can wait for an AAA server (docs/contracts.md, pass-through)."""

    def pending_aaa(self) -> list[tuple[int, bytes | None]]:
        """Take the queued AAA work: (session id, EAP response to forward or None to start)."""
        ...

    def aaa_answer(self, session_id: int, output: Any, now: float) -> None:
        """Hand the AAA server's AuthOutput back to the session."""
        ...


class _LiveSession(Protocol):
    @property
    def session_id(self) -> int: ...

    @property
    def closed(self) -> bool: ...


@runtime_checkable
class _SessionTable(Protocol):
    """What an orderly shutdown needs of the server (PaaServer): its sessions, and a PTR."""

    def __iter__(self) -> Iterator[_LiveSession]: ...

    def terminate(self, session_id: int, now: float) -> None: ...


@dataclass(frozen=True, kw_only=True)
class AdmissionPolicy:
    """When the runner sheds new PCIs (issue 10: admission control on a measured backlog)."""

    backlog_limit: int | None = 2048
    """Datagrams read in one go above which new PCIs are shed; None: never shed.

    2,048 datagrams are ~0.1-0.3 s of work (50-150 us each, 2026-12 figures): shedding starts
    well before the PaCs' 1 s retransmission timer (REQ_IRT, RFC 5191 s9) would fire, and not on
    a mere burst. It must stay above the concurrency the PAA serves: 1,000 PaCs have up to 1,000
    datagrams in flight, and a limit of 1,024 shed their PCIs whenever a few retransmissions
    joined them (1,780 of 12,000 PaCs shed while the PAA still idled 4 %; none at 2,048).
    UdpTransport reads up to 4,096 per callback, so a deeper queue still counts as overload.
    """
    retry_slots: int = 1 << 16
    """Slots of the table of PCI sources seen while overloaded (12 octets each, a power of two;
    0: no preference). A PCI from a source seen before is a retransmission: a PaC that wants
    in (RFC 5191 s4.1 PCI retransmission) rather than a spoofed one-shot, and is admitted first.
    """


@dataclass(slots=True)
class AdmissionStats:
    """Counters of the admission control (what it saw and what it shed)."""

    batches: int = 0
    """Batches of datagrams handed over by the transport."""
    datagrams: int = 0
    """Datagrams in them."""
    max_backlog: int = 0
    """The largest batch seen."""
    overloaded_batches: int = 0
    """Batches larger than the backlog limit."""
    pci_admitted: int = 0
    """PCIs handed to the core while overloaded (the others are not counted one by one)."""
    shed_pci: int = 0
    """PCIs dropped before reaching the core."""
    retry_admitted: int = 0
    """PCIs admitted first, as retransmissions from a source seen while overloaded."""


class _AaaSlot:
    """One session's AAA back end and its one exchange at a time; ``done`` of its steps."""

    __slots__ = ("backend", "begin", "busy", "fresh", "queued", "runner", "session_id", "task")

    def __init__(self, runner: PaaRunner[Any], session_id: int, backend: AaaBackend) -> None:
        self.runner = runner
        self.session_id = session_id
        self.backend = backend
        self.begin: Callable[[bytes | None, Callable[[Any], None]], Any] | None = getattr(
            backend, "begin_exchange", None
        )
        self.busy = False  # a step is with the AAA server
        self.fresh = True  # no step started yet (restart() only before later conversations)
        self.queued: list[bytes | None] | None = None  # steps waiting for the busy one
        self.task: asyncio.Task[None] | None = None  # the fallback for an exchange()-only back end

    def __call__(self, output: Any) -> None:
        """The step's answer (an AuthOutput, or the exception that ended it)."""
        if self.busy:
            self.runner._answered(self, output)


class PaaRunner(Generic[E]):
    """Runs a PAA server (PaaServer, or any node with the sans-IO surface) on a transport.

    ``events`` gets every session event (and ``on_event`` is called with it). With ``aaa``
    (pass-through, docs/contracts.md) the server must be a PassThroughNode: after each step
    the runner takes ``pending_aaa()``, gets each session's back-end (``aaa(session_id)``,
    once per session; ``restart()`` when a new conversation begins), runs one step at a time
    per session (``begin_exchange()`` when the back end has it, else a task awaiting
    ``exchange()``) and feeds the answer back with ``aaa_answer()``. ``stats``
    counts the admission control's work. ``gc`` (default ``GcPolicy()``: on) freezes the
    long-lived objects at start and after every ``refreeze_after`` new sessions, and unfreezes
    when run() returns; ``gc_freezer`` applies it (counters ``freezes``, ``collected``).
    """

    def __init__(
        self,
        server: SansIo[E],
        transport: Transport,
        *,
        events: asyncio.Queue[E] | None = None,
        aaa: Callable[[int], AaaBackend] | None = None,
        trace: FlowTrace | None = None,
        admission: AdmissionPolicy | None = None,
        on_event: Callable[[E], None] | None = None,
        gc: GcPolicy | None = None,
    ) -> None:
        self._pass_through: PassThroughNode | None = None
        if aaa is not None:
            if not isinstance(server, PassThroughNode):
                raise TypeError("PaaRunner(aaa=...) needs a server with pending_aaa()/aaa_answer()")
            self._pass_through = server
        self.server = server
        self.transport = transport
        self._events = events
        self._on_event_hook = on_event
        self._aaa = aaa
        self._table = server if isinstance(server, _SessionTable) else None
        self.policy = admission if admission is not None else AdmissionPolicy()
        self.stats = AdmissionStats()
        self.gc_freezer = GcFreezer(gc)
        self._settled = 0  # sessions authenticated or re-keyed since the last _after_step
        slots = self.policy.retry_slots
        if slots & (slots - 1):
            raise ValueError("AdmissionPolicy.retry_slots must be 0 or a power of two")
        self._seen = array("I", bytes(4 * slots))
        """Fingerprints of PCI sources seen while overloaded, one per slot (hash of the address)."""
        self._seen_at = array("d", bytes(8 * slots))
        """When each slot's source was last seen (or preferred), in loop time."""
        self._slots: dict[int, _AaaSlot] = {}
        """Each pass-through session's back end and its step in progress."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._driver: Driver[E] = Driver(
            server,
            transport,
            self._on_event,
            trace=trace,
            after_step=self._after_step,
            contain_errors=True,
            admit=self._admit,
        )

    # ---- admission control ---------------------------------------------------------------------

    def _admit(self, batch: Sequence[tuple[bytes, Address]]) -> Sequence[tuple[bytes, Address]]:
        stats = self.stats
        size = len(batch)
        stats.batches += 1
        stats.datagrams += size
        if size > stats.max_backlog:
            stats.max_backlog = size
        limit = self.policy.backlog_limit
        if limit is None or size <= limit:
            return batch
        stats.overloaded_batches += 1
        # Serve every datagram of a session in progress; PCIs only while the budget lasts,
        # retransmissions first: under a spoofed flood a PaC's PCI retransmission (RFC 5191
        # s4.1, from the same address and port) is what tells it from the junk, which a
        # spoofing sender cannot answer and rarely repeats (issue 9: the legitimate PaC
        # starved over UDP). The table keeps one fingerprint and time per slot, 12 octets each.
        pcis = [i for i, (data, _) in enumerate(batch) if data[6:8] == _PCI]
        # The deeper the backlog past the limit, the fewer PCIs: from limit minus the session
        # traffic at the limit down to 1/16 of the limit at twice the limit, so reading catches
        # up with the kernel's queue; a full socket buffer drops session traffic like junk.
        budget = max(0, limit - (size - len(pcis)))
        budget = max(1, limit // 16, budget * max(0, 2 * limit - size) // limit)
        retries: list[int] = []
        fresh = pcis
        if self._seen:
            retries, fresh = self._retries(batch, pcis)
        admitted = set(retries[:budget])
        admitted.update(fresh[: budget - len(admitted)])
        stats.retry_admitted += min(len(retries), budget)
        stats.pci_admitted += len(admitted)
        stats.shed_pci += len(pcis) - len(admitted)
        if len(admitted) < len(pcis):
            logger.debug("overload: backlog %d, shed %d of %d PCIs", size,
                         len(pcis) - len(admitted), len(pcis))  # fmt: skip
        is_pci = set(pcis)
        return [item for i, item in enumerate(batch) if i in admitted or i not in is_pci]

    def _retries(
        self, batch: Sequence[tuple[bytes, Address]], pcis: list[int]
    ) -> tuple[list[int], list[int]]:
        """Split the batch's PCIs into retransmissions and first sightings, noting the sources.

        A retransmission comes from a source seen at least ``_RETRY_GAP`` earlier (PCI_IRT is
        1 s, RFC 5191 s9), so one address sending fast gains at most one preferred PCI per gap.
        """
        seen, when = self._seen, self._seen_at
        mask = len(seen) - 1
        now = self._driver.now()  # not get_running_loop(): CPython 3.11 checks getpid() each call
        retries: list[int] = []
        fresh: list[int] = []
        for i in pcis:
            h = hash(batch[i][1])
            slot, mark = h & mask, (h >> 20) & 0xFFFFFFFF or 1
            if seen[slot] != mark:
                seen[slot], when[slot] = mark, now
                fresh.append(i)
            elif now - when[slot] >= _RETRY_GAP:
                when[slot] = now
                retries.append(i)
            else:
                fresh.append(i)
        return retries, fresh

    # ---- events and AAA ------------------------------------------------------------------------

    def _on_event(self, event: E) -> None:
        if isinstance(event, PanaEvent):
            session_id = event.session_id
            if isinstance(event, (SessionTerminated, AuthenticationFailed)):
                slot = self._slots.pop(session_id, None)
                if slot is not None:
                    self._release(slot)  # withdraws a step still with the AAA server
            elif isinstance(event, (Authenticated, Reauthenticated)):
                self._settled += 1  # a long-lived session (new keys): counted by the GC policy
                if self._closing:
                    self._say_goodbye(session_id)  # it reached OPEN while we were closing
        if self._events is not None:
            self._events.put_nowait(event)
        if self._on_event_hook is not None:
            self._on_event_hook(event)

    def _after_step(self) -> None:
        if self._settled:
            settled, self._settled = self._settled, 0
            self.gc_freezer.settled(settled)  # may collect the unfrozen objects and freeze
        if self._pass_through is not None:
            work = self._pass_through.pending_aaa()
            if work:
                self._start_aaa(work)
        if self._closing and not self._live_sessions():
            self._driver.stop()

    def _start_aaa(self, work: list[tuple[int, bytes | None]]) -> None:
        assert self._aaa is not None
        slots = self._slots
        for session_id, eap_response in work:
            slot = slots.get(session_id)
            if slot is None:
                slot = slots[session_id] = _AaaSlot(self, session_id, self._aaa(session_id))
            if slot.busy:  # one exchange at a time per session: this one waits its turn
                if slot.queued is None:
                    slot.queued = [eap_response]
                else:
                    slot.queued.append(eap_response)
                continue
            self._begin(slot, eap_response)

    def _begin(self, slot: _AaaSlot, eap_response: bytes | None) -> None:
        """Start one step of the session's AAA conversation."""
        backend = slot.backend
        if slot.fresh:
            slot.fresh = False
        elif eap_response is None and callable(restart := getattr(backend, "restart", None)):
            restart()  # re-authentication: a new EAP conversation (RFC 5191 s4.3)
        slot.busy = True
        begin = slot.begin
        if begin is None:  # an exchange()-only back end (third-party): one task per step
            task = asyncio.get_running_loop().create_task(self._exchange(slot, eap_response))
            slot.task = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        try:
            output = begin(eap_response, slot)  # slot(output) later, from the event loop
        except Exception as exc:
            output = exc
        if output is not None:
            self._answered(slot, output)

    async def _exchange(self, slot: _AaaSlot, eap_response: bytes | None) -> None:
        output: Any
        try:
            output = await slot.backend.exchange(eap_response)
        except Exception as exc:
            output = exc
        slot.task = None
        slot(output)

    def _answered(self, slot: _AaaSlot, output: Any) -> None:
        """Hand a step's answer to its session, start the session's next step, flush."""
        assert self._pass_through is not None
        slot.busy = False
        session_id = slot.session_id
        if isinstance(output, Exception):  # AAA unreachable, wrong shared secret, bad answers
            # RFC 4137 s6 (aaaTimeout): the conversation fails. The session hears it as an
            # EAP failure without an EAP packet, so the PaC gets PAR[C] with Result-Code
            # PANA_AUTHENTICATION_REJECTED at once (RFC 5191 s4.1), not at its timer.
            logger.warning("AAA exchange for session 0x%08x failed: %s", session_id, output)
            output = AAA_FAILURE
        taken = True
        try:
            self._pass_through.aaa_answer(session_id, output, self._driver.now())
        except Exception as exc:  # the session ended while the AAA server thought
            logger.debug("AAA answer for session 0x%08x not taken: %s", session_id, exc)
            taken = False
        if slot.queued and self._slots.get(session_id) is slot:
            self._begin(slot, slot.queued.pop(0))
        if taken:
            self._driver.wake()  # sends what the answer produced (re-entrant from a flush)

    def _release(self, slot: _AaaSlot) -> None:
        """End a session's AAA conversation: withdraw its step in progress, close the back end."""
        slot.busy = False
        slot.queued = None
        task, slot.task = slot.task, None
        if task is not None:
            task.cancel()
        self._close(slot.backend)

    @staticmethod
    def _close(backend: object) -> None:
        # getattr, not isinstance() with a runtime-checkable Protocol (~10 us a check)
        close = getattr(backend, "close", None)
        if callable(close):
            close()  # RadiusPassThrough.close(): its socket, its request in progress

    # ---- shutdown ------------------------------------------------------------------------------

    def _live_sessions(self) -> list[_LiveSession]:
        if self._table is None:
            return []
        return [s for s in self._table if not s.closed]

    def _say_goodbye(self, session_id: int) -> None:
        if self._table is None:
            return
        try:
            self._table.terminate(session_id, self._driver.now())
        except Exception as exc:  # not OPEN yet: terminated once it gets there, or at the end
            logger.debug("session 0x%08x not terminated yet: %s", session_id, exc)

    def shutdown(self, grace: float = 2.0) -> None:
        """Send a PTR to every live session (RFC 5191 s4.4); run() returns once all are closed,
        or after ``grace`` seconds."""
        if self._closing:
            return
        self._closing = True
        for session in self._live_sessions():
            self._say_goodbye(session.session_id)
        asyncio.get_running_loop().call_later(grace, self._driver.stop)
        self._driver.wake()

    def stop(self) -> None:
        """Make run() return now, without terminating sessions."""
        self._driver.stop()

    async def run(self, shutdown: asyncio.Event | None = None, grace: float = 2.0) -> None:
        """Serve until the server closes, the transport closes, stop(), or a finished shutdown.

        Setting ``shutdown`` calls ``self.shutdown(grace)``.
        """

        async def watch(event: asyncio.Event) -> None:
            await event.wait()
            self.shutdown(grace)

        watcher = None if shutdown is None else asyncio.create_task(watch(shutdown))
        self.gc_freezer.start()  # after start-up: imports, the server and its tables are frozen
        try:
            await self._driver.run()
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            slots = list(self._slots.values())
            self._slots.clear()
            for slot in slots:
                self._release(slot)  # withdraws pending steps: their done is never called
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._close(self._aaa)  # a factory that shares resources (a RADIUS client)
            self.gc_freezer.stop()


async def serve_paa(
    server: SansIo[E],
    transport: Transport,
    *,
    events: asyncio.Queue[E] | None = None,
    aaa: Callable[[int], AaaBackend] | None = None,
    trace: FlowTrace | None = None,
    shutdown: asyncio.Event | None = None,
    grace: float = 2.0,
    gc: GcPolicy | None = None,
) -> None:
    """Run a PAA server until it closes, the transport closes, or the task is cancelled.

    Setting ``shutdown`` stops it in order: every live session gets a PTR (``terminate``,
    RFC 5191 s4.4, Termination-Cause ADMINISTRATIVE) and the runner returns once they are all
    closed, or after ``grace`` seconds. See PaaRunner for ``aaa`` (pass-through) and ``gc``.
    """
    runner = PaaRunner(server, transport, events=events, aaa=aaa, trace=trace, gc=gc)
    await runner.run(shutdown, grace)

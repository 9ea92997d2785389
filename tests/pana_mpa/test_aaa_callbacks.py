"""PaaRunner's pass-through callback path (issue 10): no task, lock or future per AAA exchange.

A back end with ``begin_exchange()`` (eap.aaa.RadiusPassThrough, the CLI's RadiusBackend) is
driven by callbacks: one step at a time per session, errors as AAA_FAILURE (RFC 4137
aaaTimeout), withdrawn when the session ends or the runner stops. Counted, never timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable, Coroutine, Generator, Iterator
from typing import Any

import pytest

from eap.aaa import client as radius_client_module
from eap.aaa.passthrough import RadiusConfig, RadiusError, RadiusPassThrough, radius_client
from eap.aaa.server import RadiusServer, RadiusServerCore
from eap.authenticator import AuthOutput
from eap.keys import Secret
from pana_mpa._avps import ResultCode
from pana_mpa.address import Address
from pana_mpa.aio import AAA_FAILURE, ClientError, PaaRunner, PacClient
from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
from pana_mpa.cli import peers as cp
from pana_mpa.cli.aaa import RadiusBackends
from pana_mpa.config import PaaConfig
from pana_mpa.events import Authenticated, AuthenticationFailed, SessionTerminated
from pana_mpa.paa import PaaServer
from pana_mpa.users import User, user_table

PAC: Address = ("10.0.0.1", 50000)
PAA: Address = ("10.0.0.2", 716)
PSK = "0123456789abcdef0123456789abcdef"
RADIUS_SECRET = Secret(b"callback-radius-secret")

# coroutines the old path made per AAA exchange; the callback path must make none of them
_PER_EXCHANGE = ("PaaRunner._exchange", "RadiusClient.transact", "RadiusPassThrough._link_task")


class _Node:
    """A pass-through node the test drives: queued AAA work, answers recorded, events on demand."""

    closed = False

    def __init__(self) -> None:
        self.work: list[tuple[int, bytes | None]] = []
        self.answers: list[tuple[int, object]] = []
        self.events: list[object] = []

    def pending_aaa(self) -> list[tuple[int, bytes | None]]:
        out, self.work = self.work, []
        return out

    def aaa_answer(self, session_id: int, output: object, now: float) -> None:
        self.answers.append((session_id, output))

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        pass

    def handle_timer(self, now: float) -> None:
        pass

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        return []

    def get_timer(self) -> float | None:
        return None

    def next_event(self) -> object | None:
        return self.events.pop(0) if self.events else None


class _Backend:
    """A callback back end whose answers the test gives (as a RADIUS socket reader would)."""

    def __init__(self, session_id: int) -> None:
        self.session_id = session_id
        self.calls: list[bytes | None] = []
        self.done: Callable[[Any], None] | None = None
        self.restarts = 0
        self.closed = False

    def begin_exchange(self, eap_response: bytes | None, done: Callable[[Any], None]) -> Any:
        self.calls.append(eap_response)
        if eap_response is None:
            return AuthOutput(b"identity-request", None)  # known at once: done is not called
        if eap_response == b"unsendable":
            raise RadiusError("cannot send")
        self.done = done
        return None

    async def exchange(self, eap_response: bytes | None) -> Any:
        raise AssertionError("the runner must use begin_exchange()")

    def restart(self) -> None:
        self.restarts += 1

    def close(self) -> None:
        self.closed = True


class _Factory:
    """aaa= for PaaRunner: one _Backend per session, all kept; closable like RadiusBackends."""

    def __init__(self) -> None:
        self.made: list[_Backend] = []
        self.closed = False

    def __call__(self, session_id: int) -> _Backend:
        self.made.append(_Backend(session_id))
        return self.made[-1]

    def close(self) -> None:
        self.closed = True


@contextlib.contextmanager
def _counting_tasks(loop: asyncio.AbstractEventLoop) -> Iterator[list[str]]:
    """Names of the coroutines of every task created on ``loop`` meanwhile."""
    names: list[str] = []
    factory = loop.get_task_factory()

    def count(
        loop: asyncio.AbstractEventLoop, coro: Generator[Any, None, Any] | Coroutine[Any, Any, Any]
    ) -> asyncio.Future[Any]:
        names.append(getattr(coro, "__qualname__", repr(coro)))
        if factory is not None:
            return factory(loop, coro)
        return asyncio.Task(coro, loop=loop)

    loop.set_task_factory(count)
    try:
        yield names
    finally:
        loop.set_task_factory(factory)


def _per_exchange(names: list[str]) -> list[str]:
    return [n for n in names if n.endswith(_PER_EXCHANGE)]


class _Harness:
    """A PaaRunner over a _Node on a loopback network; ``step()`` queues work and flushes."""

    def __init__(self, factory: Callable[[int], Any]) -> None:
        self.net = LoopbackNetwork()
        self.node = _Node()
        self.runner = PaaRunner(self.node, self.net.endpoint(PAA), aaa=factory)
        self._poker = self.net.endpoint(PAC)
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _Harness:
        self.task = asyncio.create_task(self.runner.run())
        await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.runner.stop()
        assert self.task is not None
        await self.task

    async def step(self, *work: tuple[int, bytes | None], events: tuple[object, ...] = ()) -> None:
        """Queue AAA work and events, then make the runner flush (a datagram wakes it)."""
        self.node.work.extend(work)
        self.node.events.extend(events)
        self._poker.sendto(b"wake up", PAA)
        await asyncio.sleep(0.01)


def _ended(session_id: int) -> SessionTerminated:
    return SessionTerminated(session_id=session_id, cause=1, by_peer=True, reason="termination")


def test_steps_start_without_tasks_one_at_a_time_per_session() -> None:
    factory = _Factory()

    async def main() -> tuple[list[str], _Node]:
        with _counting_tasks(asyncio.get_running_loop()) as names:
            async with _Harness(factory) as h:
                await h.step((1, None))
                assert h.node.answers == [(1, AuthOutput(b"identity-request", None))]
                await h.step((1, b"r1"), (1, b"r2"), (2, None))  # r2 waits for r1's answer
                first, second = factory.made
                assert first.calls == [None, b"r1"]
                assert first.done is not None
                first.done(AuthOutput(b"c1", None))  # as the RADIUS socket reader would
                assert first.calls == [None, b"r1", b"r2"]  # started in the same call
                first.done(AuthOutput(b"c2", None))
                assert second.calls == [None]
        return names, h.node

    names, node = run_virtual(main)
    assert node.answers[1:] == [
        (2, AuthOutput(b"identity-request", None)),
        (1, AuthOutput(b"c1", None)),
        (1, AuthOutput(b"c2", None)),
    ]
    assert _per_exchange(names) == []
    assert [b.session_id for b in factory.made] == [1, 2]  # one back end per session
    assert all(b.closed for b in factory.made) and factory.closed  # released when run() ends


def test_errors_become_an_aaa_failure() -> None:
    # RFC 4137 s6 (aaaTimeout): no usable answer fails the conversation at once
    factory = _Factory()

    async def main() -> _Node:
        async with _Harness(factory) as h:
            await h.step((1, None), (1, b"unsendable"))  # raised by begin_exchange
            await h.step((1, b"r1"))
            backend = factory.made[0]
            assert backend.done is not None
            backend.done(RadiusError("no reply from RADIUS server after 4 tries"))
        return h.node

    node = run_virtual(main)
    assert [out for _, out in node.answers] == [
        AuthOutput(b"identity-request", None),
        AAA_FAILURE,
        AAA_FAILURE,
    ]


def test_restart_only_for_a_later_conversation() -> None:
    factory = _Factory()

    async def main() -> None:
        async with _Harness(factory) as h:
            await h.step((1, None))
            await h.step((1, None))  # re-authentication: a new EAP conversation

    run_virtual(main)
    assert len(factory.made) == 1
    assert factory.made[0].restarts == 1


def test_a_session_ending_withdraws_its_pending_step() -> None:
    factory = _Factory()

    async def main() -> _Node:
        async with _Harness(factory) as h:
            await h.step((1, None), (1, b"r1"), (1, b"r2"))
            first = factory.made[0]
            stale = first.done
            await h.step(events=(_ended(1),))
            assert first.closed
            assert stale is not None
            stale(AuthOutput(b"late", None))  # a back end that answers anyway is ignored
            assert first.calls == [None, b"r1"]  # r2 was dropped with the session
            await h.step((1, None))  # the same id again (a new session): a new back end
        return h.node

    node = run_virtual(main)
    assert [out for _, out in node.answers] == [AuthOutput(b"identity-request", None)] * 2
    assert len(factory.made) == 2


def test_shutdown_with_pending_steps_closes_them() -> None:
    factory = _Factory()

    async def main() -> _Node:
        async with _Harness(factory) as h:
            await h.step((1, None), (1, b"r1"), (2, None), (2, b"r1"))
            pending = [b.done for b in factory.made]
        for done in pending:  # late answers after the runner stopped go nowhere
            assert done is not None
            done(AuthOutput(b"late", None))
        return h.node

    node = run_virtual(main)
    assert len(node.answers) == 2  # the two identity requests
    assert all(b.closed for b in factory.made) and factory.closed


def test_an_exchange_only_backend_still_works_with_one_task_per_step() -> None:
    class Old:
        closed = False

        async def exchange(self, eap_response: bytes | None) -> AuthOutput:
            await asyncio.sleep(0.5)
            return AuthOutput(b"answer", None)

        def close(self) -> None:
            self.closed = True

    made: list[Old] = []

    def factory(session_id: int) -> Old:
        made.append(Old())
        return made[-1]

    async def main() -> tuple[list[str], _Node]:
        with _counting_tasks(asyncio.get_running_loop()) as names:
            async with _Harness(factory) as h:
                await h.step((1, None), (1, b"r1"))  # one at a time: r1 waits its turn
                await asyncio.sleep(2)
                await h.step((2, None))
                await h.step(events=(_ended(2),))  # ends with its step pending: cancelled
                await asyncio.sleep(2)
        return names, h.node

    names, node = run_virtual(main)
    assert [sid for sid, _ in node.answers] == [1, 1]
    assert len(_per_exchange(names)) == 3
    assert all(b.closed for b in made)


# ---- over real UDP: a RADIUS server in this process, our RadiusClient -----------------------


def _pac(seed: int = 1) -> Any:
    opts = cp.PacOptions(
        paa=PAA, identity=b"alice", secret=cp.parse_secret("psk", PSK), method="psk", once=True
    )
    return cp.build_pac(opts, random.Random(seed).randbytes, None)


@contextlib.contextmanager
def _reader_marks() -> Iterator[list[bool]]:
    """True per aaa_answer() made from inside the RADIUS client's socket reader."""
    marks: list[bool] = []
    inside = [False]
    received = radius_client_module._Socket.datagram_received
    answer = PaaServer.aaa_answer

    def reader(self: Any, data: bytes) -> None:
        inside[0] = True
        try:
            received(self, data)
        finally:
            inside[0] = False

    def aaa_answer(self: PaaServer, session_id: int, output: Any, now: float) -> None:
        marks.append(inside[0])
        answer(self, session_id, output, now)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(radius_client_module._Socket, "datagram_received", reader)
        mp.setattr(PaaServer, "aaa_answer", aaa_answer)
        yield marks


async def _authenticate(aaa: Callable[[int], Any]) -> object:
    """One PaC through a pass-through PaaServer (loopback PANA); its outcome."""
    server = PaaServer(PaaConfig(), rng=random.Random(8).randbytes)
    net = LoopbackNetwork()
    runner = PaaRunner(server, net.endpoint(PAA), aaa=aaa)
    task = asyncio.create_task(runner.run())
    try:
        async with PacClient(_pac(), net.endpoint(PAC)) as client:
            outcome: object
            try:
                outcome = await client.authenticate(timeout=30)
            except ClientError as exc:
                outcome = exc
            return outcome
    finally:
        runner.stop()
        await task


@pytest.mark.udp
@pytest.mark.parametrize("backend", ["library", "cli"])
def test_radius_answers_go_from_the_socket_reader_to_the_session(backend: str) -> None:
    async def main() -> tuple[object, list[str], int, int]:
        core = RadiusServerCore(
            clients={"127.0.0.1": RADIUS_SECRET},
            backend=user_table({b"alice": User("psk", Secret(bytes.fromhex(PSK)))}),
            rng=random.Random(1).randbytes,
        )
        async with RadiusServer(core) as radius:
            address = await radius.start(port=0)
            config = RadiusConfig(server=address, secret=RADIUS_SECRET)
            aaa: Callable[[int], Any]
            if backend == "cli":
                aaa = backends = RadiusBackends(config, random.Random(2).randbytes)
                client = backends.client
            else:
                client = radius_client(config)

                def aaa(session_id: int) -> RadiusPassThrough:
                    return RadiusPassThrough(config, rng=random.Random(2).randbytes, client=client)

            with _counting_tasks(asyncio.get_running_loop()) as names:
                outcome = await _authenticate(aaa)
            requests, outstanding = client.stats.requests, client.outstanding
            client.close()
        return outcome, names, requests, outstanding

    with _reader_marks() as marks:
        outcome, names, requests, outstanding = asyncio.run(main())
    assert isinstance(outcome, Authenticated), outcome
    assert outcome.msk is not None
    assert requests == 3  # Identity, EAP-PSK 2, EAP-PSK 4 (RFC 4764)
    # our own Identity request at once, then each RADIUS answer from inside the socket reader
    assert marks == [False, True, True, True]
    assert _per_exchange(names) == []
    assert [n for n in names if "_open_and_post" in n] == ["RadiusClient._open_and_post"]
    assert outstanding == 0


@pytest.mark.udp
def test_radius_silence_fails_the_session_at_once() -> None:
    async def main() -> tuple[object, int, int, list[str]]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as black_hole:
            black_hole.bind(("127.0.0.1", 0))  # receives Access-Requests, never answers
            config = RadiusConfig(
                server=black_hole.getsockname(), secret=RADIUS_SECRET, timeout=0.05, retries=1
            )
            client = radius_client(config)

            def aaa(session_id: int) -> RadiusPassThrough:
                return RadiusPassThrough(config, client=client)

            with _counting_tasks(asyncio.get_running_loop()) as names:
                outcome = await _authenticate(aaa)
            stats = client.stats
            client.close()
        return outcome, stats.retransmissions, client.outstanding, names

    outcome, retransmissions, outstanding, names = asyncio.run(main())
    assert isinstance(outcome, ClientError), outcome
    assert isinstance(outcome.event, AuthenticationFailed)
    assert outcome.event.result_code == ResultCode.PANA_AUTHENTICATION_REJECTED
    assert retransmissions == 1  # RFC 2865 s2.5: the same request once more, then give up
    assert outstanding == 0
    assert _per_exchange(names) == []


def _identity_response(request: bytes) -> bytes:
    return bytes((2, request[1], 0, 10)) + b"\x01alice"  # EAP-Response/Identity "alice"


@pytest.mark.udp
def test_session_end_and_shutdown_withdraw_access_requests() -> None:
    async def main() -> tuple[int, int, int, list[tuple[int, object]]]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as black_hole:
            black_hole.bind(("127.0.0.1", 0))  # receives Access-Requests, never answers
            config = RadiusConfig(server=black_hole.getsockname(), secret=RADIUS_SECRET)
            client = radius_client(config)

            def aaa(session_id: int) -> RadiusPassThrough:
                return RadiusPassThrough(config, client=client)

            async with _Harness(aaa) as h:
                await h.step((1, None), (2, None))
                starts = list(h.node.answers)
                await h.step(*((sid, _identity_response(out.packet)) for sid, out in starts))  # type: ignore[attr-defined]
                pending = client.outstanding
                await h.step(events=(_ended(1),))
                after_end = client.outstanding
            after_stop = client.outstanding
            client.close()
        return pending, after_end, after_stop, h.node.answers

    pending, after_end, after_stop, answers = asyncio.run(main())
    assert (pending, after_end, after_stop) == (2, 1, 0)
    assert [sid for sid, _ in answers] == [1, 2]  # the identity requests, nothing after

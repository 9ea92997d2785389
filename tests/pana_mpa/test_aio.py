"""drive(), PacClient, serve_paa() on a LoopbackNetwork in virtual time, with fake sans-IO nodes."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from pana_mpa.address import Address
from pana_mpa.aio import AuthenticationRejected, ClientError, Driver, PacClient, drive, serve_paa
from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
from pana_mpa.events import Authenticated, PingAnswered, SessionTerminated
from pana_mpa.flow import FlowTrace
from tests.traces import trace_records

from .aio_fakes import FAKE_MSK, FakeEvent, FakePaa, FakePac

PAC: Address = ("10.0.0.1", 50000)
PAA: Address = ("10.0.0.2", 716)


async def _with_paa(
    net: LoopbackNetwork, paa: FakePaa, **kwargs: Any
) -> tuple[asyncio.Task[None], asyncio.Queue[FakeEvent]]:
    events: asyncio.Queue[FakeEvent] = asyncio.Queue()
    task = asyncio.create_task(serve_paa(paa, net.endpoint(PAA), events=events, **kwargs))
    return task, events


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_pac_client_authenticate_ping_terminate() -> None:
    async def main() -> tuple[list[FakeEvent], list[FakeEvent], float]:
        net = LoopbackNetwork(delay=0.01)
        server, paa_events = await _with_paa(net, FakePaa())
        loop = asyncio.get_running_loop()
        pac = FakePac(PAA)
        async with PacClient(pac, net.endpoint(PAC)) as client:
            auth = await client.authenticate()
            pong = await client.ping()
            bye = await client.terminate()
            seen = [e async for e in client.events()]
        await _stop(server)
        paa_seen = []
        while not paa_events.empty():
            paa_seen.append(paa_events.get_nowait())
        assert isinstance(auth, Authenticated)
        assert isinstance(pong, PingAnswered)
        assert isinstance(bye, SessionTerminated)
        return seen, paa_seen, loop.time()

    seen, paa_seen, end = run_virtual(main)
    assert [type(e).__name__ for e in seen] == [
        "Authenticated",
        "PingAnswered",
        "SessionTerminated",
    ]
    assert [type(e).__name__ for e in paa_seen] == ["Authenticated", "SessionTerminated"]
    # three round trips of 2 x 10 ms (PCI/PAR, PNR/PNA, PTR/PTA); the PAN needs no answer
    assert end == pytest.approx(0.06)


def test_retransmission_after_a_lost_pci() -> None:
    lost: list[bytes] = []

    def drop_first(data: bytes, src: Address, dst: Address) -> bool:
        if not lost:
            lost.append(data)
            return True
        return False

    async def main() -> tuple[float, FakePac]:
        net = LoopbackNetwork(drop=drop_first)
        server, _ = await _with_paa(net, FakePaa())
        pac = FakePac(PAA, rto=1.0)
        async with PacClient(pac, net.endpoint(PAC)) as client:
            await client.authenticate()
            t = asyncio.get_running_loop().time()
        await _stop(server)
        return t, pac

    t, pac = run_virtual(main)
    assert t == 1.0  # the retransmission timer fired exactly once, at the deadline
    assert pac.timer_calls == [1.0]


def test_no_paa_gives_a_clear_failure_after_retries() -> None:
    async def main() -> tuple[str, float]:
        net = LoopbackNetwork()
        async with PacClient(FakePac(PAA, rto=2.0, retries=3), net.endpoint(PAC)) as client:
            with pytest.raises(ClientError) as info:
                await client.authenticate()
            return str(info.value), asyncio.get_running_loop().time()

    message, t = run_virtual(main)
    assert message == (
        "session ended: no answer from the peer, retransmissions exhausted (RFC 5191 s9), by us"
    )
    assert t == 8.0  # four transmissions, 2 s apart, then give up


def test_rejection_reports_the_result_code() -> None:
    async def main() -> ClientError:
        net = LoopbackNetwork()
        server, _ = await _with_paa(net, FakePaa(reject=True))
        async with PacClient(FakePac(PAA), net.endpoint(PAC)) as client:
            with pytest.raises(ClientError) as info:
                await client.authenticate()
        await _stop(server)
        return info.value

    err = run_virtual(main)
    assert isinstance(err, AuthenticationRejected) and err.result_code == 1
    assert (
        str(err) == "authentication rejected by the PAA (Result-Code PANA_AUTHENTICATION_REJECTED)"
    )
    assert type(err.event).__name__ == "AuthenticationFailed"


def test_operation_timeout_and_usage_errors() -> None:
    async def main() -> None:
        net = LoopbackNetwork()
        client = PacClient(FakePac(PAA, rto=100.0), net.endpoint(PAC))
        with pytest.raises(ClientError, match="not running"):
            await client.authenticate()
        async with client:
            with pytest.raises(RuntimeError, match="ping before"):
                await client.ping()  # the core's own usage error propagates unchanged
            with pytest.raises(TimeoutError):
                await client.authenticate(timeout=5.0)
            assert asyncio.get_running_loop().time() == 5.0

    run_virtual(main)


def test_close_while_waiting_fails_the_waiter_and_ends_events() -> None:
    async def main() -> None:
        net = LoopbackNetwork()
        transport = net.endpoint(PAC)
        async with PacClient(FakePac(PAA, rto=100.0), transport) as client:
            waiter = asyncio.ensure_future(client.authenticate())
            await asyncio.sleep(1.0)
            await client.close()
            with pytest.raises(ClientError, match="closed before"):
                await waiter
            assert [e async for e in client.events()] == []
        assert transport.closed

    run_virtual(main)


def test_drive_runs_until_the_node_closes() -> None:
    async def main() -> list[str]:
        net = LoopbackNetwork()
        server, _ = await _with_paa(net, FakePaa(reject=True))
        pac = FakePac(PAA)
        pac.start(0.0)
        events: asyncio.Queue[FakeEvent] = asyncio.Queue()
        await drive(pac, net.endpoint(PAC), events)  # returns once the PaC core is closed
        await _stop(server)
        return [type(events.get_nowait()).__name__ for _ in range(events.qsize())]

    assert run_virtual(main) == ["AuthenticationFailed"]


def test_driver_wake_flushes_work_queued_by_the_caller() -> None:
    async def main() -> tuple[list[str], float]:
        net = LoopbackNetwork()
        server, _ = await _with_paa(net, FakePaa())
        pac = FakePac(PAA)
        seen: list[FakeEvent] = []
        driver = Driver(pac, net.endpoint(PAC), seen.append)
        task = asyncio.create_task(driver.run())
        await asyncio.sleep(5.0)  # the driver waits with no timer armed
        pac.start(asyncio.get_running_loop().time())
        driver.wake()
        await asyncio.sleep(1.0)
        pac.terminate(asyncio.get_running_loop().time())
        driver.wake()
        await task
        await _stop(server)
        return [type(e).__name__ for e in seen], asyncio.get_running_loop().time()

    names, end = run_virtual(main)
    assert names == ["Authenticated", "SessionTerminated"]
    assert end == 6.0


def test_driver_stops_when_the_transport_closes() -> None:
    async def main() -> None:
        net = LoopbackNetwork()
        transport = net.endpoint(PAC)
        pac = FakePac(PAA, rto=1000.0)
        task = asyncio.create_task(drive(pac, transport, asyncio.Queue()))
        await asyncio.sleep(1.0)
        transport.close()
        await task
        assert not pac.closed

    run_virtual(main)


class _Backend:
    def __init__(self, session_id: int, log: list[tuple[int, bytes | None, float]]) -> None:
        self.session_id = session_id
        self.log = log

    closed = False

    def close(self) -> None:
        self.closed = True

    async def exchange(self, eap_response: bytes | None) -> bytes:
        loop = asyncio.get_running_loop()
        self.log.append((self.session_id, eap_response, loop.time()))
        await asyncio.sleep(0.5)  # the AAA server's round trip, in virtual time
        return b"\x01\x01\x00\x05\x01"  # EAP Request/Identity


def test_serve_paa_pass_through_calls_the_backend_and_feeds_the_answer() -> None:
    log: list[tuple[int, bytes | None, float]] = []
    made: list[_Backend] = []

    def factory(session_id: int) -> _Backend:
        made.append(_Backend(session_id, log))
        return made[-1]

    async def main() -> FakePaa:
        net = LoopbackNetwork()
        paa = FakePaa(pass_through=True)
        server, _ = await _with_paa(net, paa, aaa=factory)
        async with PacClient(FakePac(PAA, rto=3.0), net.endpoint(PAC)) as client:
            await client.authenticate()
            assert asyncio.get_running_loop().time() == 0.5
        await _stop(server)
        return paa

    paa = run_virtual(main)
    assert [b.session_id for b in made] == [0x1000]
    assert made[0].closed  # released when serve_paa ended
    assert log == [(0x1000, None, 0.0)]
    assert paa.aaa_answers == [(0x1000, b"\x01\x01\x00\x05\x01", 0.5)]


def test_serve_paa_backend_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        async def exchange(self, eap_response: bytes | None) -> bytes:
            raise OSError("RADIUS server unreachable")

    async def main() -> None:
        net = LoopbackNetwork()
        server, _ = await _with_paa(net, FakePaa(pass_through=True), aaa=lambda sid: Broken())
        async with PacClient(FakePac(PAA, rto=1.0, retries=1), net.endpoint(PAC)) as client:
            with pytest.raises(ClientError):
                await client.authenticate()
        assert not server.done()
        await _stop(server)

    run_virtual(main)
    assert "RADIUS server unreachable" in caplog.text


def test_serve_paa_refuses_aaa_without_pass_through_surface() -> None:
    async def main() -> None:
        net = LoopbackNetwork()
        with pytest.raises(TypeError, match="pending_aaa"):
            await serve_paa(FakePac(PAA), net.endpoint(PAA), aaa=lambda sid: _Backend(sid, []))

    run_virtual(main)


def test_many_pacs_one_paa() -> None:
    async def main() -> int:
        net = LoopbackNetwork(seed=11, delay=0.001, jitter=0.002, loss=0.1)
        server, _ = await _with_paa(net, FakePaa())

        async def one(i: int) -> int:
            pac = FakePac(PAA, rto=1.0, retries=8)
            async with PacClient(pac, net.endpoint((f"10.0.1.{i}", 50000))) as client:
                event = await client.authenticate()
                await client.terminate()
                return event.session_id

        sids = await asyncio.gather(*(one(i) for i in range(1, 31)))
        await _stop(server)
        return len(set(sids))

    assert run_virtual(main) == 30


def test_trace_records_codes_and_lengths_never_keys() -> None:
    stream = io.StringIO()

    async def main() -> None:
        net = LoopbackNetwork()
        server, _ = await _with_paa(net, FakePaa())
        trace = FlowTrace(stream, role="pac")
        async with PacClient(FakePac(PAA), net.endpoint(PAC), trace=trace) as client:
            await client.authenticate()
            await client.terminate()
        await _stop(server)

    run_virtual(main)
    text = stream.getvalue()
    assert FAKE_MSK.hex() not in text
    records = trace_records(text, "pac")
    flow = [(r["dir"], r["type"], r["flags"]) for r in records if "dir" in r]
    assert flow == [
        ("tx", "PCI", ""),
        ("rx", "PAR", "RS"),
        ("tx", "PAN", "S"),
        ("tx", "PTR", "R"),
        ("rx", "PTA", ""),
    ]
    assert all(isinstance(r["t"], float) for r in records)
    auth = next(r for r in records if r.get("name") == "Authenticated")
    assert auth["event"] == "session_event"
    assert auth["msk"] == {"secret_octets": 32}
    assert auth["key_id"] == 1
    ptr = next(r for r in records if r.get("type") == "PTR")
    assert ptr["avps"] == [{"code": 9, "vendor_id": None, "name": "Termination-Cause", "length": 4}]


def test_serve_paa_survives_a_core_bug(caplog: pytest.LogCaptureFixture) -> None:
    class Buggy(FakePaa):
        def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
            if data == b"boom":
                raise RuntimeError("bug in the core")
            super().receive_datagram(data, addr, now)

    async def main() -> None:
        net = LoopbackNetwork()
        server, _ = await _with_paa(net, Buggy())
        net.endpoint(("10.9.9.9", 1)).sendto(b"boom", PAA)
        async with PacClient(FakePac(PAA), net.endpoint(PAC)) as client:
            await client.authenticate()
        assert not server.done()
        await _stop(server)

    run_virtual(main)
    assert "internal error on 4 octets" in caplog.text


def test_pac_client_does_not_hide_a_core_bug() -> None:
    class Buggy(FakePac):
        def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
            raise RuntimeError("bug in the core")

    async def main() -> None:
        net = LoopbackNetwork()
        server, _ = await _with_paa(net, FakePaa())
        client = PacClient(Buggy(PAA), net.endpoint(PAC))
        async with client:
            with pytest.raises(ClientError, match="closed before"):
                await client.authenticate()
        await _stop(server)

    with pytest.raises(RuntimeError, match="bug in the core"):
        run_virtual(main)


def test_a_stuck_timer_does_not_spin(caplog: pytest.LogCaptureFixture) -> None:
    class Stuck(FakePac):
        def get_timer(self) -> float | None:
            return 1.0  # never moves, whatever handle_timer() did

        def handle_timer(self, now: float) -> None:
            self.timer_calls.append(now)
            if len(self.timer_calls) >= 50:
                self.closed = True

    async def main() -> tuple[list[float], float]:
        node = Stuck(PAA)
        await drive(node, LoopbackNetwork().endpoint(PAC), asyncio.Queue())
        return node.timer_calls, asyncio.get_running_loop().time()

    calls, end = run_virtual(main)
    assert len(calls) == 50
    assert end == pytest.approx(1.0 + 49 * 0.01)  # one retry per 10 ms, not a busy loop
    assert caplog.text.count("keeps an expired timer") == 1


def test_datagram_summaries() -> None:
    from pana_codecs import Avp, PanaMessage, encode_pana
    from pana_mpa.flow import describe_datagram, eap_text, format_message

    junk = describe_datagram(b"\x00\x01junk")
    assert junk["type"] == "undecodable" and junk["length"] == 6
    assert format_message(junk).startswith("undecodable (6 octets: ")
    eap_identity = b"\x02\x07\x00\x0a\x01alice"  # Response/Identity "alice"
    msg = PanaMessage(
        7, 0x8000, 1, 2, (Avp(2, eap_identity), Avp(99, b"x" * 5, vendor_id=32473), Avp(77, b""))
    )
    summary = describe_datagram(encode_pana(msg))
    assert summary["type"] == "type7"
    assert [a["name"] for a in summary["avps"]] == ["EAP-Payload", "Vendor-32473-AVP-99", "AVP-77"]
    assert summary["avps"][0]["eap"] == {"code": 2, "identifier": 7, "type": 1}
    assert eap_text(summary["avps"][0]["eap"]) == "Response/Identity"
    assert "alice" not in str(summary)
    assert format_message(summary).split()[:3] == ["type7[R]", "seq=2", "sid=0x00000001"]


def test_no_task_per_datagram_and_one_timer_handle() -> None:
    """The driver calls the core from the transport's callback: 50 pings (100 datagrams at
    each end) create no task beyond the client's own requests, and never more than one timer
    handle per driver is pending."""

    async def main() -> tuple[int, int, int]:
        loop = asyncio.get_running_loop()
        created = 0
        factory = loop.get_task_factory()

        def counting(lp: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
            nonlocal created
            created += 1
            if factory is not None:
                return factory(lp, coro, **kwargs)
            return asyncio.Task(coro, loop=lp, **kwargs)

        loop.set_task_factory(counting)
        net = LoopbackNetwork(delay=0.01)
        server, _ = await _with_paa(net, FakePaa())
        pac = FakePac(PAA, rto=5.0)
        async with PacClient(pac, net.endpoint(PAC)) as client:
            await client.authenticate()
            before = created
            most_timers = 0
            for _ in range(50):
                await client.ping()
                most_timers = max(most_timers, len(loop._scheduled))  # type: ignore[attr-defined]
            during = created - before
        await _stop(server)
        return during, most_timers, len(pac.received)

    during, most_timers, received = run_virtual(main)
    assert received == 51
    assert during == 0  # (the pings are awaited in this task; nothing else is created)
    assert most_timers <= 2  # the PaC's one retransmission timer (+ a datagram in flight)


class _PullOnly:
    """A Transport without attach(): the driver falls back to one reader task."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def sendto(self, data: bytes, addr: Address) -> None:
        self._inner.sendto(data, addr)

    async def recvfrom(self) -> tuple[bytes, Address]:
        result: tuple[bytes, Address] = await self._inner.recvfrom()
        return result

    def close(self) -> None:
        self._inner.close()


def test_a_pull_only_transport_still_works() -> None:
    async def main() -> list[str]:
        net = LoopbackNetwork(delay=0.01)
        server, _ = await _with_paa(net, FakePaa())
        async with PacClient(FakePac(PAA), _PullOnly(net.endpoint(PAC))) as client:
            await client.authenticate()
            await client.ping()
            await client.terminate()
            names = [type(e).__name__ async for e in client.events()]
        await _stop(server)
        return names

    assert run_virtual(main) == ["Authenticated", "PingAnswered", "SessionTerminated"]

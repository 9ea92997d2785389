"""The Driver's work per step, counted (issue 10: CPU per authentication at one PaC at a time).

One step is one batch from the transport, one timer or one wake(): every datagram's answers go
out at once, after_step and get_timer() run once per step, and a deadline that only moves later
keeps the armed timer handle instead of a cancel and a new handle per datagram. Virtual time,
never timed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pana_mpa.address import Address
from pana_mpa.aio import Driver
from pana_mpa.aio.loopback import run_virtual
from pana_mpa.aio.transport import DatagramSink

PEER: Address = ("192.0.2.1", 716)


class _Node:
    """Answers every datagram at once; its one deadline is a fixed time after the last one."""

    def __init__(self, rto: float = 1.0) -> None:
        self.rto = rto
        self.closed = False
        self.deadline: float | None = None
        self.received: list[tuple[bytes, float]] = []
        self.timers: list[float] = []
        self.get_timer_calls = 0
        self._out: list[tuple[bytes, Address]] = []
        self._events: list[str] = []

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self.received.append((data, now))
        self._out.append((b"re:" + data, addr))
        self.deadline = now + self.rto  # a request's retransmission timer (RFC 5191 s9)
        if data == b"event":
            self._events.append("event")

    def handle_timer(self, now: float) -> None:
        self.timers.append(now)
        self.deadline = None

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        self.get_timer_calls += 1
        return self.deadline

    def next_event(self) -> str | None:
        return self._events.pop(0) if self._events else None


class _Transport:
    """A PushTransport the test feeds by hand."""

    def __init__(self) -> None:
        self.sink: DatagramSink | None = None
        self.sent: list[bytes] = []

    def attach(self, sink: DatagramSink) -> None:
        self.sink = sink

    def detach(self) -> None:
        self.sink = None

    def sendto(self, data: bytes, addr: Address) -> None:
        self.sent.append(data)

    async def recvfrom(self) -> tuple[bytes, Address]:
        raise NotImplementedError

    def close(self) -> None:
        if self.sink is not None:
            self.sink.transport_closed()

    def push(self, *datagrams: bytes) -> None:
        assert self.sink is not None
        batch: Sequence[tuple[bytes, Address]] = [(d, PEER) for d in datagrams]
        self.sink.receive_batch(batch)


def _counting_call_at(loop: asyncio.AbstractEventLoop) -> list[float]:
    armed: list[float] = []
    call_at = loop.call_at

    def counting(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        if getattr(callback, "__name__", "") == "_on_timer":  # the driver's, not sleep()'s
            armed.append(when)
        return call_at(when, callback, *args, **kwargs)

    loop.call_at = counting  # type: ignore[method-assign,assignment]
    return armed


def test_one_after_step_and_one_get_timer_per_batch() -> None:
    async def main() -> tuple[_Node, _Transport, list[str], int]:
        node, transport = _Node(), _Transport()
        seen: list[str] = []
        steps = 0

        def after_step() -> None:
            nonlocal steps
            steps += 1

        driver = Driver(node, transport, seen.append, after_step=after_step)
        task = asyncio.create_task(driver.run())
        await asyncio.sleep(0)
        start = (steps, node.get_timer_calls)
        assert start == (1, 1)  # start() flushes the node once
        for _ in range(10):
            transport.push(b"one")  # one datagram per wake-up: the quiet PAA's case
        transport.push(b"a", b"event", b"c")  # a batch of three, with an event
        assert transport.sent == [b"re:one"] * 10 + [b"re:a", b"re:event", b"re:c"]
        driver.stop()
        await task
        return node, transport, seen, steps - start[0]

    node, _, seen, steps = run_virtual(main)
    assert seen == ["event"]
    assert steps == 11 + 1  # one per batch (+ the stop)
    assert node.get_timer_calls == 1 + 11  # (stop() finishes without a timer)


def test_a_later_deadline_keeps_the_armed_handle() -> None:
    """Ten datagrams, each pushing the deadline 1 s past itself: one handle armed, it fires
    early once and is re-armed for the real deadline, where handle_timer() runs once."""

    async def main() -> tuple[_Node, list[float]]:
        loop = asyncio.get_running_loop()
        armed = _counting_call_at(loop)
        node, transport = _Node(rto=1.0), _Transport()
        driver = Driver(node, transport, lambda e: None)
        task = asyncio.create_task(driver.run())
        await asyncio.sleep(0)
        for _ in range(10):
            transport.push(b"x")
            await asyncio.sleep(0.05)
        last = node.received[-1][1]
        await asyncio.sleep(5.0)
        assert node.timers == [last + 1.0]  # at the real deadline, not the first one
        driver.stop()
        await task
        return node, armed

    node, armed = run_virtual(main)
    first = node.received[0][1]
    last = node.received[-1][1]
    assert armed == [first + 1.0, last + 1.0]  # not one new handle per datagram


def test_an_earlier_deadline_re_arms_at_once() -> None:
    async def main() -> tuple[_Node, list[float]]:
        loop = asyncio.get_running_loop()
        armed = _counting_call_at(loop)
        node, transport = _Node(rto=10.0), _Transport()
        driver = Driver(node, transport, lambda e: None)
        task = asyncio.create_task(driver.run())
        await asyncio.sleep(0)
        transport.push(b"x")  # deadline +10 s
        node.rto = 1.0
        transport.push(b"y")  # deadline +1 s: earlier, so a new handle
        await asyncio.sleep(2.0)
        driver.stop()
        await task
        return node, armed

    node, armed = run_virtual(main)
    assert armed == [10.0, 1.0]
    assert node.timers == [1.0]

"""LoopbackNetwork, its seeded impairments, VirtualTimeLoop, and the address helpers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pana_mpa.aio.loopback import LoopbackNetwork, LoopbackTransport, VirtualTimeLoop, run_virtual
from pana_mpa.aio.transport import (
    PANA_PORT,
    Address,
    TransportClosed,
    format_address,
    parse_address,
)

A: Address = ("10.0.0.1", 716)
B: Address = ("10.0.0.2", 716)


async def _drain(t: LoopbackTransport) -> list[tuple[float, bytes, Address]]:
    """Everything that arrives until the virtual clock has run 10 s past the last send."""
    loop = asyncio.get_running_loop()
    got: list[tuple[float, bytes, Address]] = []
    while True:
        try:
            async with asyncio.timeout(10.0):
                data, src = await t.recvfrom()
        except TimeoutError:
            return got
        got.append((loop.time(), data, src))


def _send_and_collect(net: LoopbackNetwork, n: int) -> list[tuple[float, bytes, Address]]:
    async def main() -> list[tuple[float, bytes, Address]]:
        a, b = net.endpoint(A), net.endpoint(B)
        for i in range(n):
            a.sendto(i.to_bytes(2, "big"), B)
        return await _drain(b)

    return run_virtual(main)


def test_delivers_in_order_with_source() -> None:
    got = _send_and_collect(LoopbackNetwork(), 5)
    assert [d for _, d, _ in got] == [i.to_bytes(2, "big") for i in range(5)]
    assert {src for _, _, src in got} == {A}
    assert {t for t, _, _ in got} == {0.0}


def test_unknown_destination_and_closed_endpoint_drop() -> None:
    async def main() -> LoopbackNetwork:
        net = LoopbackNetwork()
        a, b = net.endpoint(A), net.endpoint(B)
        a.sendto(b"x", ("10.9.9.9", 1))
        b.close()
        a.sendto(b"y", B)
        b.sendto(b"z", A)  # sending on a closed endpoint is a silent drop
        assert B not in net.endpoints
        return net

    net = run_virtual(main)
    assert (net.sent, net.delivered, net.dropped) == (2, 0, 2)


def test_close_wakes_a_waiting_receiver_and_later_calls() -> None:
    async def main() -> None:
        t = LoopbackNetwork().endpoint(A)
        waiter = asyncio.ensure_future(t.recvfrom())
        await asyncio.sleep(0)
        t.close()
        with pytest.raises(TransportClosed):
            await waiter
        with pytest.raises(TransportClosed):
            await t.recvfrom()
        t.close()  # idempotent

    run_virtual(main)


def test_port_zero_allocates_and_duplicates_are_refused() -> None:
    net = LoopbackNetwork()
    t1 = net.endpoint(("127.0.0.1", 0))
    t2 = net.endpoint(("127.0.0.1", 0))
    assert t1.local_address != t2.local_address
    assert t1.local_address[1] >= 49152
    with pytest.raises(OSError, match="already in use"):
        net.endpoint(t1.local_address)


def test_seeded_loss_is_reproducible_and_about_right() -> None:
    runs = [_send_and_collect(LoopbackNetwork(seed=7, loss=0.3), 400) for _ in range(2)]
    assert runs[0] == runs[1]
    other = _send_and_collect(LoopbackNetwork(seed=8, loss=0.3), 400)
    assert [d for _, d, _ in other] != [d for _, d, _ in runs[0]]
    assert 200 < len(runs[0]) < 360  # 400 * 0.7 = 280 expected


def test_duplication_delivers_some_twice() -> None:
    net = LoopbackNetwork(seed=1, duplicate=0.5)
    got = _send_and_collect(net, 100)
    payloads = [d for _, d, _ in got]
    assert len(payloads) == net.delivered > 100
    assert set(payloads) == {i.to_bytes(2, "big") for i in range(100)}


def test_reordering_holds_some_back() -> None:
    got = _send_and_collect(LoopbackNetwork(seed=3, reorder=0.3, reorder_delay=0.05), 50)
    payloads = [d for _, d, _ in got]
    assert sorted(payloads) == [i.to_bytes(2, "big") for i in range(50)]
    assert payloads != sorted(payloads)
    assert {t for t, _, _ in got} == {0.0, 0.05}


def test_delay_and_jitter_use_the_loop_clock() -> None:
    got = _send_and_collect(LoopbackNetwork(seed=5, delay=0.2, jitter=0.1), 20)
    assert len(got) == 20
    assert all(0.2 <= t <= 0.3 for t, _, _ in got)
    assert len({t for t, _, _ in got}) > 1


def test_drop_hook_and_tap() -> None:
    seen: list[tuple[float, Address, Address, bytes]] = []
    net = LoopbackNetwork(
        drop=lambda data, src, dst: data == b"\x00\x01", tap=lambda *a: seen.append(a)
    )
    got = _send_and_collect(net, 3)
    assert [d for _, d, _ in got] == [b"\x00\x00", b"\x00\x02"]
    assert [s[3] for s in seen] == [b"\x00\x00", b"\x00\x01", b"\x00\x02"]
    assert seen[0][1:3] == (A, B)


def test_queue_limit_drops_excess() -> None:
    net = LoopbackNetwork(queue_limit=3)
    assert len(_send_and_collect(net, 10)) == 3
    assert net.dropped == 7


@pytest.mark.parametrize(
    "kwargs", [{"loss": 1.5}, {"duplicate": -0.1}, {"reorder": 2}, {"delay": -1}]
)
def test_bad_impairments_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LoopbackNetwork(**kwargs)


def test_virtual_loop_jumps_over_sleeps() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(24 * 3600)
        return loop.time()

    assert run_virtual(main, start=5.0) == 5.0 + 24 * 3600


def test_virtual_loop_reports_deadlock_instead_of_hanging() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(RuntimeError, match="wait forever"):
        run_virtual(main)


def test_virtual_loop_still_runs_call_soon_threadsafe() -> None:
    loop = VirtualTimeLoop()
    try:
        fut = loop.create_future()
        loop.call_soon_threadsafe(fut.set_result, 42)
        assert loop.run_until_complete(fut) == 42
    finally:
        loop.close()


@pytest.mark.parametrize(
    ("text", "addr"),
    [
        ("127.0.0.1:716", ("127.0.0.1", 716)),
        ("127.0.0.1", ("127.0.0.1", PANA_PORT)),
        ("[::1]:20716", ("::1", 20716)),
        ("[::1]", ("::1", PANA_PORT)),
        ("::1", ("::1", PANA_PORT)),
        ("2001:db8:0:0::1", ("2001:db8::1", PANA_PORT)),
        (" 10.1.2.3:0 ", ("10.1.2.3", 0)),
    ],
)
def test_parse_address(text: str, addr: Address) -> None:
    assert parse_address(text) == addr


@pytest.mark.parametrize(
    "text", ["localhost:716", "1.2.3.4:x", "1.2.3.4:70000", "[::1", "[::1]x", "", "1.2.3:4"]
)
def test_parse_address_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)


def test_format_address() -> None:
    assert format_address(("::1", 716)) == "[::1]:716"
    assert format_address(("127.0.0.1", 716)) == "127.0.0.1:716"
    assert parse_address(format_address(("fe80::1", 9))) == ("fe80::1", 9)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    loss=st.floats(0, 1),
    duplicate=st.floats(0, 1),
    reorder=st.floats(0, 1),
    count=st.integers(0, 60),
)
def test_every_datagram_is_accounted_for(
    seed: int, loss: float, duplicate: float, reorder: float, count: int
) -> None:
    net = LoopbackNetwork(
        seed=seed, loss=loss, duplicate=duplicate, reorder=reorder, delay=0.01, jitter=0.01
    )
    got = _send_and_collect(net, count)
    assert net.sent == count
    assert len(got) == net.delivered
    assert net.delivered + net.dropped == net.sent + net.duplicated
    assert {d for _, d, _ in got} <= {i.to_bytes(2, "big") for i in range(count)}
    assert all(0.01 <= t <= 0.02 + net.reorder_delay + 1e-9 for t, _, _ in got)

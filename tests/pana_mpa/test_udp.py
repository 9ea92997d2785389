"""UdpTransport on real loopback sockets (127.0.0.1 and ::1), and the fake PaC/PAA over UDP."""

from __future__ import annotations

import asyncio
import socket

import pytest

from pana_mpa.address import Address
from pana_mpa.aio import PacClient, serve_paa
from pana_mpa.aio.transport import TransportClosed
from pana_mpa.aio.udp import UdpTransport
from tests.realcomponents import IN_CI

from .aio_fakes import FakePaa, FakePac

pytestmark = [pytest.mark.udp, pytest.mark.asyncio]

HOSTS = ["127.0.0.1", "::1"]


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def _host_param(host: str) -> object:
    marks = []
    if ":" in host:
        # with CI=true a missing IPv6 loopback fails the test instead (tests/realcomponents.py)
        marks.append(
            pytest.mark.skipif(not IN_CI and not _has_ipv6_loopback(), reason="no IPv6 loopback")
        )
    return pytest.param(host, marks=marks, id="v6" if ":" in host else "v4")


@pytest.mark.parametrize("host", [_host_param(h) for h in HOSTS])
async def test_roundtrip(host: str) -> None:
    a = await UdpTransport.bind(host, 0)
    b = await UdpTransport.bind(host, 0)
    try:
        assert a.local_address[0] == host and a.local_address[1] != 0
        a.sendto(b"hello", b.local_address)
        data, src = await asyncio.wait_for(b.recvfrom(), 10)
        assert (data, src) == (b"hello", a.local_address)
        b.sendto(b"back", src)
        assert await asyncio.wait_for(a.recvfrom(), 10) == (b"back", b.local_address)
    finally:
        a.close()
        b.close()


async def test_close_wakes_the_receiver() -> None:
    t = await UdpTransport.bind("127.0.0.1", 0)
    waiter = asyncio.ensure_future(t.recvfrom())
    await asyncio.sleep(0)
    t.close()
    with pytest.raises(TransportClosed):
        await asyncio.wait_for(waiter, 10)
    with pytest.raises(TransportClosed):
        await t.recvfrom()
    t.sendto(b"dropped", ("127.0.0.1", 9))  # after close: silently dropped
    t.close()


async def test_send_refuses_names_and_drops_unsendable() -> None:
    t = await UdpTransport.bind("127.0.0.1", 0)
    try:
        with pytest.raises(ValueError):
            t.sendto(b"x", ("localhost", 716))
        t.sendto(b"x", ("::1", 716))  # IPv6 destination on an IPv4 socket: dropped, no raise
        # port-unreachable ICMP comes back through error_received(); nothing raises
        t.sendto(b"x", ("127.0.0.1", 9))
        await asyncio.sleep(0)
    finally:
        t.close()


async def test_sending_to_many_addresses_keeps_no_state_per_destination() -> None:
    """A PAA answers each spoofed PCI once: nothing per destination stays behind (issue 9)."""
    t = await UdpTransport.bind("127.0.0.1", 0)
    try:
        for i in range(5000):
            t.sendto(b"x", (f"127.{i >> 8 & 255}.{i & 255}.1", 1024 + i))
        assert len(t._dest) == 0
        t.sendto(b"x", ("::1", 716))  # needs the slow check: remembered, in a bounded cache
        assert len(t._dest) == 1
    finally:
        t.close()
    if not IN_CI and not _has_ipv6_loopback():
        return
    t6 = await UdpTransport.bind("::", 0)
    try:
        for i in range(3000):
            t6.sendto(b"x", (f"127.0.{i >> 8}.{i & 255}", 9))  # IPv4-mapped without a cache
        assert len(t6._dest) == 0
    finally:
        t6.close()


async def test_bind_refuses_names() -> None:
    with pytest.raises(ValueError):
        await UdpTransport.bind("localhost", 0)


@pytest.mark.parametrize("host", [_host_param(h) for h in HOSTS])
async def test_fake_pac_and_paa_over_udp(host: str) -> None:
    paa_transport = await UdpTransport.bind(host, 0)
    server = asyncio.create_task(serve_paa(FakePaa(), paa_transport))
    try:
        pac = FakePac(paa_transport.local_address, rto=0.5, retries=10)
        async with PacClient(pac, await UdpTransport.bind(host, 0)) as client:
            auth = await asyncio.wait_for(client.authenticate(), 30)
            await asyncio.wait_for(client.ping(), 30)
            await asyncio.wait_for(client.terminate(), 30)
        assert type(auth).__name__ == "Authenticated"
    finally:
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server
        paa_transport.close()


async def test_full_receive_queue_drops() -> None:
    rx = await UdpTransport.bind("127.0.0.1", 0, queue_limit=2)
    tx = await UdpTransport.bind("127.0.0.1", 0)
    try:
        for i in range(5):
            tx.sendto(bytes([i]), rx.local_address)
        async with asyncio.timeout(30):  # until the kernel has handed all five over
            while rx.dropped < 3:
                await asyncio.sleep(0.01)
        assert [(await rx.recvfrom())[0] for _ in range(2)] == [b"\x00", b"\x01"]
    finally:
        rx.close()
        tx.close()


async def test_sending_to_the_same_peer_checks_its_address_once() -> None:
    """At one PaC at a time every answer goes to the same peer: its literal is checked once
    (one remembered destination, not a table); a new peer is checked again, names still raise."""
    rx = await UdpTransport.bind("127.0.0.1", 0)
    t = await UdpTransport.bind("127.0.0.1", 0)
    checked: list[Address] = []
    plain = t._plain

    def counting(addr: Address) -> Address | None:
        checked.append(addr)
        return plain(addr)

    t._plain = counting  # type: ignore[method-assign]
    try:
        for _ in range(5):
            t.sendto(b"x", rx.local_address)
        t.sendto(b"y", ("127.0.0.1", 9))
        t.sendto(b"z", rx.local_address)
        assert checked == [rx.local_address, ("127.0.0.1", 9), rx.local_address]
        with pytest.raises(ValueError):
            t.sendto(b"x", ("localhost", 716))
        async with asyncio.timeout(30):
            got = [(await rx.recvfrom())[0] for _ in range(6)]
        assert got == [b"x"] * 5 + [b"z"]
    finally:
        t.close()
        rx.close()

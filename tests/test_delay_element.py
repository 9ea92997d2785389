"""The userspace delay element (tests/delay_element.py): pings through it grow by the delay."""

from __future__ import annotations

import os
import select
import socket
import statistics
import struct
import threading
import time
from typing import Any

import pytest

from tests.delay_element import insert
from tests.netns import lab, socket_in

A_ADDR, B_ADDR = "10.94.0.1", "10.94.0.2"


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Pinger:
    """ICMP echo from namespace ``ns`` (a raw socket; the image has no ping binary)."""

    def __init__(self, ns: str, dst: str) -> None:
        self.sock = socket_in(ns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        self.dst = dst
        self.ident = os.getpid() & 0xFFFF
        self.seq = 0

    def ping(self, timeout: float = 2.0) -> float | None:
        """One echo; its round-trip time in seconds, or None when no answer came in time."""
        self.seq = (self.seq + 1) & 0xFFFF
        body = struct.pack("!d", time.monotonic()) + bytes(48)
        hdr = struct.pack("!BBHHH", 8, 0, 0, self.ident, self.seq)
        csum = _checksum(hdr + body)
        t0 = time.monotonic()
        self.sock.sendto(struct.pack("!BBHHH", 8, 0, csum, self.ident, self.seq) + body,
                         (self.dst, 0))  # fmt: skip
        deadline = t0 + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                break
            pkt = self.sock.recv(2048)
            icmp = pkt[(pkt[0] & 15) * 4 :]
            typ, _code, _c, ident, seq = struct.unpack_from("!BBHHH", icmp)
            if typ == 0 and ident == self.ident and seq == self.seq:
                return time.monotonic() - t0
        return None

    def rtts(self, n: int, spacing: float = 0.01) -> list[float]:
        out: list[float] = []
        for _ in range(n):
            rtt = self.ping()
            if rtt is not None:
                out.append(rtt)
            time.sleep(spacing)
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.mark.netns
def test_ping_rtt_grows_by_the_configured_delay() -> None:
    with lab() as the_lab:
        a, b = the_lab.ns("a"), the_lab.ns("b")
        element = insert(the_lab, a, "e0", b, "e1")
        the_lab.ip(a, "addr", "add", f"{A_ADDR}/24", "dev", "e0")
        the_lab.ip(b, "addr", "add", f"{B_ADDR}/24", "dev", "e1")
        pinger = Pinger(a, B_ADDR)
        try:
            assert pinger.rtts(3)  # ARP resolved, caches warm
            base = pinger.rtts(15)
            # the delay first, then the reset: a frame the namespaces send on their own (IPv6 router
            # solicitations, MLD) between a reset and the new delay would be counted with no delay
            element.set_delay(0.030)  # 30 ms each way
            element.stats(reset=True)
            delayed = pinger.rtts(15)
            own = element.stats(reset=True)
            element.set_delay(0.040, back=0.0)  # asymmetric: 40 ms there, nothing back
            one_way = pinger.rtts(10)
        finally:
            pinger.close()
            element.close()
        assert len(base) >= 14 and len(delayed) >= 14 and len(one_way) >= 9
        # never early: every echo crossed the element twice with at least 30 ms each
        assert min(delayed) >= 0.060 * 0.99
        assert min(one_way) >= 0.040 * 0.99
        # and not much late, on the median (a loaded 2-core machine stalls single packets)
        grown = statistics.median(delayed) - statistics.median(base)
        assert 0.060 - 0.015 <= grown <= 0.060 + 0.040, (base, delayed)
        assert statistics.median(one_way) <= 0.040 + 0.040, one_way
        # the element's own measurement agrees: 30 ms added per crossing, a small lateness
        assert own["forwarded"]["ab"] >= 14 and own["forwarded"]["ba"] >= 14
        assert own["added_ms"]["min"] >= 30.0 * 0.99
        assert own["added_ms"]["median"] <= 30.0 + 20.0
        assert own["send_errors"] == {"ab": 0, "ba": 0}


@pytest.mark.netns
def test_link_down_gap_drops_then_recovers() -> None:
    with lab() as the_lab:
        a, b = the_lab.ns("a"), the_lab.ns("b")
        element = insert(the_lab, a, "e0", b, "e1", delay=0.005)
        the_lab.ip(a, "addr", "add", f"{A_ADDR}/24", "dev", "e0")
        the_lab.ip(b, "addr", "add", f"{B_ADDR}/24", "dev", "e1")
        pinger = Pinger(a, B_ADDR)
        try:
            assert pinger.rtts(3)
            element.link_down(0.5)
            t0 = time.monotonic()
            during = pinger.ping(timeout=0.1)  # sent well inside the gap
            time.sleep(max(0.0, t0 + 0.7 - time.monotonic()))
            after = pinger.rtts(5)
            own = element.stats()
        finally:
            pinger.close()
            element.close()
        assert during is None
        assert len(after) >= 4  # the link is back
        assert own["dropped_down"]["ab"] >= 1
        assert element.proc.returncode == 0  # it stopped when its stdin closed


@pytest.mark.netns
def test_element_process_stops_with_the_lab_on_failure() -> None:
    with pytest.raises(RuntimeError, match="boom"), lab() as the_lab:
        a, b = the_lab.ns("a"), the_lab.ns("b")
        element = insert(the_lab, a, "e0", b, "e1", delay=0.01)
        ns = element.ns
        raise RuntimeError("boom")
    assert element.proc.poll() is not None
    assert ns not in os.listdir("/run/netns")


class _Flood:
    """Frames from namespace ``ns`` every millisecond, like the ones a namespace sends on its own
    (broadcast, an EtherType no host handles), until stopped."""

    def __init__(self, ns: str, ifname: str) -> None:
        self.sock = socket_in(ns, socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.bind((ifname, 0))
        self.frame = b"\xff" * 6 + bytes.fromhex("020000000001") + b"\x88\xb5" + bytes(46)
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.001):
            try:
                self.sock.send(self.frame)
            except OSError:  # e.g. ENOBUFS on a loaded machine: the next one goes
                continue
            self.sent += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.mark.netns
def test_a_new_delay_then_a_reset_counts_no_frame_with_the_old_delay() -> None:
    """The order test_ping_rtt_grows_by_the_configured_delay relies on, under a flood of frames.

    The element takes one command at a time and releases every due frame before it reads the
    next: once ``set_delay`` has answered, a frame that came with the old delay (none there)
    is out, so the measurement a reset starts holds only frames with the new one. (Not so after
    a lower delay: a frame with the lower one waits behind older ones, FIFO.) The other order
    counts what crosses between the reset and the new delay with the old one (the CI failure:
    min 0.06 ms against 30 ms); the test waits for frames to cross in between: certain.
    Namespaces a and b have no IPv6, so the flood is all that crosses (a frame from b without
    delay once made the element look drained while frames from a still waited).
    """
    with lab() as the_lab:
        a, b = the_lab.ns("a"), the_lab.ns("b")
        for ns in (a, b):  # no router solicitations, MLD or DAD of their own
            for conf in ("all", "default"):
                the_lab.exec(ns, "sysctl", "-qw", f"net.ipv6.conf.{conf}.disable_ipv6=1")
        element = insert(the_lab, a, "e0", b, "e1")
        flood = _Flood(a, "e0")

        def forwarded_at_least(n: int) -> dict[str, Any]:
            for _ in range(1000):  # a count, not a duration: the flood goes on meanwhile
                own = element.stats()
                if own["forwarded"]["ab"] >= n:
                    return own
                time.sleep(0.01)
            raise AssertionError(f"the element forwarded fewer than {n} frames: {own}")

        def drained() -> None:
            for _ in range(1000):  # a frame from a crossed without delay: none waits (FIFO)
                own = element.stats(reset=True)
                forwarded = own["forwarded"]
                if forwarded["ab"] and not forwarded["ba"] and own["added_ms"]["min"] < 1.0:
                    return
                time.sleep(0.01)
            raise AssertionError("no frame crossed without delay")

        try:
            forwarded_at_least(1)  # the flood crosses the element, without delay yet
            element.set_delay(0.030)  # the right order
            element.stats(reset=True)
            right = forwarded_at_least(10)
            element.set_delay(0.0)
            drained()
            forwarded_at_least(5)  # the wrong order: frames cross between reset and set
            element.set_delay(0.030)
            wrong = forwarded_at_least(15)
        finally:
            flood.close()
            element.close()
    assert right["forwarded"]["ba"] == wrong["forwarded"]["ba"] == 0  # the flood only
    assert right["added_ms"]["min"] >= 30.0 * 0.99, right
    assert wrong["added_ms"]["min"] < 30.0 * 0.99, wrong

"""A replay load generator for the PAA over UDP: every PaC datagram computed before the run.

BENCHMARK ONLY. The PAA under test is started with ``InjectedRng``: randomness that is the same
on every call of a size (``rng(n)`` = SHAKE-256 of a seed, the worker index and ``n``), so what
the PAA draws does not depend on the order in which its sessions draw it. Everything the PAA
sends then follows from the PaC's address and the worker that serves it:

- the cookie secret (rng(32)) and so the PAR[S]'s Session-Id and sequence number (an HMAC of
  the PaC's address and port, with the worker's index in the top bits), then
- the PANA nonce, the EAP Identifiers, EAP-PSK's RAND_S and the Key-Id (all from rng), and
- everything the PaC answers: PAN[S] echoes the Session-Id and sequence number, EAP-PSK message 2
  carries MAC_P over RAND_S, message 4 answers message 3's protected channel, and the AUTH of
  PAN[C] is keyed by prf+ over the MSK, the PAR[S] (I_PAR), both nonces and the Key-Id.

``precompute()`` runs each PaC once offline, a real ``PacSession`` with EAP-PSK against a real
``PaaServer`` built as the benchmark's PAA builds it (same config, same injected randomness), once
per worker because the kernel's reuseport hash decides which worker gets a PCI. The run
(``replay()``) only opens a UDP socket per PaC on its own address and port, sends the PCI, and
answers each PAA datagram that equals the expected one byte for byte with the next pre-computed
datagram (the PAR[S] tells which worker's conversation it is); no PANA or EAP code runs. A
datagram that equals the previous one (a PAA retransmission) gets the previous answer again; any
other is counted as unexpected. A PaC that makes no progress for a second sends its last
datagram again (the PCI retransmission of RFC 5191 s4.1, or a PAN the PAA may not have seen).

Never use ``InjectedRng`` outside benchmarks: every session of such a PAA has the same nonce,
RAND_S and Key-Id, and anyone can compute its cookies.
"""

from __future__ import annotations

import hashlib
import heapq
import select
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eap.keys import Secret
from eap.methods.psk import PskPeer
from eap.peer import EapPeer
from pana_mpa import PaaServer, PacConfig, PacSession
from pana_mpa.address import Address

__all__ = [
    "Conversation",
    "InjectedRng",
    "ReplayResult",
    "pac_address",
    "precompute",
    "replay",
]

PACS_PER_IP = 32
"""PaCs per source IP address: under the PAA's per-address PCI burst (64)."""
PORT_BASE = 20000
"""Source ports PORT_BASE .. PORT_BASE + PACS_PER_IP - 1 on each source address: below Linux's
ephemeral range (32768-60999), where another process's wildcard-bound socket would take the port."""
RETRANSMIT = 1.0
"""Seconds without progress after which a PaC sends its last datagram again (REQ_IRT)."""

ServerMaker = Callable[[int, int, Callable[[int], bytes]], PaaServer]
"""make(worker_index, worker_bits, rng) -> the PaaServer the benchmark's PAA runs."""


class InjectedRng:
    """Benchmark-only randomness: ``rng(n)`` returns the same n octets every time.

    The octets are SHAKE-256 of a label, ``seed``, ``worker`` and ``n``, so a PAA worker's draws
    do not depend on the order of its sessions' calls and can be predicted offline. NOT random:
    never give it to a PAA that serves anyone. Only for the default stateless start: a PAA that
    draws Session-Ids from rng (``stateless_pci=False``, ``optimized_init``) would draw the same
    one again for its second session and retry forever.
    """

    __slots__ = ("_cache", "_prefix", "calls")

    def __init__(self, seed: int, worker: int = 0) -> None:
        self._prefix = b"pana-mpa benchmark rng|%d|%d|" % (seed, worker)
        self._cache: dict[int, bytes] = {}
        self.calls = 0
        """Calls so far (tests count them)."""

    def __call__(self, n: int) -> bytes:
        self.calls += 1
        out = self._cache.get(n)
        if out is None:
            out = self._cache[n] = hashlib.shake_256(self._prefix + b"%d" % n).digest(n)
        return out


def pac_address(i: int, net: int = 77) -> Address:
    """PaC number ``i``'s own loopback address and port (127.<net>.x.y, PACS_PER_IP per IP)."""
    host = i // PACS_PER_IP + 1
    return (f"127.{net}.{host >> 8 & 255}.{host & 255}", PORT_BASE + i % PACS_PER_IP)


@dataclass(slots=True)
class Conversation:
    """One PaC's datagrams, per worker that may serve it.

    ``sends[w][0]`` is the PCI; the PAA's k-th answer ``expects[w][k]`` is answered with
    ``sends[w][k + 1]``; the PaC is done when it has sent its last datagram (PAN[C]).
    """

    addr: Address
    first: dict[bytes, int] = field(default_factory=dict)
    """PAR[S] -> the worker it comes from."""
    sends: list[tuple[bytes, ...]] = field(default_factory=list)
    expects: list[tuple[bytes, ...]] = field(default_factory=list)


def _pac(identity: bytes, psk: Secret, paa: Address, rng: Callable[[int], bytes]) -> PacSession:
    peer = EapPeer(
        identity=identity, methods={PskPeer.method_type: lambda: PskPeer(identity, psk, rng)}
    )
    return PacSession(PacConfig(), paa=paa, eap=peer, rng=rng)


def _record(
    pac: PacSession, paa: PaaServer, addr: Address, paa_addr: Address
) -> tuple[list[bytes], list[bytes]]:
    """Pump one authentication in memory; the PaC's datagrams and the PAA's, in order."""
    sends: list[bytes] = []
    expects: list[bytes] = []
    pac.start(0.0)
    while sent := pac.datagrams_to_send(0.0):
        if len(sent) != 1:
            raise RuntimeError(f"the PaC sent {len(sent)} datagrams in one step")
        sends.append(sent[0][0])
        paa.receive_datagram(sent[0][0], addr, 0.0)
        answers = [data for data, dst in paa.datagrams_to_send(0.0) if dst == addr]
        while paa.next_event() is not None:
            pass
        if len(answers) > 1:
            raise RuntimeError(f"the PAA answered with {len(answers)} datagrams")
        for data in answers:
            expects.append(data)
            pac.receive_datagram(data, paa_addr, 0.0)
    if not pac.has_key or len(sends) != len(expects) + 1:
        raise RuntimeError("the offline authentication did not complete")
    return sends, expects


def precompute(
    count: int,
    workers: int,
    make_server: ServerMaker,
    *,
    seed: int,
    identity: bytes,
    psk: Secret,
    first: int = 0,
) -> list[Conversation]:
    """``count`` PaCs' conversations for a PAA of ``workers`` workers with InjectedRng(seed, w).

    Each conversation is recorded against a fresh PaaServer per worker. A PaC address whose
    Session-Id for some worker equals an earlier PaC's is skipped (the live worker would then
    take its cookie's next slot, which the recording did not), so the list holds ``count``
    conversations whose Session-Ids are distinct per worker.
    """
    bits = (workers - 1).bit_length()
    rngs = [InjectedRng(seed, w) for w in range(workers)]
    taken: list[set[int]] = [set() for _ in range(workers)]
    out: list[Conversation] = []
    i = first
    paa: Address = ("127.0.0.1", 716)  # the PaC's datagrams do not depend on it
    while len(out) < count:
        addr = pac_address(i)
        pac_seed = hashlib.sha256(b"pac|%d|%d" % (seed, i)).digest()
        i += 1
        conv = Conversation(addr)
        sids = []
        for w in range(workers):
            pac_rng = _CounterRng(pac_seed)  # the same PaC (RAND_P, nonce) for every worker
            sends, expects = _record(
                _pac(identity, psk, paa, pac_rng), make_server(w, bits, rngs[w]), addr, paa
            )
            sid = int.from_bytes(expects[0][8:12], "big")
            sids.append(sid)
            conv.first[expects[0]] = w
            conv.sends.append(tuple(sends))
            conv.expects.append(tuple(expects))
        if any(sid in taken[w] for w, sid in enumerate(sids)) or len(conv.first) != workers:
            continue
        for w, sid in enumerate(sids):
            taken[w].add(sid)
        if len({s[0] for s in conv.sends}) != 1:
            raise RuntimeError("the PCI differs between workers")
        out.append(conv)
    return out


class _CounterRng:
    """The PaC's randomness: SHA-256 in counter mode over a per-PaC seed (reproducible)."""

    __slots__ = ("_counter", "_seed")

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            self._counter += 1
            out += hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
        return out[:n]


@dataclass
class ReplayResult:
    """What one replay run saw."""

    ok: int = 0
    failures: int = 0
    """PaCs that did not finish within the timeout."""
    bind_failures: int = 0
    """PaCs whose address and port could not be bound (in use by someone else): not run."""
    unexpected: int = 0
    """Datagrams equal to neither the expected answer nor the previous one."""
    duplicates: int = 0
    """PAA retransmissions answered again."""
    resent: int = 0
    """Datagrams the generator sent again after a second without progress."""
    sent: int = 0
    send_errors: int = 0
    """Sends the kernel refused (counted in ``sent``; the PaC's timer sends again)."""
    received: int = 0
    latencies: list[float] = field(default_factory=list)
    per_worker: list[int] = field(default_factory=list)
    """Authentications completed per worker (from which worker's PAR[S] arrived)."""
    wall: float = 0.0
    cpu: float = 0.0
    """This process's CPU seconds during the run."""


class _Pac:
    __slots__ = (
        "conv",
        "deadline",
        "expects",
        "give_up",
        "sends",
        "sock",
        "start",
        "step",
        "worker",
    )

    def __init__(self, conv: Conversation, sock: socket.socket, now: float, timeout: float) -> None:
        self.conv = conv
        self.sock = sock
        self.start = now
        self.deadline = now + RETRANSMIT
        self.give_up = now + timeout
        self.step = 0
        self.worker = -1
        self.sends: tuple[bytes, ...] = ()
        self.expects: tuple[bytes, ...] = ()


def replay(
    paa: Address,
    conversations: Sequence[Conversation],
    concurrency: int,
    *,
    timeout: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> ReplayResult:
    """Run the conversations against ``paa``, ``concurrency`` PaCs at a time (epoll, one thread)."""
    workers = max((len(c.sends) for c in conversations), default=1)
    result = ReplayResult(per_worker=[0] * workers)
    ep = select.epoll()
    live: dict[int, _Pac] = {}
    timers: list[tuple[float, int, _Pac]] = []
    serial = 0
    todo = iter(conversations)
    pending = len(conversations)
    cpu0, start = time.process_time(), clock()

    def launch(conv: Conversation, now: float) -> bool:
        nonlocal serial
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setblocking(False)
            sock.bind(conv.addr)
            sock.connect(paa)
        except OSError:
            sock.close()
            result.bind_failures += 1
            return False
        pac = _Pac(conv, sock, now, timeout)
        live[sock.fileno()] = pac
        ep.register(sock.fileno(), select.EPOLLIN)
        send(sock, conv.sends[0][0])
        serial += 1
        heapq.heappush(timers, (pac.deadline, serial, pac))
        return True

    def send(sock: socket.socket, data: bytes) -> None:
        result.sent += 1
        try:
            sock.send(data)
        except OSError:  # a full buffer, or an ICMP error: UDP may drop, the timer resends
            result.send_errors += 1

    def finish(pac: _Pac, now: float, ok: bool) -> None:
        del live[pac.sock.fileno()]
        pac.sock.close()  # also leaves the epoll set
        if ok:
            result.ok += 1
            result.latencies.append(now - pac.start)
            result.per_worker[pac.worker] += 1
        else:
            result.failures += 1

    def on_datagram(pac: _Pac, data: bytes, now: float) -> bool:
        """Answer one datagram; True when the PaC is done."""
        step = pac.step
        if pac.worker < 0:
            worker = pac.conv.first.get(data)
            if worker is None:
                result.unexpected += 1
                return False
            pac.worker = worker
            pac.sends = pac.conv.sends[worker]
            pac.expects = pac.conv.expects[worker]
        expects = pac.expects
        if step < len(expects) and data == expects[step]:
            pac.step = step = step + 1
            send(pac.sock, pac.sends[step])
            pac.deadline = now + RETRANSMIT
            return step == len(expects)
        if step and data == expects[step - 1]:
            send(pac.sock, pac.sends[step])
            result.duplicates += 1
        else:
            result.unexpected += 1
        return False

    while pending:
        now = clock()
        while len(live) < concurrency:
            conv = next(todo, None)
            if conv is None:
                break
            if not launch(conv, now):
                pending -= 1
        # timers: resend after RETRANSMIT without progress, give up after the timeout
        while timers and timers[0][0] <= now:
            _, _, pac = heapq.heappop(timers)
            if pac.sock.fileno() < 0 or live.get(pac.sock.fileno()) is not pac:
                continue
            if now >= pac.give_up:
                finish(pac, now, False)
                pending -= 1
                continue
            if pac.deadline <= now:
                send(pac.sock, pac.sends[pac.step] if pac.sends else pac.conv.sends[0][0])
                result.resent += 1
                pac.deadline = now + RETRANSMIT
            serial += 1
            heapq.heappush(timers, (min(pac.deadline, pac.give_up), serial, pac))
        wait = max(0.0, min(timers[0][0] - now, 0.5)) if timers else 0.5
        for fd, _mask in ep.poll(wait):
            pac_or_none = live.get(fd)
            if pac_or_none is None:
                continue
            pac = pac_or_none
            while True:
                try:
                    data = pac.sock.recv(4096)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # ICMP error (the PAA is not there yet, or gone)
                    break
                result.received += 1
                if on_datagram(pac, data, clock()):
                    finish(pac, clock(), True)
                    pending -= 1
                    break
    result.wall = clock() - start
    result.cpu = time.process_time() - cpu0
    ep.close()
    return result

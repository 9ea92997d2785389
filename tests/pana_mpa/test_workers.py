"""SO_REUSEPORT PAA workers steered by Session-Id (pana_mpa.aio.workers), on real UDP sockets.

Counts only: which worker holds which session, pings answered, workers restarted.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer
from eap.peer import EapPeer
from pana_codecs import MessageType, PanaMessage, decode_pana, encode_pana
from pana_mpa import (
    PaaConfig,
    PaaServer,
    PacConfig,
    PacSession,
    SessionTerminated,
    TerminationCause,
    UsageError,
    User,
    user_table,
)
from pana_mpa.address import Address
from pana_mpa.aio import PacClient
from pana_mpa.aio.udp import UdpTransport
from pana_mpa.aio.workers import WorkerPool, steering_program, worker_bits_for, worker_count
from tests.realcomponents import linux_only

PSK = Secret(b"alice-16-octets!")
HOST = "127.0.0.1"


def make_paa(index: int, bits: int) -> PaaServer:
    """The worker's server (module level: the spawned worker imports it)."""
    config = PaaConfig(worker_index=index, worker_bits=bits)
    return PaaServer(config, eap_factory=user_table({b"alice": User("psk", PSK)}))


def _pac(paa: Address) -> PacSession:
    peer = EapPeer(identity=b"alice", methods={EAP_TYPE_PSK: lambda: PskPeer(b"alice", PSK)})
    return PacSession(PacConfig(), paa=paa, eap=peer)


async def _authenticate(paa: Address) -> PacSession:
    session = _pac(paa)
    async with PacClient(session, await UdpTransport.bind(HOST, 0)) as client:
        await client.authenticate(timeout=60)
    return session


async def _ping_from_a_new_address(session: PacSession) -> None:
    async with PacClient(session, await UdpTransport.bind(HOST, 0)) as client:
        await client.ping(timeout=60)


def test_session_ids_carry_the_worker_index() -> None:
    assert [worker_bits_for(n) for n in (1, 2, 3, 4, 5, 8, 9)] == [0, 1, 2, 2, 3, 3, 4]
    assert worker_count("3") == 3 and worker_count("auto") == len(os.sched_getaffinity(0))
    server = make_paa(5, 3)
    sids = {server.initiate((f"10.0.0.{i}", 716), 0.0) for i in range(1, 50)}
    assert {sid >> 29 for sid in sids} == {5}
    # the PaC-initiated path too (whatever derives the Session-Id of a PCI's PAR[S], it must go
    # through PaaServer._steer, or the reuseport program sends the PAN[S] to another worker)
    pci = encode_pana(PanaMessage(MessageType.PANA_CLIENT_INITIATION, 0, 0, 0))
    for i in range(1, 20):
        server.receive_datagram(pci, (f"10.0.1.{i}", 40000), 1.0)
    out = server.datagrams_to_send(1.0)
    answers = [decode_pana(data) for data, dst in out if dst[0].startswith("10.0.1.")]
    assert len(answers) == 19 and {m.session_id >> 29 for m in answers} == {5}
    with pytest.raises(UsageError):
        PaaConfig(worker_index=2, worker_bits=1)
    program = steering_program(2)
    assert program[0] == (0x20, 0, 0, 8)  # ld [8]: the Session-Id at UDP payload offset 8
    assert program[2] == (0x74, 0, 0, 30)  # rsh #30: its top two bits


@linux_only
@pytest.mark.udp
def test_a_session_that_changes_address_stays_on_its_worker() -> None:
    pool = WorkerPool(HOST, 0, 3, make_paa, receive_buffer=None)
    pool.start()
    try:

        async def main() -> list[PacSession]:
            sessions = await asyncio.gather(*(_authenticate(pool.local_address) for _ in range(12)))
            for _ in range(3):  # three moves each: new socket, new source port (RFC 5191 s5.6)
                await asyncio.gather(*(_ping_from_a_new_address(s) for s in sessions))
            return list(sessions)

        sessions = asyncio.run(main())
        stats = pool.stats()
    finally:
        pool.stop()
    assert all(s.state.name == "OPEN" for s in sessions)  # every ping was answered
    by_worker = [sum(1 for s in sessions if s.session_id >> 30 == i) for i in range(3)]
    assert [st["sessions"] for st in stats] == by_worker
    assert sum(1 for n in by_worker if n) >= 2  # the PCIs were spread by 4-tuple hash
    # 12 PCIs (+ retransmissions) by hash; all 12 x 3 pings and 12 x 3 x 2 auth messages steered
    assert sum(st["received"] for st in stats) >= 12 * (1 + 2 + 3)


@linux_only
@pytest.mark.udp
def test_workers_stopping_and_starting_again() -> None:
    pool = WorkerPool(HOST, 0, 2, make_paa, receive_buffer=None)
    pool.start()
    try:
        first = asyncio.run(_gather_auth(pool.local_address, 8))
        old = pool.pids
        pool.kill(1)
        assert pool.check() == [1] and pool.restarts == 1
        assert pool.pids[0] == old[0] and pool.pids[1] != old[1]
        survivors = [s for s in first if s.session_id >> 31 == 0]

        async def after() -> list[PacSession]:
            await asyncio.gather(*(_ping_from_a_new_address(s) for s in survivors))
            return await _gather_auth(pool.local_address, 8)

        later = asyncio.run(after())
        stats = pool.stats()
    finally:
        pool.stop()
    assert all(s.state.name == "OPEN" for s in survivors + later)
    assert stats[0]["sessions"] == len(survivors) + sum(1 for s in later if s.session_id >> 31 == 0)
    assert stats[1]["sessions"] == sum(1 for s in later if s.session_id >> 31 == 1)


async def _gather_auth(paa: Address, n: int) -> list[PacSession]:
    return list(await asyncio.gather(*(_authenticate(paa) for _ in range(n))))


@linux_only
@pytest.mark.udp
def test_stopping_the_pool_terminates_every_session_in_order() -> None:
    """stop(): SIGTERM to every worker, which sends PTR (ADMINISTRATIVE) to each of its sessions
    (RFC 5191 s4.4) before it exits."""
    pool = WorkerPool(HOST, 0, 2, make_paa, receive_buffer=None)
    pool.start()
    try:

        async def main() -> list[SessionTerminated]:
            clients = []
            for _ in range(6):
                transport = await UdpTransport.bind(HOST, 0)
                client = PacClient(_pac(pool.local_address), transport)
                await client.__aenter__()
                await client.authenticate(timeout=60)
                clients.append(client)
            await asyncio.to_thread(pool.stop)
            ends = []
            for client in clients:
                async with asyncio.timeout(60):
                    ends += [e async for e in client.events() if isinstance(e, SessionTerminated)]
                await client.close()
            return ends

        ends = asyncio.run(main())
    finally:
        pool.stop()
    assert len(ends) == 6
    assert all(e.by_peer and e.cause == TerminationCause.ADMINISTRATIVE for e in ends)

"""PaaRunner's admission control: new PCIs are shed above the measured backlog, sessions in
progress are served. Counted in virtual time (LoopbackNetwork), never timed."""

from __future__ import annotations

import asyncio
import random

from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer
from eap.peer import EapPeer
from pana_codecs import MessageFlags, MessageType, PanaMessage, encode_pana
from pana_mpa import PaaConfig, PaaServer, PacConfig, PacSession, User, user_table
from pana_mpa.address import Address
from pana_mpa.aio import AdmissionPolicy, ClientError, PaaRunner, PacClient
from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual

from .aio_fakes import FakePaa

PAA: Address = ("10.0.0.2", 716)
PSK = Secret(b"alice-16-octets!")


def _pci() -> bytes:
    return encode_pana(PanaMessage(MessageType.PANA_CLIENT_INITIATION, 0, 0, 0))


def _pnr(sid: int) -> bytes:
    flags = MessageFlags.R | MessageFlags.P
    return encode_pana(PanaMessage(MessageType.PANA_NOTIFICATION, flags, sid, 7))


def test_admit_keeps_session_traffic_and_sheds_pcis_beyond_the_budget() -> None:
    async def main() -> None:
        runner = PaaRunner(FakePaa(), LoopbackNetwork().endpoint(PAA),
                           admission=AdmissionPolicy(backlog_limit=16))  # fmt: skip
        small = [(_pci(), ("10.0.1.1", 1))] * 16
        assert runner._admit(small) is small  # at the limit: everything goes to the core
        batch = [(_pnr(0x100 + i), ("10.0.2.1", i)) for i in range(5)]
        batch += [(_pci(), ("10.0.3.1", i)) for i in range(15)]
        kept = runner._admit(batch)
        # all 5 of the sessions; the PCI budget, 16 - 5 = 11 at the limit, shrinks as the
        # backlog (20) nears twice the limit: 11 * (32 - 20) // 16 = 8
        assert kept == batch[:5] + batch[5:13]
        busy = [(_pnr(0x200 + i), ("10.0.2.1", i)) for i in range(24)] + [(_pci(), PAA)]
        assert runner._admit(busy) == busy  # sessions past the limit: served; a floor of PCIs
        deep = [(_pci(), ("10.0.4.1", i)) for i in range(40)]
        assert runner._admit(deep) == deep[:1]  # twice the limit and more: 16 // 16 PCIs
        stats = runner.stats
        assert (stats.batches, stats.datagrams, stats.max_backlog) == (4, 101, 40)
        assert (stats.overloaded_batches, stats.pci_admitted, stats.shed_pci) == (3, 10, 46)
        unlimited = PaaRunner(FakePaa(), LoopbackNetwork().endpoint(PAA),
                              admission=AdmissionPolicy(backlog_limit=None))  # fmt: skip
        assert unlimited._admit(busy) is busy

    run_virtual(main)


def _pac(i: int, rng: random.Random) -> PacSession:
    peer = EapPeer(
        identity=b"alice",
        methods={EAP_TYPE_PSK: lambda: PskPeer(b"alice", PSK, rng=rng.randbytes)},
    )
    return PacSession(PacConfig(), paa=PAA, eap=peer, rng=rng.randbytes)


def test_a_burst_of_pacs_is_shed_then_served_without_failures() -> None:
    """300 PaCs start at once against a limit of 32: the first batch, far past twice the limit,
    admits 32 // 16 PCIs; the rest come back with their PCI retransmissions (RFC 5191 s4.1),
    admitted first, and all authenticate."""
    rng = random.Random(10)
    count, limit = 300, 32

    async def main() -> tuple[int, int, PaaRunner[object], list[int]]:
        net = LoopbackNetwork(delay=0.01, seed=2, queue_limit=10_000)
        server = PaaServer(
            PaaConfig(), eap_factory=user_table({b"alice": User("psk", PSK)}, rng=rng.randbytes),
            rng=rng.randbytes,
        )  # fmt: skip
        runner: PaaRunner[object] = PaaRunner(
            server, net.endpoint(PAA), admission=AdmissionPolicy(backlog_limit=limit)
        )
        task = asyncio.create_task(runner.run())
        sessions_after_first_batch: list[int] = []

        async def watch() -> None:
            while runner.stats.batches == 0:
                await asyncio.sleep(0.001)
            # stateless PCI (issue 9): the core answers PCIs without making sessions
            sessions_after_first_batch.append(server.counters["pci_answered"])

        watcher = asyncio.create_task(watch())
        ok = failed = 0

        async def one(i: int) -> None:
            nonlocal ok, failed
            endpoint = net.endpoint((f"10.1.{i >> 8}.{i & 255}", 40000))
            try:
                async with PacClient(_pac(i, rng), endpoint) as client:
                    await client.authenticate(timeout=10.0)
                ok += 1
            except (ClientError, TimeoutError):
                failed += 1

        await asyncio.gather(*(one(i) for i in range(count)))
        await watcher
        runner.stop()
        await task
        return ok, failed, runner, sessions_after_first_batch

    ok, failed, runner, first = run_virtual(main)
    assert (ok, failed) == (count, 0)
    stats = runner.stats
    assert stats.max_backlog == count  # every PCI arrived in the same instant
    assert first == [limit // 16]  # the core answered only the floor's worth of them
    assert stats.shed_pci >= count - limit  # (and later bursts of retransmissions)
    assert stats.pci_admitted + (stats.datagrams - stats.shed_pci) >= count


def test_a_retransmitted_pci_is_admitted_before_first_sightings() -> None:
    """Under a spoofed flood a PaC's PCI retransmission (same address and port, a second or so
    later) is admitted before junk seen once; one address sending fast gains nothing by it."""
    legit: Address = ("10.0.9.9", 716)

    def junk(n: int, net: int) -> list[tuple[bytes, Address]]:
        return [(_pci(), (f"10.1.{net}.{i}", 1000 + i)) for i in range(n)]

    async def main() -> None:
        runner = PaaRunner(FakePaa(), LoopbackNetwork().endpoint(PAA),
                           admission=AdmissionPolicy(backlog_limit=8))  # fmt: skip
        assert legit not in [a for _, a in runner._admit([*junk(20, 1), (_pci(), legit)])]
        await asyncio.sleep(1.0)  # the PaC's PCI_IRT
        kept = runner._admit([*junk(20, 2), (_pci(), legit)])
        assert [a for _, a in kept] == [legit]  # far past the limit: the one PCI it admits
        assert runner.stats.retry_admitted == 1
        hammer: list[tuple[bytes, Address]] = [(_pci(), ("10.2.0.1", 5))] * 20
        runner._admit(hammer)  # seen once, then again and again within the gap: no preference
        assert runner.stats.retry_admitted == 1
        await asyncio.sleep(0.6)
        runner._admit(hammer)
        assert runner.stats.retry_admitted == 2  # one per gap, not 20
        off = PaaRunner(FakePaa(), LoopbackNetwork().endpoint(PAA),
                        admission=AdmissionPolicy(backlog_limit=8, retry_slots=0))  # fmt: skip
        off._admit([*junk(20, 1), (_pci(), legit)])
        await asyncio.sleep(1.0)
        assert legit not in [a for _, a in off._admit([*junk(20, 2), (_pci(), legit)])]

    run_virtual(main)

"""The runtime's GC policy (issue 10): PaaRunner freezes the long-lived objects out of the cyclic
collector's way, and ended sessions that were frozen are freed by reference counting alone (no
cycles), so freezing leaks nothing. Counted (freeze counts, objects found), never timed."""

from __future__ import annotations

import asyncio
import gc
import random
from collections.abc import Iterator

import pytest

from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer
from eap.peer import EapPeer
from pana_mpa import PaaConfig, PaaServer, PacConfig, PacSession, User, user_table
from pana_mpa.address import Address
from pana_mpa.aio import GcFreezer, GcPolicy, PaaRunner, PacClient
from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
from pana_mpa.cli import options
from pana_mpa.cli.common import CliError

PAA: Address = ("10.0.0.2", 716)
PSK = Secret(b"alice-16-octets!")
PAA_SESSION_TYPES = ("PaaSession", "_Lingering")  # the PaC side has cycles (PacClient)


@pytest.fixture(autouse=True)
def _normal_gc() -> Iterator[None]:
    """Each test starts and ends with nothing frozen and the default thresholds."""
    gc.unfreeze()
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    gc.set_debug(0)


def test_freezer_freezes_at_start_and_after_every_n_sessions_and_unfreezes_at_stop() -> None:
    freezer = GcFreezer(GcPolicy(refreeze_after=3))
    freezer.start()
    assert freezer.freezes == 1 and gc.get_freeze_count() > 0
    frozen = gc.get_freeze_count()
    keep = [[object()] for _ in range(50)]  # 50 new tracked lists, alive
    freezer.settled(2)
    assert freezer.freezes == 1 and gc.get_freeze_count() == frozen
    freezer.settled(1)
    assert freezer.freezes == 2 and gc.get_freeze_count() >= frozen + len(keep)
    freezer.stop()
    assert gc.get_freeze_count() == 0


def test_freezer_off_leaves_the_collector_alone_and_threshold_is_restored() -> None:
    before = gc.get_threshold()
    freezer = GcFreezer(GcPolicy(freeze=False, threshold=(5000, 20, 20)))
    freezer.start()
    freezer.settled(10_000)
    assert freezer.freezes == 0 and gc.get_freeze_count() == 0
    assert gc.get_threshold() == (5000, 20, 20)
    freezer.stop()
    assert gc.get_threshold() == before
    with pytest.raises(ValueError, match="refreeze_after"):
        GcPolicy(refreeze_after=0)


def test_freezing_collects_first_so_no_garbage_is_frozen() -> None:
    freezer = GcFreezer(GcPolicy(refreeze_after=1))
    a: list[object] = []
    a.append(a)  # a cycle that is garbage once `a` is gone (young: collected at start)
    del a
    freezer.start()
    assert freezer.collected >= 1
    found = freezer.collected
    b: list[object] = []
    b.append(b)
    del b
    freezer.settled()  # a re-freeze collects every unfrozen generation first
    assert freezer.freezes == 2 and freezer.collected >= found + 1
    freezer.stop()


def _pac(i: int, rng: random.Random) -> PacSession:
    peer = EapPeer(
        identity=b"alice",
        methods={EAP_TYPE_PSK: lambda: PskPeer(b"alice", PSK, rng=rng.randbytes)},
    )
    return PacSession(PacConfig(), paa=PAA, eap=peer, rng=rng.randbytes)


def _serve(
    count: int, policy: GcPolicy | None, *, terminate: bool, during: list[int]
) -> PaaRunner[object]:
    """``count`` PaCs authenticate one after the other against a PaaRunner (and terminate)."""
    rng = random.Random(4)

    async def main() -> PaaRunner[object]:
        net = LoopbackNetwork(delay=0.01, seed=3)
        server = PaaServer(
            PaaConfig(closed_linger=5.0),
            eap_factory=user_table({b"alice": User("psk", PSK)}, rng=rng.randbytes),
            rng=rng.randbytes,
        )
        runner: PaaRunner[object] = PaaRunner(server, net.endpoint(PAA), gc=policy)
        task = asyncio.create_task(runner.run())
        for i in range(count):
            endpoint = net.endpoint((f"10.1.0.{i + 1}", 40000))
            async with PacClient(_pac(i, rng), endpoint) as client:
                await client.authenticate(timeout=10.0)
                during.append(gc.get_freeze_count())
                if terminate:
                    await client.terminate(timeout=10.0)
        await asyncio.sleep(10.0)  # virtual: the linger of the ended sessions passes
        assert len(server) == 0 if terminate else len(server) == count
        runner.stop()
        await task
        return runner

    return run_virtual(main)


def test_the_runner_freezes_after_start_up_and_as_sessions_settle_by_default() -> None:
    during: list[int] = []
    runner = _serve(6, GcPolicy(refreeze_after=2), terminate=False, during=during)
    assert runner.gc_freezer.freezes == 1 + 6 // 2
    assert during[0] > 0  # frozen since start-up
    assert during[-1] > during[0]  # the later sessions were frozen too
    assert gc.get_freeze_count() == 0  # run() returned: unfrozen
    assert PaaRunner(PaaServer(PaaConfig()), LoopbackNetwork().endpoint(PAA)).gc_freezer.policy \
        == GcPolicy()  # fmt: skip
    assert GcPolicy().freeze  # on by default


def test_the_runner_with_the_policy_off_never_freezes() -> None:
    during: list[int] = []
    runner = _serve(3, GcPolicy(freeze=False), terminate=False, during=during)
    assert runner.gc_freezer.freezes == 0 and during == [0, 0, 0]


def test_ended_sessions_that_were_frozen_leave_no_cyclic_garbage() -> None:
    """Freeze after every session, the automatic collector off: once the sessions ended and
    their linger passed, no PAA session object exists any more, frozen or not (freed by
    reference counting alone: a frozen cycle would stay in the permanent generation for ever)."""
    gc.collect()
    earlier = [o for o in gc.get_objects() if type(o).__name__ in PAA_SESSION_TYPES]
    known = {id(o) for o in earlier}  # other tests' (kept alive by `earlier` while we look)
    during: list[int] = []
    policy = GcPolicy(refreeze_after=1, unfreeze_on_stop=False)
    gc.disable()
    try:
        runner = _serve(5, policy, terminate=True, during=during)
        assert runner.gc_freezer.freezes >= 6 and gc.get_freeze_count() > 0
        gc.unfreeze()  # back into the oldest generation, nothing collected yet
        left = [
            o
            for o in gc.get_objects()
            if type(o).__name__ in PAA_SESSION_TYPES and id(o) not in known
        ]
    finally:
        gc.enable()
    assert left == []


def test_the_cli_option_sets_the_policy() -> None:
    import argparse

    from pana_mpa.cli.paa import gc_policy

    parser = argparse.ArgumentParser()
    options.add_paa_arguments(parser)
    args = parser.parse_args(["--user", "alice:alice-16-octets!"])
    opts = options.paa_options(args)
    assert opts.gc_freeze_after == 2000 and gc_policy(opts) == GcPolicy()
    off = options.paa_options(parser.parse_args(["--user", "a:alice-16-octets!",
                                                  "--gc-freeze-after", "0"]))  # fmt: skip
    assert not gc_policy(off).freeze
    with pytest.raises(CliError, match="gc-freeze-after"):
        options.paa_options(
            parser.parse_args(["--user", "a:alice-16-octets!", "--gc-freeze-after", "-1"])
        )

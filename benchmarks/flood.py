"""PCI flood against the sans-IO PAA in virtual time: memory and CPU per junk PCI (issue 9).

N PCIs from spoofed addresses (directly, or through a configured RFC 6345 relay) arrive at
100,000 per virtual second while a legitimate PaC authenticates. The PAA answers each PCI with
a PAR[S] whose Session-Id and sequence number are a keyed hash of the sender (no state, no
timer); its memory is measured with tracemalloc before and after, its CPU without tracing.

    python -m benchmarks.flood                # 100,000 spoofed PCIs, direct and relayed
    python -m benchmarks.flood --pcis 1000000
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
import tracemalloc
from dataclasses import dataclass

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer
from pana_codecs import encode_pana
from pana_codecs.pana import PanaMessage
from pana_mpa.address import Address
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.events import Authenticated
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession
from pana_mpa.relay import wrap_relay

__all__ = ["FloodResult", "run_flood"]

PAA: Address = ("192.0.2.1", 716)
PAC: Address = ("192.0.2.10", 716)
RELAY: Address = ("198.51.100.1", 716)
PSK = Secret(b"flood-test-psk16")
PCI = encode_pana(PanaMessage(1, 0, 0, 0, ()))
RATE = 100_000.0
"""Junk PCIs per virtual second."""


@dataclass(slots=True)
class FloodResult:
    """What one flood did to the PAA."""

    pcis: int
    answered: int
    rate_limited: int
    relay_refused: int
    sessions_after: int
    bytes_idle: int
    bytes_after: int
    bytes_peak: int
    cpu_per_pci: float
    legit_started_at: float
    legit_authenticated_at: float | None

    @property
    def bytes_per_pci(self) -> float:
        return (self.bytes_after - self.bytes_idle) / self.pcis


def _nodes(seed: int, relays: tuple[str, ...]) -> tuple[PaaServer, PacSession]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible simulation

    def lookup(ident: bytes) -> Secret | None:
        return PSK if ident == b"legit" else None

    def server() -> EapAuthenticator:
        return EapAuthenticator(
            methods=lambda ident: [lambda: PskServer(b"paa", lookup, rng=rng.randbytes)],
            rng=rng.randbytes,
        )

    paa = PaaServer(PaaConfig(relays=relays), eap_factory=server, rng=rng.randbytes)
    peer = EapPeer(
        identity=b"legit",
        methods={EAP_TYPE_PSK: lambda: PskPeer(b"legit", PSK, rng=rng.randbytes)},
    )
    pac = PacSession(PacConfig(), paa=PAA, eap=peer, rng=rng.randbytes)
    return paa, pac


def _pump(paa: PaaServer, pac: PacSession, now: float) -> bool:
    """Deliver what is queued between the PaC and the PAA (no latency); True if authenticated."""
    authenticated = False
    for _ in range(20):
        moved = False
        for data, dst in pac.datagrams_to_send(now):
            if dst == PAA:
                paa.receive_datagram(data, PAC, now)
                moved = True
        for data, dst in paa.datagrams_to_send(now):
            if dst == PAC:
                pac.receive_datagram(data, PAA, now)
                moved = True
        while (event := pac.next_event()) is not None:
            authenticated = authenticated or isinstance(event, Authenticated)
        for node in (pac, paa):
            deadline = node.get_timer()
            if deadline is not None and deadline <= now:
                node.handle_timer(now)
                moved = True
        if not moved:
            break
    while paa.next_event() is not None:
        pass
    return authenticated


def _flood(
    n: int, *, relayed: bool, relay_configured: bool, one_source: bool, seed: int, traced: bool
) -> FloodResult:
    paa, pac = _nodes(seed, (RELAY[0],) if relay_configured else ())
    spoof = random.Random(seed + 1)  # noqa: S311
    legit_start = min(0.2, n / RATE / 2)
    authenticated_at: float | None = None
    _pump(paa, pac, 0.0)
    gc.collect()
    if traced:
        tracemalloc.start()
        tracemalloc.reset_peak()
    idle = tracemalloc.get_traced_memory()[0] if traced else 0
    t0 = time.process_time()
    for i in range(n):
        now = i / RATE
        if one_source:
            src: Address = ("10.66.0.1", 716)
        else:
            src = (f"10.{spoof.randrange(256)}.{spoof.randrange(256)}.{spoof.randrange(1, 255)}",
                   spoof.randrange(1024, 65536))  # fmt: skip
        if relayed:
            paa.receive_datagram(wrap_relay(src, PCI), RELAY, now)
        else:
            paa.receive_datagram(PCI, src, now)
        paa.datagrams_to_send(now)  # the runtime sends the PAR[S]; we throw it away
        if i % 100 == 0:
            if authenticated_at is None and now >= legit_start and not pac.session_id:
                pac.start(now)
            if _pump(paa, pac, now) and authenticated_at is None:
                authenticated_at = now
    cpu = (time.process_time() - t0) / n
    gc.collect()
    after = peak = 0
    if traced:
        after, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return FloodResult(
        pcis=n,
        answered=paa.counters["pci_answered"],
        rate_limited=paa.counters["pci_rate_limited"],
        relay_refused=paa.counters["relay_refused"],
        sessions_after=len(paa),
        bytes_idle=idle,
        bytes_after=after,
        bytes_peak=peak,
        cpu_per_pci=cpu,
        legit_started_at=legit_start,
        legit_authenticated_at=authenticated_at,
    )


def run_flood(
    n: int,
    *,
    relayed: bool,
    relay_configured: bool = True,
    one_source: bool = False,
    seed: int = 1,
    traced: bool = True,
) -> FloodResult:
    """Flood a fresh PAA with ``n`` spoofed PCIs while one PaC authenticates."""
    return _flood(
        n,
        relayed=relayed,
        relay_configured=relay_configured,
        one_source=one_source,
        seed=seed,
        traced=traced,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pcis", type=int, default=100_000)
    args = parser.parse_args(argv)
    for relayed in (False, True):
        mem = run_flood(args.pcis, relayed=relayed)
        cpu = run_flood(args.pcis, relayed=relayed, traced=False)
        how = "through a relay" if relayed else "direct"
        legit = (
            "never"
            if mem.legit_authenticated_at is None
            else f"{(mem.legit_authenticated_at - mem.legit_started_at) * 1000:.1f} ms"
        )
        sys.stdout.write(
            f"{args.pcis} spoofed PCIs {how}: answered {mem.answered}, rate-limited"
            f" {mem.rate_limited}; sessions after {mem.sessions_after}; memory idle"
            f" {mem.bytes_idle / 1024:.0f} KiB, after {mem.bytes_after / 1024:.0f} KiB"
            f" (peak {mem.bytes_peak / 1024:.0f} KiB), {mem.bytes_per_pci:.2f} B per PCI;"
            f" CPU {cpu.cpu_per_pci * 1e6:.1f} us per PCI; legitimate PaC authenticated in"
            f" {legit}\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Impairment matrix: PANA sessions over a lossy, duplicating, reordering, spiky loopback network.

Everything runs in virtual time on the asyncio loopback transport (pana_mpa.aio.loopback): one
PAA (serve_paa) and N PaCs (PacClient) that each authenticate, ping, re-authenticate and
terminate. Per cell: success rate, time to authenticate (median, 95th percentile), PANA
retransmissions per session, and sessions the PAA still holds once everything is over
(leaked; must be 0).

    python -m benchmarks.impairment                 # the full matrix, 200 sessions per cell
    python -m benchmarks.impairment --sessions 50 --methods psk --loss 0.3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer
from pana_codecs import decode_pana
from pana_codecs.errors import CodecError
from pana_mpa._avps import IntegrityAlgorithm, PrfAlgorithm
from pana_mpa.address import Address
from pana_mpa.aio import ClientError, PacClient, serve_paa
from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession
from pana_mpa.retransmit import PCI_TIMERS, REQ_TIMERS, TimerParameters

__all__ = ["Cell", "CellResult", "matrix", "run_cell"]

PAA: Address = ("192.0.2.1", 716)
PSK = Secret(b"impairment-psk16")
SUITES = {
    "sha1": (PrfAlgorithm.PRF_HMAC_SHA1, IntegrityAlgorithm.AUTH_HMAC_SHA1_160),
    "sha256": (PrfAlgorithm.PRF_HMAC_SHA2_256, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128),
}


@dataclass(frozen=True, slots=True)
class Cell:
    """One impairment setting."""

    method: str = "psk"
    suite: str = "sha256"
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    spike: float = 0.0
    """Fraction of datagrams held back by ``spike_delay`` seconds (delay spikes)."""
    spike_delay: float = 3.0
    sessions: int = 200
    seed: int = 1
    request_timers: TimerParameters = REQ_TIMERS
    pci_timers: TimerParameters = PCI_TIMERS
    failed_session_timeout: float = 120.0
    failed_session_max: float | None = None
    """Opt-in: FAILED_SESS_TIMEOUT restarts on progress, capped at this (PacConfig/PaaConfig)."""
    spread: float = 10.0
    """PaCs start uniformly within this many seconds."""


@dataclass(slots=True)
class CellResult:
    """What one cell measured."""

    cell: Cell
    authenticated: int = 0
    completed: int = 0
    """Sessions that also pinged, re-authenticated and terminated cleanly."""
    auth_times: list[float] = field(default_factory=list)
    retransmissions: int = 0
    sent: int = 0
    leaked: int = 0
    """Live sessions the PAA still holds after the idle period (must be 0)."""
    lingering: int = 0
    """Closed sessions the PAA still keeps for repeated requests after the idle period."""
    failures: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0

    @property
    def success_rate(self) -> float:
        return self.authenticated / self.cell.sessions

    def percentile(self, q: float) -> float:
        if not self.auth_times:
            return float("nan")
        ordered = sorted(self.auth_times)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _tls_factories(seed: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
    from eap.methods.tls import TlsPeer, TlsServer
    from tests.pki import make_pki

    pki = _PKI.get("pki") or _PKI.setdefault("pki", make_pki())
    peer = TlsPeer.factory(ca=pki.ca.cert, cert=pki.client.cert, key=pki.client.key)
    server = TlsServer.factory(cert=pki.server.cert, key=pki.server.key, ca=pki.ca.cert)
    return peer, server


_PKI: dict[str, Any] = {}


def _eap(cell: Cell, rng: random.Random) -> tuple[Callable[[], EapPeer], Callable[[], Any]]:
    if cell.method == "tls":
        peer_method, server_method = _tls_factories(cell.seed)

        def tls_peer() -> EapPeer:
            return EapPeer(identity=b"user1", methods={13: peer_method})

        def tls_server() -> EapAuthenticator:
            return EapAuthenticator(methods=lambda ident: [server_method], rng=rng.randbytes)

        return tls_peer, tls_server

    def lookup(ident: bytes) -> Secret | None:
        return PSK if ident.startswith(b"pac") else None

    def psk_peer() -> EapPeer:
        return EapPeer(
            identity=b"pac",
            methods={EAP_TYPE_PSK: lambda: PskPeer(b"pac", PSK, rng=rng.randbytes)},
        )

    def psk_server() -> EapAuthenticator:
        return EapAuthenticator(
            methods=lambda ident: [lambda: PskServer(b"paa", lookup, rng=rng.randbytes)],
            rng=rng.randbytes,
        )

    return psk_peer, psk_server


def _is_retransmission(seen: set[bytes], data: bytes) -> bool:
    """A PANA request (or PCI) sent again with the same octets (RFC 5191 s9)."""
    try:
        msg = decode_pana(data)
    except CodecError:
        return False
    if not (msg.is_request or msg.type == 1):
        return False
    if data in seen:
        return True
    seen.add(data)
    return False


def run_cell(cell: Cell) -> CellResult:
    """Run ``cell.sessions`` PaCs against one PAA; measure."""
    result = CellResult(cell)
    rng = random.Random(cell.seed)  # noqa: S311 - a reproducible simulation
    prf, integ = SUITES[cell.suite]
    make_peer, make_server = _eap(cell, rng)
    seen: dict[Address, set[bytes]] = {}

    def tap(now: float, src: Address, dst: Address, data: bytes) -> None:
        result.sent += 1
        if _is_retransmission(seen.setdefault(src, set()), data):
            result.retransmissions += 1

    async def main() -> None:
        net = LoopbackNetwork(
            seed=cell.seed,
            loss=cell.loss,
            duplicate=cell.duplicate,
            reorder=cell.reorder,
            delay=0.005,
            jitter=0.005,
            tap=tap,
        )
        spikes = random.Random(cell.seed + 1)  # noqa: S311
        if cell.spike:
            loop = asyncio.get_running_loop()

            def spike(data: bytes, src: Address, dst: Address) -> bool:
                if spikes.random() >= cell.spike:
                    return False
                loop.call_later(cell.spike_delay, net._deliver, data, src, dst)
                return True  # counted as dropped here, delivered late

            net.drop = spike
        paa = PaaServer(
            PaaConfig(
                prf_algorithms=(prf,),
                integrity_algorithms=(integ,),
                session_lifetime=3600,
                request_timers=cell.request_timers,
                failed_session_timeout=cell.failed_session_timeout,
                failed_session_max=cell.failed_session_max,
            ),
            eap_factory=make_server,
            rng=rng.randbytes,
        )
        server = asyncio.create_task(serve_paa(paa, net.endpoint(PAA)))
        pac_config = PacConfig(
            prf_algorithms=(prf,),
            integrity_algorithms=(integ,),
            request_timers=cell.request_timers,
            pci_timers=cell.pci_timers,
            failed_session_timeout=cell.failed_session_timeout,
            failed_session_max=cell.failed_session_max,
        )

        async def one(i: int) -> None:
            await asyncio.sleep(rng.uniform(0, cell.spread))
            addr = (f"10.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}", 40000)
            pac = PacSession(pac_config, paa=PAA, eap=make_peer(), rng=rng.randbytes)
            loop = asyncio.get_running_loop()
            stage = "authenticate"
            async with PacClient(pac, net.endpoint(addr)) as client:
                try:
                    start = loop.time()
                    await client.authenticate()
                    result.authenticated += 1
                    result.auth_times.append(loop.time() - start)
                    stage = "ping"
                    await client.ping()
                    stage = "reauthenticate"
                    await client.reauthenticate()
                    stage = "terminate"
                    await client.terminate()
                    result.completed += 1
                except ClientError as exc:
                    event = type(exc.event).__name__ if exc.event is not None else "closed"
                    reason = getattr(exc.event, "reason", "")
                    key = f"{stage}: {event}{f' ({reason})' if reason else ''}"
                    result.failures[key] = result.failures.get(key, 0) + 1

        await asyncio.gather(*(one(i) for i in range(cell.sessions)))
        # idle long enough for every lifetime, failed-session and linger timer to run out
        await asyncio.sleep(3600 + 600)
        result.leaked = len(paa)
        result.lingering = len(getattr(paa, "_closed", ()))
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server

    t0 = time.perf_counter()
    run_virtual(main)
    result.wall = time.perf_counter() - t0
    return result


def matrix(sessions: int, methods: tuple[str, ...], losses: tuple[float, ...]) -> Iterator[Cell]:
    """The cells of the full matrix."""
    for method in methods:
        for suite in SUITES:
            for loss in losses:
                yield Cell(method=method, suite=suite, loss=loss, sessions=sessions)
            yield Cell(method=method, suite=suite, loss=0.1, duplicate=0.2, sessions=sessions)
            yield Cell(method=method, suite=suite, loss=0.1, reorder=0.3, sessions=sessions)
            yield Cell(method=method, suite=suite, loss=0.1, spike=0.05, sessions=sessions)
            yield Cell(
                method=method,
                suite=suite,
                loss=0.2,
                duplicate=0.1,
                reorder=0.2,
                spike=0.05,
                sessions=sessions,
            )


def _row(r: CellResult) -> str:
    c = r.cell
    impair = f"loss {c.loss:.0%} dup {c.duplicate:.0%} reord {c.reorder:.0%} spike {c.spike:.0%}"
    med = statistics.median(r.auth_times) if r.auth_times else float("nan")
    return (
        f"{c.method:4} {c.suite:6} {impair:38} auth {r.authenticated:4}/{c.sessions:<4}"
        f" full {r.completed:4}  t_auth med {med:6.2f}s p95 {r.percentile(0.95):6.2f}s"
        f"  rtx/session {r.retransmissions / c.sessions:5.2f}"
        f"  leaked {r.leaked} lingering {r.lingering}"
        f"  [{r.wall:.1f}s]"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--methods", default="psk,tls")
    parser.add_argument("--loss", default="0,0.1,0.2,0.3,0.4")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--failures", action="store_true", help="print why sessions failed")
    parser.add_argument(
        "--mrc", type=int, default=None, help="REQ_MRC instead of RFC 5191's 10 (what-if)"
    )
    parser.add_argument(
        "--failed-timeout",
        type=float,
        default=None,
        help="FAILED_SESS_TIMEOUT at both ends instead of 120 s (what-if)",
    )
    parser.add_argument(
        "--failed-max",
        type=float,
        default=None,
        help="restart FAILED_SESS_TIMEOUT on progress, at most this long in all (opt-in)",
    )
    parser.add_argument(
        "--loss-only", action="store_true", help="only the plain loss cells, no other impairment"
    )
    args = parser.parse_args(argv)
    losses = tuple(float(x) for x in args.loss.split(","))
    for cell in matrix(args.sessions, tuple(args.methods.split(",")), losses):
        cell = replace(cell, seed=args.seed)
        if args.mrc is not None:
            cell = replace(cell, request_timers=replace(REQ_TIMERS, mrc=args.mrc))
        if args.loss_only and (cell.duplicate or cell.reorder or cell.spike):
            continue
        if args.failed_timeout is not None:
            cell = replace(cell, failed_session_timeout=args.failed_timeout)
        if args.failed_max is not None:
            cell = replace(cell, failed_session_max=args.failed_max)
        r = run_cell(cell)
        sys.stdout.write(_row(r) + "\n")
        if args.failures and r.failures:
            for why, n in sorted(r.failures.items(), key=lambda kv: -kv[1]):
                sys.stdout.write(f"      {n:4}  {why}\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

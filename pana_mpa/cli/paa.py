"""``pana-mpa paa``: a PANA agent over UDP (RFC 5191 s1.4), standalone or RADIUS pass-through."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from eap import registry
from eap.aaa.passthrough import RadiusConfig
from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.base import AuthMethod, Rng

from ..address import Address, format_address
from ..aio import AaaBackend, GcPolicy, PaaRunner, SansIo
from ..aio.udp import UdpTransport
from ..aio.workers import worker_count
from ..config import PaaConfig
from ..events import Authenticated, AuthenticationFailed, PanaEvent, SessionTerminated
from ..flow import FlowTrace
from ..paa import PaaServer
from ..trace import NULL_TRACE
from . import log_level
from .aaa import RadiusBackends
from .common import CliError, event_text, run_main, say, trace_file
from .options import PaaOptions, add_paa_arguments, paa_options
from .users import Account, accounts, method_entry

__all__ = [
    "SERVER_ID",
    "OperatorLog",
    "PaaFactory",
    "add_parser",
    "authenticator_factory",
    "build_paa",
    "eap_authenticator",
    "gc_policy",
    "identity_text",
    "paa_main",
    "run_paa",
    "statistics",
]

SERVER_ID = b"pana-mpa"
"""ID_S (EAP-PSK) / ID_Server (EAP-GPSK) of our PAA."""

PaaFactory = Callable[
    [PaaOptions, Rng, "FlowTrace | None"],
    tuple[SansIo[Any], Callable[[int], AaaBackend] | None],
]
"""Builds the PAA server and, for RADIUS pass-through, the per-session AAA back-end factory."""


def add_parser(sub: Any) -> None:
    """Register the paa subcommand."""
    paa: argparse.ArgumentParser = sub.add_parser(
        "paa",
        help="run a PANA agent over UDP",
        description="Run a PANA agent over UDP, one line per session event (-q: failures"
        " only). SIGUSR1 prints a statistics line (JSON: PCIs answered, rate-limited and"
        " shed, sessions, datagrams received; one process only).",
    )
    add_paa_arguments(paa)
    paa.add_argument(
        "--workers",
        default="1",
        metavar="N|auto",
        help="worker processes sharing the port (SO_REUSEPORT, each datagram steered to its"
        " session's worker by Session-Id; Linux); auto: one per CPU (default 1)",
    )
    paa.set_defaults(func=run_paa)


def _server_maker(
    method: str, table: Mapping[bytes, Account], opts: PaaOptions, rng: Rng
) -> registry.ServerMaker:
    """identity -> server method factory for one method, set up once (eap.registry)."""
    entry = method_entry(method)

    def lookup(identity: bytes) -> Secret | None:
        account = table.get(identity)
        return account.secret if account is not None and method in account.methods else None

    tls = None
    if entry.credential == "certificate":
        files = opts.tls
        tls = registry.TlsCredential(
            cert=files.cert, key=files.key, ca=files.ca,
            min_version=files.min_version, cipher_list=files.cipher_list,
        )  # fmt: skip
    # fail_fast: a wrong EAP-PSK key fails at once (--psk-silent-discard: RFC 4764 s4.3's
    # silent discard); GPSK answers a bad MAC with GPSK-Fail (RFC 5433 s4) in any case.
    config = registry.ServerConfig(
        lookup=lookup, server_id=SERVER_ID, rng=rng, fail_fast=not opts.psk_silent_discard, tls=tls
    )
    try:
        return entry.server(config)
    except registry.CredentialError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:  # pyOpenSSL/cryptography report bad PEM files in many ways
        raise CliError(f"{entry.title}: {exc}") from None


def authenticator_factory(opts: PaaOptions, rng: Rng) -> Callable[[], EapAuthenticator]:
    """EAP authenticators over the PAA's users, one per session; the methods set up once now.

    Each user is offered its methods in order (the peer may Nak to the next, RFC 3748 s5.3);
    an unknown identity is offered ``opts.method`` with no secret, which fails without telling
    whether the identity exists (RFC 4764 s5.1). Bad TLS files fail here, as a CliError.
    """
    table = accounts(opts.users, opts.method)
    in_use = {opts.method} | {method for account in table.values() for method in account.methods}
    makers = {method: _server_maker(method, table, opts, rng) for method in sorted(in_use)}

    def policy(identity: bytes) -> list[Callable[[], AuthMethod]]:
        account = table.get(identity)
        methods = account.methods if account is not None else (opts.method,)
        return [makers[method](identity) for method in methods]

    return lambda: EapAuthenticator(methods=policy, rng=rng)


def eap_authenticator(opts: PaaOptions, rng: Rng, *, check: bool = False) -> EapAuthenticator:
    """One standalone EAP authenticator over the PAA's users (see authenticator_factory)."""
    return authenticator_factory(opts, rng)()


def _keyless_by_choice(opts: PaaOptions) -> bool:
    """Local EAP-MD5 users: the operator chose a keyless method (RADIUS needs --allow-keyless)."""
    if opts.radius is not None:
        return False
    if not method_entry(opts.method).derives_keys and not opts.users:
        return True
    return any(
        not method_entry(method).derives_keys
        for u in opts.users.values()
        for method in (u.methods if isinstance(u, Account) else (opts.method,))
    )


def build_paa(
    opts: PaaOptions,
    rng: Rng,
    trace: FlowTrace | None,
    *,
    worker_index: int = 0,
    worker_bits: int = 0,
) -> tuple[PaaServer, Callable[[int], AaaBackend] | None]:
    """The PAA for ``pana-mpa paa``: local users, or RADIUS pass-through with ``--radius``."""
    config = PaaConfig(
        prf_algorithms=opts.prf_algorithms,
        integrity_algorithms=opts.integrity_algorithms,
        session_lifetime=opts.lifetime,
        reauth_fraction=opts.reauth_fraction,
        worker_index=worker_index,
        worker_bits=worker_bits,
        require_key=not opts.allow_keyless and not _keyless_by_choice(opts),
    )
    if opts.radius is not None and opts.radius_secret is not None:
        radius = RadiusConfig(server=opts.radius, secret=opts.radius_secret)
        # no eap_factory: every EAP step waits in pending_aaa() (RFC 5191 s2 pass-through)
        return PaaServer(config, rng=rng, trace=trace or NULL_TRACE), RadiusBackends(radius, rng)
    eap_factory = authenticator_factory(opts, rng)
    return PaaServer(config, eap_factory=eap_factory, rng=rng, trace=trace or NULL_TRACE), None


class OperatorLog:
    """The PAA's log for its operator: a timestamp and, once known, the peer's identity.

    ``quiet`` (``paa -q``: errors only) keeps the failures (AuthenticationFailed) and the lines
    asked for (listening, SIGUSR1 statistics) and drops one line per session start, success,
    ping and end; nothing is formatted for a line that is not written. Each line is flushed
    as it is written, so the operator sees it at once even through a pipe.
    """

    def __init__(self, out: IO[str], *, quiet: bool = False) -> None:
        self._out = out
        self.quiet = quiet
        self._identities: dict[int, bytes] = {}
        self._second = -1  # the wall-clock second _stamp_head was formatted for
        self._stamp_head = ""
        self._stamp_zone = ""

    def _stamp(self) -> str:
        """The local time, ISO 8601 with milliseconds and UTC offset (datetime.isoformat's)."""
        now = time.time()
        second = int(now)
        if second != self._second:  # formatted once per second (and the offset with it)
            local = time.localtime(second)
            offset = local.tm_gmtoff
            sign = "-" if offset < 0 else "+"
            offset = abs(offset)
            self._stamp_head = time.strftime("%Y-%m-%dT%H:%M:%S", local)
            self._stamp_zone = f"{sign}{offset // 3600:02d}:{offset % 3600 // 60:02d}"
            self._second = second
        return f"{self._stamp_head}.{int((now - second) * 1000):03d}{self._stamp_zone}"

    def line(self, text: str) -> None:
        """One line with the local time (ISO 8601, milliseconds, UTC offset)."""
        say(self._out, f"{self._stamp()} {text}")

    def event(self, event: object) -> None:
        """One line per session event; failures name the identity and the reason."""
        if isinstance(event, AuthenticationFailed):
            known = event.identity
            if known is not None:
                self._identities[event.session_id] = known
            else:
                known = self._identities.get(event.session_id)
            text = f"{type(event).__name__}: {event_text(event)}"
            if known is not None:
                text += f", identity {identity_text(known)}"
            if event.reason:
                text += f", reason: {event.reason}"
            self.line(text)
            return
        sid = event.session_id if isinstance(event, PanaEvent) else None
        if isinstance(event, Authenticated) and event.identity is not None:
            self._identities[event.session_id] = event.identity
        known = self._identities.get(sid) if sid is not None else None
        if isinstance(event, SessionTerminated):
            self._identities.pop(event.session_id, None)
        if self.quiet:
            return
        text = f"{type(event).__name__}: {event_text(event)}"
        if known is not None:
            text += f", identity {identity_text(known)}"
        self.line(text)


def identity_text(identity: bytes) -> str:
    """An identity for a log line: quoted, control characters escaped (no log injection)."""
    return json.dumps(identity.decode("utf-8", "backslashreplace"), ensure_ascii=False)


async def paa_main(
    opts: PaaOptions,
    *,
    factory: PaaFactory,
    out: IO[str],
    trace: FlowTrace | None = None,
    rng: Callable[[int], bytes] = os.urandom,
    ready: Callable[[Address], None] | None = None,
    quiet: bool = False,
) -> int:
    """Serve PaCs on ``opts.listen`` until cancelled, printing one line per session event
    (``quiet``: failures only)."""
    server, aaa = factory(opts, rng, trace)
    try:
        # a deep socket buffer: a burst of PCIs waits there for admission control, not dropped
        transport = await UdpTransport.bind(*opts.listen, receive_buffer=4 << 20)
    except OSError as exc:
        raise CliError(
            f"cannot listen on {format_address(opts.listen)}: {exc.strerror or exc}"
        ) from None
    log = OperatorLog(out, quiet=quiet)
    log.line(f"listening on {format_address(transport.local_address)}")
    if ready is not None:
        ready(transport.local_address)
    shutdown = asyncio.Event()
    # events are written as they happen, from the runner's callback: no queue, no task
    runner = PaaRunner(
        server, transport, aaa=aaa, trace=trace, on_event=log.event, gc=gc_policy(opts)
    )
    task = asyncio.create_task(runner.run(shutdown))

    def report() -> None:
        log.line("statistics: " + json.dumps(statistics(server, runner, transport)))

    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
        loop.add_signal_handler(signal.SIGUSR1, report)
    try:
        # asyncio.wait, not ``await task``: Ctrl-C/SIGTERM cancels us, and the runner must live
        # on to send its PTRs (below)
        await asyncio.wait({task})
        task.result()
        return 0
    except asyncio.CancelledError:  # Ctrl-C or SIGTERM: PTR to every open session first
        shutdown.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), timeout=5.0)
        raise
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGUSR1)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        transport.close()


def gc_policy(opts: PaaOptions) -> GcPolicy:
    """The runner's GC policy from ``--gc-freeze-after`` (0: gc.freeze() never called)."""
    after = opts.gc_freeze_after
    return GcPolicy(freeze=after > 0, refreeze_after=max(1, after))


def statistics(server: object, runner: PaaRunner[Any], transport: UdpTransport) -> dict[str, int]:
    """What the PAA did with what it received (SIGUSR1 prints it): flood and overload counters.

    The server's counters (``PaaServer.counters``: PCIs answered and rate-limited, PAN[S]
    adopted ...), its live sessions, the admission control's (``shed_pci`` ...) and the socket's.
    """
    stats: dict[str, int] = dict(getattr(server, "counters", {}))
    with contextlib.suppress(TypeError):
        stats["sessions"] = len(server)  # type: ignore[arg-type]
    admission = runner.stats
    stats.update(
        received=transport.received,
        send_dropped=transport.send_dropped,
        batches=admission.batches,
        max_backlog=admission.max_backlog,
        overloaded_batches=admission.overloaded_batches,
        pci_admitted=admission.pci_admitted,
        shed_pci=admission.shed_pci,
        retry_admitted=admission.retry_admitted,
    )
    return stats


def run_workers(opts: PaaOptions, workers: int, out: IO[str], *, quiet: bool = False) -> int:
    """``pana-mpa paa --workers N``: N forked workers on one port until SIGINT/SIGTERM."""
    from ..aio.workers import WorkerPool

    logs: dict[int, OperatorLog] = {}

    def make(index: int, bits: int) -> tuple[PaaServer, Callable[[int], AaaBackend] | None]:
        return build_paa(opts, os.urandom, None, worker_index=index, worker_bits=bits)

    def on_event(index: int, event: object) -> None:
        logs.setdefault(index, OperatorLog(out, quiet=quiet)).event(event)

    host, port = opts.listen
    pool = WorkerPool(
        host, port, workers, make, on_event=on_event, start_method="fork", gc=gc_policy(opts)
    )
    try:
        pool.start()
    except OSError as exc:
        pool.stop()
        msg = f"cannot listen on {format_address(opts.listen)}: {exc.strerror or exc}"
        raise CliError(msg) from None
    OperatorLog(out).line(f"{workers} workers listening on {format_address(pool.local_address)}")
    pool.serve_forever()
    return 0


def run_paa(args: argparse.Namespace, *, factory: PaaFactory | None = None) -> int:
    """``pana-mpa paa``: serve until interrupted."""
    prog = "pana-mpa paa"
    try:
        opts = paa_options(args)
        workers = worker_count(getattr(args, "workers", "1"))
        if workers > 1 and (args.trace or factory is not None):
            raise CliError("--workers: no --trace (one trace per process would interleave)")
    except (CliError, ValueError) as exc:
        sys.stderr.write(f"{prog}: {exc}\n")
        return 2
    quiet = log_level(args) > logging.WARNING  # -q: errors only, in the operator log too
    if workers > 1:
        try:
            return run_workers(opts, workers, sys.stdout, quiet=quiet)
        except CliError as exc:
            sys.stderr.write(f"{prog}: {exc}\n")
            return 1
    make = factory or build_paa

    async def main() -> int:
        with trace_file(args.trace, "paa") as trace:
            return await paa_main(opts, factory=make, out=sys.stdout, trace=trace, quiet=quiet)

    return run_main(main, prog)

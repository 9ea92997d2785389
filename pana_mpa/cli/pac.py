"""``pana-mpa pac``: a PANA client over UDP (RFC 5191 s1.4)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from typing import IO, Any

from eap import registry
from eap.keys import Secret
from eap.methods.base import Rng
from eap.peer import EapPeer
from pana_codecs.avps import ResultCode, TerminationCause

from ..address import format_address
from ..aio import ClientError, PacClient, PacNode
from ..aio.udp import UdpTransport
from ..config import PacConfig
from ..events import AuthenticationFailed, SessionTerminated
from ..flow import FlowTrace
from ..pac import PacSession
from ..trace import NULL_TRACE
from .common import CliError, enum_name, event_text, run_main, say, trace_file
from .options import PacOptions, add_pac_arguments, pac_options
from .users import method_entry

__all__ = ["PacFactory", "add_parser", "build_pac", "eap_peer", "pac_main", "run_pac"]

PacFactory = Callable[[PacOptions, Rng, "FlowTrace | None"], PacNode[Any]]
"""Builds the PaC session (a PacSession with its EapPeer) from the options, an rng, a trace."""


def add_parser(sub: Any) -> None:
    """Register the pac subcommand."""
    pac: argparse.ArgumentParser = sub.add_parser("pac", help="run a PANA client over UDP")
    add_pac_arguments(pac)
    pac.set_defaults(func=run_pac)


def eap_peer(opts: PacOptions, rng: Rng) -> EapPeer:
    """The PaC's EAP peer with the one method the options name (eap.registry), checked now."""
    entry = method_entry(opts.method)
    credential: Secret | registry.TlsCredential
    if entry.credential == "certificate":
        tls = opts.tls
        credential = registry.TlsCredential(
            cert=tls.cert, key=tls.key, ca=tls.ca,
            min_version=tls.min_version, cipher_list=tls.cipher_list,
        )  # fmt: skip
    elif opts.secret is None:
        raise CliError(f"--method {opts.method} needs --secret")
    else:
        credential = opts.secret
    try:
        factory = entry.peer(opts.identity, credential, rng=rng)
    except registry.CredentialError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:  # pyOpenSSL/cryptography report bad PEM files in many ways
        raise CliError(f"{entry.title}: {exc}") from None
    return EapPeer(identity=opts.identity, methods={entry.method_type: factory})


def build_pac(opts: PacOptions, rng: Rng, trace: FlowTrace | None) -> PacSession:
    """The PaC session for ``pana-mpa pac``: the accepted suites, one EAP method."""
    config = PacConfig(
        prf_algorithms=opts.prf_algorithms,
        integrity_algorithms=opts.integrity_algorithms,
        # A long-running PaC re-authenticates before Session-Lifetime runs out (RFC 5191 s4.3).
        reauth_fraction=None if opts.once else 0.8,
    )
    return PacSession(
        config, paa=opts.paa, eap=eap_peer(opts, rng), rng=rng, trace=trace or NULL_TRACE
    )


def failure_text(exc: ClientError) -> str:
    """What went wrong, for the user, from the event that ended the operation."""
    match exc.event:
        case AuthenticationFailed(result_code=code):
            code_name = enum_name(ResultCode, code)
            return f"authentication failed: rejected by the PAA (Result-Code {code_name})"
        case SessionTerminated(cause=None, reason=reason):
            return f"session ended ({reason or 'no answer from the PAA'})"
        case SessionTerminated(cause=cause):
            return f"session terminated (Termination-Cause {enum_name(TerminationCause, cause)})"
    return str(exc)


def _timeout_text(client: PacClient[Any], opts: PacOptions, step: str) -> str:
    """Why a step timed out: no answer at all, a declined PAA, or an unfinished step."""
    paa = format_address(opts.paa)
    if client.datagrams_received == 0:
        return f"{step}: no answer from PAA {paa} within {opts.timeout:g} s"
    session: object = client.session  # a PacSession, or a test's fake
    declined = session.declined if isinstance(session, PacSession) else None
    if step == "authentication" and declined:
        # RFC 5191 s4.1: we dropped the PAR[S] silently; tell the user why
        return f"authentication: PAA {paa} not accepted: {declined}"
    hint = ""
    if step == "authentication" and opts.method == "psk":
        # RFC 4764 s4.3: a PAA may discard a bad MAC_P without a word
        hint = " (wrong identity or secret? EAP-PSK may ignore them silently)"
    return f"{step}: not completed within {opts.timeout:g} s with PAA {paa}{hint}"


async def _until_session_ends(client: PacClient[Any], auth: object, out: IO[str]) -> str:
    """Report every event after authentication; return why the session ended."""
    seen_auth = False
    last: object = auth
    async for event in client.events():
        if seen_auth:
            say(out, f"{type(event).__name__}: {event_text(event)}")
            last = event
        seen_auth = seen_auth or event is auth
    # the session ended without us: terminated by the PAA, lifetime, no answer
    return failure_text(ClientError(str(last), last))


async def pac_main(
    opts: PacOptions,
    *,
    factory: PacFactory,
    out: IO[str],
    trace: FlowTrace | None = None,
    rng: Callable[[int], bytes] = os.urandom,
) -> int:
    """Run one PaC; with ``once``: authenticate, ping, terminate and return 0 on success."""
    session = factory(opts, rng, trace)
    bind = opts.bind or ("::" if ":" in opts.paa[0] else "0.0.0.0", 0)  # noqa: S104 - client port
    try:
        transport = await UdpTransport.bind(*bind)
    except OSError as exc:
        raise CliError(f"cannot bind {format_address(bind)}: {exc.strerror or exc}") from None
    async with PacClient(session, transport, trace=trace) as client:
        step = "authentication"
        try:
            auth = await client.authenticate(timeout=opts.timeout)
            say(out, f"authenticated: {event_text(auth)}")
            if not opts.once:
                step = "session"
                raise CliError(await _until_session_ends(client, auth, out))
            step = "ping"
            pong = await client.ping(timeout=opts.timeout)
            say(out, f"ping answered: {event_text(pong)}")
            step = "termination"
            bye = await client.terminate(timeout=opts.timeout)
            say(out, f"terminated: {event_text(bye)}")
            return 0
        except TimeoutError:
            raise CliError(_timeout_text(client, opts, step)) from None
        except ClientError as exc:
            raise CliError(failure_text(exc)) from None
        except asyncio.CancelledError:  # Ctrl-C or SIGTERM: leave with a PTR (RFC 5191 s4.4)
            if not session.closed and step != "authentication":
                with contextlib.suppress(ClientError, TimeoutError):
                    await client.terminate(timeout=min(opts.timeout, 3.0))
            raise


def run_pac(args: argparse.Namespace, *, factory: PacFactory | None = None) -> int:
    """``pana-mpa pac``: exit status 0 on success, 1 with a one-line message otherwise."""
    prog = "pana-mpa pac"
    try:
        opts = pac_options(args)
    except CliError as exc:
        sys.stderr.write(f"{prog}: {exc}\n")
        return 2
    make = factory or build_pac

    async def main() -> int:
        with trace_file(args.trace, "pac") as trace:
            return await pac_main(opts, factory=make, out=sys.stdout, trace=trace)

    return run_main(main, prog)

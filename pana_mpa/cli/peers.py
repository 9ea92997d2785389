"""``pana-mpa pac`` and ``pana-mpa paa``: a PaC and a PAA over UDP (RFC 5191 s1.4).

The same code backs ``python -m examples.pac`` and ``python -m examples.paa``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import string
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from functools import partial
from pathlib import Path
from typing import IO, Any

from eap._radius_codec import RadiusCode
from eap.aaa.passthrough import RadiusConfig, RadiusError, RadiusPassThrough
from eap.authenticator import AuthOutput, EapAuthenticator
from eap.keys import Secret
from eap.methods.base import AuthMethod, PeerMethod, Rng
from eap.methods.gpsk import GpskPeer, GpskServer
from eap.methods.md5 import Md5Peer, Md5Server
from eap.methods.psk import PskPeer, PskServer
from eap.methods.tls import TlsPeer, TlsServer, TlsVersion
from eap.peer import EapPeer, EapResult
from pana_codecs import EapCode, EapPacket, EapType, encode_eap
from pana_codecs.avps import IntegrityAlgorithm, PrfAlgorithm, ResultCode, TerminationCause

from ..address import PANA_PORT, Address, format_address, parse_address
from ..aio import AaaBackend, ClientError, PacClient, PacNode, SansIo, serve_paa
from ..aio.udp import UdpTransport
from ..config import PaaConfig, PacConfig
from ..flow import FlowTrace, describe_event
from ..paa import PaaServer
from ..pac import PacSession
from ..trace import NULL_TRACE

__all__ = [
    "METHODS",
    "SUITES",
    "PaaOptions",
    "PacOptions",
    "add_paa_arguments",
    "add_pac_arguments",
    "add_parser",
    "build_parser",
    "event_text",
    "parse_secret",
    "run_paa",
    "run_pac",
]

logger = logging.getLogger(__name__)

METHODS = ("psk", "md5", "gpsk", "tls")
SUITES = ("sha1", "sha256")
TLS_VERSIONS = {
    "1.0": TlsVersion.TLS1_0,
    "1.1": TlsVersion.TLS1_1,
    "1.2": TlsVersion.TLS1_2,
    "1.3": TlsVersion.TLS1_3,
}
LEGACY_TLS_CIPHERS = "DEFAULT:@SECLEVEL=0"
"""OpenSSL 3 refuses TLS 1.0/1.1 (SHA-1 signatures) above security level 0 (docs/interop.md)."""
_HEX = frozenset(string.hexdigits)


class CliError(Exception):
    """A one-line message for the user; the command exits non-zero without a traceback."""


def parse_secret(method: str, text: str) -> Secret:
    """A method's long-term secret from the command line, checked for the method's format.

    EAP-PSK (RFC 4764 s2.1): a 16-octet PSK as 16 ASCII characters or 32 hex digits.
    EAP-GPSK (RFC 5433 s8): at least 16 octets, as ASCII or an even number of hex digits.
    EAP-MD5 (RFC 3748 s5.4): any non-empty password.
    """
    if method == "psk":
        if len(text) == 32 and set(text) <= _HEX:
            return Secret(bytes.fromhex(text))
        if len(text) == 16 and text.isascii() and text.isprintable():
            return Secret(text.encode("ascii"))
        raise CliError("an EAP-PSK secret is 16 ASCII characters or 32 hex digits")
    if method == "gpsk":
        if len(text) >= 32 and len(text) % 2 == 0 and set(text) <= _HEX:
            return Secret(bytes.fromhex(text))
        if len(text) >= 16 and text.isascii() and text.isprintable():
            return Secret(text.encode("ascii"))
        raise CliError("an EAP-GPSK secret is at least 16 ASCII characters or 32 hex digits")
    if method == "md5":
        if not text:
            raise CliError("the EAP-MD5 password must not be empty")
        return Secret(text.encode("utf-8"))
    raise CliError(f"method {method} takes no secret")


def parse_users(method: str, items: Iterable[str]) -> dict[bytes, Secret]:
    """``IDENTITY:SECRET`` items (from --user or a --users file) as a user table."""
    users: dict[bytes, Secret] = {}
    for item in items:
        identity, sep, secret_text = item.partition(":")
        if not sep or not identity:
            raise CliError(f"--user {identity or '...'}: expected IDENTITY:SECRET")
        if method == "tls":
            raise CliError("--method tls authenticates by certificate; --user takes no effect")
        try:
            users[identity.encode("utf-8")] = parse_secret(method, secret_text)
        except CliError as exc:
            raise CliError(f"--user {identity}: {exc}") from None
    return users


def _suite(name: str) -> tuple[int, int]:
    """(PRF, Integrity) algorithm numbers: IKEv2 transform IDs (RFC 5191 s8.3, s8.6)."""
    # PRF_HMAC_SHA1 / AUTH_HMAC_SHA1_160; PRF_HMAC_SHA2_256 / AUTH_HMAC_SHA2_256_128 (RFC 4868).
    return (2, 7) if name == "sha1" else (5, 12)


def _pac_suites(name: str | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The PRF and Integrity algorithms a PaC accepts: one suite, or both (SHA-256 first).

    The PAA offers, the PaC picks (RFC 5191 s4.1); HMAC-SHA1 is the mandatory suite
    (s8.3, s8.6), so by default the PaC also works with a SHA-1-only PAA such as OpenPANA.
    """
    if name is not None:
        prf, integrity = _suite(name)
        return (prf,), (integrity,)
    return (5, 2), (12, 7)


@dataclass(frozen=True, kw_only=True)
class TlsFiles:
    """PEM files and the lowest TLS version for EAP-TLS."""

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    min_version: TlsVersion = TlsVersion.TLS1_2

    @property
    def cipher_list(self) -> str | None:
        """OpenSSL cipher list: security level 0 when TLS 1.0/1.1 is allowed, else the default."""
        return LEGACY_TLS_CIPHERS if self.min_version < TlsVersion.TLS1_2 else None


@dataclass(frozen=True, kw_only=True)
class PacOptions:
    """Everything ``pana-mpa pac`` needs, validated."""

    paa: Address
    identity: bytes
    secret: Secret | None
    method: str = "psk"
    prf_algorithms: tuple[int, ...] = (5, 2)
    """PRF-Algorithms accepted, most preferred first (default: SHA-256, then SHA-1)."""
    integrity_algorithms: tuple[int, ...] = (12, 7)
    """Integrity-Algorithms accepted, most preferred first."""
    once: bool = False
    timeout: float = 10.0
    bind: Address | None = None
    tls: TlsFiles = field(default_factory=TlsFiles)

    @property
    def prf(self) -> int:
        """The most preferred PRF-Algorithm."""
        return self.prf_algorithms[0]

    @property
    def integrity(self) -> int:
        """The most preferred Integrity-Algorithm."""
        return self.integrity_algorithms[0]


@dataclass(frozen=True, kw_only=True)
class PaaOptions:
    """Everything ``pana-mpa paa`` needs, validated."""

    listen: Address
    users: dict[bytes, Secret]
    method: str = "psk"
    prf: int = 5
    integrity: int = 12
    lifetime: int = 3600
    reauth_fraction: float | None = None
    psk_silent_discard: bool = False
    radius: Address | None = None
    radius_secret: Secret | None = None
    tls: TlsFiles = field(default_factory=TlsFiles)


PacFactory = Callable[[PacOptions, Rng, "FlowTrace | None"], PacNode[Any]]
"""Builds the PaC session (a PacSession with its EapPeer) from the options, an rng, a trace."""
PaaFactory = Callable[
    [PaaOptions, Rng, "FlowTrace | None"],
    tuple[SansIo[Any], Callable[[int], AaaBackend] | None],
]
"""Builds the PAA server and, for RADIUS pass-through, the per-session AAA back-end factory."""


def _common_arguments(p: argparse.ArgumentParser, *, pac: bool) -> None:
    p.add_argument("--method", choices=METHODS, default="psk", help="EAP method (default psk)")
    if pac:
        p.add_argument(
            "--suite",
            choices=SUITES,
            default=None,
            help="accept only these PRF and integrity algorithms: HMAC-SHA1 or HMAC-SHA-256"
            " (default: both, preferring sha256; the PAA's offer decides)",
        )
    else:
        p.add_argument(
            "--suite",
            choices=SUITES,
            default="sha256",
            help="PRF and integrity algorithms offered: HMAC-SHA1 or HMAC-SHA-256"
            " (default sha256; OpenPANA PaCs need sha1)",
        )
    p.add_argument("--cert", type=Path, help="EAP-TLS: own certificate (PEM)")
    p.add_argument("--key", type=Path, help="EAP-TLS: own private key (PEM)")
    p.add_argument("--ca", type=Path, help="EAP-TLS: CA certificate(s) to verify the peer (PEM)")
    p.add_argument(
        "--tls-min-version",
        choices=tuple(TLS_VERSIONS),
        default=None,
        help="EAP-TLS: lowest TLS version (default 1.2); 1.0 and 1.1 also lower OpenSSL's"
        f" cipher list to {LEGACY_TLS_CIPHERS} and need an RSA certificate",
    )
    p.add_argument(
        "--trace",
        type=Path,
        metavar="FILE",
        help="write protocol events as JSON lines (codes and lengths, never keys)",
    )
    p.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more logging"
    )


def add_pac_arguments(p: argparse.ArgumentParser) -> None:
    """The PaC's options (shared by ``pana-mpa pac`` and ``examples/pac.py``)."""
    p.add_argument("--paa", required=True, metavar="HOST:PORT", help="the PAA (default port 716)")
    p.add_argument("--identity", required=True, help="EAP identity (NAI)")
    p.add_argument("--secret", help="PSK (16 ASCII characters or 32 hex digits) or password")
    p.add_argument(
        "--secret-file",
        type=Path,
        metavar="FILE",
        help="read the secret from the first line of FILE (kept out of the process list)",
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="authenticate, ping, terminate; exit 0 on success, 1 with a message otherwise",
    )
    p.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for each step (default 10)"
    )
    p.add_argument("--bind", metavar="HOST:PORT", help="local address (default any, port any)")
    _common_arguments(p, pac=True)


def add_paa_arguments(p: argparse.ArgumentParser) -> None:
    """The PAA's options (shared by ``pana-mpa paa`` and ``examples/paa.py``)."""
    p.add_argument(
        "--listen", required=True, metavar="HOST:PORT", help="address to serve (port 716 default)"
    )
    p.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="IDENTITY:SECRET",
        help="an allowed identity and its secret (repeatable)",
    )
    p.add_argument(
        "--users",
        type=Path,
        metavar="FILE",
        help="IDENTITY:SECRET lines ('#' comments), kept out of the process list",
    )
    p.add_argument("--radius", metavar="HOST:PORT", help="RADIUS server for EAP pass-through")
    p.add_argument("--radius-secret", help="RADIUS shared secret")
    p.add_argument(
        "--radius-secret-file", type=Path, metavar="FILE", help="read it from FILE's first line"
    )
    p.add_argument(
        "--lifetime", type=int, default=3600, help="Session-Lifetime in seconds (default 3600)"
    )
    p.add_argument(
        "--reauth-fraction",
        type=float,
        metavar="F",
        help="re-authenticate each session at F (0 < F < 1) of --lifetime, started by the PAA"
        " (RFC 5191 s4.3; OpenPANA PaCs only re-authenticate after the lifetime ran out)",
    )
    p.add_argument(
        "--psk-silent-discard",
        action="store_true",
        help="EAP-PSK: silently discard a message 2 whose MAC_P does not verify (RFC 4764"
        " s4.3) instead of failing at once; a PaC with a wrong secret then fails only by"
        " timeout. Default: fail at once with EAP-Failure (Result-Code 1), as hostapd does;"
        " forging message 2 needs RAND_S and the PANA session, so only an on-path attacker,"
        " who could drop messages anyway, can end a conversation that way",
    )
    _common_arguments(p, pac=False)


def add_parser(sub: Any) -> None:
    """Register the pac and paa subcommands."""
    pac: argparse.ArgumentParser = sub.add_parser("pac", help="run a PANA client over UDP")
    add_pac_arguments(pac)
    pac.set_defaults(func=run_pac)
    paa: argparse.ArgumentParser = sub.add_parser("paa", help="run a PANA agent over UDP")
    add_paa_arguments(paa)
    paa.set_defaults(func=run_paa)


def _address(text: str, what: str) -> Address:
    try:
        return parse_address(text, default_port=PANA_PORT)
    except ValueError as exc:
        raise CliError(f"{what}: {exc}") from None


def _resolve(text: str, what: str) -> Address:
    """HOST:PORT with HOST a literal or a name (resolved once, before any I/O loop runs)."""
    with contextlib.suppress(CliError):
        return _address(text, what)
    host, _, port_text = text.rpartition(":")
    if not host:
        host, port_text = port_text, str(PANA_PORT)
    if not port_text.isdigit() or int(port_text) > 65535:
        raise CliError(f"{what}: bad port in {text!r}")
    try:
        infos = socket.getaddrinfo(host, int(port_text), type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise CliError(f"{what}: cannot resolve {host!r}: {exc.strerror or exc}") from None
    sockaddr = infos[0][4]
    return (str(sockaddr[0]), int(sockaddr[1]))


def _tls_files(args: argparse.Namespace, *, need_key: bool) -> TlsFiles:
    floor = getattr(args, "tls_min_version", None)  # radius-server has no such option
    version = TLS_VERSIONS[floor or "1.2"]
    files = TlsFiles(cert=args.cert, key=args.key, ca=args.ca, min_version=version)
    if args.method != "tls":
        if files.cert or files.key or files.ca or floor:
            raise CliError("--cert, --key, --ca and --tls-min-version are for --method tls")
        return files
    if need_key and (files.cert is None or files.key is None):
        raise CliError("--method tls needs --cert and --key")
    for path in (files.cert, files.key, files.ca):
        if path is not None and not path.is_file():
            raise CliError(f"no such file: {path}")
    return files


def _read_lines(path: Path, what: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliError(f"{what}: cannot read {path}: {reason}") from None


def pac_options(args: argparse.Namespace) -> PacOptions:
    """Validate the PaC's arguments."""
    prf, integrity = _pac_suites(args.suite)
    if args.secret_file is not None:
        if args.secret is not None:
            raise CliError("give --secret or --secret-file, not both")
        lines = _read_lines(args.secret_file, "--secret-file")
        args.secret = lines[0] if lines else ""
    if args.method == "tls":
        if args.secret:
            raise CliError("--method tls uses --cert/--key/--ca, not --secret")
        if args.ca is None:
            raise CliError("--method tls needs --ca to verify the PAA's certificate")
        if (args.cert is None) != (args.key is None):
            raise CliError("--cert and --key go together")
        secret = None
    else:
        if args.secret is None:
            raise CliError(f"--method {args.method} needs --secret")
        secret = parse_secret(args.method, args.secret)
    if not args.identity:
        raise CliError("--identity must not be empty")
    if not args.timeout > 0:
        raise CliError("--timeout must be positive")
    return PacOptions(
        paa=_resolve(args.paa, "--paa"),
        identity=args.identity.encode("utf-8"),
        secret=secret,
        method=args.method,
        prf_algorithms=prf,
        integrity_algorithms=integrity,
        once=bool(args.once),
        timeout=float(args.timeout),
        bind=_address(args.bind, "--bind") if args.bind else None,
        tls=_tls_files(args, need_key=False),
    )


def paa_options(args: argparse.Namespace) -> PaaOptions:
    """Validate the PAA's arguments."""
    prf, integrity = _suite(args.suite)
    users: dict[bytes, Secret] = {}
    items = list(args.user)
    if args.users is not None:
        items += [
            line
            for line in _read_lines(args.users, "--users")
            if line.strip() and not line.lstrip().startswith("#")
        ]
    users.update(parse_users(args.method, items))
    if args.radius_secret_file is not None:
        if args.radius_secret is not None:
            raise CliError("give --radius-secret or --radius-secret-file, not both")
        lines = _read_lines(args.radius_secret_file, "--radius-secret-file")
        args.radius_secret = lines[0] if lines and lines[0] else None
    radius = _resolve(args.radius, "--radius") if args.radius else None
    if (radius is None) != (args.radius_secret is None):
        raise CliError("--radius and --radius-secret go together")
    if radius is None and not users and args.method != "tls":
        raise CliError("give at least one --user IDENTITY:SECRET (or --radius)")
    if args.lifetime <= 0:
        raise CliError("--lifetime must be positive")
    fraction = args.reauth_fraction
    if fraction is not None and not 0 < fraction < 1:
        raise CliError("--reauth-fraction must be between 0 and 1 (exclusive)")
    if args.psk_silent_discard and args.method != "psk":
        raise CliError("--psk-silent-discard is for --method psk")
    return PaaOptions(
        listen=_resolve(args.listen, "--listen"),
        users=users,
        method=args.method,
        prf=prf,
        integrity=integrity,
        lifetime=int(args.lifetime),
        reauth_fraction=fraction,
        psk_silent_discard=bool(args.psk_silent_discard),
        radius=radius,
        radius_secret=Secret(args.radius_secret.encode()) if args.radius_secret else None,
        tls=_tls_files(args, need_key=radius is None),
    )


@contextlib.contextmanager
def _trace_file(path: Path | None, role: str) -> Iterator[FlowTrace | None]:
    if path is None:
        yield None
        return
    try:
        stream: IO[str] = path.open("w", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"--trace: cannot write {path}: {exc.strerror or exc}") from None
    with stream:
        yield FlowTrace(stream, role=role)


def _say(stream: IO[str], text: str) -> None:
    stream.write(text + "\n")
    stream.flush()


def _enum_name(enum: type[IntEnum], value: Any) -> str:
    try:
        return enum(value).name
    except ValueError:
        return str(value)


def event_text(event: object) -> str:
    """An event's fields for the user: names for codes, never keys or identities."""
    parts = []
    for key, value in describe_event(event).items():
        raw = getattr(event, key, None)
        if key == "event" or raw is None:
            continue
        if key == "session_id":
            parts.append(f"session 0x{raw:08x}")
        elif key == "lifetime":
            parts.append(f"lifetime {raw:g} s")
        elif key == "round_trip":
            parts.append(f"round trip {raw * 1000:.1f} ms")
        elif key == "prf_algorithm":
            parts.append(_enum_name(PrfAlgorithm, raw))
        elif key == "integrity_algorithm":
            parts.append(_enum_name(IntegrityAlgorithm, raw))
        elif key == "result_code":
            parts.append(f"Result-Code {_enum_name(ResultCode, raw)}")
        elif key == "cause":
            parts.append(f"Termination-Cause {_enum_name(TerminationCause, raw)}")
        elif key == "by_peer":
            parts.append("by the peer" if raw else "by us")
        elif key in ("peer", "old", "new") and isinstance(raw, tuple) and len(raw) == 2:
            parts.append(f"{key} {format_address((str(raw[0]), int(raw[1])))}")
        elif key == "msk" and isinstance(value, dict):
            parts.append(f"MSK {value.get('secret_octets')} octets")
        elif not isinstance(value, dict):  # identities and other octet strings stay out
            parts.append(f"{key.replace('_', ' ')} {value}")
    return ", ".join(parts)


def _failure_text(exc: ClientError) -> str:
    event = exc.event
    if event is None:
        return str(exc)
    name = type(event).__name__
    if name == "AuthenticationFailed":
        code = getattr(event, "result_code", None)
        if code is None:
            return "authentication failed: no answer from the PAA"
        code_name = _enum_name(ResultCode, code)
        return f"authentication failed: rejected by the PAA (Result-Code {code_name})"
    if name == "SessionTerminated":
        cause = getattr(event, "cause", None)
        reason = getattr(event, "reason", None)
        if cause is None:
            return f"session ended ({reason or 'no answer from the PAA'})"
        return f"session terminated (Termination-Cause {_enum_name(TerminationCause, cause)})"
    return str(exc)


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
    paa = format_address(opts.paa)
    async with PacClient(session, transport, trace=trace) as client:
        try:
            step = "authentication"
            auth = await client.authenticate(timeout=opts.timeout)
            _say(out, f"authenticated: {event_text(auth)}")
            if not opts.once:
                step = "session"
                seen_auth = False
                last: object = auth
                async for event in client.events():
                    if seen_auth:
                        _say(out, f"{type(event).__name__}: {event_text(event)}")
                        last = event
                    seen_auth = seen_auth or event is auth
                # the session ended without us: terminated by the PAA, lifetime, no answer
                raise CliError(_failure_text(ClientError(str(last), last)))
            step = "ping"
            pong = await client.ping(timeout=opts.timeout)
            _say(out, f"ping answered: {event_text(pong)}")
            step = "termination"
            bye = await client.terminate(timeout=opts.timeout)
            _say(out, f"terminated: {event_text(bye)}")
            return 0
        except TimeoutError:
            if client.datagrams_received == 0:
                raise CliError(
                    f"{step}: no answer from PAA {paa} within {opts.timeout:g} s"
                ) from None
            declined = getattr(session, "declined", None)
            if step == "authentication" and declined:
                # RFC 5191 s4.1: we dropped the PAR[S] silently; tell the user why
                raise CliError(f"authentication: PAA {paa} not accepted: {declined}") from None
            hint = ""
            if step == "authentication" and opts.method == "psk":
                # RFC 4764 s4.3: a PAA may discard a bad MAC_P without a word
                hint = " (wrong identity or secret? EAP-PSK may ignore them silently)"
            raise CliError(
                f"{step}: not completed within {opts.timeout:g} s with PAA {paa}{hint}"
            ) from None
        except ClientError as exc:
            raise CliError(_failure_text(exc)) from None
        except asyncio.CancelledError:  # Ctrl-C or SIGTERM: leave with a PTR (RFC 5191 s4.4)
            if not session.closed and step != "authentication":
                with contextlib.suppress(ClientError, TimeoutError):
                    await client.terminate(timeout=min(opts.timeout, 3.0))
            raise


async def paa_main(
    opts: PaaOptions,
    *,
    factory: PaaFactory,
    out: IO[str],
    trace: FlowTrace | None = None,
    rng: Callable[[int], bytes] = os.urandom,
    ready: Callable[[Address], None] | None = None,
) -> int:
    """Serve PaCs on ``opts.listen`` until cancelled, printing one line per session event."""
    server, aaa = factory(opts, rng, trace)
    try:
        transport = await UdpTransport.bind(*opts.listen)
    except OSError as exc:
        raise CliError(
            f"cannot listen on {format_address(opts.listen)}: {exc.strerror or exc}"
        ) from None
    _say(out, f"listening on {format_address(transport.local_address)}")
    if ready is not None:
        ready(transport.local_address)
    events: asyncio.Queue[Any] = asyncio.Queue()
    shutdown = asyncio.Event()
    task = asyncio.create_task(
        serve_paa(server, transport, events=events, aaa=aaa, trace=trace, shutdown=shutdown)
    )

    def report() -> None:
        while not events.empty():
            event = events.get_nowait()
            _say(out, f"{type(event).__name__}: {event_text(event)}")

    getter: asyncio.Future[Any] | None = None
    try:
        while not task.done():
            getter = asyncio.ensure_future(events.get())
            done, _ = await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                event = getter.result()
                _say(out, f"{type(event).__name__}: {event_text(event)}")
            else:
                getter.cancel()
        await task
        return 0
    except asyncio.CancelledError:  # Ctrl-C or SIGTERM: PTR to every open session first
        if getter is not None and not getter.done():
            getter.cancel()  # or it would swallow the next event
        shutdown.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), timeout=5.0)
        report()
        raise
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        transport.close()


_SIGTERM_EXIT = 128 + signal.SIGTERM


def _run(main: Callable[[], Any], prog: str) -> int:
    """Run ``main()``; SIGINT and SIGTERM end it in order (the PaC sends its PTR first)."""

    async def guarded() -> int:
        task = asyncio.current_task()
        assert task is not None
        stopped: list[bool] = []

        def on_sigterm() -> None:
            stopped.append(True)
            task.cancel()

        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_sigterm)
        try:
            rc: int = await main()
        except asyncio.CancelledError:
            if stopped:
                return _SIGTERM_EXIT
            raise
        return rc

    try:
        return asyncio.run(guarded())
    except CliError as exc:
        sys.stderr.write(f"{prog}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one line for the user, the traceback with -vv
        logger.debug("internal error", exc_info=True)
        sys.stderr.write(f"{prog}: internal error: {type(exc).__name__}: {exc} (-vv: details)\n")
        return 70  # EX_SOFTWARE


def run_pac(args: argparse.Namespace, *, factory: PacFactory | None = None) -> int:
    """``pana-mpa pac``: exit status 0 on success, 1 with a one-line message otherwise."""
    prog = "pana-mpa pac"
    try:
        opts = pac_options(args)
    except CliError as exc:
        sys.stderr.write(f"{prog}: {exc}\n")
        return 2
    make = factory or _default_pac_factory()

    async def main() -> int:
        with _trace_file(args.trace, "pac") as trace:
            return await pac_main(opts, factory=make, out=sys.stdout, trace=trace)

    return _run(main, prog)


def run_paa(args: argparse.Namespace, *, factory: PaaFactory | None = None) -> int:
    """``pana-mpa paa``: serve until interrupted."""
    prog = "pana-mpa paa"
    try:
        opts = paa_options(args)
    except CliError as exc:
        sys.stderr.write(f"{prog}: {exc}\n")
        return 2
    make = factory or _default_paa_factory()

    async def main() -> int:
        with _trace_file(args.trace, "paa") as trace:
            return await paa_main(opts, factory=make, out=sys.stdout, trace=trace)

    return _run(main, prog)


SERVER_ID = b"pana-mpa"
"""ID_S (EAP-PSK) / ID_Server (EAP-GPSK) of our PAA."""


def eap_peer(opts: PacOptions, rng: Rng) -> EapPeer:
    """The PaC's EAP peer with the one method the options name."""
    secret = opts.secret
    methods: dict[int, Callable[[], PeerMethod]] = {}
    if opts.method == "tls":
        tls = opts.tls

        def tls_peer() -> TlsPeer:
            return TlsPeer(
                ca=tls.ca,
                cert=tls.cert,
                key=tls.key,
                min_version=tls.min_version,
                cipher_list=tls.cipher_list,
            )

        _check_tls(tls_peer)
        methods[TlsPeer.method_type] = tls_peer
        return EapPeer(identity=opts.identity, methods=methods)
    if secret is None:
        raise CliError(f"--method {opts.method} needs --secret")
    if opts.method == "psk":
        methods[PskPeer.method_type] = lambda: PskPeer(opts.identity, secret, rng)
    elif opts.method == "gpsk":
        methods[GpskPeer.method_type] = lambda: GpskPeer(opts.identity, secret, rng=rng)
    else:
        methods[Md5Peer.method_type] = lambda: Md5Peer(secret)
    return EapPeer(identity=opts.identity, methods=methods)


def eap_authenticator(opts: PaaOptions, rng: Rng, *, check: bool = False) -> EapAuthenticator:
    """The PAA's standalone EAP authenticator over the ``--user`` table (TLS: certificates).

    ``check``: build the TLS server once now, so bad PEM files fail as a CliError at start-up.
    """
    users = opts.users

    def lookup(identity: bytes) -> Secret | None:
        return users.get(identity)

    def policy(identity: bytes) -> list[Callable[[], AuthMethod]]:
        if opts.method == "psk":
            # a wrong PSK fails at once (see --psk-silent-discard for the RFC 4764 s4.3 choice)
            strict = not opts.psk_silent_discard
            return [lambda: PskServer(SERVER_ID, lookup, rng, fail_on_bad_mac_p=strict)]
        if opts.method == "gpsk":
            # RFC 5433 s4 (gpsk_fail=True): a bad MAC in GPSK-2 gets GPSK-Fail, which PaCs
            # (ours included) answer, so a wrong secret already fails at once the RFC's way.
            return [lambda: GpskServer(SERVER_ID, lookup, rng=rng)]
        if opts.method == "md5":
            return [lambda: Md5Server(lookup(identity), rng=rng)]
        return [tls_server]

    tls = opts.tls

    def tls_server() -> TlsServer:
        assert tls.cert is not None and tls.key is not None  # paa_options checked
        return TlsServer(
            cert=tls.cert,
            key=tls.key,
            ca=tls.ca,
            require_client_cert=tls.ca is not None,
            min_version=tls.min_version,
            cipher_list=tls.cipher_list,
        )

    if check and opts.method == "tls":
        _check_tls(tls_server)
    return EapAuthenticator(methods=policy, rng=rng)


def _check_tls(make: Callable[[], object]) -> None:
    """Build one TLS method object now, so bad PEM files fail before any datagram is sent."""
    try:
        make()
    except Exception as exc:  # pyOpenSSL/cryptography report bad files in many ways
        raise CliError(f"EAP-TLS: {exc}") from None


class RadiusBackend:
    """One session's RADIUS pass-through (eap.aaa.passthrough), answering as an EAP server would."""

    def __init__(self, relay: RadiusPassThrough, rng: Rng) -> None:
        self._relay = relay
        self._rng = rng

    async def exchange(self, eap_response: bytes | None) -> AuthOutput:
        """Relay one response; Access-Accept/Reject end the conversation (RFC 3579 s2.6.3).

        The first request, EAP-Request/Identity, is made here (RFC 3579 s2.1 lets the NAS
        send it): servers then get a User-Name at once, and no EAP-Start, which some answer
        without the Message-Authenticator RFC 3579 s3.2 requires.
        """
        if eap_response is None:
            identifier = self._rng(1)[0]
            request = EapPacket(EapCode.REQUEST, identifier, EapType.IDENTITY)
            return AuthOutput(encode_eap(request), None)
        try:
            answer = await self._relay.answer(eap_response)
        except RadiusError as exc:
            logger.warning("RADIUS pass-through failed: %s", exc)
            return AuthOutput(None, EapResult(success=False, keys=None, method_type=None))
        if answer.code == RadiusCode.ACCESS_ACCEPT:
            return AuthOutput(answer.eap, EapResult(True, answer.keys, answer.method_type))
        if answer.code == RadiusCode.ACCESS_REJECT:
            return AuthOutput(answer.eap, EapResult(False, None, answer.method_type))
        return AuthOutput(answer.eap, None)

    def restart(self) -> None:
        """A new EAP conversation (re-authentication)."""
        self._relay.restart()

    def close(self) -> None:
        """Close the socket toward the RADIUS server."""
        self._relay.close()


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


def build_paa(
    opts: PaaOptions, rng: Rng, trace: FlowTrace | None
) -> tuple[PaaServer, Callable[[int], AaaBackend] | None]:
    """The PAA for ``pana-mpa paa``: local users, or RADIUS pass-through with ``--radius``."""
    config = PaaConfig(
        prf_algorithms=(opts.prf,),
        integrity_algorithms=(opts.integrity,),
        session_lifetime=opts.lifetime,
        reauth_fraction=opts.reauth_fraction,
    )
    if opts.radius is not None and opts.radius_secret is not None:
        radius = RadiusConfig(server=opts.radius, secret=opts.radius_secret)

        def backend(session_id: int) -> AaaBackend:
            return RadiusBackend(RadiusPassThrough(radius, rng=rng), rng)

        # no eap_factory: every EAP step waits in pending_aaa() (RFC 5191 s2 pass-through)
        return PaaServer(config, rng=rng, trace=trace or NULL_TRACE), backend
    eap_authenticator(opts, rng, check=True)
    eap_factory = partial(eap_authenticator, opts, rng)
    return PaaServer(config, eap_factory=eap_factory, rng=rng, trace=trace or NULL_TRACE), None


def _default_pac_factory() -> PacFactory:
    return build_pac


def _default_paa_factory() -> PaaFactory:
    return build_paa


def build_parser(role: str, prog: str | None = None) -> argparse.ArgumentParser:
    """A standalone parser for one role (the examples use it)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    (add_pac_arguments if role == "pac" else add_paa_arguments)(parser)
    return parser

"""The options of ``pana-mpa pac`` and ``pana-mpa paa``: arguments, their checks, the results."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from eap.keys import Secret
from pana_codecs.avps import IntegrityAlgorithm, PrfAlgorithm

from ..address import PANA_PORT, Address
from ..config import DEFAULT_INTEGRITY_ALGORITHMS, DEFAULT_PRF_ALGORITHMS
from .common import CliError, address, read_lines, resolve
from .users import USER_METHODS, Account, parse_secret, parse_users, read_users_file

__all__ = [
    "LEGACY_TLS_CIPHERS",
    "METHODS",
    "SUITES",
    "TLS_VERSIONS",
    "PaaOptions",
    "PacOptions",
    "TlsFiles",
    "add_paa_arguments",
    "add_pac_arguments",
    "add_users_file_argument",
    "paa_options",
    "paa_users",
    "pac_options",
    "tls_files",
]

METHODS = USER_METHODS
"""EAP method names, from eap.registry."""
SUITES = ("sha1", "sha256", "both")
# The wire values of eap.methods.tls.TlsVersion: the command line loads pyOpenSSL only for EAP-TLS.
TLS_VERSIONS = {
    "1.0": 0x0301,
    "1.1": 0x0302,
    "1.2": 0x0303,
    "1.3": 0x0304,
}
LEGACY_TLS_CIPHERS = "DEFAULT:@SECLEVEL=0"
"""OpenSSL 3 refuses TLS 1.0/1.1 (SHA-1 signatures) above security level 0 (docs/interop.md)."""


def suite(name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The PRF and Integrity algorithms (IKEv2 transform IDs, RFC 5191 s8.3, s8.6) of a suite.

    "both": HMAC-SHA-256 first, then HMAC-SHA1, the suite every PANA entity must support;
    the PAA offers them in this order and the PaC picks one (RFC 5191 s4.1).
    """
    # PRF_HMAC_SHA1 / AUTH_HMAC_SHA1_160; PRF_HMAC_SHA2_256 / AUTH_HMAC_SHA2_256_128 (RFC 4868).
    if name == "sha1":
        return (PrfAlgorithm.PRF_HMAC_SHA1,), (IntegrityAlgorithm.AUTH_HMAC_SHA1_160,)
    if name == "sha256":
        return (PrfAlgorithm.PRF_HMAC_SHA2_256,), (IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128,)
    return DEFAULT_PRF_ALGORITHMS, DEFAULT_INTEGRITY_ALGORITHMS


def pac_suites(name: str | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The PRF and Integrity algorithms a PaC accepts: one suite, or both (SHA-256 first).

    The PAA offers, the PaC picks (RFC 5191 s4.1); HMAC-SHA1 is the mandatory suite
    (s8.3, s8.6), so by default the PaC also works with a SHA-1-only PAA such as OpenPANA.
    """
    return suite(name or "both")


@dataclass(frozen=True, kw_only=True)
class TlsFiles:
    """PEM files and the lowest TLS version for EAP-TLS."""

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    min_version: int = TLS_VERSIONS["1.2"]
    """The lowest TLS version (an eap.methods.tls.TlsVersion value)."""

    @property
    def cipher_list(self) -> str | None:
        """OpenSSL cipher list: security level 0 when TLS 1.0/1.1 is allowed, else the default."""
        return LEGACY_TLS_CIPHERS if self.min_version < TLS_VERSIONS["1.2"] else None


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

    listen: Address = ("0.0.0.0", PANA_PORT)  # noqa: S104 - a PAA serves every address
    users: Mapping[bytes, Secret | Account] = field(default_factory=dict)
    """Identity -> its secret for ``method`` (``--user``), or an Account (``--users`` file)."""
    method: str = "psk"
    prf_algorithms: tuple[int, ...] = DEFAULT_PRF_ALGORITHMS
    """PRF-Algorithms offered, most preferred first (default: SHA-256, then SHA-1)."""
    integrity_algorithms: tuple[int, ...] = DEFAULT_INTEGRITY_ALGORITHMS
    """Integrity-Algorithms offered, most preferred first."""
    lifetime: int = 3600
    reauth_fraction: float | None = None
    psk_silent_discard: bool = False
    radius: Address | None = None
    radius_secret: Secret | None = None
    tls: TlsFiles = field(default_factory=TlsFiles)
    allow_keyless: bool = False
    """Authorize sessions without a PANA SA; by default a session needs a key (issue 9)."""
    gc_freeze_after: int = 2000
    """gc.freeze() at start and after every N new sessions (pana_mpa.aio.GcPolicy); 0: off."""


def _common_arguments(p: argparse.ArgumentParser, *, pac: bool) -> None:
    p.add_argument("--method", choices=METHODS, default="psk", help="EAP method (default psk)")
    if pac:
        help_text = (
            "PRF and integrity algorithms accepted: HMAC-SHA1, HMAC-SHA-256 or both"
            " (default both, preferring sha256; the PAA's offer decides)"
        )
    else:
        help_text = (
            "PRF and integrity algorithms offered: HMAC-SHA1, HMAC-SHA-256 or both (default"
            " both, preferring sha256; SHA-1 is RFC 5191's mandatory suite, OpenPANA's only one)"
        )
    p.add_argument("--suite", choices=SUITES, default="both", help=help_text)
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
        help="write protocol events as a JSON-lines trace to FILE, - for standard output"
        " (docs/trace-format.md; codes and lengths, never keys)",
    )


def add_users_file_argument(p: argparse.ArgumentParser) -> None:
    """``--users FILE``, in hostapd's eap_user style (pana_mpa.cli.users)."""
    p.add_argument(
        "--users",
        type=Path,
        metavar="FILE",
        help='users in hostapd eap_user style, one a line: "IDENTITY" METHOD[,METHOD...]'
        ' "SECRET" or hex digits; # starts a comment (kept out of the process list)',
    )


def add_pac_arguments(p: argparse.ArgumentParser) -> None:
    """The PaC's options."""
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
    """The PAA's options."""
    p.add_argument(
        "--listen",
        default=f":{PANA_PORT}",
        metavar="HOST:PORT",
        help=f"address to serve: HOST, HOST:PORT, [V6]:PORT or :PORT (default :{PANA_PORT},"
        " every IPv4 address; [::] for IPv6 too)",
    )
    p.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="IDENTITY:SECRET",
        help="an allowed identity and its secret (repeatable)",
    )
    add_users_file_argument(p)
    p.add_argument("--radius", metavar="HOST:PORT", help="RADIUS server for EAP pass-through")
    p.add_argument("--radius-secret", help="RADIUS shared secret")
    p.add_argument(
        "--radius-secret-file", type=Path, metavar="FILE", help="read it from FILE's first line"
    )
    p.add_argument(
        "--lifetime",
        type=int,
        default=3600,
        help="Session-Lifetime in seconds (default 3600); with --radius a lower Session-Timeout"
        " from the RADIUS server wins (RFC 2865 s5.27)",
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
    p.add_argument(
        "--allow-keyless",
        action="store_true",
        help="authorize sessions without a PANA SA (EAP-MD5 through --radius); by default a"
        " session needs a key, and a key-generating method always does",
    )
    p.add_argument(
        "--gc-freeze-after",
        type=int,
        default=2000,
        metavar="N",
        help="gc.freeze() at start and after every N new or re-authenticated sessions, so"
        " Python's cyclic collector skips the open sessions (short GC pauses with many"
        " sessions open, docs/benchmarks.md); 0: leave the collector alone (default 2000)",
    )
    _common_arguments(p, pac=False)


def tls_files(args: argparse.Namespace, *, need_key: bool, tls: bool | None = None) -> TlsFiles:
    """The EAP-TLS files (only when TLS may run: ``tls``, default ``--method tls``), checked."""
    floor = getattr(args, "tls_min_version", None)  # radius-server has no such option
    version = TLS_VERSIONS[floor or "1.2"]
    files = TlsFiles(cert=args.cert, key=args.key, ca=args.ca, min_version=version)
    if not (args.method == "tls" if tls is None else tls):
        if files.cert or files.key or files.ca or floor:
            raise CliError("--cert, --key, --ca and --tls-min-version are for --method tls")
        return files
    if need_key and (files.cert is None or files.key is None):
        raise CliError("--method tls needs --cert and --key")
    for path in (files.cert, files.key, files.ca):
        if path is not None and not path.is_file():
            raise CliError(f"no such file: {path}")
    return files


def _pac_secret(args: argparse.Namespace) -> Secret | None:
    if args.secret_file is not None:
        if args.secret is not None:
            raise CliError("give --secret or --secret-file, not both")
        lines = read_lines(args.secret_file, "--secret-file")
        args.secret = lines[0] if lines else ""
    if args.method == "tls":
        if args.secret:
            raise CliError("--method tls uses --cert/--key/--ca, not --secret")
        if args.ca is None:
            raise CliError("--method tls needs --ca to verify the PAA's certificate")
        if (args.cert is None) != (args.key is None):
            raise CliError("--cert and --key go together")
        return None
    if args.secret is None:
        raise CliError(f"--method {args.method} needs --secret")
    return parse_secret(args.method, args.secret)


def pac_options(args: argparse.Namespace) -> PacOptions:
    """Validate the PaC's arguments."""
    prf, integrity = pac_suites(args.suite)
    secret = _pac_secret(args)
    if not args.identity:
        raise CliError("--identity must not be empty")
    if not args.timeout > 0:
        raise CliError("--timeout must be positive")
    return PacOptions(
        paa=resolve(args.paa, "--paa"),
        identity=args.identity.encode("utf-8"),
        secret=secret,
        method=args.method,
        prf_algorithms=prf,
        integrity_algorithms=integrity,
        once=bool(args.once),
        timeout=float(args.timeout),
        bind=address(args.bind, "--bind") if args.bind else None,
        tls=tls_files(args, need_key=False),
    )


def paa_users(args: argparse.Namespace) -> dict[bytes, Secret | Account]:
    """``--user`` items (for ``--method``) and the ``--users`` file (hostapd style), checked."""
    users: dict[bytes, Secret | Account] = {}
    users.update(parse_users(args.method, args.user))
    if args.users is not None:
        for identity, account in read_users_file(args.users).items():
            if identity in users:
                name = identity.decode("utf-8", "backslashreplace")
                raise CliError(f"user {name!r} is in --user and in {args.users}")
            users[identity] = account
    return users


def uses_tls(method: str, users: Mapping[bytes, Secret | Account]) -> bool:
    """Whether EAP-TLS may run: ``--method tls`` or a user listing TLS."""
    listed = any(isinstance(u, Account) and "tls" in u.methods for u in users.values())
    return method == "tls" or listed


def _radius_secret(args: argparse.Namespace) -> Secret | None:
    if args.radius_secret_file is not None:
        if args.radius_secret is not None:
            raise CliError("give --radius-secret or --radius-secret-file, not both")
        lines = read_lines(args.radius_secret_file, "--radius-secret-file")
        args.radius_secret = lines[0] if lines and lines[0] else None
    return Secret(args.radius_secret.encode()) if args.radius_secret else None


def paa_options(args: argparse.Namespace) -> PaaOptions:
    """Validate the PAA's arguments."""
    prf, integrity = suite(args.suite)
    users = paa_users(args)
    radius_secret = _radius_secret(args)
    radius = resolve(args.radius, "--radius") if args.radius else None
    if (radius is None) != (radius_secret is None):
        raise CliError("--radius and --radius-secret go together")
    if radius is None and not users and args.method != "tls":
        raise CliError("give at least one --user IDENTITY:SECRET, a --users FILE or --radius")
    if not 0 < args.lifetime <= 0xFFFFFFFF:
        raise CliError("--lifetime must be positive, at most 4294967295 s (RFC 5191 s8.8)")
    if radius is not None and radius[1] == 0:
        raise CliError("--radius: give the RADIUS server's port (not 0), e.g. HOST:1812")
    fraction = args.reauth_fraction
    if fraction is not None and not 0 < fraction < 1:
        raise CliError("--reauth-fraction must be between 0 and 1 (exclusive)")
    if args.psk_silent_discard and args.method != "psk":
        raise CliError("--psk-silent-discard is for --method psk")
    gc_freeze_after = getattr(args, "gc_freeze_after", 2000)  # callers may build args by hand
    if gc_freeze_after < 0:
        raise CliError("--gc-freeze-after must be 0 (off) or a number of sessions")
    return PaaOptions(
        listen=resolve(args.listen, "--listen"),
        users=users,
        method=args.method,
        prf_algorithms=prf,
        integrity_algorithms=integrity,
        lifetime=int(args.lifetime),
        reauth_fraction=fraction,
        psk_silent_discard=bool(args.psk_silent_discard),
        radius=radius,
        radius_secret=radius_secret,
        tls=tls_files(args, need_key=radius is None, tls=uses_tls(args.method, users)),
        allow_keyless=bool(args.allow_keyless),
        gc_freeze_after=gc_freeze_after,
    )

"""``pana-mpa radius-server``: our EAP server methods behind a RADIUS front (RFC 3579).

Any NAS (an 802.1X switch or access point, hostapd, ``eapol_test``, a PAA in pass-through mode)
can then authenticate peers with our EAP-PSK, EAP-GPSK, EAP-MD5 or EAP-TLS::

    pana-mpa radius-server --listen 127.0.0.1:1812 --client 127.0.0.1:testing123 \\
        --method psk --user alice:0123456789abcdef0123456789abcdef
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from eap.aaa.server import EapBackend, RadiusServer, RadiusServerCore
from eap.keys import Secret
from eap.methods.base import Rng

from ..address import Address, format_address, parse_address
from .common import CliError, run_main
from .options import (
    METHODS,
    PaaOptions,
    add_users_file_argument,
    paa_users,
    tls_files,
    uses_tls,
)
from .paa import OperatorLog, authenticator_factory

_DESCRIPTION = """\
Serve our EAP methods (EAP-PSK, EAP-GPSK, EAP-MD5, EAP-TLS) to RADIUS clients (RFC 3579): an
802.1X switch or access point, hostapd, eapol_test, or a PANA agent in pass-through mode.
"""

__all__ = ["RADIUS_PORT", "RadiusServerOptions", "add_parser", "options", "radius_server_main"]

RADIUS_PORT = 1812
"""The RADIUS authentication port (RFC 2865 s3)."""


@dataclass(frozen=True, kw_only=True)
class RadiusServerOptions:
    """Everything ``pana-mpa radius-server`` needs, validated."""

    listen: Address
    clients: dict[str, Secret]
    """Client address or network (``10.0.0.0/8``) -> shared secret."""
    eap: PaaOptions
    """The EAP side (method, users, TLS files), as ``pana-mpa paa`` takes it."""


def add_parser(sub: Any) -> None:
    """Register the radius-server subcommand."""
    p: argparse.ArgumentParser = sub.add_parser(
        "radius-server",
        help="serve our EAP methods to RADIUS clients (RFC 3579)",
        description=_DESCRIPTION,
    )
    p.add_argument(
        "--listen",
        default=f":{RADIUS_PORT}",
        metavar="HOST:PORT",
        help=f"address: HOST, HOST:PORT, [V6]:PORT or :PORT (default :{RADIUS_PORT})",
    )
    p.add_argument(
        "--client",
        action="append",
        required=True,
        metavar="ADDRESS[/LEN]:SECRET",
        help="a RADIUS client (address or network) and its shared secret (repeatable)",
    )
    p.add_argument("--method", choices=METHODS, default="psk", help="EAP method (default psk)")
    p.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="IDENTITY:SECRET",
        help="an allowed identity and its secret (repeatable)",
    )
    add_users_file_argument(p)
    p.add_argument("--cert", type=Path, help="EAP-TLS: server certificate (PEM)")
    p.add_argument("--key", type=Path, help="EAP-TLS: server private key (PEM)")
    p.add_argument("--ca", type=Path, help="EAP-TLS: CA certificate(s) for client certificates")
    p.set_defaults(func=run)


def _client(text: str) -> tuple[str, Secret]:
    # The secret follows the last colon that is not part of an IPv6 address or network.
    for i in range(len(text) - 1, 0, -1):
        if text[i] != ":":
            continue
        where, secret = text[:i], text[i + 1 :]
        try:
            net = ipaddress.ip_network(where, strict=False)
        except ValueError:
            continue
        if not secret:
            break
        key = str(net.network_address) if "/" not in where else str(net)
        return key, Secret(secret.encode("utf-8"))
    raise CliError(f"--client {text!r}: expected ADDRESS[/LEN]:SECRET")


def options(args: argparse.Namespace) -> RadiusServerOptions:
    """Validate the arguments."""
    try:
        listen = parse_address(args.listen, default_port=RADIUS_PORT)
    except ValueError as exc:
        raise CliError(f"--listen: {exc}") from None
    clients = dict(_client(text) for text in args.client)
    users = paa_users(args)
    if not users and args.method != "tls":
        raise CliError("give at least one --user IDENTITY:SECRET or a --users FILE")
    tls = tls_files(args, need_key=True, tls=uses_tls(args.method, users))
    eap = PaaOptions(listen=listen, users=users, method=args.method, tls=tls)
    return RadiusServerOptions(listen=listen, clients=clients, eap=eap)


async def radius_server_main(
    opts: RadiusServerOptions,
    *,
    out: IO[str],
    rng: Rng = os.urandom,
    ready: Callable[[Address], None] | None = None,
) -> int:
    """Serve until cancelled."""
    make = authenticator_factory(opts.eap, rng)  # bad TLS files fail now, as a CliError

    def backend() -> EapBackend:
        return make()

    server = RadiusServer(RadiusServerCore(clients=opts.clients, backend=backend, rng=rng))
    try:
        address = await server.start(*opts.listen)
    except OSError as exc:
        raise CliError(
            f"cannot listen on {format_address(opts.listen)}: {exc.strerror or exc}"
        ) from None
    OperatorLog(out).line(f"listening on {format_address(address)} (RADIUS)")
    if ready is not None:
        ready(address)
    try:
        await asyncio.Event().wait()  # until cancelled (Ctrl-C)
    finally:
        server.close()
    return 0


def run(args: argparse.Namespace) -> int:
    """``pana-mpa radius-server``: serve until interrupted."""
    prog = "pana-mpa radius-server"
    try:
        opts = options(args)
    except CliError as exc:
        sys.stderr.write(f"{prog}: {exc}\n")
        return 2
    return run_main(lambda: radius_server_main(opts, out=sys.stdout), prog)

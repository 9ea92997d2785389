"""A B-route-style PaC, on the public API: EAP-PSK, the SHA-256 suite, an IPv6 link-local PAA.

    python -m examples.broute_pac --paa '[fe80::1%eth0]:716' --identity ID --psk-file psk.hex

Japanese smart meters (Wi-SUN B-route) are the PAA; they are reached at an IPv6 link-local
address, so the address carries its zone (the interface, RFC 4007 s11), and both sides use UDP port
716. Their PAR[S] offers PRF_HMAC_SHA2_256 (5) and AUTH_HMAC_SHA2_256_128 (12), which this PaC
insists on (RFC 5191 s4.1: a PaC that accepts nothing offered drops the PAR silently). It
authenticates, pings and terminates; exit status 1 with the reason when a step fails.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from eap import EapPeer, PskPeer, Secret
from pana_mpa import (
    PANA_PORT,
    ClientError,
    PacClient,
    PacConfig,
    PacSession,
    UdpTransport,
    parse_address,
)

PRF_HMAC_SHA2_256 = 5  # RFC 5191 s8.3 (IKEv2 transform ID, RFC 4868)
AUTH_HMAC_SHA2_256_128 = 12  # RFC 5191 s8.6


def read_psk(path: Path) -> Secret:
    """The 16-octet EAP-PSK key (RFC 4764 s2.1) from a file: 32 hex digits."""
    return Secret(bytes.fromhex(path.read_text(encoding="utf-8").strip()))


async def main(args: argparse.Namespace) -> int:
    """Authenticate with the SHA-256 suite only, ping, terminate."""
    paa = parse_address(args.paa, default_port=PANA_PORT)  # keeps the zone: fe80::1%eth0
    identity = args.identity.encode()
    psk = read_psk(args.psk_file)
    eap = EapPeer(identity=identity, methods={PskPeer.method_type: lambda: PskPeer(identity, psk)})
    config = PacConfig(
        prf_algorithms=(PRF_HMAC_SHA2_256,), integrity_algorithms=(AUTH_HMAC_SHA2_256_128,)
    )
    session = PacSession(config, paa=paa, eap=eap)
    transport = await UdpTransport.bind(*parse_address(args.bind, default_port=PANA_PORT))
    async with PacClient(session, transport) as client:
        try:
            print("authenticated:", await client.authenticate(timeout=args.timeout))
            print("ping answered:", await client.ping(timeout=args.timeout))
            print("terminated:", await client.terminate(timeout=args.timeout))
        except ClientError as exc:  # one family: rejected, no answer, session ended
            print(f"failed: {exc}", file=sys.stderr)
            return 1
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, configure logging, run main()."""
    parser = argparse.ArgumentParser(prog="python -m examples.broute_pac", description=__doc__)
    parser.add_argument("--paa", required=True, help="[fe80::...%%IFACE]:716, the meter")
    parser.add_argument("--identity", required=True, help="EAP-PSK ID_P")
    parser.add_argument("--psk-file", type=Path, required=True, help="32 hex digits")
    parser.add_argument("--bind", default="[::]:716", help="local address (default [::]:716)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per step")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2))
    return asyncio.run(main(args))


if __name__ == "__main__":
    sys.exit(run())

"""A PANA client over UDP with EAP-PSK, on the public API.

    python -m examples.pac --paa 127.0.0.1:10716 --identity alice --psk-file psk.txt

It authenticates, pings and terminates, printing each outcome; exit status 1 with the reason
when a step fails. The PSK file holds 16 characters or 32 hex digits (RFC 4764 s2.1).
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


def read_psk(path: Path) -> Secret:
    """The PSK from the first line of a file: 32 hex digits or 16 characters."""
    text = path.read_text(encoding="utf-8").strip()
    return Secret(bytes.fromhex(text) if len(text) == 32 else text.encode())


async def main(args: argparse.Namespace) -> int:
    """Authenticate, ping, terminate."""
    identity = args.identity.encode()
    paa = parse_address(args.paa, default_port=PANA_PORT)
    psk = read_psk(args.psk_file)
    eap = EapPeer(identity=identity, methods={PskPeer.method_type: lambda: PskPeer(identity, psk)})
    session = PacSession(PacConfig(), paa=paa, eap=eap)
    local = "::" if ":" in paa[0] else "0.0.0.0"  # noqa: S104 - any local address, any port
    async with PacClient(session, await UdpTransport.bind(local, 0)) as client:
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
    parser = argparse.ArgumentParser(prog="python -m examples.pac", description=__doc__)
    parser.add_argument("--paa", required=True, help="HOST:PORT of the PAA")
    parser.add_argument("--identity", required=True, help="EAP identity (NAI)")
    parser.add_argument("--psk-file", type=Path, required=True, help="file holding the PSK")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per step")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2))
    return asyncio.run(main(args))


if __name__ == "__main__":
    sys.exit(run())

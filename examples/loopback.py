"""A PaC and a PAA in one process, built from the library's parts: ``python -m examples.loopback``.

No network and no root: the two talk over an in-memory LoopbackNetwork (here with 20 % loss, so
PANA's retransmissions show), in virtual time, with EAP-PSK (RFC 4764).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
from collections.abc import Sequence

from eap import EapAuthenticator, EapPeer, PskPeer, PskServer, Secret
from pana_mpa import (
    ClientError,
    LoopbackNetwork,
    PaaConfig,
    PaaServer,
    PacClient,
    PacConfig,
    PacSession,
    run_virtual,
    serve_paa,
)

PAC = ("192.0.2.1", 50000)
PAA = ("192.0.2.2", 716)
USERS = {b"alice@example.org": Secret(b"SecretPassphrase")}


async def main(args: argparse.Namespace) -> int:
    """Authenticate, ping and terminate; print what the PaC sees."""
    rng = random.Random(args.seed).randbytes  # noqa: S311 - reproducible; real use: os.urandom
    identity = b"alice@example.org"
    psk = Secret(args.psk.encode())

    # The PAA: one EAP authenticator per session, EAP-PSK for every identity.
    def eap_server() -> EapAuthenticator:
        return EapAuthenticator(
            methods=lambda peer_id: [lambda: PskServer(b"paa.example", USERS.get, rng)], rng=rng
        )

    paa = PaaServer(PaaConfig(session_lifetime=600), eap_factory=eap_server, rng=rng)
    # The PaC: an EAP peer that knows one method.
    eap = EapPeer(identity=identity, methods={47: lambda: PskPeer(identity, psk, rng)})
    pac = PacSession(PacConfig(), paa=PAA, eap=eap, rng=rng)

    net = LoopbackNetwork(seed=args.seed, loss=args.loss, delay=0.005)
    server = asyncio.create_task(serve_paa(paa, net.endpoint(PAA)))
    loop = asyncio.get_running_loop()
    try:
        async with PacClient(pac, net.endpoint(PAC)) as client:
            try:
                auth = await client.authenticate(timeout=60)
            except (ClientError, TimeoutError) as exc:  # a wrong PSK is discarded silently
                print(f"{loop.time():7.3f}s not authenticated: {str(exc) or 'no answer in time'}")
                return 1
            print(f"{loop.time():7.3f}s authenticated: {auth}")
            pong = await client.ping(timeout=60)
            print(f"{loop.time():7.3f}s ping answered: {pong}")
            bye = await client.terminate(timeout=60)
            print(f"{loop.time():7.3f}s terminated: {bye}")
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
    print(f"network: {net.sent} sent, {net.dropped} lost")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, configure logging, run main() in virtual time."""
    parser = argparse.ArgumentParser(prog="python -m examples.loopback", description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--loss", type=float, default=0.2, help="loss probability (default 0.2)")
    parser.add_argument("--psk", default="SecretPassphrase", help="the PaC's 16-character PSK")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2))
    return run_virtual(lambda: main(args))


if __name__ == "__main__":
    sys.exit(run())

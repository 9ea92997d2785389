"""EAP-TLS: full in-memory conversations per second, round trips and octets per conversation."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable

from benchmarks._timing import measure
from eap.methods.tls import DEFAULT_FRAGMENT_SIZE, TlsPeer, TlsServer, TlsVersion
from tests.pki import Pki, make_pki


def _factories(
    pki: Pki, version: TlsVersion, fragment_size: int
) -> tuple[Callable[[], TlsPeer], Callable[[], TlsServer]]:
    peer = TlsPeer.factory(
        ca=pki.ca.cert,
        cert=pki.client.cert,
        key=pki.client.key,
        max_version=version,
        fragment_size=fragment_size,
    )
    server = TlsServer.factory(
        cert=pki.server.cert, key=pki.server.key, ca=pki.ca.cert, fragment_size=fragment_size
    )
    return peer, server


def _exchange(
    make_peer: Callable[[], TlsPeer], make_server: Callable[[], TlsServer]
) -> tuple[int, int]:
    """One conversation from Start to the final ACK; (round trips, Type-Data octets)."""
    peer, server = make_peer(), make_server()
    req = server.initial_request(1)
    rounds, octets, ident = 0, len(req), 1
    while True:
        step = peer.process(req, ident)
        assert step.response is not None
        rounds += 1
        octets += len(step.response)
        out = server.process(step.response, ident, ident + 1)
        if out.done:
            assert out.success and step.done
            return rounds, octets
        assert out.request is not None
        req = out.request
        octets += len(req)
        ident = (ident + 1) % 256


def main() -> None:
    """Print conversations per second (median of three runs) and their size for each case."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of one run")
    parser.add_argument("--fragment-size", type=int, default=DEFAULT_FRAGMENT_SIZE)
    args = parser.parse_args()
    pkis = {"P-256": make_pki(kind="ec"), "RSA-2048": make_pki(kind="rsa")}
    for key_name, pki in pkis.items():
        for version in (TlsVersion.TLS1_2, TlsVersion.TLS1_3):
            make_peer, make_server = _factories(pki, version, args.fragment_size)
            rounds, octets = _exchange(make_peer, make_server)
            m = measure(functools.partial(_exchange, make_peer, make_server), args.seconds)
            print(
                f"EAP-TLS {version.name} {key_name} (peer + server, fragment "
                f"{args.fragment_size}): {m}; {rounds} round trips, {octets} Type-Data octets"
            )


if __name__ == "__main__":
    main()

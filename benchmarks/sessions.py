"""PANA session throughput in virtual time: full PaC<->PAA authentications, pings, AUTH checks."""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from benchmarks._timing import measure
from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer
from pana_mpa import (
    PaaConfig,
    PaaServer,
    PacConfig,
    PacSession,
    User,
    VirtualNet,
    crypto,
    user_table,
)
from pana_mpa._avps import IntegrityAlgorithm, PrfAlgorithm

PAC = ("192.0.2.10", 40000)
PAA = ("192.0.2.1", 716)
SUITES = {
    "SHA-1 (2/7)": (PrfAlgorithm.PRF_HMAC_SHA1, IntegrityAlgorithm.AUTH_HMAC_SHA1_160),
    "SHA-256 (5/12)": (PrfAlgorithm.PRF_HMAC_SHA2_256, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128),
}


def _pair(rng: random.Random, suite: tuple[int, int]) -> tuple[VirtualNet, PacSession]:
    psk = Secret(b"alice-16-octets!")
    prf, integ = suite
    peer = EapPeer(
        identity=b"alice",
        methods={EAP_TYPE_PSK: lambda: PskPeer(b"alice", psk, rng=rng.randbytes)},
    )

    def factory() -> EapAuthenticator:
        server = PskServer(b"paa", {b"alice": psk}.get, rng=rng.randbytes)
        return EapAuthenticator(methods=lambda ident: [lambda: server], rng=rng.randbytes)

    net = VirtualNet(seed=1)
    pac = PacSession(PacConfig(), paa=PAA, eap=peer, rng=rng.randbytes)
    paa = PaaServer(
        # a lifetime far beyond the virtual time the ping benchmark runs through
        PaaConfig(
            prf_algorithms=(prf,), integrity_algorithms=(integ,), session_lifetime=4_000_000_000
        ),
        eap_factory=factory,
        rng=rng.randbytes,
    )
    net.add(PAC, pac)
    net.add(PAA, paa)
    return net, pac


def _authenticate(rng: random.Random, suite: tuple[int, int]) -> None:
    net, pac = _pair(rng, suite)
    pac.start(0.0)
    net.run(5.0)
    assert pac.has_key


def _many(count: int) -> float:
    """Seconds for ``count`` PaCs (started 1 ms apart) to authenticate with one PAA."""
    rng = random.Random(1)  # noqa: S311 - benchmark input, not key material
    psk = Secret(b"0123456789abcdef")
    users = {f"u{i}".encode(): User("psk", psk) for i in range(count)}
    net = VirtualNet(seed=1)
    paa = PaaServer(
        PaaConfig(), eap_factory=user_table(users, rng=rng.randbytes), rng=rng.randbytes
    )
    net.add(PAA, paa)
    pacs = []
    for i in range(count):
        ident = f"u{i}".encode()

        def method(ident: bytes = ident) -> PskPeer:
            return PskPeer(ident, psk, rng=rng.randbytes)

        peer = EapPeer(identity=ident, methods={EAP_TYPE_PSK: method})
        pac = PacSession(PacConfig(), paa=PAA, eap=peer, rng=rng.randbytes)
        net.add((f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 40000), pac)
        pac.start(i * 0.001)
        pacs.append(pac)
    start = time.perf_counter()
    net.run(count * 0.001 + 10)
    elapsed = time.perf_counter() - start
    assert all(p.has_key for p in pacs)
    return elapsed


def main() -> None:
    """Print operations per second (median of three runs) for each case."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of one run")
    parser.add_argument("--pacs", type=int, default=1000, help="PaCs for the concurrency case")
    args = parser.parse_args()
    rng = random.Random(5191)  # noqa: S311 - benchmark input, not key material
    cases: dict[str, Callable[[], object]] = {}
    for name, suite in SUITES.items():

        def authenticate(suite: tuple[int, int] = suite) -> None:
            _authenticate(rng, suite)

        cases[f"full PCI..PAN[C] authentication, EAP-PSK, {name}"] = authenticate
    for name, suite in SUITES.items():
        net, pac = _pair(rng, suite)
        pac.start(0.0)
        net.run(5.0)

        def ping(net: VirtualNet = net, pac: PacSession = pac) -> None:
            pac.ping(net.now)
            net.run(net.now + 1)

        cases[f"PNR[P]/PNA[P] round trip with AUTH, {name}"] = ping
    key = Secret(bytes(32))
    message = bytes(64) + bytes.fromhex("000100000010000000000000000000000000000000000000")
    cases["verify_auth, HMAC-SHA256-128, 88-octet message"] = lambda: crypto.verify_auth(
        IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128, key, message
    )
    for name, fn in cases.items():
        print(f"{name}: {measure(fn, args.seconds)}")
    took = _many(args.pacs)
    print(f"{args.pacs} PaCs authenticating with one PAA (VirtualNet): {took:.2f} s wall clock")


if __name__ == "__main__":
    main()

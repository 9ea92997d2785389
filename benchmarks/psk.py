"""EAP-PSK throughput: full in-memory exchanges and single PCHANNEL seals per second."""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable

from benchmarks._timing import measure
from eap.crypto import eax_encrypt
from eap.keys import Secret
from eap.methods.psk import PskPeer, PskServer


def _exchange(rng: random.Random, psk: Secret) -> None:
    peer = PskPeer(b"alice", psk, rng=rng.randbytes)
    server = PskServer(b"paa", {b"alice": psk}.get, rng=rng.randbytes)
    step2 = peer.process(server.initial_request(1), 1)
    assert step2.response is not None
    step3 = server.process(step2.response, 1, 2)
    assert step3.request is not None
    step4 = peer.process(step3.request, 2)
    assert step4.response is not None
    assert server.process(step4.response, 2, 3).success


def main() -> None:
    """Print operations per second (median of three runs) for each case."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of one run")
    args = parser.parse_args()
    rng = random.Random(4764)  # noqa: S311 - benchmark input, not key material
    psk = Secret(rng.randbytes(16))
    cases: dict[str, Callable[[], object]] = {
        "EAP-PSK full exchange (peer + server, 4 messages)": lambda: _exchange(rng, psk),
        "AES-EAX seal of a 1-octet PCHANNEL": lambda: eax_encrypt(
            bytes(16), bytes(16), bytes(22), b"\x80"
        ),
    }
    for name, fn in cases.items():
        print(f"{name}: {measure(fn, args.seconds)}")


if __name__ == "__main__":
    main()

"""EAP-PSK throughput: full in-memory exchanges, the server side alone, single PCHANNEL seals."""

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


def _server_side(psk: Secret) -> Callable[[], None]:
    """The PAA's share: a new server answering a recorded peer (fixed RAND_S, so it replays)."""
    rand_s = bytes(range(16))
    peer = PskPeer(b"alice", psk, rng=lambda n: bytes(n))
    lookup = {b"alice": psk}.get
    msg2 = peer.process(
        PskServer(b"paa", lookup, rng=lambda n: rand_s).initial_request(1), 1
    ).response
    assert msg2 is not None
    recorder = PskServer(b"paa", lookup, rng=lambda n: rand_s)
    recorder.initial_request(1)
    msg3 = recorder.process(msg2, 1, 2).request
    assert msg3 is not None
    msg4 = peer.process(msg3, 2).response
    assert msg4 is not None

    def run() -> None:
        server = PskServer(b"paa", lookup, rng=lambda n: rand_s)
        server.initial_request(1)
        server.process(msg2, 1, 2)
        assert server.process(msg4, 2, 3).success

    return run


def main() -> None:
    """Print operations per second (median of three runs) for each case."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of one run")
    args = parser.parse_args()
    rng = random.Random(4764)  # noqa: S311 - benchmark input, not key material
    psk = Secret(rng.randbytes(16))
    cases: dict[str, Callable[[], object]] = {
        "EAP-PSK full exchange (peer + server, 4 messages)": lambda: _exchange(rng, psk),
        "EAP-PSK server side only (the PAA's share)": _server_side(psk),
        "AES-EAX seal of a 1-octet PCHANNEL": lambda: eax_encrypt(
            bytes(16), bytes(16), bytes(22), b"\x80"
        ),
    }
    for name, fn in cases.items():
        print(f"{name}: {measure(fn, args.seconds)}")


if __name__ == "__main__":
    main()

"""EAP core throughput: whole EapPeer <-> EapAuthenticator conversations per second (MD5, GPSK)."""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable

from benchmarks._timing import measure
from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.base import AuthMethod, PeerMethod
from eap.methods.gpsk import GpskPeer, GpskServer, derive_keys
from eap.methods.md5 import Md5Peer, Md5Server
from eap.peer import EapPeer

PSK = Secret(bytes(range(32)))
PASSWORD = Secret(b"password")


def _conversation(
    rng: random.Random,
    method_type: int,
    peer_method: Callable[[], PeerMethod],
    server_method: Callable[[], AuthMethod],
) -> None:
    auth = EapAuthenticator(methods=lambda identity: [server_method], rng=rng.randbytes)
    peer = EapPeer(identity=b"alice", methods={method_type: peer_method})
    out = auth.start()
    while out.result is None:
        assert out.packet is not None
        reply = peer.receive(out.packet)
        assert reply.response is not None
        out = auth.receive(reply.response)
    assert out.packet is not None and out.result.success
    assert peer.receive(out.packet).result is not None


def _cases(rng: random.Random) -> dict[str, Callable[[], object]]:
    def md5() -> None:
        _conversation(
            rng, 4, lambda: Md5Peer(PASSWORD), lambda: Md5Server(PASSWORD, rng=rng.randbytes)
        )

    def gpsk(suite: int) -> Callable[[], None]:
        def run() -> None:
            _conversation(
                rng,
                51,
                lambda: GpskPeer(b"alice", PSK, rng=rng.randbytes, ciphersuites=(suite,)),
                lambda: GpskServer(b"paa", lambda i: PSK, rng=rng.randbytes, ciphersuites=(suite,)),
            )

        return run

    def kdf(suite: int) -> Callable[[], object]:
        return lambda: derive_keys(suite, PSK, bytes(32), b"alice", bytes(32), b"paa")

    return {
        "MD5 conversation (Identity + MD5)": md5,
        "GPSK suite 1 conversation (AES-CMAC)": gpsk(1),
        "GPSK suite 2 conversation (HMAC-SHA256)": gpsk(2),
        "GPSK suite 1 key derivation only": kdf(1),
        "GPSK suite 2 key derivation only": kdf(2),
    }


def main() -> None:
    """Print operations per second (median of three runs) for each case."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of one run")
    args = parser.parse_args()
    rng = random.Random(1)  # noqa: S311 (reproducible benchmark input, not keys)
    for name, fn in _cases(rng).items():
        print(f"{name:45s} {measure(fn, args.seconds)}")


if __name__ == "__main__":
    main()

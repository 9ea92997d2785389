"""RADIUS for EAP: codec operations and full EAP-MD5 conversations over loopback UDP per second."""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from benchmarks._timing import measure
from eap._radius_codec import (
    RadiusCode,
    sign_request,
    sign_response,
    split_eap,
    verify_request,
    verify_response,
)
from eap.aaa.passthrough import RadiusConfig, RadiusPassThrough, radius_client
from eap.aaa.server import RadiusServer, RadiusServerCore
from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.md5 import Md5Peer, Md5Server
from eap.peer import EapPeer
from pana_codecs.eap import EapCode, EapPacket, EapType, encode_eap

SECRET = Secret(b"benchmark-secret")
PASSWORD = Secret(b"md5password")


def _codec_round_trip(rng: random.Random) -> None:
    auth = rng.randbytes(16)
    eap = bytes(300)
    req = sign_request(RadiusCode.ACCESS_REQUEST, 1, auth, split_eap(eap), SECRET)
    verify_request(req, SECRET)
    rep = sign_response(RadiusCode.ACCESS_CHALLENGE, 1, auth, split_eap(eap), SECRET)
    verify_response(rep, auth, SECRET)


async def _conversations(seconds: float, shared: bool = False) -> tuple[float, float, float]:
    """Full EAP-MD5 conversations per second, the mean RADIUS round trip in ms, and the CPU
    seconds of this process (client and server) per conversation. ``shared``: every
    RadiusPassThrough uses one RadiusClient, as ``pana-mpa paa --radius`` does; otherwise each
    Access-Request opens its own socket."""
    core = RadiusServerCore(
        clients={"127.0.0.1": SECRET},
        backend=lambda: EapAuthenticator(methods=lambda _identity: [lambda: Md5Server(PASSWORD)]),
    )
    server = RadiusServer(core)
    address = await server.start("127.0.0.1", 0)
    cfg = RadiusConfig(server=address, secret=SECRET)
    client = radius_client(cfg) if shared else None
    count = trips = 0
    cpu = time.process_time()
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < seconds:
            peer = EapPeer(identity=b"md5user", methods={4: lambda: Md5Peer(PASSWORD)})
            first = peer.receive(encode_eap(EapPacket(EapCode.REQUEST, 0, EapType.IDENTITY)))
            response = first.response
            pt = RadiusPassThrough(cfg, client=client)
            while True:
                out = await pt.exchange(response)
                trips += 1
                assert out.packet is not None
                response = peer.receive(out.packet).response
                if out.result is not None:
                    assert out.result.success
                    break
            count += 1
    finally:
        cpu = time.process_time() - cpu
        if client is not None:
            client.close()
        server.close()
    elapsed = time.perf_counter() - start
    return count / elapsed, 1000 * elapsed / trips, cpu / count


def main() -> None:
    """Print the median of three runs for each case."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of one run")
    args = parser.parse_args()
    rng = random.Random(3579)  # noqa: S311 - benchmark input, not key material
    codec = measure(lambda: _codec_round_trip(rng), args.seconds)
    print(f"RADIUS sign+verify of a request and a reply (300-octet EAP): {codec}")
    hmac_s = 1 / codec.reference
    runs: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
    for _ in range(3):  # interleaved, so that the load falls on both alike
        for shared in (False, True):
            runs[shared].append(asyncio.run(_conversations(args.seconds, shared)))
    for shared, label in (
        (False, "a socket per Access-Request"),
        (True, "one shared RadiusClient"),
    ):
        rate, rtt, cpu = sorted(runs[shared])[1]
        print(
            f"EAP-MD5 conversations, RadiusPassThrough ({label}) <-> RadiusServer on loopback:"
            f" {rate:,.0f}/s ({rtt:.2f} ms per RADIUS round trip; {cpu * 1e6:,.0f} us CPU,"
            f" {cpu / hmac_s:,.0f} HMACs, client and server, per conversation)"
        )


if __name__ == "__main__":
    main()

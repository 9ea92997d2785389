"""CPU per hostile datagram at the PAA: the worst one against a minimal one (issue 9 item 5).

Every datagram is dropped; the question is how much work it costs first. The PAA checks the
16-octet header, the message size and the Session-Id before any AVP is decoded, and decodes at
most ``PaaConfig.max_avps`` AVPs.

    python -m benchmarks.datagram_cost
"""

from __future__ import annotations

import random
import sys
import time

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer
from pana_codecs import Avp, PanaMessage, encode_pana
from pana_mpa.aio.virtualnet import VirtualNet
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession

__all__ = ["datagram_costs"]

PAC = ("192.0.2.10", 40000)
PAA = ("192.0.2.1", 716)
PSK = Secret(b"cost-test-psk-16")
R, P = 0x8000, 0x0800


def _open_paa() -> tuple[PaaServer, int]:
    rng = random.Random(4)  # noqa: S311 - benchmark input, not key material
    net = VirtualNet(seed=4)
    peer = EapPeer(
        identity=b"u", methods={EAP_TYPE_PSK: lambda: PskPeer(b"u", PSK, rng=rng.randbytes)}
    )
    pac = PacSession(PacConfig(), paa=PAA, eap=peer, rng=rng.randbytes)
    paa = PaaServer(
        PaaConfig(),
        eap_factory=lambda: EapAuthenticator(
            methods=lambda i: [lambda: PskServer(b"paa", lambda x: PSK, rng=rng.randbytes)],
            rng=rng.randbytes,
        ),
        rng=rng.randbytes,
    )
    net.add(PAC, pac)
    net.add(PAA, paa)
    pac.start(0.0)
    net.run(5.0)
    (session,) = paa
    return paa, session.session_id


def _pnr(sid: int, avps: tuple[Avp, ...]) -> bytes:
    return encode_pana(PanaMessage(4, R | P, sid, 12345, avps))


def _many(sid: int, size: int) -> bytes:
    """A PNR[P] of empty AVPs filling ``size`` octets (8186 of them in 65,504 octets)."""
    n = (size - 16) // 8
    return encode_pana(PanaMessage(4, R | P, sid, 12345, tuple(Avp(99, b"") for _ in range(n))))


def _cost(paa: PaaServer, data: bytes, rounds: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(rounds):
            paa.receive_datagram(data, ("203.0.113.9", 4000), 10.0)
        best = min(best, (time.perf_counter() - t0) / rounds)
    paa.datagrams_to_send(10.0)
    return best


def datagram_costs(rounds: int = 2000) -> dict[str, float]:
    """Seconds per datagram for each kind of hostile datagram."""
    paa, sid = _open_paa()
    max_avps = int(getattr(PaaConfig(), "max_avps", 64))
    big = (*(Avp(99, bytes(100)) for _ in range(max_avps - 1)), Avp(1, bytes(16)))
    kinds = {
        "minimal: 16-octet header, unknown session": _pnr(sid ^ 1, ()),
        "minimal: 16-octet header, live session, wrong sequence": _pnr(sid, ()),
        "65,504 octets of empty AVPs, unknown session": _many(sid ^ 1, 65504),
        "65,504 octets of empty AVPs, live session": _many(sid, 65504),
        "8,192 octets of empty AVPs (size limit), live session": _many(sid, 8192),
        f"{max_avps} AVPs of 100 octets and an AUTH, live session": _pnr(sid, big),
    }
    return {name: _cost(paa, data, rounds) for name, data in kinds.items()}


def main() -> int:
    costs = datagram_costs()
    minimal = min(costs.values())
    for name, seconds in costs.items():
        sys.stdout.write(f"{seconds * 1e6:8.1f} us  {seconds / minimal:5.1f}x  {name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

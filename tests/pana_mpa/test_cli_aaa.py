"""The CLI's RADIUS back end (``pana-mpa paa --radius``) checks EAP Responses before relaying them.

RFC 3748 s4.1: a Response must carry the Identifier of the outstanding Request, the first one
(the answer to our own EAP-Request/Identity) included; RFC 3579 s2.2: one that does not is
discarded, not forwarded to the RADIUS server. Counted: Access-Requests put on the link.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from eap.aaa.passthrough import DatagramLink, RadiusConfig, RadiusPassThrough
from eap.authenticator import AuthOutput
from eap.keys import Secret
from pana_codecs import EapCode, EapPacket, EapType, encode_eap
from pana_mpa.aio.loopback import run_virtual
from pana_mpa.cli.aaa import RadiusBackend

SERVER = ("192.0.2.10", 1812)


class _SilentLink:
    """A link toward a RADIUS server that never answers; counts what is sent."""

    def __init__(self, sent: list[bytes]) -> None:
        self._sent = sent

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self._sent.append(data)

    async def recvfrom(self) -> tuple[bytes, tuple[str, int]]:
        await asyncio.get_running_loop().create_future()  # never
        raise AssertionError("unreachable")

    def close(self) -> None:
        pass


def _backend(sent: list[bytes]) -> RadiusBackend:
    async def link() -> DatagramLink:
        return _SilentLink(sent)

    config = RadiusConfig(server=SERVER, secret=Secret(b"cli-aaa-secret"), timeout=30.0)
    rng: Callable[[int], bytes] = random.Random(4).randbytes
    return RadiusBackend(RadiusPassThrough(config, rng=rng, link=link), rng)


def _identity(identifier: int, code: int = EapCode.RESPONSE) -> bytes:
    return encode_eap(EapPacket(code, identifier, EapType.IDENTITY, b"alice"))


async def _settle() -> None:
    for _ in range(10):  # let a step's task open its link and send
        await asyncio.sleep(0)


def test_a_first_response_to_another_identifier_is_discarded_not_relayed() -> None:
    """Before, the back end made its own Identity request and forwarded any first Response."""

    async def main() -> tuple[list[object], list[int]]:
        sent: list[bytes] = []
        backend = _backend(sent)
        outputs: list[object] = []
        counts: list[int] = []
        start = backend.begin_exchange(None, outputs.append)
        assert start is not None and start.packet is not None
        ours = start.packet[1]
        for bad in (_identity((ours + 1) & 0xFF), _identity(ours, EapCode.REQUEST)):
            outputs.append(backend.begin_exchange(bad, outputs.append))
            await _settle()
            counts.append(len(sent))
            outputs.append(await backend.exchange(bad))
            await _settle()
            counts.append(len(sent))
        outputs.append(backend.begin_exchange(_identity(ours), outputs.append))
        await _settle()
        counts.append(len(sent))  # the matching Response goes to the server
        backend.close()
        return outputs, counts

    outputs, counts = run_virtual(main)  # virtual time: the old code's retries cost nothing
    assert outputs == [AuthOutput(None, None)] * 4 + [None]
    assert counts == [0, 0, 0, 0, 1]

"""Shared pieces of the RADIUS tests: an inline EAP-MD5 peer and server (RFC 3748 s5.4)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from dataclasses import dataclass

import pytest

from eap._radius_codec import RadiusPacket
from eap.aaa.client import RadiusClient
from eap.aaa.passthrough import RadiusAnswer, RadiusConfig, RadiusPassThrough
from eap.authenticator import AuthOutput
from eap.keys import KeyMaterial, Secret
from eap.peer import EapPeer
from pana_codecs.eap import EapCode, EapPacket, EapType, decode_eap, encode_eap
from pana_mpa.aio import ClientError, PacClient, serve_paa
from pana_mpa.aio.udp import UdpTransport
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession

__all__ = [
    "InlineMd5Server",
    "Out",
    "Res",
    "count_radius_decodes",
    "identity_response",
    "md5_peer_conversation",
    "md5_response",
    "pana_via_radius",
    "run_peer",
]


def count_radius_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The lengths of the packets the RADIUS codec decodes from now on (its ``_decode`` wrapped)."""
    from eap import _radius_codec

    decoded: list[int] = []
    decode = _radius_codec._decode

    def counting(data: bytes) -> tuple[RadiusPacket, int]:
        decoded.append(len(data))
        return decode(data)

    monkeypatch.setattr(_radius_codec, "_decode", counting)
    return decoded


def identity_response(identity: bytes, identifier: int = 0) -> bytes:
    """EAP-Response/Identity."""
    return encode_eap(EapPacket(EapCode.RESPONSE, identifier, EapType.IDENTITY, identity))


def md5_response(request: bytes, password: bytes) -> bytes:
    """EAP-Response/MD5-Challenge to an EAP-Request/MD5-Challenge (RFC 1994 s4.1)."""
    req = decode_eap(request)
    assert req.type == EapType.MD5_CHALLENGE, req
    size = req.type_data[0]
    challenge = req.type_data[1 : 1 + size]
    digest = hashlib.md5(bytes([req.identifier]) + password + challenge).digest()  # noqa: S324
    return encode_eap(
        EapPacket(EapCode.RESPONSE, req.identifier, EapType.MD5_CHALLENGE, b"\x10" + digest)
    )


async def md5_peer_conversation(
    pt: RadiusPassThrough, identity: bytes, password: bytes, *, max_rounds: int = 10
) -> tuple[RadiusAnswer, list[RadiusAnswer]]:
    """Run an EAP-MD5 peer through the pass-through; return the final answer and all of them."""
    answers = [await pt.answer(identity_response(identity))]
    while answers[-1].code == 11 and len(answers) < max_rounds:
        assert answers[-1].eap is not None
        answers.append(await pt.answer(md5_response(answers[-1].eap, password)))
    return answers[-1], answers


@dataclass(frozen=True, slots=True)
class Res:
    """Minimal EapResult stand-in."""

    success: bool
    keys: KeyMaterial | None
    method_type: int | None = None


@dataclass(frozen=True, slots=True)
class Out:
    """Minimal AuthOutput stand-in."""

    packet: bytes | None
    result: Res | None
    pending: bool = False


class InlineMd5Server:
    """EAP server doing Identity then MD5-Challenge, optionally handing out a fixed MSK."""

    def __init__(
        self,
        password: bytes,
        *,
        challenge: bytes = b"0123456789abcdef",
        msk: bytes | None = None,
        first_id: int = 7,
        pad_request_to: int = 0,
    ) -> None:
        self._password = password
        self._challenge = challenge
        self._msk = msk
        self._id = first_id
        self._pad = pad_request_to
        self.identity: bytes | None = None
        self.requests: list[bytes] = []

    def _request(self, etype: int, data: bytes) -> bytes:
        pkt = encode_eap(EapPacket(EapCode.REQUEST, self._id, etype, data))
        self.requests.append(pkt)
        return pkt

    def start(self) -> Out:
        """EAP-Request/Identity."""
        return Out(self._request(EapType.IDENTITY, b""), None)

    def receive(self, packet: bytes) -> Out:
        """Identity -> MD5 challenge -> Success/Failure; anything unexpected is discarded."""
        try:
            pkt = decode_eap(packet)
        except Exception:
            return Out(None, None)
        if pkt.code != EapCode.RESPONSE or pkt.identifier != self._id:
            return Out(None, None)
        if pkt.type == EapType.IDENTITY and self.identity is None:
            self.identity = pkt.type_data
            self._id = (self._id + 1) & 0xFF
            name = b"srv" + b"x" * max(0, self._pad - 22 - 3)
            return Out(self._request(EapType.MD5_CHALLENGE, b"\x10" + self._challenge + name), None)
        if pkt.type == EapType.MD5_CHALLENGE and self.identity is not None:
            want = hashlib.md5(  # noqa: S324 - RFC 1994
                bytes([self._id]) + self._password + self._challenge
            ).digest()
            ok = hmac.compare_digest(pkt.type_data[1:17], want)
            code = EapCode.SUCCESS if ok else EapCode.FAILURE
            keys = KeyMaterial(Secret(self._msk), None, b"\x04sid") if ok and self._msk else None
            return Out(encode_eap(EapPacket(code, self._id)), Res(ok, keys, 4))
        return Out(None, None)


async def run_peer(peer: EapPeer, pt: RadiusPassThrough, *, max_rounds: int = 60) -> AuthOutput:
    """Play the NAS: ask for the identity, then relay between ``peer`` and the pass-through."""
    first = peer.receive(encode_eap(EapPacket(EapCode.REQUEST, 1, EapType.IDENTITY, b"")))
    response = first.response
    for _ in range(max_rounds):
        out = await pt.exchange(response)
        if out.packet is not None:
            response = peer.receive(out.packet).response
        if out.result is not None:
            return out
        assert response is not None, "the peer discarded the server's request"
    raise AssertionError(f"no end after {max_rounds} rounds")


async def pana_via_radius(
    peer: EapPeer,
    config: RadiusConfig,
    *,
    require_key: bool,
    timeout: float = 20.0,
    shared: RadiusClient | None = None,
) -> tuple[object, list[RadiusPassThrough]]:
    """A PaC authenticates over PANA/UDP to a pass-through PAA that relays to ``config``.

    Returns the PaC's outcome (the Authenticated event, or the ClientError it raised) and the
    pass-through objects the PAA used. With ``shared`` they share that client (as ``pana-mpa paa``).
    """
    paa_udp = await UdpTransport.bind("127.0.0.1", 0)
    pac_udp = await UdpTransport.bind("127.0.0.1", 0)
    paa = PaaServer(PaaConfig(require_key=require_key))
    made: list[RadiusPassThrough] = []

    def backend(session_id: int) -> RadiusPassThrough:
        made.append(RadiusPassThrough(config, client=shared))
        return made[-1]

    server = asyncio.create_task(serve_paa(paa, paa_udp, aaa=backend))
    session = PacSession(PacConfig(), paa=paa_udp.local_address, eap=peer)
    outcome: object
    try:
        async with PacClient(session, pac_udp) as client:
            try:
                outcome = await client.authenticate(timeout=timeout)
            except ClientError as exc:
                outcome = exc
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
        paa_udp.close()
    return outcome, made

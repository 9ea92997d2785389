"""A minimal EAP peer/authenticator pair that follows docs/contracts.md (test double).

Identity, then one challenge/response round with a private method: EAP type 4 (keyless, like MD5)
or private type 250 (key-generating: MSK = HMAC-SHA512(secret, challenge | "msk")).
Used until eap.peer / eap.authenticator land on main.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from eap.keys import KeyMaterial, Secret
from pana_codecs import CodecError, EapCode, EapPacket, EapType, decode_eap, encode_eap

__all__ = [
    "KEYED_TYPE",
    "KEYLESS_TYPE",
    "AuthOutput",
    "EapResult",
    "FakeEapPeer",
    "FakeEapServer",
    "PeerOutput",
    "PendingEapServer",
]

KEYLESS_TYPE = 4
KEYED_TYPE = 250


@dataclass(frozen=True, slots=True)
class EapResult:
    """eap.peer.EapResult."""

    success: bool
    keys: KeyMaterial | None
    method_type: int | None


@dataclass(frozen=True, slots=True)
class PeerOutput:
    """eap.peer.PeerOutput."""

    response: bytes | None
    result: EapResult | None


@dataclass(frozen=True, slots=True)
class AuthOutput:
    """eap.authenticator.AuthOutput."""

    packet: bytes | None
    result: EapResult | None
    pending: bool = False


def _answer(secret: bytes, challenge: bytes) -> bytes:
    return hmac.new(secret, challenge, hashlib.sha256).digest()


def _msk(secret: bytes, challenge: bytes) -> Secret:
    return Secret(hmac.new(secret, challenge + b"msk", hashlib.sha512).digest())


class FakeEapPeer:
    """Peer: answers Identity and the challenge; result on Success/Failure."""

    def __init__(self, identity: bytes, secret: bytes) -> None:
        self.identity = identity
        self.secret = secret
        self.result: EapResult | None = None
        self._challenge: bytes | None = None
        self._type: int | None = None
        self.received = 0
        self.restarts = 0

    def restart(self) -> None:
        self.result = None
        self._challenge = None
        self._type = None
        self.restarts += 1

    def alt_reject(self) -> EapResult:
        """RFC 4137 altReject, as eap.peer.EapPeer has it."""
        self.result = EapResult(False, None, self._type)
        return self.result

    def receive(self, packet: bytes) -> PeerOutput:
        self.received += 1
        try:
            pkt = decode_eap(packet)
        except CodecError:
            return PeerOutput(None, None)
        if pkt.code == EapCode.SUCCESS:
            if self._challenge is None:
                return PeerOutput(None, None)
            keys = None
            if self._type == KEYED_TYPE:
                keys = KeyMaterial(msk=_msk(self.secret, self._challenge))
            self.result = EapResult(True, keys, self._type)
            return PeerOutput(None, self.result)
        if pkt.code == EapCode.FAILURE:
            self.result = EapResult(False, None, self._type)
            return PeerOutput(None, self.result)
        if pkt.code != EapCode.REQUEST:
            return PeerOutput(None, None)
        if pkt.type == EapType.IDENTITY:
            reply = EapPacket(EapCode.RESPONSE, pkt.identifier, EapType.IDENTITY, self.identity)
            return PeerOutput(encode_eap(reply), None)
        if pkt.type in (KEYLESS_TYPE, KEYED_TYPE):
            self._challenge, self._type = pkt.type_data, pkt.type
            mac = _answer(self.secret, pkt.type_data)
            return PeerOutput(
                encode_eap(EapPacket(EapCode.RESPONSE, pkt.identifier, pkt.type, mac)), None
            )
        return PeerOutput(None, None)


class FakeEapServer:
    """Authenticator: Identity request, one challenge, Success or Failure."""

    def __init__(
        self,
        users: Mapping[bytes, bytes],
        *,
        method: int = KEYED_TYPE,
        rng: Callable[[int], bytes],
    ) -> None:
        self.users = users
        self.method = method
        self._rng = rng
        self._ident = 0
        self._identity: bytes | None = None
        self._challenge: bytes | None = None
        self.done = False

    def _request(self, type_: int, data: bytes) -> bytes:
        self._ident = (self._ident + 1) % 256
        return encode_eap(EapPacket(EapCode.REQUEST, self._ident, type_, data))

    def start(self) -> AuthOutput:
        return AuthOutput(self._request(EapType.IDENTITY, b""), None)

    def receive(self, packet: bytes) -> AuthOutput:
        try:
            pkt = decode_eap(packet)
        except CodecError:
            return AuthOutput(None, None)
        if self.done or pkt.code != EapCode.RESPONSE or pkt.identifier != self._ident:
            return AuthOutput(None, None)
        if pkt.type == EapType.IDENTITY and self._challenge is None:
            self._identity = pkt.type_data
            self._challenge = self._rng(16)
            return AuthOutput(self._request(self.method, self._challenge), None)
        if pkt.type == self.method and self._challenge is not None:
            self.done = True
            secret = self.users.get(self._identity or b"")
            ok = secret is not None and hmac.compare_digest(
                pkt.type_data, _answer(secret, self._challenge)
            )
            ident = pkt.identifier
            if not ok or secret is None:
                fail = encode_eap(EapPacket(EapCode.FAILURE, ident))
                return AuthOutput(fail, EapResult(False, None, self.method))
            keys = None
            if self.method == KEYED_TYPE:
                keys = KeyMaterial(msk=_msk(secret, self._challenge))
            success = encode_eap(EapPacket(EapCode.SUCCESS, ident))
            return AuthOutput(success, EapResult(True, keys, self.method))
        return AuthOutput(None, None)


class PendingEapServer:
    """Pass-through stand-in: every step is pending; the test plays the AAA server."""

    def __init__(self, backend: FakeEapServer) -> None:
        self.backend = backend
        self.queries: list[bytes | None] = []

    def start(self) -> AuthOutput:
        self.queries.append(None)
        return AuthOutput(None, None, pending=True)

    def receive(self, packet: bytes) -> AuthOutput:
        self.queries.append(packet)
        return AuthOutput(None, None, pending=True)

    def exchange(self, eap_response: bytes | None) -> AuthOutput:
        """What the AAA server answers (synchronously here)."""
        if eap_response is None:
            return self.backend.start()
        return self.backend.receive(eap_response)

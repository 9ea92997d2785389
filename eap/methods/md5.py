"""EAP-MD5-Challenge (Type 4; RFC 3748 s5.4, RFC 1994 s4.1): tests and interop only, no keys."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import ClassVar

from ..keys import KeyMaterial, Secret
from ..rng import Rng, system_rng
from .base import AuthStep, Decision, MethodStep

__all__ = ["METHOD_TYPE", "Md5Peer", "Md5Server", "md5_response_value"]

logger = logging.getLogger(__name__)

METHOD_TYPE = 4
_VALUE_SIZE = 16


def md5_response_value(identifier: int, secret: Secret, challenge: bytes) -> bytes:
    """MD5(Identifier || secret || challenge) (RFC 1994 s4.1, RFC 3748 s5.4)."""
    # MD5 is what the method defines; it is not used as a general-purpose hash here.
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(bytes([identifier]))
    digest.update(secret.reveal())
    digest.update(challenge)
    return digest.digest()


def _split(type_data: bytes) -> tuple[bytes, bytes] | None:
    """(Value, Name) from Value-Size | Value | Name, or None when malformed."""
    if not type_data:
        return None
    size = type_data[0]
    if size == 0 or 1 + size > len(type_data):
        return None
    return type_data[1 : 1 + size], type_data[1 + size :]


class Md5Peer:
    """Peer side: answers each challenge with the MD5 value; never mutual, derives no MSK."""

    method_type: ClassVar[int] = METHOD_TYPE

    def __init__(self, password: Secret, *, name: bytes = b"") -> None:
        self._password = password
        self._name = bytes(name)

    def process(self, type_data: bytes, identifier: int) -> MethodStep:
        """Answer an MD5-Challenge Request; malformed challenges are ignored."""
        parts = _split(type_data)
        if parts is None:
            logger.debug("malformed EAP-MD5 challenge ignored")
            return MethodStep(None)
        challenge, _name = parts
        value = md5_response_value(identifier, self._password, challenge)
        # hostapd eap_md5.c: methodState DONE, decision COND_SUCC after answering.
        return MethodStep(bytes([_VALUE_SIZE]) + value + self._name, True, Decision.COND_SUCC)

    def keys(self) -> KeyMaterial | None:
        """MD5-Challenge derives no keys (RFC 3748 s5.4)."""
        return None


class Md5Server:
    """Server side: one challenge, one comparison; ``password`` None means an unknown peer."""

    method_type: ClassVar[int] = METHOD_TYPE

    def __init__(
        self, password: Secret | None, *, rng: Rng = system_rng, name: bytes = b""
    ) -> None:
        self._password = password
        self._rng = rng
        self._name = bytes(name)
        self._challenge: bytes | None = None
        self._request_id: int | None = None
        self._done = False

    def initial_request(self, identifier: int) -> bytes:
        """Value-Size | 16-octet fresh challenge | Name."""
        self._challenge = self._rng(_VALUE_SIZE)
        self._request_id = identifier
        return bytes([_VALUE_SIZE]) + self._challenge + self._name

    def process(self, type_data: bytes, identifier: int, next_identifier: int) -> AuthStep:
        """Check the response value in constant time; malformed responses are discarded."""
        if self._done or self._challenge is None:
            return AuthStep(discard=True)
        parts = _split(type_data)
        if parts is None or len(parts[0]) != _VALUE_SIZE:
            logger.debug("malformed EAP-MD5 response discarded")
            return AuthStep(discard=True)
        self._done = True
        if self._password is None:
            logger.debug("EAP-MD5: no password for this peer")
            return AuthStep(done=True, success=False)
        expected = md5_response_value(identifier, self._password, self._challenge)
        ok = hmac.compare_digest(expected, parts[0])
        return AuthStep(done=True, success=ok)

    def keys(self) -> KeyMaterial | None:
        """MD5-Challenge derives no keys (RFC 3748 s5.4)."""
        return None

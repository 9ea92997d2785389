"""EAP (RFC 3748) peer and authenticators, sans-IO, with pluggable methods."""

from __future__ import annotations

from .authenticator import AuthOutput, EapAuthenticator, EapServer, MethodPolicy
from .keys import KeyMaterial, Secret
from .peer import EapPeer, EapResult, PeerOutput

__all__ = [
    "AuthOutput",
    "EapAuthenticator",
    "EapPeer",
    "EapResult",
    "EapServer",
    "KeyMaterial",
    "MethodPolicy",
    "PeerOutput",
    "Secret",
]

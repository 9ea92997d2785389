"""EAP (RFC 3748) peer and authenticators, sans-IO, with pluggable methods."""

from __future__ import annotations

from .authenticator import AuthOutput, EapAuthenticator, EapServer, MethodPolicy
from .keys import KeyMaterial, Secret
from .methods.base import AuthMethod, AuthStep, MethodStep, PeerMethod
from .methods.gpsk import GpskPeer, GpskServer
from .methods.md5 import Md5Peer, Md5Server
from .methods.psk import PskPeer, PskServer
from .methods.tls import TlsPeer, TlsServer, TlsVersion
from .peer import EapPeer, EapResult, PeerOutput
from .radius import RadiusConfig, RadiusError, RadiusPassThrough

__all__ = [
    "AuthMethod",
    "AuthOutput",
    "AuthStep",
    "EapAuthenticator",
    "EapPeer",
    "EapResult",
    "EapServer",
    "GpskPeer",
    "GpskServer",
    "KeyMaterial",
    "Md5Peer",
    "Md5Server",
    "MethodPolicy",
    "MethodStep",
    "PeerMethod",
    "PeerOutput",
    "PskPeer",
    "PskServer",
    "RadiusConfig",
    "RadiusError",
    "RadiusPassThrough",
    "Secret",
    "TlsPeer",
    "TlsServer",
    "TlsVersion",
]

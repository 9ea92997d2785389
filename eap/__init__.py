"""EAP (RFC 3748) peer and authenticators, sans-IO, with pluggable methods.

EAP-TLS (``TlsPeer``, ``TlsServer``, ``TlsVersion``) is imported on first use (PEP 562), so
``import eap`` never loads pyOpenSSL or the TLS method.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .authenticator import AuthOutput, EapAuthenticator, EapServer, MethodPolicy
from .keys import KeyMaterial, Secret
from .methods.base import AuthMethod, AuthStep, MethodStep, PeerMethod
from .methods.gpsk import GpskPeer, GpskServer
from .methods.md5 import Md5Peer, Md5Server
from .methods.psk import PskPeer, PskServer
from .peer import EapPeer, EapResult, PeerOutput
from .radius import RadiusConfig, RadiusError, RadiusPassThrough

if TYPE_CHECKING:
    from .methods.tls import TlsPeer, TlsServer, TlsVersion

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

_LAZY = {"TlsPeer": ".methods.tls", "TlsServer": ".methods.tls", "TlsVersion": ".methods.tls"}
"""Names imported on first access: name -> module (relative to this package)."""


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

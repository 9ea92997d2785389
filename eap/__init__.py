"""EAP (RFC 3748) peer and authenticators, sans-IO, with pluggable methods.

Re-exported lazily (PEP 562), so ``import eap`` loads only the sans-IO EAP core: the RADIUS
pass-through (asyncio I/O, ``eap.aaa``) and EAP-TLS (``TlsPeer``, ``TlsServer``, ``TlsVersion``;
it would load pyOpenSSL) are imported on first use.
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

if TYPE_CHECKING:
    from .aaa.passthrough import RadiusConfig, RadiusError, RadiusPassThrough
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

_LAZY = {
    "RadiusConfig": "eap.aaa.passthrough",
    "RadiusError": "eap.aaa.passthrough",
    "RadiusPassThrough": "eap.aaa.passthrough",
    "TlsPeer": "eap.methods.tls",
    "TlsServer": "eap.methods.tls",
    "TlsVersion": "eap.methods.tls",
}
"""Names imported on first access: name -> module."""


def __getattr__(name: str) -> object:
    """Import a lazily re-exported name on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

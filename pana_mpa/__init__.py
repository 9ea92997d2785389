"""PANA (RFC 5191) PaC and PAA, sessions, transports and MPA handover (RFC 6252)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._avps import ResultCode, TerminationCause
from ._version import __version__ as __version__
from .address import PANA_PORT, Address, format_address, parse_address
from .config import PaaConfig, PacConfig
from .errors import PanaError, UsageError
from .events import (
    Authenticated,
    AuthenticationFailed,
    PanaEvent,
    PeerAddressChanged,
    PingAnswered,
    PreAuthSwitched,
    Reauthenticated,
    SessionStarted,
    SessionTerminated,
)
from .paa import PaaServer, PaaSession, User, user_table
from .pac import PacSession
from .relay import PanaRelay
from .retransmit import TimerParameters
from .trace import NULL_TRACE, JsonLinesTrace, MemoryTrace, NullTrace, Trace

__all__ = [
    "NULL_TRACE",
    "PANA_PORT",
    "AaaBackend",
    "Address",
    "Authenticated",
    "AuthenticationFailed",
    "AuthenticationRejected",
    "ClientClosed",
    "ClientError",
    "JsonLinesTrace",
    "LoopbackNetwork",
    "LoopbackTransport",
    "MemoryTrace",
    "NoAnswer",
    "NullTrace",
    "PaaConfig",
    "PaaRunner",
    "PaaServer",
    "PaaSession",
    "PacClient",
    "PacConfig",
    "PacSession",
    "PanaError",
    "PanaEvent",
    "PanaRelay",
    "PeerAddressChanged",
    "PingAnswered",
    "PreAuthSwitched",
    "Reauthenticated",
    "ResultCode",
    "SessionEnded",
    "SessionStarted",
    "SessionTerminated",
    "TerminationCause",
    "TimerParameters",
    "Trace",
    "Transport",
    "TransportClosed",
    "UdpTransport",
    "UsageError",
    "User",
    "VirtualNet",
    "drive",
    "format_address",
    "parse_address",
    "run_virtual",
    "serve_paa",
    "user_table",
]

# Runtime names (asyncio, sockets) are re-exported lazily: ``import pana_mpa`` loads only the
# sans-IO core (docs/architecture.md); ``pana_mpa.PacClient`` imports pana_mpa.aio on first use.
_RUNTIME = {
    "AaaBackend": "pana_mpa.aio",
    "AuthenticationRejected": "pana_mpa.aio",
    "ClientClosed": "pana_mpa.aio",
    "ClientError": "pana_mpa.aio",
    "NoAnswer": "pana_mpa.aio",
    "SessionEnded": "pana_mpa.aio",
    "LoopbackNetwork": "pana_mpa.aio",
    "LoopbackTransport": "pana_mpa.aio",
    "PaaRunner": "pana_mpa.aio",
    "PacClient": "pana_mpa.aio",
    "Transport": "pana_mpa.aio",
    "TransportClosed": "pana_mpa.aio",
    "UdpTransport": "pana_mpa.aio",
    "VirtualNet": "pana_mpa.aio",
    "drive": "pana_mpa.aio",
    "run_virtual": "pana_mpa.aio",
    "serve_paa": "pana_mpa.aio",
}

if TYPE_CHECKING:
    from .aio import (
        AaaBackend,
        AuthenticationRejected,
        ClientClosed,
        ClientError,
        LoopbackNetwork,
        LoopbackTransport,
        NoAnswer,
        PaaRunner,
        PacClient,
        SessionEnded,
        Transport,
        TransportClosed,
        UdpTransport,
        VirtualNet,
        drive,
        run_virtual,
        serve_paa,
    )


def __getattr__(name: str) -> object:
    """Import a runtime name on first use (PEP 562)."""
    module = _RUNTIME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

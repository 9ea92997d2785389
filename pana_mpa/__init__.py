"""PANA (RFC 5191) PaC and PAA, sessions, transports and MPA handover (RFC 6252)."""

from __future__ import annotations

from ._avps import ResultCode, TerminationCause
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
from .testing import VirtualNet
from .trace import NULL_TRACE, JsonLinesTrace, MemoryTrace, NullTrace, Trace

__all__ = [
    "NULL_TRACE",
    "Authenticated",
    "AuthenticationFailed",
    "JsonLinesTrace",
    "MemoryTrace",
    "NullTrace",
    "PaaConfig",
    "PaaServer",
    "PaaSession",
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
    "SessionStarted",
    "SessionTerminated",
    "TerminationCause",
    "TimerParameters",
    "Trace",
    "UsageError",
    "User",
    "VirtualNet",
    "user_table",
]

"""PANA (RFC 5191) PaC and PAA, sessions, transports and MPA handover (RFC 6252)."""

from __future__ import annotations

from ._avps import ResultCode, TerminationCause
from .aio import AaaBackend, ClientError, PacClient, drive, serve_paa
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
from .loopback import LoopbackNetwork, LoopbackTransport, run_virtual
from .paa import PaaServer, PaaSession, User, user_table
from .pac import PacSession
from .relay import PanaRelay
from .retransmit import TimerParameters
from .testing import VirtualNet
from .trace import NULL_TRACE, JsonLinesTrace, MemoryTrace, NullTrace, Trace
from .transport import PANA_PORT, Transport, TransportClosed
from .udp import UdpTransport

__all__ = [
    "NULL_TRACE",
    "PANA_PORT",
    "AaaBackend",
    "Authenticated",
    "AuthenticationFailed",
    "ClientError",
    "JsonLinesTrace",
    "LoopbackNetwork",
    "LoopbackTransport",
    "MemoryTrace",
    "NullTrace",
    "PaaConfig",
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
    "run_virtual",
    "serve_paa",
    "user_table",
]

"""The asyncio runtime: drivers, the PaC client, the PAA runner, transports and virtual time.

Everything here performs I/O or reads a clock; the protocol decisions stay in the sans-IO core
(``pana_mpa``). See docs/architecture.md.
"""

from __future__ import annotations

from .driver import (
    AAA_FAILURE,
    AaaBackend,
    ClientError,
    Driver,
    FlowTrace,
    PacClient,
    PacNode,
    PassThroughNode,
    SansIo,
    drive,
    serve_paa,
)
from .errors import AuthenticationRejected, ClientClosed, NoAnswer, SessionEnded
from .loopback import LoopbackNetwork, LoopbackTransport, VirtualTimeLoop, run_virtual
from .transport import Transport, TransportClosed
from .udp import UdpTransport
from .virtualnet import VirtualNet

__all__ = [
    "AAA_FAILURE",
    "AaaBackend",
    "AuthenticationRejected",
    "ClientClosed",
    "ClientError",
    "Driver",
    "FlowTrace",
    "LoopbackNetwork",
    "LoopbackTransport",
    "NoAnswer",
    "PacClient",
    "PacNode",
    "PassThroughNode",
    "SansIo",
    "SessionEnded",
    "Transport",
    "TransportClosed",
    "UdpTransport",
    "VirtualNet",
    "VirtualTimeLoop",
    "drive",
    "run_virtual",
    "serve_paa",
]

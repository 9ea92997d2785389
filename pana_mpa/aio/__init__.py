"""The asyncio runtime: drivers, the PaC client, the PAA runner, transports and virtual time.

Everything here performs I/O or reads a clock; the protocol decisions stay in the sans-IO core
(``pana_mpa``). See docs/architecture.md.
"""

from __future__ import annotations

from .client import ClientError, PacClient, PacNode
from .driver import Driver, FlowTrace, SansIo, drive
from .errors import AuthenticationRejected, ClientClosed, NoAnswer, SessionEnded
from .gcpolicy import GcFreezer, GcPolicy
from .loop import new_event_loop
from .loopback import LoopbackNetwork, LoopbackTransport, VirtualTimeLoop, run_virtual
from .runner import (
    AAA_FAILURE,
    AaaBackend,
    AdmissionPolicy,
    AdmissionStats,
    PaaRunner,
    PassThroughNode,
    serve_paa,
)
from .transport import DatagramSink, PushTransport, Transport, TransportClosed
from .udp import UdpTransport
from .virtualnet import VirtualNet

__all__ = [
    "AAA_FAILURE",
    "AaaBackend",
    "AdmissionPolicy",
    "AdmissionStats",
    "AuthenticationRejected",
    "ClientClosed",
    "ClientError",
    "DatagramSink",
    "Driver",
    "FlowTrace",
    "GcFreezer",
    "GcPolicy",
    "LoopbackNetwork",
    "LoopbackTransport",
    "NoAnswer",
    "PaaRunner",
    "PacClient",
    "PacNode",
    "PassThroughNode",
    "PushTransport",
    "SansIo",
    "SessionEnded",
    "Transport",
    "TransportClosed",
    "UdpTransport",
    "VirtualNet",
    "VirtualTimeLoop",
    "drive",
    "new_event_loop",
    "run_virtual",
    "serve_paa",
]

"""Media-independent Pre-Authentication (RFC 6252) on RFC 5191 PANA (docs/mpa-wire.md).

The Linux pieces (``linux_tunnel``, ``announce``, ``dhcp_aio``) are imported from their own
modules; this namespace holds the protocol objects that run anywhere.
"""

from __future__ import annotations

from .agent import AgentEvent, LeaseProvider, MpaAgent, lease_configuration
from .ar import ArDataPlane, ArStats, BufferPolicy, Forward, Mode
from .avps import (
    DEFAULT_VENDOR_ID,
    AssignedAddress,
    MpaAvpCode,
    MpaCapability,
    MpaStatus,
    TunnelAction,
)
from .controller import HandoverError, MpaController, MpaEvent, ReactiveHandover
from .dhcp import DhcpError, DhcpLease, DhcpRelayClient
from .extensions import MnExtension, PaaMpaExtension, TunnelRequest
from .info import CandidateNetwork, InformationService, StaticInformationService
from .keys import ApKey, MpaKeys, derive_mpa_keys, pmkid
from .messages import PreConfiguration
from .tunnel import InMemoryTunnelDriver, TunnelDriver, TunnelError, TunnelSpec

__all__ = [
    "DEFAULT_VENDOR_ID",
    "AgentEvent",
    "ApKey",
    "ArDataPlane",
    "ArStats",
    "AssignedAddress",
    "BufferPolicy",
    "CandidateNetwork",
    "DhcpError",
    "DhcpLease",
    "DhcpRelayClient",
    "Forward",
    "HandoverError",
    "InMemoryTunnelDriver",
    "InformationService",
    "LeaseProvider",
    "MnExtension",
    "Mode",
    "MpaAgent",
    "MpaAvpCode",
    "MpaCapability",
    "MpaController",
    "MpaEvent",
    "MpaKeys",
    "MpaStatus",
    "PaaMpaExtension",
    "PreConfiguration",
    "ReactiveHandover",
    "StaticInformationService",
    "TunnelAction",
    "TunnelDriver",
    "TunnelError",
    "TunnelRequest",
    "TunnelSpec",
    "derive_mpa_keys",
    "lease_configuration",
    "pmkid",
]

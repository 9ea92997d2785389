"""Media-independent Pre-Authentication (RFC 6252) on RFC 5191 PANA (docs/mpa-wire.md).

This package is the sans-IO MPA core (AVPs, messages, extensions, DHCPv4/DHCPv6/RA codecs, AR
data-plane logic, tunnel specs, keys). Its drivers (controller, agent, DHCP relay I/O, Linux
tunnel, announcements) live in ``pana_mpa.mpa.drivers``; the driver names below are re-exported
lazily.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .ar import ArDataPlane, ArStats, BufferPolicy, Forward, Mode
from .avps import (
    DEFAULT_VENDOR_ID,
    AssignedAddress,
    MpaAvpCode,
    MpaCapability,
    MpaStatus,
    TunnelAction,
)
from .dhcp import DhcpError, DhcpLease, DhcpRelayClient
from .dhcp6 import Dhcp6Client, Dhcp6Error, Dhcp6Lease
from .extensions import MnExtension, PaaMpaExtension, TunnelRequest
from .handover import Handover, HandoverError, MpaEvent
from .info import CandidateNetwork, InformationService, StaticInformationService
from .keys import ApKey, MpaKeys, derive_mpa_keys, pmkid
from .messages import PreConfiguration
from .tunnel import InMemoryTunnelDriver, TunnelDriver, TunnelError, TunnelSpec

__all__ = [
    "DEFAULT_VENDOR_ID",
    "AgentConfig",
    "AgentEvent",
    "ApKey",
    "ArDataPlane",
    "ArStats",
    "AssignedAddress",
    "BufferPolicy",
    "CandidateNetwork",
    "Dhcp6Client",
    "Dhcp6Error",
    "Dhcp6Lease",
    "DhcpError",
    "DhcpLease",
    "DhcpRelayClient",
    "Forward",
    "Handover",
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

# The drivers (asyncio, kernel) are re-exported lazily: importing this package loads only the
# sans-IO MPA core (docs/architecture.md).
_LAZY = {
    "AgentConfig": "pana_mpa.mpa.drivers.agent",
    "AgentEvent": "pana_mpa.mpa.drivers.agent",
    "LeaseProvider": "pana_mpa.mpa.drivers.agent",
    "MpaAgent": "pana_mpa.mpa.drivers.agent",
    "MpaController": "pana_mpa.mpa.drivers.controller",
    "ReactiveHandover": "pana_mpa.mpa.drivers.controller",
    "lease_configuration": "pana_mpa.mpa.drivers.agent",
}

if TYPE_CHECKING:
    from .drivers.agent import (
        AgentConfig,
        AgentEvent,
        LeaseProvider,
        MpaAgent,
        lease_configuration,
    )
    from .drivers.controller import MpaController, ReactiveHandover


def __getattr__(name: str) -> object:
    """Import a lazily re-exported name on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

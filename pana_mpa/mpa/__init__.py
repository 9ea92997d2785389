"""Media-independent Pre-Authentication (RFC 6252) on RFC 5191 PANA (docs/mpa-wire.md)."""

from __future__ import annotations

from .avps import (
    DEFAULT_VENDOR_ID,
    AssignedAddress,
    MpaAvpCode,
    MpaCapability,
    MpaStatus,
    TunnelAction,
)
from .info import CandidateNetwork, InformationService, StaticInformationService

__all__ = [
    "DEFAULT_VENDOR_ID",
    "AssignedAddress",
    "CandidateNetwork",
    "InformationService",
    "MpaAvpCode",
    "MpaCapability",
    "MpaStatus",
    "StaticInformationService",
    "TunnelAction",
]

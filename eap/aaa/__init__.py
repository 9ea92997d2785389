"""RADIUS I/O (asyncio): pass-through to a RADIUS server and a RADIUS front."""

from __future__ import annotations

from .client import RadiusClient
from .passthrough import RadiusConfig, RadiusError, RadiusPassThrough, radius_client

__all__ = [
    "RadiusClient",
    "RadiusConfig",
    "RadiusError",
    "RadiusPassThrough",
    "radius_client",
]

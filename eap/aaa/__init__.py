"""RADIUS I/O (asyncio): pass-through to a RADIUS server and a RADIUS front."""

from __future__ import annotations

from .passthrough import RadiusConfig, RadiusError, RadiusPassThrough

__all__ = ["RadiusConfig", "RadiusError", "RadiusPassThrough"]

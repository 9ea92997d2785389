"""EAP (RFC 3748) peer and authenticators, sans-IO, with pluggable methods."""

from __future__ import annotations

from .keys import KeyMaterial, Secret

__all__ = ["KeyMaterial", "Secret"]

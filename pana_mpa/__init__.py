"""PANA (RFC 5191) PaC and PAA, sessions, transports and MPA handover (RFC 6252)."""

from __future__ import annotations

__all__: list[str] = []

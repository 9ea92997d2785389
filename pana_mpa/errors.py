"""Exceptions raised to the caller of a PANA session (misuse); peer misbehaviour is never raised."""

from __future__ import annotations

__all__ = ["PanaError", "UsageError"]


class PanaError(Exception):
    """Base class of the exceptions pana_mpa raises."""


class UsageError(PanaError, ValueError):
    """The caller asked for something the session cannot do now (e.g. ping() before OPEN)."""

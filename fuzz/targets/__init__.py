"""Fuzz target modules; each registers its targets with ``fuzz.registry.register``."""

from __future__ import annotations

__all__ = ["MODULES"]

MODULES: tuple[str, ...] = ("fuzz.targets.codecs",)
"""Modules that register targets; add yours here (e.g. ``fuzz.targets.radius``)."""

"""Fuzz target modules; each registers its targets with ``fuzz.registry.register``."""

from __future__ import annotations

__all__ = ["MODULES"]

MODULES: tuple[str, ...] = (
    "fuzz.targets.codecs",
    "fuzz.targets.eap_methods",
    "fuzz.targets.radius",
    "fuzz.targets.mpa",
    "fuzz.targets.sessions",
)
"""Modules that register targets; add yours here (e.g. ``fuzz.targets.radius``)."""

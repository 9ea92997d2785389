"""The fuzz target registry: name -> Target(function, seeds)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["TARGETS", "Finding", "Target", "all_targets", "check", "get_target", "register"]

logger = logging.getLogger(__name__)

FuzzFunction = Callable[[bytes], None]
SeedSource = Callable[[], Iterable[bytes]]


class Finding(AssertionError):
    """A property of a target does not hold (raised by ``check``)."""


def check(condition: bool, message: str) -> None:
    """Raise ``Finding(message)`` unless ``condition`` holds (works under ``python -O`` too)."""
    if not condition:
        raise Finding(message)


def _no_seeds() -> Iterable[bytes]:
    return ()


@dataclass(frozen=True, slots=True)
class Target:
    """One fuzz target: ``function(data)`` must not raise for any ``data``."""

    name: str
    function: FuzzFunction
    seeds: SeedSource = field(default=_no_seeds)
    """Valid inputs to start from (read at run time, e.g. from ../shared/pcaps)."""
    max_size: int = 65535
    """Largest input worth trying (a UDP payload by default)."""
    doc: str = ""


TARGETS: dict[str, Target] = {}
"""Every registered target by name (filled when ``fuzz.targets`` modules are imported)."""


def register(
    name: str, *, seeds: SeedSource = _no_seeds, max_size: int = 65535
) -> Callable[[FuzzFunction], FuzzFunction]:
    """Decorator: register ``function`` as the fuzz target ``name``."""

    def decorate(function: FuzzFunction) -> FuzzFunction:
        if name in TARGETS:
            raise ValueError(f"fuzz target {name!r} registered twice")
        doc = (function.__doc__ or "").strip().splitlines()
        TARGETS[name] = Target(name, function, seeds, max_size, doc[0] if doc else "")
        return function

    return decorate


def all_targets() -> dict[str, Target]:
    """All targets, after importing every module listed in ``fuzz.targets.MODULES``."""
    import fuzz.targets as package

    for module in package.MODULES:
        importlib.import_module(module)
    return dict(sorted(TARGETS.items()))


def get_target(name: str) -> Target:
    """One target by name; KeyError lists the known names."""
    known = all_targets()
    if name not in known:
        raise KeyError(f"unknown fuzz target {name!r}; known: {', '.join(known)}")
    return known[name]

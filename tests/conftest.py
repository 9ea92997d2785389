"""Shared fixtures: seeded rng, PANA configs, a PaC and a PAA on a VirtualNet."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from tests.pana_mpa.pair import Pair, make_pair


@pytest.fixture
def rng() -> Callable[[int], bytes]:
    """Deterministic randomness for sans-IO cores."""
    return random.Random(7).randbytes


@pytest.fixture
def pac_paa() -> Pair:
    """A PaC and a PAA (key-generating fake EAP, default configs) on a VirtualNet."""
    return make_pair()

"""Shared fixtures: seeded rng, PANA configs, a PaC and a PAA on a VirtualNet."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from pana_mpa.config import PaaConfig, PacConfig
from tests.pana_mpa.pair import Pair, make_pair


@pytest.fixture
def rng() -> Callable[[int], bytes]:
    """Deterministic randomness for sans-IO cores."""
    return random.Random(7).randbytes


@pytest.fixture
def pac_config() -> PacConfig:
    """PaC defaults: both suites accepted (SHA-256 preferred), RFC 5191 s9 timers."""
    return PacConfig()


@pytest.fixture
def paa_config() -> PaaConfig:
    """PAA defaults with a one-hour Session-Lifetime."""
    return PaaConfig(session_lifetime=3600)


@pytest.fixture
def pac_paa(pac_config: PacConfig, paa_config: PaaConfig) -> Pair:
    """A PaC and a PAA (EAP-PSK) on a VirtualNet, not started yet."""
    return make_pair(pac_config=pac_config, paa_config=paa_config)

"""PCI floods in virtual time (issue 9, marker ``flood``): no state per junk datagram.

100,000 PCIs from spoofed addresses (and as many through a configured relay) leave the PAA's
memory within a small constant of its idle size, and a legitimate PaC that arrives during the
flood authenticates. ``benchmarks.flood`` prints the figures (bytes and CPU per junk PCI).
"""

from __future__ import annotations

import random

import pytest

from benchmarks.flood import FloodResult, run_flood

pytestmark = pytest.mark.flood

N = 100_000


@pytest.fixture(scope="module")
def direct() -> FloodResult:
    return run_flood(N, relayed=False)


@pytest.fixture(scope="module")
def relayed() -> FloodResult:
    return run_flood(N, relayed=True)


@pytest.mark.parametrize("kind", ["direct", "relayed"])
def test_spoofed_pcis_leave_no_state(kind: str, request: pytest.FixtureRequest) -> None:
    r: FloodResult = request.getfixturevalue(kind)
    # every PCI answered (or shed by the per-address limit); +1: the legitimate PaC's
    assert r.answered + r.rate_limited in (N, N + 1)
    assert r.sessions_after == 1  # only the legitimate PaC's
    # the per-address rate table is the only thing a PCI may add, and it is bounded
    assert r.bytes_after - r.bytes_idle < 512 * 1024
    assert r.bytes_per_pci < 8


@pytest.mark.parametrize("kind", ["direct", "relayed"])
def test_legitimate_pac_authenticates_during_the_flood(
    kind: str, request: pytest.FixtureRequest
) -> None:
    r: FloodResult = request.getfixturevalue(kind)
    assert r.legit_authenticated_at is not None
    assert r.legit_authenticated_at - r.legit_started_at < 1.0  # no lock-out


def test_pry_from_an_unconfigured_address_is_discarded() -> None:
    r = run_flood(1000, relayed=True, relay_configured=False, seed=3)
    assert r.answered <= 1 and r.relay_refused == 1000  # the legitimate PaC talks directly
    assert r.sessions_after == 1


def test_source_rate_limit_sheds_one_address_not_others() -> None:
    r = run_flood(2000, relayed=False, one_source=True, seed=random.Random(5).randrange(99))
    assert r.rate_limited > 1900  # the PAA is no reflector toward one spoofed victim
    assert r.legit_authenticated_at is not None

"""Impairment matrix in virtual time (issue 9): relations only; ``benchmarks.impairment`` prints
the figures (docs/robustness.md).

Every cell runs PaCs that authenticate, ping, re-authenticate and terminate against one PAA on
the loopback transport, with seeded loss, duplication, reordering and delay spikes.
"""

from __future__ import annotations

import pytest

from benchmarks.impairment import Cell, CellResult, run_cell
from tests.realcomponents import need_module

pytestmark = pytest.mark.impairment

N = 40


def _run(**kw: object) -> CellResult:
    return run_cell(Cell(sessions=N, **kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def psk_by_loss() -> dict[float, CellResult]:
    return {loss: _run(loss=loss) for loss in (0.0, 0.2, 0.4)}


def test_clean_link_authenticates_everyone_at_once(psk_by_loss: dict[float, CellResult]) -> None:
    r = psk_by_loss[0.0]
    assert r.authenticated == r.completed == N, r.failures
    assert r.percentile(0.95) < 1.0
    # the only retransmission on a clean link: the PAR that overtakes the PNA[A] of a
    # re-authentication is discarded by the PaC (RFC 5191 s4.3) and sent again after REQ_IRT
    assert r.retransmissions / N <= 1.5


def test_loss_costs_time_and_retransmissions_never_sessions(
    psk_by_loss: dict[float, CellResult],
) -> None:
    rates = [psk_by_loss[x] for x in (0.0, 0.2, 0.4)]
    assert [r.leaked for r in rates] == [0, 0, 0]  # nothing left behind, whatever the loss
    assert rates[0].success_rate >= rates[1].success_rate >= rates[2].success_rate
    assert rates[1].success_rate >= 0.9
    assert rates[0].retransmissions < rates[1].retransmissions < rates[2].retransmissions
    assert rates[0].percentile(0.5) < rates[1].percentile(0.5) < rates[2].percentile(0.5)


@pytest.mark.parametrize(
    "impairment",
    [
        {"duplicate": 0.3},
        {"reorder": 0.3},
        {"spike": 0.05},
        {"loss": 0.1, "duplicate": 0.1, "reorder": 0.2, "spike": 0.05},
    ],
    ids=["duplicate", "reorder", "spikes", "mixed"],
)
@pytest.mark.parametrize("suite", ["sha1", "sha256"])
def test_duplication_reordering_and_spikes_lose_no_session(
    impairment: dict[str, float], suite: str
) -> None:
    r = _run(suite=suite, **impairment)
    assert r.leaked == 0
    if "loss" not in impairment:
        assert r.authenticated == r.completed == N, r.failures
    else:
        assert r.success_rate >= 0.95, r.failures


def test_eap_tls_under_loss() -> None:
    need_module("OpenSSL")
    clean = run_cell(Cell(method="tls", sessions=15))
    lossy = run_cell(Cell(method="tls", sessions=15, loss=0.2, duplicate=0.1, reorder=0.1))
    assert clean.authenticated == clean.completed == 15
    assert (clean.leaked, lossy.leaked) == (0, 0)
    assert lossy.success_rate >= 0.9, lossy.failures
    # TLS needs more round trips than PSK, so loss costs it more retransmissions
    assert lossy.retransmissions > clean.retransmissions

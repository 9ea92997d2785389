"""The package imports and the command line answers."""

from __future__ import annotations

from pana_mpa.cli import main


def test_demo_runs(capsys: object) -> None:
    assert main(["demo"]) == 0

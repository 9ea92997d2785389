"""The examples run and agree with the library (python -m examples.loopback needs no network)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from examples import loopback

ROOT = Path(__file__).resolve().parents[2]


def test_loopback_example_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert loopback.run(["--seed", "7", "--loss", "0.2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in out[:3]] == ["authenticated:", "ping", "terminated:"]
    assert "msk=Secret(<64 bytes>)" in out[0]
    assert out[3].startswith("network: ") and not out[3].endswith(" 0 lost")


def test_loopback_example_wrong_psk_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    assert loopback.run(["--psk", "SecretPassphrasX", "--loss", "0"]) == 1
    assert "not authenticated" in capsys.readouterr().out


def test_loopback_example_as_a_program() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "examples.loopback"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""

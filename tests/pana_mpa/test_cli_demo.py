"""``pana-mpa demo``: the flow runner (with fake nodes) and the command itself."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pana_mpa.aio.loopback import run_virtual
from pana_mpa.cli import demo as _cli_demo
from pana_mpa.cli import main
from pana_mpa.flow import eap_text
from tests.traces import trace_records

from .aio_fakes import FAKE_MSK, FakePaa, FakePac

ROOT = Path(__file__).resolve().parents[2]


def _run_fake(**paa: bool) -> tuple[bool, list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    ok = run_virtual(
        lambda: _cli_demo.run_exchange(
            FakePac(_cli_demo.PAA_ADDRESS), FakePaa(**paa), records.append, seed=3
        )
    )
    return ok, records


def test_flow_runner_reports_messages_and_outcomes() -> None:
    ok, records = _run_fake()
    assert ok
    flow = [(r["src"], r["dst"], r["type"]) for r in records if r["event"] == "message"]
    assert flow == [
        ("PaC", "PAA", "PCI"),
        ("PAA", "PaC", "PAR"),
        ("PaC", "PAA", "PAN"),
        ("PaC", "PAA", "PNR"),
        ("PAA", "PaC", "PNA"),
        ("PaC", "PAA", "PTR"),
        ("PAA", "PaC", "PTA"),
    ]
    outcomes = [(r["role"], r["outcome"], r["name"]) for r in records if r["event"] == "outcome"]
    assert outcomes == [
        ("PaC", "authenticated", "Authenticated"),
        ("PAA", "Authenticated", "Authenticated"),
        ("PaC", "ping answered", "PingAnswered"),
        ("PAA", "SessionTerminated", "SessionTerminated"),
        ("PaC", "terminated", "SessionTerminated"),
    ]
    assert FAKE_MSK.hex() not in json.dumps(records)


def test_flow_runner_is_deterministic_and_times_are_virtual() -> None:
    first, second = _run_fake()[1], _run_fake()[1]
    assert first == second
    assert [r["t"] for r in first if "type" in r][:3] == [0.0, 0.005, 0.01]


def test_flow_runner_reports_failure() -> None:
    ok, records = _run_fake(reject=True)
    assert not ok
    failed = [r for r in records if r.get("outcome") == "failed"]
    text = "authentication rejected by the PAA (Result-Code PANA_AUTHENTICATION_REJECTED)"
    assert failed == [
        {"t": 0.01, "event": "outcome", "role": "PaC", "outcome": "failed", "text": text}
    ]


def test_text_lines() -> None:
    _, records = _run_fake()
    out = io.StringIO()
    emit = _cli_demo._writer(out, as_json=False)
    for r in records:
        emit(r)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["0.000000", "PaC", "->", "PAA", "PCI", "seq=0", "sid=0x00000000"]
    assert lines[1].split()[:5] == ["0.005000", "PAA", "->", "PaC", "PAR[R,S]"]
    expected = "PaC authenticated: session 0x00001000, key id 1, lifetime 60 s, MSK 32 octets"
    assert any(expected in line for line in lines)


@pytest.mark.parametrize("as_json", [False, True])
def test_demo_command_in_process(capsys: pytest.CaptureFixture[str], as_json: bool) -> None:
    assert main(["demo", *(["--json"] if as_json else [])]) == 0
    out = capsys.readouterr().out
    assert out
    if as_json:
        records = trace_records(out, "demo")
        assert {r["event"] for r in records} == {"message", "outcome"}
        header = json.loads(out.splitlines()[0])
        assert abs(header["reference_time"] - time.time()) < 600  # the run's wall-clock start
        assert header["clock"] == "virtual"
    assert main(["demo", *(["--json"] if as_json else [])]) == 0
    again = capsys.readouterr().out
    skip = 1 if as_json else 0  # the header's reference_time is the wall clock
    assert again.splitlines()[skip:] == out.splitlines()[skip:]  # deterministic


def test_demo_command_as_a_program() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pana_mpa", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "PCI" in proc.stdout
    assert proc.stderr == ""


def test_real_demo_flow(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json"]) == 0
    records = trace_records(capsys.readouterr().out, "demo")
    flow = [
        (r["src"], r["type"], r["flags"], [a["name"] for a in r["avps"]])
        for r in records
        if r["event"] == "message"
    ]
    assert flow[:3] == [
        ("PaC", "PCI", "", []),
        # both suites offered, SHA-256 first (RFC 5191 s4.1); the PaC picks one
        ("PAA", "PAR", "RS", ["PRF-Algorithm"] * 2 + ["Integrity-Algorithm"] * 2),
        ("PaC", "PAN", "S", ["PRF-Algorithm", "Integrity-Algorithm"]),
    ]
    eap = [eap_text(a["eap"]) for r in records if "avps" in r for a in r["avps"] if "eap" in a]
    assert eap == [
        "Request/Identity",
        "Response/Identity",
        "Request/PSK",
        "Response/PSK",
        "Request/PSK",
        "Response/PSK",
        "Success",
    ]
    assert [(f, t, fl) for f, t, fl, _ in flow[-6:]] == [
        ("PAA", "PAR", "RC"),
        ("PaC", "PAN", "C"),
        ("PaC", "PNR", "RP"),
        ("PAA", "PNA", "P"),
        ("PaC", "PTR", "R"),
        ("PAA", "PTA", ""),
    ]
    assert "AUTH" in flow[-6][3] and "Key-Id" in flow[-6][3]
    assert all("AUTH" in avps for _, _, _, avps in flow[-4:])  # RFC 5191 s5.3
    outcomes = [(r["role"], r["outcome"]) for r in records if r["event"] == "outcome"]
    assert ("PaC", "authenticated") in outcomes and ("PaC", "terminated") in outcomes
    auth = next(r for r in records if r.get("outcome") == "authenticated")
    assert auth["msk"] == {"secret_octets": 64} and auth["lifetime"] == 3600
    assert auth["prf_algorithm"] == 5 and auth["integrity_algorithm"] == 12

"""The examples run and agree with the library (python -m examples.loopback needs no network)."""

from __future__ import annotations

import ast
import importlib
import signal
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


PUBLIC_PACKAGES = ("eap", "pana_codecs", "pana_mpa", "pana_mpa.mpa")


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name)
def test_examples_use_only_the_public_api(path: Path) -> None:
    """Every name an example imports from us is in a package's ``__all__`` (no private modules)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            ours = [a.name for a in node.names if a.name.split(".")[0] in PUBLIC_PACKAGES]
            assert not ours, f"{path.name}: import {ours} (use from PACKAGE import NAME)"
        if not isinstance(node, ast.ImportFrom) or node.module is None or node.level:
            continue
        if node.module.split(".")[0] not in ("eap", "pana_codecs", "pana_mpa"):
            continue
        assert node.module in PUBLIC_PACKAGES, f"{path.name}: from {node.module} import ..."
        public = importlib.import_module(node.module).__all__
        for alias in node.names:
            assert alias.name in public, f"{path.name}: {alias.name} is not in {node.module}"


def _start_paa(*argv: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "examples.paa", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first.startswith("listening on "):
        proc.kill()
        pytest.fail(f"examples.paa did not start: {first}{proc.communicate()[1]}")
    return proc, first.split()[-1]


def _run_pac_example(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "examples.pac", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.udp
def test_pac_and_paa_examples_as_programs(tmp_path: Path) -> None:
    """The commands in the examples' docstrings, as written, against each other on 127.0.0.1."""
    psk_file = tmp_path / "psk.txt"
    psk_file.write_text("SecretPassphrase\n")
    paa, address = _start_paa(
        "--listen", "127.0.0.1:0", "--user", "alice:SecretPassphrase", "--sessions", "1"
    )
    try:
        pac = _run_pac_example("--paa", address, "--identity", "alice", "--psk-file", str(psk_file))
        assert pac.returncode == 0, pac.stderr
        lines = pac.stdout.splitlines()
        assert [line.split(":")[0] for line in lines] == [
            "authenticated",
            "ping answered",
            "terminated",
        ]
        out, err = paa.communicate(timeout=60)  # --sessions 1: it stops by itself
    finally:
        if paa.poll() is None:
            paa.kill()
            paa.communicate()
    assert paa.returncode == 0, err
    assert "Authenticated(" in out and "SessionTerminated(" in out


@pytest.mark.udp
def test_pac_example_wrong_psk_fails_with_a_reason(tmp_path: Path) -> None:
    psk_file = tmp_path / "psk.txt"
    psk_file.write_text("WrongPassphrase!\n")
    paa, address = _start_paa("--listen", "127.0.0.1:0", "--user", "alice:SecretPassphrase")
    try:
        pac = _run_pac_example(
            "--paa", address, "--identity", "alice", "--psk-file", str(psk_file), "--timeout", "3"
        )
    finally:
        paa.send_signal(signal.SIGTERM)
        paa.communicate(timeout=60)
    assert pac.returncode == 1
    assert pac.stderr.startswith("failed: ")
    assert paa.returncode == 0


def test_mpa_handover_example_as_a_program() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "examples.mpa_handover"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    steps = [line.split()[1] for line in proc.stdout.splitlines() if "correspondent" not in line]
    assert steps == [
        "pre_authenticated", "pre_configured", "tunnel_up", "binding_updated", "pre_switched",
        "switched", "tunnel_released", "handover_complete",
    ]  # fmt: skip
    assert "correspondent: REGISTER 198.51.100.23" in proc.stdout


@pytest.mark.netns
def test_broute_pac_example_over_ipv6_link_local(tmp_path: Path) -> None:
    """The B-route-style PaC reaches a PAA at fe80::1%IFACE, port 716 on both sides, SHA-256."""
    from tests.netns import lab

    identity, psk = "00000000000000000000000000000001", "SecretPassphrase"
    psk_file = tmp_path / "psk.hex"
    psk_file.write_text(psk.encode().hex() + "\n")
    with lab() as the_lab:
        meter, pac = the_lab.ns("meter"), the_lab.ns("pac")
        the_lab.veth(meter, "m0", pac, "p0")
        the_lab.ip(meter, "addr", "add", "fe80::1/64", "dev", "m0", "nodad")
        the_lab.ip(pac, "addr", "add", "fe80::2/64", "dev", "p0", "nodad")
        paa = the_lab.spawn(
            meter, sys.executable, "-m", "examples.paa", "--listen", "[::]:716",
            "--user", f"{identity}:{psk}", "--sessions", "1",
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert paa.stdout is not None
        assert str(paa.stdout.readline()).startswith("listening on [::]:716")
        run = subprocess.run(
            ["ip", "netns", "exec", pac, sys.executable, "-m", "examples.broute_pac",
             "--paa", "[fe80::1%p0]:716", "--identity", identity, "--psk-file", str(psk_file)],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert "prf_algorithm=5, integrity_algorithm=12" in run.stdout
        assert "peer=('fe80::1%p0', 716)" in run.stdout
        out, _ = paa.communicate(timeout=60)  # --sessions 1: it stops by itself
        assert paa.returncode == 0
        assert "peer=('fe80::2%m0', 716)" in str(out)  # the zone is kept (UdpTransport)

"""``pana-mpa paa --radius``: EAP pass-through to real RADIUS servers (hostapd, FreeRADIUS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers import EAP_USERS, RADIUS_SECRET, freeradius_server, hostapd_server

from .test_cli_udp import run_pac, running_paa

pytestmark = pytest.mark.udp


def _radius_args(address: tuple[str, int]) -> list[str]:
    # EAP-MD5 is keyless: the PAA must be told to accept that (key-generating methods still
    # need their MS-MPPE keys, issue 9)
    return [
        "--radius", f"{address[0]}:{address[1]}", "--radius-secret", RADIUS_SECRET.decode(),
        "--allow-keyless",
    ]  # fmt: skip


@pytest.mark.hostapd
@pytest.mark.netns
def test_pass_through_to_hostapd(tmp_path: Path) -> None:
    with (
        hostapd_server(tmp_path / "hostapd") as server,
        running_paa(*_radius_args(server.address), "--trace", str(tmp_path / "paa.jsonl")) as paa,
    ):
        outcomes = {}
        # gpsk16: a 16-octet PSK (eap's GPSK mishandles longer ones, see tests/eap)
        for method, user in (("psk", "psk"), ("md5", "md5"), ("gpsk", "gpsk16")):
            identity, secret = EAP_USERS[user]
            outcomes[method] = run_pac(
                "--paa", paa, "--identity", identity, "--secret", secret,
                "--method", method, "--once",
            )  # fmt: skip
        identity, _ = EAP_USERS["md5"]
        wrong = run_pac(
            "--paa", paa, "--identity", identity, "--secret", "not-the-password",
            "--method", "md5", "--once", "--timeout", "5",
        )  # fmt: skip
    for method, proc in outcomes.items():
        assert proc.returncode == 0, (method, proc.stderr)
        first = proc.stdout.splitlines()[0]
        assert first.startswith("authenticated: ")
        assert ("key id" in first) is (method != "md5")  # MSK from MS-MPPE keys (RFC 2548)
    assert wrong.returncode == 1
    assert wrong.stderr == (
        "pana-mpa pac: authentication failed: rejected by the PAA"
        " (Result-Code PANA_AUTHENTICATION_REJECTED)\n"
    )
    trace = (tmp_path / "paa.jsonl").read_text()
    assert EAP_USERS["psk"][1] not in trace and "md5user" not in trace


@pytest.mark.freeradius
def test_pass_through_to_freeradius(tmp_path: Path) -> None:
    identity, secret = EAP_USERS["md5"]
    with (
        freeradius_server(tmp_path / "freeradius") as server,
        running_paa(*_radius_args(server.address)) as paa,
    ):
        proc = run_pac(
            "--paa", paa, "--identity", identity, "--secret", secret, "--method", "md5",
            "--once",
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("authenticated: ")


def test_no_radius_server_fails_clearly() -> None:
    with running_paa(*_radius_args(("127.0.0.1", 9))) as paa:
        proc = run_pac(
            "--paa", paa, "--identity", "alice", "--secret", "12345", "--method", "md5",
            "--once", "--timeout", "30",
        )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith("pana-mpa pac: authentication failed: rejected by the PAA")

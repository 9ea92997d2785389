"""``pana-mpa radius-server``: argument checks, and eapol_test against the running command."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eap.keys import Secret
from pana_mpa.cli import build_parser
from pana_mpa.cli.peers import CliError
from pana_mpa.cli.radius import RadiusServerOptions, options
from tests.realcomponents import interruptible
from tests.servers import EAP_USERS, RADIUS_SECRET, eapol_conf, run_eapol_test


def _opts(*argv: str) -> RadiusServerOptions:
    return options(build_parser().parse_args(["radius-server", *argv]))


def test_clients_users_and_defaults() -> None:
    opts = _opts(
        "--listen",
        "127.0.0.1",
        "--client",
        "127.0.0.1:s1",
        "--client",
        "10.0.0.0/8:s:2",
        "--client",
        "::1:s3",
        "--method",
        "psk",
        "--user",
        "alice:0123456789abcdef0123456789abcdef",
    )
    assert opts.listen == ("127.0.0.1", 1812)
    clients = {k: v.reveal() for k, v in opts.clients.items()}
    assert clients == {"127.0.0.1": b"s1", "10.0.0.0/8": b"s:2", "::1": b"s3"}
    alice = opts.eap.users[b"alice"]
    assert isinstance(alice, Secret) and alice.reveal() == bytes.fromhex("0123456789abcdef" * 2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--client", "nowhere:x"], "expected ADDRESS"),
        (["--client", "127.0.0.1:"], "expected ADDRESS"),
        (["--client", "127.0.0.1:x"], "at least one --user"),
        (["--client", "127.0.0.1:x", "--user", "alice:short"], "16 ASCII characters"),
        (["--client", "127.0.0.1:x", "--method", "tls"], "needs --cert and --key"),
    ],
)
def test_bad_arguments(argv: list[str], message: str) -> None:
    with pytest.raises(CliError, match=message):
        _opts("--listen", "127.0.0.1:0", *argv)


@pytest.mark.hostapd
def test_eapol_test_against_the_command(tmp_path: Path) -> None:
    identity, key = EAP_USERS["psk"]
    cmd = [sys.executable, "-m", "pana_mpa", "radius-server", "--listen", "127.0.0.1:0"]
    cmd += ["--client", f"127.0.0.1:{RADIUS_SECRET.decode()}", "--method", "psk"]
    cmd += ["--user", f"{identity}:{key}"]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(interruptible(cmd), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text())):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.01)
        port = int(found.group(1))
        result = run_eapol_test(eapol_conf(tmp_path, "psk"), ("127.0.0.1", port))
        assert result.success, result.output[-3000:] + log.read_text()
        assert result.mppe_ok and result.msk is not None
        wrong = run_eapol_test(eapol_conf(tmp_path, "psk", secret="ff" * 16), ("127.0.0.1", port))
        assert not wrong.success and "Access-Reject" in wrong.output
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 130, -signal.SIGINT), log.read_text()
    assert "Traceback" not in log.read_text()

"""Smoke tests: ``pana-mpa paa`` in the background, ``pana-mpa pac --once`` against it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from pana_mpa.trace import read_trace
from tests.realcomponents import interruptible, missing
from tests.traces import trace_records

pytestmark = pytest.mark.udp

ROOT = Path(__file__).resolve().parents[2]
PSK = "SecretPassphrase"
PSK_HEX = "00112233445566778899aabbccddeeff"


@contextmanager
def running_paa(*argv: str, module: Sequence[str] = ("pana_mpa", "paa")) -> Iterator[str]:
    """Start a PAA on 127.0.0.1 (port chosen by the kernel); yield HOST:PORT; always stop it."""
    cmd = [sys.executable, "-m", *module, "--listen", "127.0.0.1:0", *argv]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # "TIME listening on 127.0.0.1:PORT", or '' if it died
        if " listening on " not in first:
            proc.kill()
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"PAA did not start: {first!r} {err!r}")
        yield first.split()[-1]
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()


def run_pac(
    *argv: str, module: Sequence[str] = ("pana_mpa", "pac")
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *module, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("method", "secret", "suite"),
    [
        ("psk", PSK, "sha1"),
        ("psk", PSK, "sha256"),
        ("psk", PSK_HEX, "sha256"),
        ("md5", "12345", "sha1"),
        ("md5", "12345", "sha256"),
        ("gpsk", "a-longer-gpsk-secret", "sha256"),
    ],
)
def test_pac_once_succeeds(method: str, secret: str, suite: str) -> None:
    common = ["--method", method, "--suite", suite]
    with running_paa("--user", f"alice:{secret}", "--user", f"bob:{PSK}", *common) as paa:
        proc = run_pac("--paa", paa, "--identity", "alice", "--secret", secret, "--once", *common)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "authenticated",
        "ping answered",
        "terminated",
    ]
    if method == "md5":  # no MSK: no PANA SA, no key id (RFC 5191 s5.3)
        assert "key id" not in lines[0]
    else:
        assert "key id" in lines[0] and "MSK 64 octets" in lines[0]
        assert ("SHA1" if suite == "sha1" else "SHA2_256") in lines[0]
    assert proc.stderr == ""


@pytest.mark.parametrize(
    ("method", "good", "bad", "message"),
    [
        (
            "md5",
            "12345",
            "54321",
            "pana-mpa pac: authentication failed: rejected by the PAA"
            " (Result-Code PANA_AUTHENTICATION_REJECTED)",
        ),
        (
            "psk",
            PSK,
            "SecretPassphrasX",
            "pana-mpa pac: authentication failed: rejected by the PAA"
            " (Result-Code PANA_AUTHENTICATION_REJECTED)",
        ),
        (
            "gpsk",
            "a-longer-gpsk-secret",
            "a-wrong-gpsk-secret!",
            "pana-mpa pac: authentication failed: rejected by the PAA"
            " (Result-Code PANA_AUTHENTICATION_REJECTED)",
        ),
    ],
)
def test_pac_once_wrong_secret_fails_clearly(
    method: str, good: str, bad: str, message: str
) -> None:
    # The failure arrives as PAR[C] with Result-Code 1, so the generous --timeout is never
    # reached: the message names the rejection, not a timeout.
    with running_paa("--user", f"alice:{good}", "--method", method) as paa:
        proc = run_pac(
            "--paa", paa, "--identity", "alice", "--secret", bad, "--method", method,
            "--once", "--timeout", "100",
        )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_psk_silent_discard_keeps_rfc_4764_behaviour() -> None:
    with running_paa("--user", f"alice:{PSK}", "--psk-silent-discard") as paa:
        proc = run_pac(
            "--paa", paa, "--identity", "alice", "--secret", "SecretPassphrasX", "--once",
            "--timeout", "2",
        )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith("pana-mpa pac: authentication: not completed within 2 s")
    assert "EAP-PSK may ignore them silently" in proc.stderr


def test_pac_once_algorithm_mismatch_says_why() -> None:
    with running_paa("--user", f"alice:{PSK}", "--suite", "sha1") as paa:
        proc = run_pac(
            "--paa", paa, "--identity", "alice", "--secret", PSK, "--once", "--suite", "sha256",
            "--timeout", "2",
        )  # fmt: skip
        # without --suite the PaC accepts both suites, so the SHA-1-only PAA is fine
        ok = run_pac("--paa", paa, "--identity", "alice", "--secret", PSK, "--once")
    assert proc.returncode == 1
    assert proc.stderr == (
        f"pana-mpa pac: authentication: PAA {paa} not accepted: no acceptable algorithms in"
        " PAR[S] (PAA offers PRF PRF_HMAC_SHA1, integrity AUTH_HMAC_SHA1_160)\n"
    )
    assert ok.returncode == 0, ok.stderr
    assert "PRF_HMAC_SHA1" in ok.stdout.splitlines()[0]


def test_pac_once_without_paa_fails_clearly() -> None:
    # a port nobody listens on: take a free one from the kernel, then release it
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run_pac(
        "--paa", f"127.0.0.1:{port}", "--identity", "alice", "--secret", PSK, "--once",
        "--timeout", "2",
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr == (
        f"pana-mpa pac: authentication: no answer from PAA 127.0.0.1:{port} within 2 s\n"
    )


def test_trace_files_hold_no_secrets_or_identities(tmp_path: Path) -> None:
    pac_trace, paa_trace = tmp_path / "pac.jsonl", tmp_path / "paa.jsonl"
    with running_paa("--user", f"alice:{PSK_HEX}", "--trace", str(paa_trace)) as paa:
        proc = run_pac(
            "--paa", paa, "--identity", "alice", "--secret", PSK_HEX, "--once",
            "--trace", str(pac_trace),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    for path, role in ((pac_trace, "pac"), (paa_trace, "paa")):
        text = path.read_text()
        header, records = read_trace(path)
        assert header["source"] == role and isinstance(header["reference_time"], float)
        assert abs(header["reference_time"] - time.time()) < 600  # a wall clock: Unix time
        assert {"message", "session_event"} <= {r["event"] for r in records}
        assert all(0.0 <= r["t"] < 600 for r in records)  # relative to the reference
        assert PSK_HEX not in text.lower()
        assert "alice" not in text and "616c696365" not in text  # identity, also as hex
    pac_records = trace_records(pac_trace.read_text(), "pac")
    sent = [r["type"] for r in pac_records if r["event"] == "message" and r["dir"] == "tx"]
    assert sent[0] == "PCI" and "PNR" in sent and "PTR" in sent


def test_bad_usage_exits_2_without_traceback() -> None:
    proc = run_pac("--paa", "127.0.0.1:1", "--identity", "a", "--secret", "short", "--once")
    assert proc.returncode == 2
    assert proc.stderr == (
        "pana-mpa pac: EAP-PSK (RFC 4764): the secret must be exactly 16 octets"
        " (RFC 4764 s3.1): 16 ASCII characters or 32 hex digits\n"
    )


def _write_pki(directory: Path) -> dict[str, str]:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from tests.pki import make_pki

    pki = make_pki()
    files: dict[str, str] = {}
    for name, ident in (("ca", pki.ca), ("server", pki.server), ("client", pki.client)):
        cert = directory / f"{name}.pem"
        cert.write_bytes(ident.cert.public_bytes(Encoding.PEM))
        key = directory / f"{name}.key"
        key.write_bytes(ident.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        files[name], files[f"{name}_key"] = str(cert), str(key)
    return files


def test_pac_once_eap_tls(tmp_path: Path) -> None:
    f = _write_pki(tmp_path)
    paa_args = ["--method", "tls", "--cert", f["server"], "--key", f["server_key"], "--ca", f["ca"]]
    with running_paa(*paa_args) as paa:
        proc = run_pac(
            "--paa", paa, "--identity", "user1", "--method", "tls", "--once",
            "--cert", f["client"], "--key", f["client_key"], "--ca", f["ca"],
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "MSK 64 octets" in proc.stdout.splitlines()[0]
        # a client certificate from another CA is refused
        other = tmp_path / "other"
        other.mkdir()
        g = _write_pki(other)
        bad = run_pac(
            "--paa", paa, "--identity", "user1", "--method", "tls", "--once", "--timeout", "5",
            "--cert", g["client"], "--key", g["client_key"], "--ca", f["ca"],
        )  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.startswith("pana-mpa pac: ") and bad.stderr.count("\n") == 1, bad.stderr


def test_tls_bad_pem_is_a_one_line_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    proc = run_pac(
        "--paa", "127.0.0.1:9", "--identity", "u", "--method", "tls", "--once",
        "--ca", str(junk),
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith("pana-mpa pac: EAP-TLS: ") and proc.stderr.count("\n") == 1


def test_long_running_pac_leaves_with_a_ptr_on_ctrl_c() -> None:
    import signal

    paa = subprocess.Popen(
        [sys.executable, "-m", "pana_mpa", "paa", "--listen", "127.0.0.1:0", "--user", f"a:{PSK}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    pac: subprocess.Popen[str] | None = None
    try:
        assert paa.stdout is not None
        addr = paa.stdout.readline().split()[-1]
        pac_cmd = ["pac", "--paa", addr, "--identity", "a", "--secret", PSK]
        pac = subprocess.Popen(
            interruptible([sys.executable, "-m", "pana_mpa", *pac_cmd]),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert pac.stdout is not None
        assert pac.stdout.readline().startswith("authenticated: ")
        pac.send_signal(signal.SIGINT)
        out, err = pac.communicate(timeout=60)
        assert (pac.returncode, out, err) == (130, "", "")
        paa_lines = [paa.stdout.readline() for _ in range(3)]
        assert " SessionTerminated: " in paa_lines[-1]
        assert "Termination-Cause LOGOUT, by the peer" in paa_lines[-1]
        assert 'identity "a"' in paa_lines[-1]  # the operator log names the peer
        paa.terminate()  # SIGTERM: an orderly stop, exit status 0
        assert paa.wait(timeout=30) == 0
    finally:
        for proc in (pac, paa):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        if paa.stdout is not None:
            paa.stdout.close()


def test_pac_once_over_ipv6() -> None:
    paa_cmd = [sys.executable, "-m", "pana_mpa", "paa", "--listen", "[::1]:0", "--user", f"a:{PSK}"]
    paa = subprocess.Popen(paa_cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert paa.stdout is not None
        line = paa.stdout.readline()
        if " listening on [::1]:" not in line:
            missing(f"IPv6 loopback ({line!r})")
        proc = run_pac("--paa", line.split()[-1], "--identity", "a", "--secret", PSK, "--once")
        assert proc.returncode == 0, proc.stderr
        assert "peer [::1]:" in proc.stdout
    finally:
        paa.kill()
        paa.wait(timeout=30)
        if paa.stdout is not None:
            paa.stdout.close()


def test_paa_stopping_terminates_its_sessions() -> None:
    paa = subprocess.Popen(
        [sys.executable, "-m", "pana_mpa", "paa", "--listen", "127.0.0.1:0", "--user", f"a:{PSK}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    pac: subprocess.Popen[str] | None = None
    try:
        assert paa.stdout is not None
        addr = paa.stdout.readline().split()[-1]
        pac_cmd = ["pac", "--paa", addr, "--identity", "a", "--secret", PSK]
        pac = subprocess.Popen(
            interruptible([sys.executable, "-m", "pana_mpa", *pac_cmd]),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert pac.stdout is not None
        assert pac.stdout.readline().startswith("authenticated: ")
        paa.terminate()
        assert paa.wait(timeout=30) == 0
        out, err = pac.communicate(timeout=60)
        assert pac.returncode == 1
        assert out.startswith("SessionTerminated: ")
        assert err == "pana-mpa pac: session terminated (Termination-Cause ADMINISTRATIVE)\n"
        assert "SessionTerminated: " in paa.stdout.read()
    finally:
        for proc in (pac, paa):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        if paa.stdout is not None:
            paa.stdout.close()


def test_paa_workers_serve_and_stop_in_order() -> None:
    """``paa --workers 2``: two processes on one port; PaCs authenticate; SIGTERM exits 0."""
    with running_paa("--user", f"alice:{PSK}", "--workers", "2") as paa:
        for _ in range(4):  # a new PaC process each time: a new source port, hashed anew
            proc = run_pac("--paa", paa, "--identity", "alice", "--secret", PSK, "--once")
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.startswith("authenticated: ")


def test_quiet_paa_logs_failures_and_statistics_only() -> None:
    """``paa -q`` (errors only): no line per successful session, a failure still gets its line
    at once through a pipe, and SIGUSR1 still prints the statistics line."""
    import json
    import signal

    paa = subprocess.Popen(
        [sys.executable, "-m", "pana_mpa", "paa", "-q", "--listen", "127.0.0.1:0",
         "--user", f"a:{PSK}"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert paa.stdout is not None
        first = paa.stdout.readline()
        assert " listening on " in first
        addr = first.split()[-1]
        ok = run_pac("--paa", addr, "--identity", "a", "--secret", PSK, "--once")
        assert ok.returncode == 0, ok.stderr
        bad = run_pac("--paa", addr, "--identity", "a", "--secret", "WrongPassphrase!", "--once")
        assert bad.returncode == 1
        failed = paa.stdout.readline()  # written and flushed as it happened
        assert " AuthenticationFailed: " in failed and 'identity "a"' in failed
        paa.send_signal(signal.SIGUSR1)
        stats_line = paa.stdout.readline()
        assert " statistics: " in stats_line
        stats = json.loads(stats_line.split(" statistics: ", 1)[1])
        assert stats["received"] >= 2 and stats["batches"] >= 1
        paa.terminate()
        assert paa.wait(timeout=30) == 0
        assert paa.stdout.read() == ""  # nothing about the successful session, nor its end
    finally:
        if paa.poll() is None:
            paa.kill()
            paa.wait(timeout=30)
        if paa.stdout is not None:
            paa.stdout.close()

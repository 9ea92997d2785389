"""Live: our ``pana-mpa paa`` and ``pac`` over UDP on loopback, captured by tshark, decoded.

The whole path a user takes: real sockets, a real capture file written by tshark (``-w``), then
``pana-mpa decode --verify`` on it. The PAA listens on a random port, so decode needs ``--port``
and learns the PaC's ephemeral port from the exchange (RFC 5191 s6.1).
"""

from __future__ import annotations

import json
import os
import random
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pana_mpa.cli import main
from tests.realcomponents import need_binary, need_root

pytestmark = [pytest.mark.tshark, pytest.mark.udp]

REPO = Path(__file__).resolve().parent.parent
SECRET = "live-16-octets!!"
PAA = [sys.executable, "-m", "pana_mpa", "paa", "--suite", "sha1"]
PAC = [sys.executable, "-m", "pana_mpa", "pac", "--suite", "sha1", "--once"]


def _wait_for_line(proc: subprocess.Popen[bytes], stream: str, needle: str, limit: float) -> str:
    """Read ``proc``'s stdout/stderr until a line contains ``needle`` (select, no sleeping).

    Raw os.read: a buffered readline() would hide lines already read from select().
    """
    pipe = proc.stdout if stream == "stdout" else proc.stderr
    assert pipe is not None
    fd = pipe.fileno()
    seen = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        deadline = time.monotonic() + limit
        while (left := deadline - time.monotonic()) > 0:
            if not sel.select(left):
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
            for line in seen.decode(errors="replace").splitlines():
                if needle in line:
                    return line
    pytest.fail(f"{needle!r} not seen from {proc.args!r}: {seen.decode(errors='replace')[-2000:]}")


def _free_udp_port() -> int:
    """A UDP port in 20000-60000 that nothing on 127.0.0.1 holds right now."""
    rng = random.SystemRandom()
    for _ in range(50):
        port = rng.randint(20000, 60000)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free UDP port found")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def test_live_session_captured_by_tshark_decodes_and_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tshark = need_binary("tshark")
    need_root()
    port = _free_udp_port()
    pcap = tmp_path / "live.pcapng"
    capture: subprocess.Popen[bytes] | None = None
    paa: subprocess.Popen[bytes] | None = None
    try:
        capture = subprocess.Popen(
            [tshark, "-i", "lo", "-f", f"udp port {port}", "-w", str(pcap), "-P", "-l"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        _wait_for_line(capture, "stderr", "Capturing on", 30)
        paa = subprocess.Popen(
            [*PAA, "--listen", f"127.0.0.1:{port}", "--user", f"alice:{SECRET}"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        pac = subprocess.run(
            [*PAC, "--paa", f"127.0.0.1:{port}", "--identity", "alice", "--secret", SECRET],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert pac.returncode == 0, pac.stderr
        # tshark's own (heuristic) PANA dissector labels the last message; then the file has it.
        _wait_for_line(capture, "stdout", "PANA-Termination-Answer", 30)
    finally:
        _stop(paa)
        _stop(capture)
    assert (
        main(["decode", "--json", "--port", str(port), "--verify", "--secret", SECRET, str(pcap)])
        == 0
    )
    out = capsys.readouterr()
    objs = [json.loads(line) for line in out.out.splitlines()]
    labels = [o["type"] + (f"[{o['flags']}]" if o["flags"] else "") for o in objs]
    assert labels[0] == "PCI" and labels[-2:] == ["PTR[R]", "PTA"]
    assert {"PAR[RS]", "PAN[S]", "PAR[RC]", "PAN[C]", "PNR[RP]", "PNA[P]"} <= set(labels)
    assert all(o["error"] is None and o["reencode_identical"] for o in objs)
    assert [o["auth"] for o in objs if o["auth"] is not None] == ["ok"] * 6
    assert SECRET not in out.out + out.err

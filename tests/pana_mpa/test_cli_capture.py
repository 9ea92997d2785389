"""Capture our PaC <-> PAA on 127.0.0.1 with tshark and check tshark's own PANA dissector agrees."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.realcomponents import need_binary, need_root

from .test_cli_udp import PSK, run_pac, running_paa

pytestmark = [pytest.mark.udp, pytest.mark.tshark]


def _free_udp_port() -> int:
    rnd = random.Random()
    for _ in range(50):
        port = rnd.randint(20000, 60000)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    pytest.fail("no free UDP port found")


def _capture(tshark: str, port: int, pcap: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [tshark, "-i", "lo", "-f", f"udp port {port}", "-w", str(pcap)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while b"Capturing on" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"tshark did not start: {log.read_text(errors='replace')}")
        time.sleep(0.1)  # waiting for an external program, not protocol time
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _fields(tshark: str, pcap: Path, *fields: str, display_filter: str = "") -> list[list[str]]:
    cmd = [tshark, "-2", "-r", str(pcap), "-T", "fields", "-E", "separator=;"]  # 2 passes
    if display_filter:
        cmd += ["-Y", display_filter]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    return [line.split(";") for line in out.splitlines() if line]


def test_tshark_decodes_our_exchange_cleanly(tmp_path: Path) -> None:
    tshark = need_binary("tshark")
    need_root()  # capturing on lo
    port = _free_udp_port()
    pcap, log = tmp_path / "pana.pcapng", tmp_path / "tshark.log"
    proc = _capture(tshark, port, pcap, log)
    try:
        with running_paa("--user", f"alice:{PSK}", "--listen", f"127.0.0.1:{port}") as paa:
            result = run_pac("--paa", paa, "--identity", "alice", "--secret", PSK, "--once")
        assert result.returncode == 0, result.stderr
    finally:
        _stop(proc)

    # tshark 4.0 fills pana.flags with 0 (its -V view shows them right), so requests and
    # answers are told apart by its request/answer matching (pana.response_in / response_to).
    rows = _fields(
        tshark, pcap, "pana.type", "pana.response_in", "pana.response_to", "pana.seq", "pana.sid"
    )
    roles = {(True, False): "request", (False, True): "answer"}
    kinds = [(int(t), roles.get((bool(rin), bool(rto)), "?")) for t, rin, rto, *_ in rows]
    # PCI; PAR/PAN[S]; Identity, 2 PSK rounds; PAR/PAN[C]; PNR/PNA[P]; PTR/PTA
    pairs = [(2, "request"), (2, "answer")] * 5 + [(4, "request"), (4, "answer")]
    assert kinds == [(1, "?"), *pairs, (3, "request"), (3, "answer")]
    assert len({row[4] for row in rows[1:]}) == 1  # one session id throughout
    bad = _fields(
        tshark,
        pcap,
        "frame.number",
        display_filter="_ws.malformed || _ws.expert.severity >= 6291456",
    )
    assert bad == [], f"tshark reports problems in frames {bad}"

"""Pictures of an exchange: the demo as a pcap tshark opens, message-sequence charts as PNG."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest

from pana_mpa.cli import main
from pana_mpa.cli.capture import read_pana
from pana_mpa.cli.pcapwrite import PcapWriter
from pana_mpa.flow import FlowTrace
from pana_mpa.trace import trace_header
from tests.realcomponents import need_binary, need_module
from tests.traces import trace_records

PNG = b"\x89PNG\r\n\x1a\n"


def _tshark_problems(tshark: str, pcap: Path) -> list[str]:
    out = subprocess.run(
        [tshark, "-n", "-r", str(pcap), "-o", "udp.check_checksum:TRUE",
         "-o", "ip.check_checksum:TRUE", "-Y",
         "_ws.malformed || _ws.expert.severity >= 6291456", "-T", "fields", "-e", "frame.number"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.split()


@pytest.mark.tshark
def test_demo_pcap_opens_in_tshark_with_every_datagram(tmp_path: Path) -> None:
    tshark = need_binary("tshark")
    pcap = tmp_path / "demo.pcap"
    assert main(["demo", "--json", "--pcap", str(pcap)]) == 0
    ours = read_pana(pcap)
    assert len(ours) == 15  # PCI, PAR/PAN[S], 3 EAP rounds, PAR/PAN[C], PNR/PNA, PTR/PTA
    frames = subprocess.run(
        [tshark, "-n", "-r", str(pcap), "-T", "fields", "-e", "pana.type"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert frames[:2] == ["1", "2"] and len(frames) == 15 and set(frames) == {"1", "2", "3", "4"}
    assert _tshark_problems(tshark, pcap) == []


@pytest.mark.tshark
def test_ipv6_datagrams_have_correct_checksums(tmp_path: Path) -> None:
    tshark = need_binary("tshark")
    pcap = tmp_path / "v6.pcap"
    with pcap.open("wb") as fh:
        w = PcapWriter(fh)
        w.write_udp(1.5, ("2001:db8::1", 716), ("fe80::2", 40000), b"\x00" * 17)
        w.write_udp(2.0, ("192.0.2.1", 5), ("192.0.2.2", 716), b"odd")
    assert _tshark_problems(tshark, pcap) == []
    got = subprocess.run([tshark, "-n", "-r", str(pcap), "-T", "fields", "-e", "udp.length"],
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert got == ["25", "11"]


def test_pcap_writer_rejects_mixed_families() -> None:
    with pytest.raises(ValueError, match="different IP versions"):
        PcapWriter(io.BytesIO()).write_udp(0.0, ("192.0.2.1", 1), ("2001:db8::1", 2), b"")


def test_demo_chart_and_mpa_timeline_render(tmp_path: Path) -> None:
    chart, timeline = tmp_path / "demo.png", tmp_path / "mpa.png"
    assert main(["demo", "--chart", str(chart)]) == 0
    assert main(["demo", "--mpa", "--chart", str(timeline)]) == 0
    for png in (chart, timeline):
        data = png.read_bytes()
        assert data[:8] == PNG and len(data) > 20_000


def test_chart_from_a_capture_and_from_a_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pcap, trace = tmp_path / "demo.pcap", tmp_path / "demo.jsonl"
    assert main(["demo", "--json", "--pcap", str(pcap)]) == 0
    trace.write_text(capsys.readouterr().out)
    assert len(trace_records(trace.read_text(), "demo")) > 15
    for source in (pcap, trace):
        out = tmp_path / f"{source.suffix[1:]}.png"
        assert main(["chart", str(source), "-o", str(out)]) == 0
        assert out.read_bytes()[:8] == PNG
    assert "15 messages drawn" in capsys.readouterr().err


def test_chart_says_why_it_cannot_draw(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert main(["chart", str(bad), "-o", str(tmp_path / "x.png")]) == 2
    assert "bad.jsonl:1: not JSON" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    header = json.dumps(trace_header("demo", 0.0))
    empty.write_text(header + '\n{"t": 0, "event": "outcome", "role": "PaC", "outcome": "ok"}\n')
    assert main(["chart", str(empty), "-o", str(tmp_path / "y.png")]) == 2
    assert "no messages" in capsys.readouterr().err
    old = tmp_path / "old.jsonl"  # a trace without the header line (before schema version 1)
    old.write_text('{"t": 0, "from": "PaC", "to": "PAA", "type": "PCI"}\n')
    assert main(["chart", str(old), "-o", str(tmp_path / "z.png")]) == 2
    assert "not a pana-mpa trace" in capsys.readouterr().err
    future = tmp_path / "future.jsonl"
    future.write_text('{"schema": "pana-mpa-trace", "version": 9}\n')
    assert main(["chart", str(future), "-o", str(tmp_path / "z.png")]) == 2
    assert "version 9 is not supported" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["decode", "mpa", "pac"])
def test_chart_from_every_kind_of_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    need_module("matplotlib")
    trace, png = tmp_path / f"{kind}.jsonl", tmp_path / f"{kind}.png"
    if kind == "decode":
        pcap = tmp_path / "demo.pcap"
        assert main(["demo", "--pcap", str(pcap)]) == 0
        capsys.readouterr()
        assert main(["decode", "--json", str(pcap)]) == 0
        trace.write_text(capsys.readouterr().out)
        assert len(trace_records(trace.read_text(), "decode")) == 15
    elif kind == "mpa":
        assert main(["demo", "--mpa", "--json"]) == 0
        trace.write_text(capsys.readouterr().out)
    else:
        stream = io.StringIO()
        flow = FlowTrace(stream, role="pac", reference_time=1.0)
        flow.datagram(0.5, "tx", bytes.fromhex("00000010000000010000000000000000"))
        flow.event(0.6, "transition", old="INITIAL", new="INITIAL")
        trace.write_text(stream.getvalue())
    assert main(["chart", str(trace), "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == PNG

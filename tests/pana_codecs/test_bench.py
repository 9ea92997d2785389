"""The benchmark's parts: its pcap reader and struct baseline agree with tshark (no timing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import bench_codecs

from ._vectors import CAPTURES, captures_dir, load_frames


def test_pcap_reader_matches_tshark_extraction() -> None:
    payloads = bench_codecs.udp_payloads(captures_dir())
    expected = [data for name in sorted(CAPTURES) for data in load_frames(name).values()]
    # sorted(iterdir) orders the files like sorted(CAPTURES) plus their suffixes
    assert sorted(payloads) == sorted(expected)
    assert len(payloads) == 19 + 13 + 24 + 45 + 41 + 1 + 5


@pytest.mark.parametrize("name", CAPTURES[:1] + CAPTURES[3:])  # the RFC 5191 captures
def test_baseline_does_the_same_job(name: str) -> None:
    for data in load_frames(name).values():
        assert bench_codecs.baseline_encode(bench_codecs.baseline_decode(data)) == data


def test_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        bench_codecs.main(["--runs", "1", "--seconds", "0.01", "--captures", str(captures_dir())])
        == 0
    )
    out = capsys.readouterr().out
    assert "112 PANA messages" in out and "fast/struct ratio" in out


def test_benchmark_without_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("not a capture")
    assert bench_codecs.main(["--runs", "1", "--captures", str(tmp_path)]) == 1
    assert "no decodable PANA messages" in capsys.readouterr().err

"""The testbed's results files: JSON round trip, the table's medians, a PNG per scenario."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.testbed_results import markdown_table, write_results


def _run(mode: str, lost: int, gap: float, scenario: str = "ipv4 gap=0ms") -> dict[str, object]:
    arrivals = [[s, (s - 50) * 20.0, "mn0"] for s in range(100) if not 50 <= s < 50 + lost]
    steps = {"switched": 5.0, "tunnel_released": 30.0}
    return {"scenario": scenario, "family": "ipv4", "mode": mode, "interval_ms": 20,
            "lost": lost, "duplicates": 0, "interruption_ms": gap, "steps_ms": steps,
            "arrivals": arrivals}  # fmt: skip


def test_table_shows_median_and_spread_per_mode() -> None:
    failed = {**_run("non-mpa", 0, 0.0), "error": "timeout"}
    runs = [_run("mpa", 3, 60.0), _run("mpa", 5, 80.0), _run("mpa", 4, 70.0),
            _run("non-mpa", 200, 4000.0), failed]  # fmt: skip
    table = markdown_table(runs, steps=("switched",))
    rows = {line.split("|")[2].strip(): line for line in table.splitlines()[2:]}
    assert "| 4 [3-5] |" in rows["mpa"] and "| 70 [60-80] |" in rows["mpa"]
    assert "1 (+1 failed)" in rows["non-mpa"]
    assert table.index("| non-mpa |") < table.index("| mpa |")  # modes in MODES order


def test_results_files_are_written_and_readable(tmp_path: Path) -> None:
    runs = [_run("non-mpa", 20, 420.0), _run("mpa", 3, 60.0), _run("mpa", 0, 20.0, "ipv6 gap=0ms")]
    written = write_results(runs, tmp_path, meta={"command": "test"}, steps=("switched",))
    data = json.loads(written["json"].read_text())
    assert data["meta"]["command"] == "test" and len(data["runs"]) == 3
    assert data["runs"][0]["arrivals"][0] == [0, -1000.0, "mn0"]
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["handover-ipv4-gap-0ms.png", "handover-ipv6-gap-0ms.png"]
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000

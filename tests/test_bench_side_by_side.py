"""benchmarks/openpana_side_by_side.py: the table's ratios to OpenPANA's row of the same run."""

from __future__ import annotations

from typing import Any

from benchmarks.openpana_side_by_side import OPENPANA, table


def _row(paa: float, aaa: float) -> dict[str, Any]:
    return {
        "auths": 600, "failures": 0, "auth_per_s": 500.0, "p50_ms": 2.0, "p99_ms": 4.0,
        "max_ms": 9.0, "paa_cpu_ms_per_auth": paa, "paa_hmac_equiv_per_auth": 400.0,
        "aaa_cpu_ms_per_auth": aaa, "with_eap_server_cpu_ms_per_auth": paa + aaa,
        "paa_sys_share": 0.3, "paa_wakeups_per_auth": 6.0,
        "rss_bytes_per_held_session": 1200.0, "crashed_after": [],
    }  # fmt: skip


def _cells(text: str, name: str) -> list[str]:
    line = next(row for row in text.splitlines() if row.startswith(f"| {name} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_ratios_to_openpana_for_the_paa_alone_and_with_its_eap_server() -> None:
    result = {
        "date": "d", "machine": "m", "load": ["1", "1", "1"],
        "paas": {
            "pana-mpa": _row(1.0, 0.25),
            OPENPANA: _row(0.5, 0.25),
            "pana-mpa, local EAP-PSK server": _row(0.6, 0.0),
        },
    }  # fmt: skip
    text = table(result)
    header = _cells(text, "PAA")
    ours, theirs, local = (_cells(text, n) for n in result["paas"])
    at = header.index("PAA CPU ms/auth")
    assert (ours[at + 1], theirs[at + 1], local[at + 1]) == ("2.00", "1.00", "1.20")
    both = header.index("with EAP server ms/auth")
    assert (ours[both], theirs[both], local[both]) == ("1.25", "0.75", "0.60")
    assert (ours[both + 1], theirs[both + 1], local[both + 1]) == ("1.67", "1.00", "0.80")


def test_without_openpana_the_ratio_cells_say_so() -> None:
    result = {"date": "d", "machine": "m", "load": ["1"], "paas": {"pana-mpa": _row(1.0, 0.25)}}
    cells = _cells(table(result), "pana-mpa")
    header = _cells(table(result), "PAA")
    assert cells[header.index("PAA CPU ms/auth") + 1] == "-"

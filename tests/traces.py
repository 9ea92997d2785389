"""Reading JSON-lines traces in tests: the header must be there and valid (docs/trace-format.md)."""

from __future__ import annotations

from typing import Any

from pana_mpa import __version__
from pana_mpa.trace import TRACE_SCHEMA, TRACE_VERSION, parse_trace


def trace_records(text: str, source: str | None = None) -> list[dict[str, Any]]:
    """The records of a trace's text after checking its header (and its ``source``)."""
    header, records = parse_trace(text.splitlines())
    assert header["schema"] == TRACE_SCHEMA and header["version"] == TRACE_VERSION
    assert header["tool"] == f"pana-mpa {__version__}"
    assert "reference_time" in header
    if source is not None:
        assert header["source"] == source, header
    assert all(isinstance(r["t"], float | int) and isinstance(r["event"], str) for r in records)
    return records

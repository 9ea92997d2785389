"""Structured protocol traces (our qlog): Trace protocol, NullTrace, MemoryTrace, JsonLinesTrace.

The JSON-lines files written here, by ``pana-mpa pac/paa --trace``, ``demo --json`` and
``decode --json`` share one schema (docs/trace-format.md): a header line
``{"schema": "pana-mpa-trace", "version": 1, "source", "reference_time", "tool"}``, then one
record per line with ``t`` (seconds since ``reference_time``) and ``event``. The core never reads
a clock: whoever opens a trace passes the wall-clock reference and the ``now`` it corresponds to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final, Protocol, TextIO

from ._version import __version__

__all__ = [
    "NULL_TRACE",
    "TRACE_SCHEMA",
    "TRACE_VERSION",
    "JsonLinesTrace",
    "MemoryTrace",
    "NullTrace",
    "Trace",
    "TraceFormatError",
    "is_enabled",
    "parse_trace",
    "read_trace",
    "trace_header",
    "trace_record",
]

logger = logging.getLogger(__name__)

TRACE_SCHEMA: Final = "pana-mpa-trace"
"""The ``schema`` value of a trace header line."""

TRACE_VERSION: Final = 1
"""The trace format version written and read (additive changes keep it; docs/trace-format.md)."""


class TraceFormatError(ValueError):
    """A file that is not a pana-mpa trace, or one of a version this release cannot read."""


def trace_header(source: str, reference_time: float | None, **extra: Any) -> dict[str, Any]:
    """The first line of a trace: schema, version, source, reference_time (Unix epoch s), tool."""
    header: dict[str, Any] = {
        "schema": TRACE_SCHEMA,
        "version": TRACE_VERSION,
        "source": source,
        "reference_time": reference_time,
        "tool": f"pana-mpa {__version__}",
    }
    header.update(extra)
    return header


def trace_record(t: float, event: str, fields: dict[str, Any]) -> dict[str, Any]:
    """``{"t", "event", **fields}``; ``t`` rounded to the microsecond, ``t``/``event`` win."""
    record: dict[str, Any] = {"t": round(t, 6), "event": event}
    for key, value in fields.items():
        record.setdefault(key, value)
    return record


def parse_trace(
    lines: Iterable[str], *, name: str = "trace"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the records of a trace's lines; TraceFormatError names what is wrong."""
    header: dict[str, Any] | None = None
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TraceFormatError(f"{name}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise TraceFormatError(f"{name}:{number}: not a JSON object")
        if header is None:
            header = _check_header(obj, f"{name}:{number}")
            continue
        if not isinstance(obj.get("event"), str) or not isinstance(obj.get("t"), int | float):
            raise TraceFormatError(f"{name}:{number}: a record needs 't' and 'event'")
        records.append(obj)
    if header is None:
        raise TraceFormatError(f"{name}: empty, not a pana-mpa trace (no header line)")
    return header, records


def _check_header(obj: dict[str, Any], where: str) -> dict[str, Any]:
    if obj.get("schema") != TRACE_SCHEMA:
        raise TraceFormatError(
            f"{where}: not a pana-mpa trace (the first line must be the header with "
            f'"schema": "{TRACE_SCHEMA}")'
        )
    version = obj.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise TraceFormatError(f"{where}: trace header without an integer version")
    if version != TRACE_VERSION:
        raise TraceFormatError(
            f"{where}: trace format version {version} is not supported (this pana-mpa "
            f"{__version__} reads version {TRACE_VERSION}); use a matching pana-mpa release"
        )
    return obj


def read_trace(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read a trace file: ``(header, records)``; TraceFormatError if it is none or too new."""
    with Path(path).open(encoding="utf-8") as fh:
        return parse_trace(fh, name=str(path))


class Trace(Protocol):
    """A sink for protocol events: codes, lengths and reasons, never key or EAP bytes."""

    def event(self, now: float, name: str, **fields: Any) -> None:
        """Record one event at time ``now``."""
        ...


class NullTrace:
    """Discards every event."""

    def event(self, now: float, name: str, **fields: Any) -> None:
        """Ignore the event."""


NULL_TRACE = NullTrace()
"""The shared do-nothing trace."""


def is_enabled(trace: Trace) -> bool:
    """False for a NullTrace: callers then skip building the event's fields altogether."""
    return not isinstance(trace, NullTrace)


class MemoryTrace:
    """Keeps events as dicts in ``records`` (tests, in-process inspection; not the file schema)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def event(self, now: float, name: str, **fields: Any) -> None:
        """Append {"time", "name", **fields}."""
        self.records.append({"time": now, "name": name, **fields})

    def named(self, name: str) -> list[dict[str, Any]]:
        """The records with this name, in order."""
        return [r for r in self.records if r["name"] == name]


class JsonLinesTrace:
    """Writes a trace file (docs/trace-format.md): a header line, then one record per event.

    ``reference_time`` is the Unix time (seconds) at which the session clock read ``origin``;
    each record's ``t`` is ``now - origin``. The caller reads the clocks (the core cannot): e.g.
    ``JsonLinesTrace(path, reference_time=time.time(), origin=loop.time())``. Without a
    reference the header says ``null`` and ``t`` is the session clock minus ``origin``.
    A path is truncated: one file holds one trace.
    """

    def __init__(
        self,
        target: str | Path | TextIO,
        *,
        source: str = "library",
        reference_time: float | None = None,
        origin: float = 0.0,
    ) -> None:
        if isinstance(target, str | Path):
            self._stream: TextIO = Path(target).open("w", encoding="utf-8")  # noqa: SIM115
            self._owned = True
        else:
            self._stream = target
            self._owned = False
        self._origin = origin
        self._write(trace_header(source, reference_time))

    def event(self, now: float, name: str, **fields: Any) -> None:
        """Write {"t", "event", **fields} as one line."""
        self._write(trace_record(now - self._origin, name, dict(sorted(fields.items()))))

    def _write(self, record: dict[str, Any]) -> None:
        self._stream.write(json.dumps(record, default=str) + "\n")
        self._stream.flush()

    def close(self) -> None:
        """Close the file when this trace opened it."""
        if self._owned:
            self._stream.close()

    def __enter__(self) -> JsonLinesTrace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def read(path: str | Path) -> list[dict[str, Any]]:
        """Read a trace file back as its records (header checked, then left out)."""
        return read_trace(path)[1]

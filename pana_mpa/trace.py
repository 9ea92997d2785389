"""Structured protocol traces (our qlog): Trace protocol, NullTrace, MemoryTrace, JsonLinesTrace."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Protocol, TextIO

__all__ = ["NULL_TRACE", "JsonLinesTrace", "MemoryTrace", "NullTrace", "Trace", "is_enabled"]

logger = logging.getLogger(__name__)


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
    """Keeps events as dicts in ``records`` (tests, in-process inspection)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def event(self, now: float, name: str, **fields: Any) -> None:
        """Append {"time", "name", **fields}."""
        self.records.append({"time": now, "name": name, **fields})

    def named(self, name: str) -> list[dict[str, Any]]:
        """The records with this name, in order."""
        return [r for r in self.records if r["name"] == name]


class JsonLinesTrace:
    """Writes one JSON object per line to a path or an open text stream."""

    def __init__(self, target: str | Path | TextIO) -> None:
        if isinstance(target, str | Path):
            self._stream: TextIO = Path(target).open("a", encoding="utf-8")  # noqa: SIM115
            self._owned = True
        else:
            self._stream = target
            self._owned = False

    def event(self, now: float, name: str, **fields: Any) -> None:
        """Write {"time", "name", **fields} as one line."""
        record = {"time": now, "name": name, **fields}
        self._stream.write(json.dumps(record, default=str, sort_keys=True) + "\n")
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
        """Read a trace file back as a list of records."""
        text = Path(path).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

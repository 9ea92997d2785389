"""Load hex vectors from tests/vectors: '#' comments, then '<frame> <hex>' lines or bare hex."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.realcomponents import IN_CI

__all__ = ["CAPTURES", "VECTORS", "all_frames", "captures_dir", "load_frames", "load_vector"]

VECTORS = Path(__file__).resolve().parent.parent / "vectors"

CAPTURES = (
    "wireshark-wiki-pana-rfc5191",
    "wireshark-wiki-pana-draft18",
    "wireshark-wiki-pana",
    "openpana-loopback",
    "openpana-eaptls-loopback",
    "broute-real-meter-PAR-reconstructed",
    "arkime-pana_synthetic",
)


def _lines(name: str) -> list[str]:
    """Non-comment, non-empty lines of a vector file, comments stripped."""
    text = (VECTORS / f"{name}.hex").read_text(encoding="ascii")
    return [s for line in text.splitlines() if (s := line.split("#", 1)[0].strip())]


def load_frames(name: str) -> dict[int, bytes]:
    """Frame number -> PANA payload for one capture's vector file."""
    frames: dict[int, bytes] = {}
    for line in _lines(name):
        number, hexdata = line.split()
        frames[int(number)] = bytes.fromhex(hexdata)
    return frames


def load_vector(name: str) -> bytes:
    """A vector file holding one hex blob (whitespace ignored)."""
    return bytes.fromhex("".join(_lines(name)))


def all_frames() -> list[tuple[str, int, bytes]]:
    """Every (capture, frame, payload) in the vector files."""
    return [(cap, n, data) for cap in CAPTURES for n, data in load_frames(cap).items()]


def captures_dir() -> Path:
    """$PANA_CAPTURES, else ../shared/pcaps of the repository or of a parent (worktrees)."""
    env = os.environ.get("PANA_CAPTURES")
    root = VECTORS.parent.parent
    candidates = [Path(env)] if env else [p / "shared" / "pcaps" for p in root.parents]
    for path in candidates:
        if path.is_dir():
            return path
    if IN_CI:
        pytest.fail("captures directory not found (set PANA_CAPTURES)")
    pytest.skip("captures directory not found (set PANA_CAPTURES)")

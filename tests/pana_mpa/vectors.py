"""Load the known-answer files in tests/vectors/ ("name = hex" lines, '#' comments)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["load_vectors"]

_DIR = Path(__file__).resolve().parent.parent / "vectors"


def load_vectors(name: str) -> dict[str, bytes]:
    """Every ``name = hex`` entry of tests/vectors/<name>, as bytes."""
    out: dict[str, bytes] = {}
    for line in (_DIR / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = bytes.fromhex(value.strip())
    return out

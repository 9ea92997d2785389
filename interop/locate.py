"""Where the shared captures and their expected facts live (../shared/pcaps or $PANA_CAPTURES)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.realcomponents import IN_CI

__all__ = ["CAPTURE_NAMES", "EXPECTED_DIR", "capture_path", "captures_dir", "load_expected"]

REPO_ROOT = Path(__file__).resolve().parent.parent
EXPECTED_DIR = Path(__file__).resolve().parent / "expected"

# One interop/expected/<name>.toml per capture; the set is fixed by ../shared/pcaps/README.md.
CAPTURE_NAMES = (
    "wireshark-wiki-pana-rfc5191.cap",
    "wireshark-wiki-pana-draft18.cap",
    "wireshark-wiki-pana.cap",
    "openpana-loopback.pcapng",
    "openpana-eaptls-loopback.pcapng",
    "broute-real-meter-PAR-reconstructed.pcap",
    "arkime-pana_synthetic.pcap",
)


def captures_dir() -> Path:
    """The captures directory; fail under CI=true when it is missing, skip otherwise."""
    configured = os.environ.get("PANA_CAPTURES")
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "pcaps"
    if not path.is_dir():
        message = f"captures directory {path} not found (set PANA_CAPTURES)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def capture_path(name: str) -> Path:
    """One capture by file name; fail under CI when missing, skip otherwise."""
    path = captures_dir() / name
    if not path.is_file():
        message = f"capture {path} not found"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def load_expected(name: str) -> dict[str, Any]:
    """The facts of ``interop/expected/<name>.toml`` (name without the capture's extension)."""
    stem = name.rsplit(".", 1)[0]
    with (EXPECTED_DIR / f"{stem}.toml").open("rb") as f:
        return tomllib.load(f)

"""The OpenPANA EAP-TLS capture for tests: stored EAP-TLS data, the captures directory, its key."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests.realcomponents import missing

__all__ = ["VECTORS", "capture_server_key", "captures_dir", "load_blocks"]

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "openpana-eaptls-handshakes.txt"


def load_blocks(path: Path) -> dict[str, bytes]:
    """'== name' blocks of hex lines; '#' starts a comment."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("=="):
            current = blocks.setdefault(line[2:].strip(), [])
        elif line and current is not None:
            current.append(line)
    return {k: bytes.fromhex("".join(v)) for k, v in blocks.items()}


def captures_dir() -> Path | None:
    """$PANA_CAPTURES, else shared/pcaps next to the repository or one of its parents."""
    env = os.environ.get("PANA_CAPTURES")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents[3:]:
        cand = parent / "shared" / "pcaps"
        if cand.is_dir():
            return cand
    return None


def capture_server_key() -> rsa.RSAPrivateKey:
    d = captures_dir()
    path = None if d is None else d / "keys" / "openpana-eaptls" / "server.key"
    if path is None or not path.is_file():
        missing("the captures in ../shared/pcaps (set PANA_CAPTURES)")
    key = load_pem_private_key(path.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key

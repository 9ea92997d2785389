"""Test helpers for EAP: vector files, scripted randomness, an in-memory peer/authenticator link."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eap.authenticator import AuthOutput, EapAuthenticator
from eap.peer import EapPeer, EapResult

__all__ = ["Conversation", "ScriptedRng", "converse", "load_vectors", "seeded_rng"]

_VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def load_vectors(name: str) -> dict[str, bytes]:
    """``name = hex`` lines of tests/vectors/<name>; '#' comments; indented lines continue."""
    out: dict[str, bytes] = {}
    key: str | None = None
    for raw in (_VECTORS / name).read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if line[0].isspace():
            assert key is not None
            out[key] += bytes.fromhex(line.strip())
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        out[key] = bytes.fromhex(value.strip())
    return out


class ScriptedRng:
    """rng(n) handing out fixed byte strings in order (known-answer tests)."""

    def __init__(self, *chunks: bytes) -> None:
        self._chunks = list(chunks)

    def __call__(self, n: int) -> bytes:
        chunk = self._chunks.pop(0)
        assert len(chunk) == n, (len(chunk), n)
        return chunk


def seeded_rng(seed: int) -> Callable[[int], bytes]:
    """Deterministic rng(n) from a seeded random.Random."""
    return random.Random(seed).randbytes


@dataclass
class Conversation:
    """Everything that crossed the in-memory link."""

    requests: list[bytes] = field(default_factory=list)
    responses: list[bytes] = field(default_factory=list)
    auth_result: EapResult | None = None
    peer_result: EapResult | None = None
    final: bytes | None = None


def converse(peer: EapPeer, auth: EapAuthenticator, max_rounds: int = 40) -> Conversation:
    """Run a whole conversation: start(), then requests to the peer and responses back."""
    conv = Conversation()
    out: AuthOutput = auth.start()
    for _ in range(max_rounds):
        assert out.packet is not None, "authenticator produced nothing to send"
        if out.result is not None:
            conv.auth_result = out.result
            conv.final = out.packet
            conv.peer_result = peer.receive(out.packet).result
            return conv
        conv.requests.append(out.packet)
        reply = peer.receive(out.packet)
        if reply.response is None:
            conv.peer_result = reply.result
            return conv
        conv.responses.append(reply.response)
        out = auth.receive(reply.response)
    raise AssertionError("conversation did not end")

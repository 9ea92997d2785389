"""What the non-codec targets share: deterministic randomness, recorded exchanges, error capture.

A stateful target (an EAP conversation, a PANA session) replays a recorded exchange up to step
``k`` and then hands the fuzzed bytes to the receiver of step ``k``; its seeds are the recorded
messages themselves, prefixed with their step, so mutations start from valid traffic in the state
that expects it. Code that catches every exception to keep a peer's datagram from raising (the
PAA, ``EapPeer``) logs it at ERROR with a traceback: such a record is a finding too.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence

from ..registry import check

__all__ = ["Rng", "errors_logged", "fixed_rng", "no_errors_logged", "split_step", "step_seeds"]

logger = logging.getLogger(__name__)

Rng = Callable[[int], bytes]


def fixed_rng(label: bytes) -> Rng:
    """A deterministic ``Rng`` (SHA-256 in counter mode): the same exchange on every run."""
    counter = 0

    def rng(n: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < n:
            counter += 1
            out += hashlib.sha256(label + counter.to_bytes(8, "big")).digest()
        return out[:n]

    return rng


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def errors_logged() -> Iterator[list[logging.LogRecord]]:
    """The ERROR (and worse) records logged anywhere while the block runs."""
    handler = _Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)


@contextlib.contextmanager
def no_errors_logged(what: str) -> Iterator[None]:
    """A Finding when the block logs an ERROR (an internal error caught and logged)."""
    with errors_logged() as records:
        yield
    if records:
        first = records[0]
        check(False, f"{what} logged an error: {first.getMessage()} ({first.exc_info!r})")


def split_step(data: bytes, steps: int) -> tuple[int, bytes]:
    """(step index, payload) from a fuzz input: its first octet picks one of ``steps`` steps."""
    if not data or steps <= 0:
        return 0, b""
    return data[0] % steps, data[1:]


def step_seeds(messages: Sequence[bytes]) -> tuple[bytes, ...]:
    """One seed per recorded message: its step index, then the message."""
    return tuple(bytes([i]) + m for i, m in enumerate(messages))

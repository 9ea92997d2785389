"""Hypothesis strategies over a target's inputs: random bytes and mutated seeds."""

from __future__ import annotations

import logging

from hypothesis import strategies as st

from .registry import Target

__all__ = ["inputs", "mutated"]

logger = logging.getLogger(__name__)


@st.composite
def mutated(draw: st.DrawFn, seeds: tuple[bytes, ...], max_size: int) -> bytes:
    """A seed with a few octets set, inserted, deleted, cut off, appended, or repeated."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["set", "insert", "delete", "cut", "append", "repeat"]))
        at = draw(st.integers(0, len(data))) if data else 0
        if kind == "set" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and at < len(data):
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "cut":
            del data[at:]
        elif kind == "repeat" and at < len(data):
            end = min(len(data), at + draw(st.integers(1, 16)))
            data[at:at] = data[at:end] * draw(st.integers(1, 8))
        else:
            data += draw(st.binary(min_size=1, max_size=8))
    return bytes(data[:max_size])


def inputs(target: Target, seeds: tuple[bytes, ...] | None = None) -> st.SearchStrategy[bytes]:
    """Random bytes, seeds as they are, and mutated seeds (when the target has seeds)."""
    seeds = tuple(target.seeds()) if seeds is None else seeds
    anything = st.binary(max_size=min(512, target.max_size))
    if not seeds:
        return anything
    return st.one_of(anything, st.sampled_from(seeds), mutated(seeds, target.max_size))

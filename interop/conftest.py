"""Interop fixtures: the shared captures, read and decoded with the ``pana-mpa decode`` reader."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from pana_mpa.cli.capture import read_pana
from pana_mpa.cli.decode import DecodedDatagram, decode_datagrams

from .locate import capture_path, load_expected


@functools.cache
def _decode(name: str, dialect: str) -> tuple[DecodedDatagram, ...]:
    ports = tuple(load_expected(name)["ports"])
    return tuple(decode_datagrams(read_pana(capture_path(name), ports), dialect))


@pytest.fixture
def decoded_capture() -> Callable[[str, str], tuple[DecodedDatagram, ...]]:
    """decoded_capture(name, dialect): every PANA datagram of one capture, decoded (cached)."""

    def get(name: str, dialect: str) -> tuple[DecodedDatagram, ...]:
        capture_path(name)  # fail under CI / skip here before touching the cache
        return _decode(name, dialect)

    return get

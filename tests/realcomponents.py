"""Real external components (tshark, hostapd, ...): skip locally when absent, fail under CI=true."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

import pytest

__all__ = [
    "IN_CI",
    "interruptible",
    "linux_only",
    "missing",
    "need_binary",
    "need_module",
    "need_root",
]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="Linux only (epoll, SO_REUSEPORT, classic BPF)"
)
"""A platform, not a missing component: CI (Debian) never skips it."""


def missing(what: str) -> NoReturn:
    """A real component the test needs is absent: fail under CI=true, skip otherwise."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true (README command 2 installs it)")
    pytest.skip(f"{what} not available")


_missing = missing


def need_binary(name: str) -> str:
    """Absolute path of a program the test needs; fail under CI when absent, else skip."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if path is None:
        _missing(f"program {name!r}")
        raise AssertionError("unreachable")
    return path


def need_root() -> None:
    """Require root (namespaces, TUN, raw sockets); fail under CI when not root, else skip."""
    if os.geteuid() != 0:
        _missing("root privileges")


def need_module(name: str) -> ModuleType:
    """An optional Python module the test needs (an extra of [test]); fail under CI when absent."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"Python module {name} (pip install -e '.[test]')")


_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


def interruptible(cmd: Sequence[str]) -> list[str]:
    """``cmd`` started with SIGINT at its default action, for tests that stop it with Ctrl-C.

    A process inherits an *ignored* SIGINT across exec: pytest started in the background of a
    shell without job control (``cmd &``, nohup, some CI runners) passes SIG_IGN on, and then a
    Python program never installs its KeyboardInterrupt handler, so the test's SIGINT is lost
    and the child runs on. Resetting the disposition here (not in a preexec_fn: the test process
    has threads) makes the test independent of how pytest was started.
    """
    return [sys.executable, "-c", _DEFAULT_SIGINT, *cmd]

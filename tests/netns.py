"""Network namespaces for tests: created with a unique pana- prefix, always removed."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
from collections.abc import Iterator

from tests.realcomponents import need_binary, need_root

__all__ = ["Lab", "lab", "socket_in"]


def _run(*args: str) -> str:
    res = subprocess.run(args, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


class Lab:
    """A set of namespaces (and their veths) belonging to one test."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def ns(self, role: str) -> str:
        """Create namespace pana-<tag>-<role> with lo up; return its name."""
        name = f"pana-{self.tag}-{role}"
        _run("ip", "netns", "add", name)
        self.namespaces.append(name)
        _run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def veth(self, a: str, a_if: str, b: str, b_if: str) -> None:
        """A veth pair with one end in each namespace, both up."""
        tmp_a, tmp_b = f"v{self.tag}{a_if}"[:15], f"v{self.tag}{b_if}"[:15]
        _run("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        _run("ip", "link", "set", tmp_a, "netns", a, "name", a_if)
        _run("ip", "link", "set", tmp_b, "netns", b, "name", b_if)
        _run("ip", "-n", a, "link", "set", a_if, "up")
        _run("ip", "-n", b, "link", "set", b_if, "up")

    def ip(self, ns: str, *args: str) -> str:
        """Run ``ip -n ns ARGS``."""
        return _run("ip", "-n", ns, *args)

    def exec(self, ns: str, *args: str) -> str:
        """Run a command inside the namespace and return its stdout."""
        return _run("ip", "netns", "exec", ns, *args)

    def spawn(self, ns: str, *args: str, **kw: object) -> subprocess.Popen[bytes]:
        """Start a process inside the namespace; it is killed at teardown."""
        p = subprocess.Popen(["ip", "netns", "exec", ns, *args], **kw)  # type: ignore[call-overload]
        self.procs.append(p)
        return p  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop every process, then delete every namespace."""
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@contextlib.contextmanager
def lab() -> Iterator[Lab]:
    """A Lab that is torn down even when the test fails."""
    need_root()
    need_binary("ip")
    the_lab = Lab()
    try:
        yield the_lab
    finally:
        the_lab.close()


def socket_in(ns: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket created inside namespace ``ns`` (it stays there when this thread returns)."""
    from pyroute2 import netns as pr_netns

    pr_netns.pushns(ns)
    try:
        return socket.socket(family, kind, proto)
    finally:
        pr_netns.popns()
        assert os.path.exists("/proc/self/ns/net")

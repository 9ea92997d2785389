"""The public API: the star imports of pana_mpa and eap give exactly the documented names."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from pathlib import Path
from types import ModuleType

import pytest

PANA_MPA = {
    # sessions and their settings
    "PacSession", "PaaServer", "PaaSession", "PacConfig", "PaaConfig", "TimerParameters",
    "User", "user_table", "PanaRelay",
    # events
    "PanaEvent", "SessionStarted", "Authenticated", "Reauthenticated", "AuthenticationFailed",
    "PingAnswered", "SessionTerminated", "PeerAddressChanged", "PreAuthSwitched",
    # errors and AVP values
    "PanaError", "UsageError", "ResultCode", "TerminationCause",
    # I/O: transports, asyncio runners, virtual time
    "Transport", "TransportClosed", "UdpTransport", "LoopbackNetwork", "LoopbackTransport",
    "run_virtual", "PacClient", "serve_paa", "drive", "ClientError", "AaaBackend", "VirtualNet",
    "AuthenticationRejected", "NoAnswer", "SessionEnded", "ClientClosed",
    "PANA_PORT", "Address", "parse_address", "format_address", "PaaRunner",
    # traces
    "Trace", "NullTrace", "NULL_TRACE", "MemoryTrace", "JsonLinesTrace",
}  # fmt: skip
EAP = {
    "EapPeer", "EapAuthenticator", "EapServer", "EapResult", "PeerOutput", "AuthOutput",
    "MethodPolicy", "KeyMaterial", "Secret",
    "AuthMethod", "PeerMethod", "AuthStep", "MethodStep",
    "PskPeer", "PskServer", "GpskPeer", "GpskServer", "Md5Peer", "Md5Server",
    "TlsPeer", "TlsServer", "TlsVersion",
    "RadiusConfig", "RadiusPassThrough", "RadiusError",
}  # fmt: skip


def _star(module: str) -> set[str]:
    namespace: dict[str, object] = {}
    exec(f"from {module} import *", namespace)  # noqa: S102 - the star import under test
    return set(namespace) - {"__builtins__"}


@pytest.mark.parametrize(("module", "expected"), [("pana_mpa", PANA_MPA), ("eap", EAP)])
def test_star_import_gives_exactly_the_public_api(module: str, expected: set[str]) -> None:
    assert _star(module) == expected
    assert len(importlib.import_module(module).__all__) == len(expected)  # no duplicates


def _attribute_docstrings(module: ModuleType) -> dict[str, str]:
    """Module-level ``NAME = value`` followed by a string literal (the attribute docstring)."""
    tree = ast.parse(Path(inspect.getfile(module)).read_text(encoding="utf-8"))
    docs: dict[str, str] = {}
    for node, after in zip(tree.body, tree.body[1:], strict=False):
        target = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        elif isinstance(node, ast.AnnAssign):
            target = node.target
        if (
            isinstance(target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[target.id] = after.value.value
    return docs


def _doc(package: str, name: str) -> str | None:
    obj = getattr(importlib.import_module(package), name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    # constants and type aliases: the docstring under their assignment, in the defining module
    for module in list(sys.modules.values()):
        if module is None or not module.__name__.startswith(package + "."):
            continue
        if getattr(module, name, None) is obj and name in (docs := _attribute_docstrings(module)):
            return docs[name]
    return None


@pytest.mark.parametrize(
    ("package", "name"),
    [("pana_mpa", n) for n in sorted(PANA_MPA)] + [("eap", n) for n in sorted(EAP)],
)
def test_every_public_name_is_documented(package: str, name: str) -> None:
    doc = _doc(package, name)
    assert doc, f"{package}.{name} has no docstring"
    summary = doc.strip().splitlines()[0]
    assert summary and summary == summary.strip(), f"{package}.{name}: no one-line summary"

"""Find key material in text: every Secret reachable from an object, and the forms it may take."""

from __future__ import annotations

import base64
import gc
import re
from collections.abc import Iterable
from typing import Any

from eap.keys import Secret

__all__ = ["LeakScanner", "secrets_in"]

_WINDOW = 8
"""Octets of a key whose appearance counts as a leak (a partial key is a leak too)."""


def secrets_in(*roots: object, depth: int = 6) -> list[bytes]:
    """The bytes of every Secret reachable from ``roots`` through attributes and containers."""
    found: dict[int, bytes] = {}
    seen: set[int] = set()

    def walk(obj: object, level: int) -> None:
        if id(obj) in seen or level > depth:
            return
        seen.add(id(obj))
        if isinstance(obj, Secret):
            found[id(obj)] = obj.reveal()
            return
        if isinstance(obj, str | bytes | bytearray | int | float | bool | type(None)):
            return
        if isinstance(obj, dict):
            for k, v in list(obj.items()):
                walk(k, level + 1)
                walk(v, level + 1)
            return
        if isinstance(obj, list | tuple | set | frozenset):
            for v in list(obj):
                walk(v, level + 1)
            return
        attrs: dict[str, Any] = {}
        if hasattr(obj, "__dict__"):
            attrs.update(vars(obj))
        for cls in type(obj).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if isinstance(name, str) and hasattr(obj, name):
                    attrs[name] = getattr(obj, name)
        for v in attrs.values():
            if callable(v) and not hasattr(v, "__dict__"):
                continue
            walk(v, level + 1)
        # closures (lookup functions, method factories) hold keys too
        closure = getattr(obj, "__closure__", None)
        for cell in closure or ():
            walk(cell.cell_contents, level + 1)

    for root in roots:
        walk(root, 0)
    return [b for b in found.values() if len(b) >= _WINDOW]


_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})|\\([nrt\\'\"])")
_HEX_RUN = re.compile(r"[0-9a-fA-F:]{16,}")
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}")
_B64_WINDOW = 8  # 8 base64 characters = 6 octets, aligned to a 4-character group


def _unescape(text: str) -> bytes:
    """``text`` as octets, with repr()'s escapes (\\xNN, \\n, ...) turned back into octets."""

    def one(m: re.Match[str]) -> str:
        if m[1] is not None:
            return chr(int(m[1], 16))
        return {"n": "\n", "r": "\r", "t": "\t"}.get(m[2], m[2])

    return _ESCAPE.sub(one, text).encode("latin-1", errors="replace")


class LeakScanner:
    """Holds the keys of a scenario; ``leaks(texts)`` says which texts show one.

    Any 8-octet window of a key counts, raw (also inside a bytes repr), as hex (either case,
    colons allowed) or base64 (standard or URL-safe, at any octet alignment).
    """

    def __init__(self, keys: Iterable[bytes]) -> None:
        self.keys: set[bytes] = set()
        self._raw: set[bytes] = set()
        self._hex: set[str] = set()
        self._b64: set[str] = set()
        self.add(keys)

    def add(self, keys: Iterable[bytes]) -> None:
        """Watch these keys too."""
        for key in keys:
            if len(key) < _WINDOW or key in self.keys:
                continue
            self.keys.add(key)
            for i in range(len(key) - _WINDOW + 1):
                w = key[i : i + _WINDOW]
                self._raw.add(w)
                self._hex.add(w.hex())
            for shift in range(3):
                for enc in (base64.b64encode(key[shift:]), base64.urlsafe_b64encode(key[shift:])):
                    text = enc.decode()
                    for i in range(0, len(text) - _B64_WINDOW, 4):
                        self._b64.add(text[i : i + _B64_WINDOW])

    def leaks(self, texts: Iterable[str]) -> list[tuple[str, str]]:
        """(kind, the text cut to 120 characters) for each text that shows a key."""
        out: list[tuple[str, str]] = []
        for text in texts:
            kind = self._find(text)
            if kind is not None:
                out.append((kind, text[:120]))
        return out

    def _find(self, text: str) -> str | None:
        raw = _unescape(text)
        if any(raw[i : i + _WINDOW] in self._raw for i in range(len(raw) - _WINDOW + 1)):
            return "raw"
        for m in _HEX_RUN.finditer(text):
            run = m[0].replace(":", "").lower()
            if any(run[i : i + 2 * _WINDOW] in self._hex for i in range(len(run) - 15)):
                return "hex"
        for m in _B64_RUN.finditer(text):
            run = m[0]
            if any(run[i : i + _B64_WINDOW] in self._b64 for i in range(len(run) - 7)):
                return "base64"
        return None


def all_reprs(*objs: object) -> list[str]:
    """repr() and str() of each object and of every object it references (one level)."""
    out: list[str] = []
    for obj in objs:
        out += [repr(obj), str(obj)]
        for ref in gc.get_referents(obj):
            if isinstance(ref, dict):
                out += [repr(v) for v in ref.values() if not isinstance(v, bytes)]
    return out

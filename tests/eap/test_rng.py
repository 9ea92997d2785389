"""eap.rng: the one randomness source, and no `os` in the EAP core."""

from __future__ import annotations

import ast
from pathlib import Path

import eap.methods
import eap.methods.base
from eap.rng import Rng, system_rng

_EAP = Path(eap.__file__).resolve().parent


def test_system_rng_gives_n_fresh_octets() -> None:
    assert len(system_rng(16)) == 16
    assert system_rng(0) == b""
    assert system_rng(16) != system_rng(16)


def test_one_rng_type() -> None:
    assert eap.methods.base.Rng is Rng
    assert eap.methods.Rng is Rng


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_modules_do_not_import_os() -> None:
    offenders = [
        str(path.relative_to(_EAP))
        for path in sorted(_EAP.rglob("*.py"))
        if "aaa" not in path.parts and "os" in _imports(path)  # eap.aaa: RADIUS I/O
    ]
    assert offenders == []

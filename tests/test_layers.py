"""The architecture as a test: three layers, imports only point down (docs/architecture.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pana_codecs", "eap", "pana_mpa")

# Layer of a module, by the longest matching prefix: 0 = sans-IO core, 1 = runtime, 2 = tools.
LAYERS = {
    "pana_codecs": 0,
    "eap": 0,
    "pana_mpa": 0,
    "eap.aaa": 1,
    "pana_mpa.aio": 1,
    "pana_mpa.mpa.drivers": 1,
    "pana_mpa.cli": 2,
    "pana_mpa.__main__": 2,
}
# Order of the packages inside each layer: pana_codecs <- eap <- pana_mpa.
PACKAGE_RANK = {"pana_codecs": 0, "eap": 1, "pana_mpa": 2}

# What the sans-IO core never imports: I/O, clocks, ambient randomness, processes, the kernel.
BANNED_IN_CORE = {
    "asyncio",
    "concurrent",
    "fcntl",
    "multiprocessing",
    "os",
    "pyroute2",
    "random",
    "selectors",
    "signal",
    "socket",
    "subprocess",
    "threading",
    "time",
}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.append((".".join(parts), path))
    return found


def layer_of(module: str) -> int:
    """The layer of a dotted module name (longest prefix in LAYERS)."""
    best, layer = "", 0
    for prefix, value in LAYERS.items():
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best, layer = prefix, value
    return layer


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import executed at run time (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".")
                    if not is_package:
                        base = base[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                found.append((child.lineno, target))
                # "from . import crypto" imports a submodule
                if child.level or target.split(".")[0] in PACKAGES:
                    found.extend((child.lineno, f"{target}.{a.name}") for a in child.names)
            visit(child)

    visit(tree)
    return found


def _ours(target: str) -> bool:
    return target.split(".")[0] in PACKAGES


def _existing(target: str) -> bool:
    rel = Path(*target.split("."))
    return (ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()


def violations() -> list[str]:
    """Every import that points up a layer or into a higher package, or I/O in the core."""
    problems = []
    for module, path in _modules():
        layer = layer_of(module)
        rank = PACKAGE_RANK[module.split(".")[0]]
        for line, target in imports_of(module, path):
            where = f"{path.relative_to(ROOT)}:{line}"
            top = target.split(".")[0]
            if layer == 0 and top in BANNED_IN_CORE:
                problems.append(f"{where}: sans-IO module {module} imports {target}")
            if not _ours(target) or not _existing(target):
                continue
            if layer_of(target) > layer:
                problems.append(f"{where}: {module} (layer {layer}) imports {target} (higher)")
            if PACKAGE_RANK[top] > rank:
                problems.append(f"{where}: {module} imports {target} (a package above it)")
    return problems


def test_imports_point_down() -> None:
    assert violations() == []


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import asyncio\nfrom ..aio import driver\nif TYPE_CHECKING:\n    import socket\n"
    )
    found = [t for _, t in imports_of("pana_mpa.mpa.bad", bad)]
    assert "asyncio" in found and "pana_mpa.aio.driver" in found and "socket" not in found
    assert layer_of("pana_mpa.aio.driver") == 1 and layer_of("pana_mpa.mpa.drivers.agent") == 1
    assert layer_of("pana_mpa.cli.peers") == 2 and layer_of("pana_mpa.paa") == 0


@pytest.mark.parametrize("package", ["pana_codecs", "eap", "pana_mpa", "pana_mpa.mpa"])
def test_importing_the_core_loads_no_runtime(package: str) -> None:
    code = (
        f"import sys, {package}\n"
        "bad = sorted(m for m in ('asyncio', 'pana_mpa.aio', 'pana_mpa.cli', 'eap.aaa',"
        " 'pana_mpa.mpa.drivers') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    ("package", "name"),
    [
        ("pana_mpa", "PacClient"),
        ("pana_mpa", "UdpTransport"),
        ("eap", "RadiusPassThrough"),
        ("pana_mpa.mpa", "MpaController"),
        ("pana_mpa.mpa", "MpaAgent"),
    ],
)
def test_lazy_names_resolve(package: str, name: str) -> None:
    import importlib

    assert getattr(importlib.import_module(package), name) is not None

"""Packaging: metadata, pins with reasons, extras matching the imports, an sdist whose tests run."""

from __future__ import annotations

import ast
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pana_mpa

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LIBRARY = ("pana_codecs", "eap", "pana_mpa")

# third-party module -> the requirement that provides it
PROVIDERS = {
    "construct": "construct",
    "cryptography": "cryptography",
    "scapy": "scapy",
    "OpenSSL": "pyOpenSSL",
    "pyroute2": "pyroute2",
    "matplotlib": "matplotlib",
    "uvloop": "uvloop",
}


def _requirement_names(items: list[str]) -> set[str]:
    names = set()
    for item in items:
        name = item.split(";")[0].split("[")[0]
        for sep in "<>=!~ ":
            name = name.split(sep)[0]
        names.add(name)
    return names


def test_metadata() -> None:
    project = PYPROJECT["project"]
    assert "Typing :: Typed" in project["classifiers"]
    assert "License :: " not in " ".join(project["classifiers"])  # the SPDX field says it
    assert project["license"] == "BSD-3-Clause"
    assert project["dynamic"] == ["version"]
    assert PYPROJECT["build-system"]["requires"] == ["setuptools>=77"]  # PEP 639 license field
    for url in project.get("urls", {}).values():
        assert "example" not in url and "TODO" not in url  # no placeholders


def test_no_exact_pins_without_a_reason() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(text):
        if "==" in line and line.strip().startswith('"'):
            assert text[number - 1].strip().startswith("#"), f"pyproject.toml:{number + 1}"


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level modules imported by the library (not stdlib, not ours) -> importing files."""
    found: dict[str, set[str]] = {}
    for package in LIBRARY:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in LIBRARY:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_extras_match_the_imports() -> None:
    project = PYPROJECT["project"]
    core = _requirement_names(project["dependencies"])
    extras = project["optional-dependencies"]
    offered = core | {n for k, v in extras.items() if k != "test" for n in _requirement_names(v)}
    imported = _third_party_imports()
    for module, files in imported.items():
        assert module in PROVIDERS, f"{module} imported by {sorted(files)}: which requirement?"
        assert PROVIDERS[module] in offered, f"{module}: no extra provides it"
    assert "pyrad" not in imported  # a test's reference only
    assert "pyrad" not in offered and "pyrad" in _requirement_names(extras["test"])
    unused = (offered - core) - {PROVIDERS[m] for m in imported}
    assert not unused, f"extras install packages the library never imports: {unused}"


def test_version_is_written_once() -> None:
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "pana_mpa._version.__version__"
    }
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {pana_mpa.__version__} " in changelog


def test_docs_cited_by_docstrings_are_shipped() -> None:
    """Docstrings say docs/NAME.md: each exists and is installed (data-files) and in the sdist."""
    shipped = PYPROJECT["tool"]["setuptools"]["data-files"]["share/doc/pana-mpa"]
    assert "docs/*.md" in shipped
    for package in LIBRARY:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for part in text.split("docs/")[1:]:
                name = part.split(".md")[0]
                if name.replace("-", "").replace("_", "").isalnum():
                    assert (ROOT / "docs" / f"{name}.md").is_file(), f"{path}: docs/{name}.md"


def test_sdist_carries_tests_and_docs_and_its_tests_run(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    (sdist,) = tmp_path.glob("pana_mpa-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        tar.extractall(tmp_path, filter="data")
    for needed in ("CHANGELOG.md", "docs/contracts.md", "docs/architecture.md", "tests/conftest.py",
                   "interop/conftest.py", "examples/pac.py", "MANIFEST.in"):  # fmt: skip
        assert needed in names, needed
    assert any(name.startswith("tests/vectors/") for name in names)
    assert not any("__pycache__" in name or name.startswith(".venv") for name in names)
    unpacked = tmp_path / sdist.name.removesuffix(".tar.gz")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_layers.py",
         "tests/pana_codecs/test_pana.py", "tests/pana_mpa/test_examples.py",
         "-k", "not as_programs and not wrong_psk"],
        cwd=unpacked, capture_output=True, text=True, timeout=600, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
    where = subprocess.run(
        [sys.executable, "-c", "import pana_mpa; print(pana_mpa.__file__)"],
        cwd=unpacked, capture_output=True, text=True, timeout=60, check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(unpacked)},
    ).stdout  # fmt: skip
    assert where.startswith(str(unpacked))

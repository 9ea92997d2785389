"""A plain ``pip install .`` with the newest ``cryptography``: quiet imports, a quiet demo.

The test extra pins what pyOpenSSL accepts, so the suite's own venv may hold an older
cryptography; a user who installs only the package gets the newest one. This builds that venv
(from PyPI, like README command 1) and runs the imports and both demos under ``-W error``.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.realcomponents import missing

ROOT = Path(__file__).resolve().parent.parent


def _run(*argv: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.install
def test_plain_install_with_the_newest_cryptography_is_quiet(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    pip = _run(py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
               "--upgrade", str(ROOT), "cryptography")  # fmt: skip
    if pip.returncode != 0:
        missing(f"pip install from the package index ({pip.stderr.strip()[-300:]})")
    newest = _run(py, "-m", "pip", "index", "versions", "cryptography")
    have = _run(py, "-c", "import cryptography; print(cryptography.__version__)").stdout.strip()
    if newest.returncode == 0 and "(" in newest.stdout:
        latest = newest.stdout.split("(", 1)[1].split(")", 1)[0]
        assert have == latest, f"installed cryptography {have}, newest {latest}"
    code = (
        "import pana_codecs, eap, pana_mpa, pana_mpa.mpa, eap.registry\n"
        "import sys; assert 'OpenSSL' not in sys.modules, 'TLS loaded eagerly'"
    )
    imports = _run(py, "-W", "error", "-c", code)
    assert imports.returncode == 0, imports.stderr
    for args in (["demo"], ["demo", "--mpa"]):
        demo = _run(py, "-W", "error", "-m", "pana_mpa", *args, timeout=120)
        assert demo.returncode == 0, demo.stderr
        assert demo.stderr == "", demo.stderr
    assert sys.version_info >= (3, 11)

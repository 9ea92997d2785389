"""The README's library example runs as written (on a free loopback port)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ports import free_udp_ports

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.udp
def test_readme_example_authenticates_pings_and_terminates(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 1
    script = tmp_path / "example.py"
    script.write_text(blocks[0].replace("20716", str(free_udp_ports())), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split("(")[0] for line in lines] == [
        "Authenticated", "PingAnswered", "SessionTerminated",
    ]  # fmt: skip
    assert "msk=Secret(<64 bytes>)" in lines[0]

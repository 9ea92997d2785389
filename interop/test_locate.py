"""The captures locator: $PANA_CAPTURES, and fail (not skip) under CI when captures are missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop import locate


def test_env_var_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PANA_CAPTURES", str(tmp_path))
    assert locate.captures_dir() == tmp_path


@pytest.mark.parametrize(
    ("in_ci", "outcome"), [(True, pytest.fail.Exception), (False, pytest.skip.Exception)]
)
def test_missing_captures_fail_under_ci_and_skip_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, in_ci: bool, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("PANA_CAPTURES", str(tmp_path / "absent"))
    monkeypatch.setattr(locate, "IN_CI", in_ci)
    with pytest.raises(outcome):
        locate.captures_dir()
    monkeypatch.setenv("PANA_CAPTURES", str(tmp_path))
    with pytest.raises(outcome):
        locate.capture_path("openpana-loopback.pcapng")


def test_every_capture_has_an_expected_file() -> None:
    names = {p.stem for p in locate.EXPECTED_DIR.glob("*.toml")}
    assert names == {n.rsplit(".", 1)[0] for n in locate.CAPTURE_NAMES}
    for name in locate.CAPTURE_NAMES:
        assert locate.load_expected(name)["capture"] == name


@pytest.mark.interop
def test_every_capture_in_the_directory_is_listed() -> None:
    found = {
        p.name for p in locate.captures_dir().iterdir() if p.suffix in (".cap", ".pcap", ".pcapng")
    }
    assert found == set(locate.CAPTURE_NAMES)

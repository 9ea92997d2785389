"""``pana-mpa decode --verify`` on the captures: the README's AUTH results; no key material out."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from eap.keys import Secret
from pana_mpa.cli import main
from tests.traces import trace_records

from .locate import CAPTURE_NAMES, capture_path, captures_dir, load_expected

pytestmark = pytest.mark.interop

CASES = [
    pytest.param(name, spec, id=f"{name}-{i}")
    for name in CAPTURE_NAMES
    for i, spec in enumerate(load_expected(name).get("verify", []))
]


def run_verify(
    capsys: pytest.CaptureFixture[str], name: str, spec: dict[str, Any]
) -> tuple[list[dict[str, Any]], str]:
    argv = ["decode", "--json", "--verify", "--dialect", spec.get("dialect", "rfc5191")]
    if "secret" in spec:
        argv += ["--secret", spec["secret"]]
    for msk in spec.get("msk_hex", []):
        argv += ["--msk-hex", msk]
    if "tls_server_key" in spec:
        argv += ["--tls-server-key", str(captures_dir() / spec["tls_server_key"])]
    if "msk_text" in spec:
        argv += ["--msk-hex", spec["msk_text"].encode().hex()]
    if "identity" in spec:
        argv += ["--identity", spec["identity"]]
    if "label" in spec:
        argv += ["--auth-label", spec["label"]]
    for port in load_expected(name)["ports"]:
        argv += ["--port", str(port)]
    rc = main([*argv, str(capture_path(name))])
    out = capsys.readouterr()
    objs = trace_records(out.out, "decode")
    # --verify is a check: 0 only when every AUTH verified (docs: decode --verify exit status)
    judged = {o["auth"] for o in objs} - {None, "absent"}
    assert rc == (0 if judged <= {"verified"} else 1), (rc, judged)
    return objs, out.err


@pytest.mark.parametrize(("name", "spec"), CASES)
def test_auth_verdicts(capsys: pytest.CaptureFixture[str], name: str, spec: dict[str, Any]) -> None:
    objs, err = run_verify(capsys, name, spec)
    verdicts = [o["auth"] for o in objs if o["auth"] not in (None, "absent")]
    counts = {v: verdicts.count(v) for v in set(verdicts)}
    assert counts == spec["counts"]
    # Messages without an AUTH AVP are "absent" (null only when undecodable); every AUTH AVP gets
    # a verdict.
    for o in objs:
        has_auth = any(a["code"] == 1 and a["vendor_id"] is None for a in o["avps"] or [])
        assert (o["auth"] not in (None, "absent")) == has_auth, o["frame"]
        assert o["auth"] is not None or o["error"] is not None, o["frame"]
    if "previous_key_frames" in spec:
        noted = [o["frame"] for o in objs if "previous PANA_AUTH_KEY" in (o["auth_note"] or "")]
        assert noted == spec["previous_key_frames"]
    if "note" in spec:  # the deviation assumed (or detected) is named on every AUTH verdict
        assert all(spec["note"] in (o["auth_note"] or "") for o in objs
                   if o["auth"] not in (None, "absent"))  # fmt: skip
    assert err.startswith("pana-mpa decode: AUTH verdicts: ")
    everything = (json.dumps(objs) + err).lower()
    for secret in [spec.get("secret"), spec.get("msk_text"), *spec.get("msk_hex", [])]:
        if secret:
            assert secret.lower() not in everything
            assert secret.encode().hex() not in everything
            assert secret[:16].lower() not in everything


def test_identity_filter_excludes_other_peers(capsys: pytest.CaptureFixture[str]) -> None:
    name = "openpana-loopback.pcapng"
    spec = {"secret": "SecretPassphrase", "identity": "someone-else"}
    objs, _ = run_verify(capsys, name, spec)
    assert {o["auth"] for o in objs if o["auth"] not in (None, "absent")} == {"unverifiable"}


def test_debug_logs_carry_no_key_material(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    name = "openpana-loopback.pcapng"
    msk = load_expected(name)["verify"][2]["msk_hex"][0]
    with caplog.at_level(logging.DEBUG):
        run_verify(capsys, name, {"secret": "SecretPassphrase", "counts": {}})
        run_verify(capsys, name, {"secret": "WrongPassphrase!", "counts": {}})
        run_verify(capsys, name, {"msk_hex": [msk], "counts": {}})
    logs = "\n".join(r.getMessage() for r in caplog.records).lower()
    assert logs  # the verifier did log (e.g. "no EAP-PSK run verified")
    for secret in ("secretpassphrase", "wrongpassphrase!", msk, msk[:16], "70d0905d1a01b73d"):
        assert secret not in logs


def test_retransmitted_par_c_keeps_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    """A PAR[C] seen twice must not consume the next run's MSK nor roll the key over."""
    from pana_mpa.cli.capture import read_pana
    from pana_mpa.cli.decode import decode_datagrams
    from pana_mpa.cli.verify import AuthVerifier

    name = "openpana-loopback.pcapng"
    spec = load_expected(name)["verify"][2]
    datagrams = read_pana(capture_path(name))
    frame10 = next(d for d in datagrams if d.frame == 10)
    doubled = [*datagrams[:10], frame10, *datagrams[10:]]  # frame 10 retransmitted
    for verifier in (
        AuthVerifier(msks=[Secret(bytes.fromhex(h)) for h in spec["msk_hex"]]),
        AuthVerifier(psk=Secret(b"SecretPassphrase")),
    ):
        verdicts = [d.extra["auth"] for d in decode_datagrams(doubled, annotators=[verifier])]
        assert [v for v in verdicts if v not in (None, "absent")] == ["verified"] * 37


def test_wrong_secret_says_why_and_fails_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    name = "openpana-loopback.pcapng"
    objs, _ = run_verify(capsys, name, {"secret": "WrongPassphrase!"})
    judged = [o for o in objs if o["auth"] not in (None, "absent")]
    assert judged and all(o["auth"] == "unverifiable" for o in judged)
    assert all("wrong --secret?" in o["auth_note"] for o in judged)
    path = str(capture_path(name))
    base = ["decode", "--json", "--verify", "--secret", "WrongPassphrase!", path]
    assert main([*base[:-1], "--accept-unverifiable", path]) == 0
    assert main([*base[:-1], "--exit-zero", path]) == 0
    capsys.readouterr()


def test_missing_msk_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    name = "openpana-loopback.pcapng"
    msk = load_expected(name)["verify"][2]["msk_hex"][0]
    objs, _ = run_verify(capsys, name, {"msk_hex": [msk]})
    notes = {o["auth_note"] for o in objs if o["auth"] == "unverifiable"}
    assert any(n and "no MSK for EAP run 2 (--msk-hex gave 1)" in n for n in notes), notes

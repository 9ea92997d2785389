"""``pana-mpa`` behaves like the tools people know: --version, -v/-q, :PORT, '-', users files."""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import logging
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import pana_mpa
from eap.keys import Secret
from pana_mpa.address import parse_address
from pana_mpa.aio.loopback import run_virtual
from pana_mpa.cli import build_parser, log_level, main
from pana_mpa.cli.common import CliError, trace_file
from pana_mpa.cli.demo import PAA_ADDRESS, run_exchange
from pana_mpa.cli.options import PacOptions, paa_options
from pana_mpa.cli.paa import OperatorLog, build_paa
from pana_mpa.cli.pac import build_pac
from pana_mpa.cli.radius import options as radius_options
from pana_mpa.cli.users import Account, parse_users_file
from pana_mpa.flow import eap_text
from tests.traces import trace_records

ROOT = Path(__file__).resolve().parents[2]
SUBCOMMANDS = ("demo", "decode", "pac", "paa", "radius-server", "chart")


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_version_from_one_place(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"pana-mpa {pana_mpa.__version__}\n"
    assert importlib.metadata.version("pana-mpa") == pana_mpa.__version__


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_verbosity_before_and_after_every_subcommand(command: str) -> None:
    subparsers = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    help_text = subparsers.choices[command].format_help()
    assert "-v, --verbose" in help_text and "-q, --quiet" in help_text
    base = {
        "demo": [],
        "decode": ["x.pcap"],
        "pac": ["--paa", "127.0.0.1", "--identity", "a"],
        "paa": [],
        "radius-server": ["--client", "127.0.0.1:s"],
        "chart": ["x.pcap", "-o", "x.png"],
    }[command]
    assert log_level(_args("-v", command, *base, "-v")) == logging.DEBUG
    assert log_level(_args(command, *base, "-v")) == logging.INFO
    assert log_level(_args("-q", command, *base)) == logging.ERROR
    assert log_level(_args(command, *base, "-qq")) == logging.CRITICAL
    assert log_level(_args("-v", command, *base, "-q")) == logging.WARNING


def test_help_has_no_raw_markup() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for p in [parser, *subparsers.choices.values()]:
        text = p.format_help()
        assert "``" not in text and "::" not in text.replace("[::", ""), p.prog


@pytest.mark.parametrize(
    ("text", "address"),
    [
        (":31718", ("0.0.0.0", 31718)),  # the example: was 0.0.123.230:716
        (":0", ("0.0.0.0", 0)),
        ("[::]:716", ("::", 716)),
        ("[2001:db8::1]:10716", ("2001:db8::1", 10716)),
        ("fe80::1%lo", ("fe80::1%lo", 716)),
        ("[fe80::1%eth0]:716", ("fe80::1%eth0", 716)),
        ("192.0.2.1", ("192.0.2.1", 716)),
    ],
)
def test_address_forms(text: str, address: tuple[str, int]) -> None:
    assert parse_address(text) == address


def test_paa_listen_is_optional_and_offers_both_suites() -> None:
    opts = paa_options(_args("paa", "--user", "alice:SecretPassphrase"))
    assert opts.listen == ("0.0.0.0", 716)
    # SHA-256 preferred, RFC 5191's mandatory SHA-1 also offered (OpenPANA's PaC needs it)
    assert (opts.prf_algorithms, opts.integrity_algorithms) == ((5, 2), (12, 7))
    assert (opts.prf_algorithms, opts.integrity_algorithms) == (
        pana_mpa.PaaConfig().prf_algorithms,
        pana_mpa.PaaConfig().integrity_algorithms,
    )  # the library's defaults
    sha1 = paa_options(_args("paa", "--user", "a:SecretPassphrase", "--suite", "sha1"))
    assert (sha1.prf_algorithms, sha1.integrity_algorithms) == ((2,), (7,))
    listen = paa_options(_args("paa", "--user", "a:SecretPassphrase", "--listen", ":31718"))
    assert listen.listen == ("0.0.0.0", 31718)


def test_trace_dash_is_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    with trace_file(Path("-"), "pac") as trace:
        assert trace is not None
        trace.event(1.0, "test_event", size=3)
    records = trace_records(capsys.readouterr().out, "pac")
    assert [r["event"] for r in records] == ["test_event"]
    assert not Path("-").exists()


def test_operator_log_has_timestamps_and_identities() -> None:
    out = io.StringIO()
    log = OperatorLog(out)
    log.event(
        pana_mpa.Authenticated(
            session_id=7,
            key_id=1,
            lifetime=60,
            msk=Secret(bytes(64)),
            prf_algorithm=5,
            integrity_algorithm=12,
            peer=("192.0.2.1", 5000),
            identity=b"alice\nforged line",
        )
    )
    log.event(pana_mpa.SessionTerminated(session_id=7, cause=1, by_peer=True, reason="x"))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # the newline in the identity is escaped
    assert lines[0][:4].isdigit() and lines[0][10] == "T"
    assert 'identity "alice\\nforged line"' in lines[0]
    assert 'identity "alice\\nforged line"' in lines[1]  # remembered for the session


USERS = """\
# identity     methods      secret
"alice"        PSK,GPSK     "SecretPassphrase"
  "meter 0001" psk          00112233445566778899AABBCCDDEEFF   # hex, any case
"bob"          MD5          "a password with spaces"

"carol"        TLS
"""


def test_users_file_hostapd_style() -> None:
    users = parse_users_file(USERS.splitlines(), "users.txt")
    assert users[b"alice"].methods == ("psk", "gpsk")
    assert users[b"alice"].secret == Secret(b"SecretPassphrase")
    assert users[b"meter 0001"].secret == Secret(bytes.fromhex("00112233445566778899aabbccddeeff"))
    assert users[b"bob"] == Account(("md5",), Secret(b"a password with spaces"))
    assert users[b"carol"] == Account(("tls",), None)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('alice PSK "SecretPassphrase"', "the identity must be quoted"),
        ("alice:SecretPassphrase", "IDENTITY:SECRET is the form of --user"),
        ('"alice PSK "SecretPassphrase"', "unknown EAP method"),
        (
            '"alice" TTLS "SecretPassphrase"',
            r"unknown EAP method \(choose one of: GPSK, MD5, PSK, TLS",
        ),
        ('"alice" PSK', "PSK needs a secret"),
        ('"alice" PSK "NotSixteenOctets!!"', "is 18 octets; it must be exactly 16 octets"),
        ('"alice" GPSK "short-secret"', "is 12 octets; it must be at least 16 octets"),
        ('"alice" PSK 0011', "is 2 octets; it must be exactly 16"),
        ('"alice" PSK 0x11zz', 'quoted text" or an even number of hex digits'),
        ('"alice" PSK "SecretPassphrase" [2]', "phase 2"),
        ('"alice" PSK "SecretPassphrase" extra', "unexpected text after the secret"),
        ('"alice" PSK [2]', "phase 2"),
        ("* PSK", "wildcard"),
        ('"ali"* PSK', "wildcard"),
        ('"" PSK "SecretPassphrase"', "identity is empty"),
        ('"alice" PSK,PSK "SecretPassphrase"', "listed twice"),
        ('"alice', "no closing"),
    ],
)
def test_users_file_errors_name_file_and_line(line: str, message: str) -> None:
    with pytest.raises(CliError, match=message) as info:
        parse_users_file(["# header", line], "users.txt")
    text = str(info.value)
    assert text.startswith("users.txt:2: ")
    for secret in ("SecretPassphrase", "NotSixteenOctets", "short-secret"):
        assert secret not in text  # secrets never reach a message


def test_users_file_duplicate() -> None:
    lines = ['"a" MD5 "x"', '"a" MD5 "y"']
    with pytest.raises(CliError, match=r"^u:2: user already defined on line 1$"):
        parse_users_file(lines, "u")


def test_users_file_for_paa_and_radius_server(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text(USERS.replace('"carol"        TLS\n', ""))
    paa = paa_options(_args("paa", "--users", str(path)))
    assert set(paa.users) == {b"alice", b"meter 0001", b"bob"}
    radius = radius_options(_args("radius-server", "--client", "127.0.0.1:s", "--users", str(path)))
    assert radius.eap.users == paa.users
    # TLS listed in the file: TLS files needed, as with --method tls
    path.write_text(USERS)
    with pytest.raises(CliError, match="needs --cert and --key"):
        paa_options(_args("paa", "--users", str(path)))


@pytest.mark.parametrize("method", ["gpsk", "psk"])
def test_users_with_several_methods_authenticate_with_either(method: str) -> None:
    """A peer that knows only the second method Naks the first (RFC 3748 s5.3)."""
    users = parse_users_file(['"alice" PSK,GPSK "SecretPassphrase"'], "u")
    paa_opts = paa_options(_args("paa", "--user", "x:SecretPassphrase"))
    paa_opts = type(paa_opts)(users=users, listen=PAA_ADDRESS)
    pac_opts = PacOptions(
        paa=PAA_ADDRESS, identity=b"alice", secret=Secret(b"SecretPassphrase"), method=method
    )
    records: list[dict[str, object]] = []

    async def go() -> bool:
        rng = __import__("random").Random(3).randbytes
        server, _ = build_paa(paa_opts, rng, None)
        return await run_exchange(build_pac(pac_opts, rng, None), server, records.append)

    assert run_virtual(go)
    methods = {
        eap_text(a["eap"])
        for r in records
        for a in r.get("avps", [])  # type: ignore[attr-defined]
        if "eap" in a
    }
    assert ("Response/Nak" in methods) == (method == "gpsk")


def test_radius_server_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    server = ["radius-server", "--listen", "127.0.0.1:0", "--client", "127.0.0.1:testing123"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pana_mpa", *server, "--user", "alice:SecretPassphrase"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert " listening on 127.0.0.1:" in proc.stdout.readline()
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, err) == (0, "")


def test_udp_keeps_the_zone_of_link_local_peers() -> None:
    from pana_mpa.aio.udp import _with_zone

    assert _with_zone("fe80::1", ("fe80::1", 716, 0, socket.if_nametoindex("lo"))) == "fe80::1%lo"
    assert _with_zone("fe80::1", ("fe80::1", 716, 0, 999_999)) == "fe80::1%999999"  # no such link
    assert _with_zone("2001:db8::1", ("2001:db8::1", 716, 0, 0)) == "2001:db8::1"
    assert _with_zone("192.0.2.1", ("192.0.2.1", 716)) == "192.0.2.1"
    assert parse_address("[fe80::1%999999]:716") == ("fe80::1%999999", 716)


def _reference_event_text(event: object) -> str:
    """event_text as it was written first: describe_event, then one if-chain per field."""
    from pana_codecs.avps import IntegrityAlgorithm, PrfAlgorithm, ResultCode, TerminationCause
    from pana_mpa.address import format_address
    from pana_mpa.cli.common import enum_name
    from pana_mpa.flow import describe_event

    def text(key: str, raw: object, value: object) -> str | None:
        if key == "session_id":
            return f"session 0x{raw:08x}"
        if key == "lifetime":
            return f"lifetime {raw:g} s"
        if key == "round_trip":
            return f"round trip {raw * 1000:.1f} ms"  # type: ignore[operator]
        names = {"prf_algorithm": PrfAlgorithm, "integrity_algorithm": IntegrityAlgorithm}
        if key in names:
            return enum_name(names[key], raw)
        if key == "result_code":
            return f"Result-Code {enum_name(ResultCode, raw)}"
        if key == "cause":
            return f"Termination-Cause {enum_name(TerminationCause, raw)}"
        if key == "by_peer":
            return "by the peer" if raw else "by us"
        if key in ("peer", "old", "new") and isinstance(raw, tuple) and len(raw) == 2:
            return f"{key} {format_address((str(raw[0]), int(raw[1])))}"
        if key == "msk" and isinstance(value, dict):
            return f"MSK {value.get('secret_octets')} octets"
        if isinstance(value, dict):
            return None
        return f"{key.replace('_', ' ')} {value}"

    parts = []
    for key, value in describe_event(event).items():
        raw = getattr(event, key, None)
        if key != "event" and raw is not None and (t := text(key, raw, value)) is not None:
            parts.append(t)
    return ", ".join(parts)


def test_event_text_shows_what_it_always_showed() -> None:
    """The per-class field plan gives the lines the generic description gave, for every
    event class and odd values (unknown codes, no MSK, IPv6 peers); never keys or identities."""
    from pana_mpa.cli.common import event_text
    from pana_mpa.events import (
        Authenticated,
        AuthenticationFailed,
        PeerAddressChanged,
        PingAnswered,
        PreAuthSwitched,
        Reauthenticated,
        SessionStarted,
        SessionTerminated,
    )

    events: list[object] = [
        SessionStarted(
            session_id=1, peer=("192.0.2.1", 716), prf_algorithm=5, integrity_algorithm=12
        ),
        SessionStarted(
            session_id=2, peer=("2001:db8::1", 716), prf_algorithm=None, integrity_algorithm=99
        ),
        Authenticated(
            session_id=0xABCDEF01,
            key_id=7,
            lifetime=3600,
            msk=Secret(bytes(64)),
            prf_algorithm=2,
            integrity_algorithm=7,
            peer=("192.0.2.1", 5000),
            identity=b"alice",
            ip_reconfiguration=True,
        ),
        Authenticated(
            session_id=3,
            key_id=None,
            lifetime=0.5,
            msk=None,
            prf_algorithm=None,
            integrity_algorithm=None,
            peer=("fe80::1%eth0", 1),
        ),
        Reauthenticated(
            session_id=4, key_id=8, lifetime=60.25, msk=Secret(b"k" * 64), by_peer=True
        ),
        AuthenticationFailed(session_id=5, result_code=1, identity=b"mallory", reason="bad"),
        AuthenticationFailed(session_id=5, result_code=4242),
        PingAnswered(session_id=6, round_trip=0.01234),
        SessionTerminated(session_id=7, cause=None, by_peer=False, reason="timeout"),
        SessionTerminated(session_id=7, cause=77, by_peer=True, reason=""),
        PeerAddressChanged(session_id=8, old=("192.0.2.1", 716), new=("192.0.2.2", 717)),
        PreAuthSwitched(session_id=9, peer=("192.0.2.3", 716)),
        "not an event",
    ]
    for event in events:
        assert event_text(event) == _reference_event_text(event)
    assert "alice" not in event_text(events[2]) and "MSK 64 octets" in event_text(events[2])


def test_quiet_operator_log_writes_failures_only() -> None:
    """paa -q (errors only): failures still get their line, with the identity remembered from
    the session's success; starts, successes and ends are neither written nor formatted."""
    out = io.StringIO()
    log = OperatorLog(out, quiet=True)
    peer = ("192.0.2.1", 5000)
    log.event(pana_mpa.SessionStarted(session_id=7, peer=peer, prf_algorithm=5,
                                      integrity_algorithm=12))  # fmt: skip
    log.event(pana_mpa.Authenticated(session_id=7, key_id=1, lifetime=60, msk=None,
                                     prf_algorithm=5, integrity_algorithm=12, peer=peer,
                                     identity=b"alice"))  # fmt: skip
    assert out.getvalue() == ""
    log.event(pana_mpa.AuthenticationFailed(session_id=7, result_code=1))  # a re-auth failing
    log.event(pana_mpa.SessionTerminated(session_id=7, cause=1, by_peer=True, reason="x"))
    log.event(pana_mpa.AuthenticationFailed(session_id=8, result_code=1, identity=b"eve",
                                            reason="wrong key"))  # fmt: skip
    log.line("statistics: {}")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert "AuthenticationFailed: session 0x00000007" in lines[0]
    assert 'identity "alice"' in lines[0]
    assert lines[1].endswith('identity "eve", reason: wrong key')
    assert lines[2].endswith(" statistics: {}")
    assert log._identities == {8: b"eve"}  # the ended session's identity is forgotten


def test_operator_log_time_stamp_is_iso_8601_local_time() -> None:
    """The cached per-second stamp reads like datetime's isoformat (milliseconds, offset)."""
    from datetime import datetime

    out = io.StringIO()
    log = OperatorLog(out)
    before = datetime.now().astimezone()
    log.line("a")
    log.line("b")
    after = datetime.now().astimezone()
    for line in out.getvalue().splitlines():
        stamp = datetime.fromisoformat(line.split()[0])
        assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= stamp <= after
        assert len(line.split()[0]) == len(before.isoformat(timespec="milliseconds"))


def test_paa_quiet_means_errors_only() -> None:
    """-q before or after ``paa`` lifts the log level above WARNING: run_paa's quiet log."""
    assert log_level(_args("paa", "-q")) > logging.WARNING
    assert log_level(_args("-q", "paa")) > logging.WARNING
    assert log_level(_args("paa")) == logging.WARNING

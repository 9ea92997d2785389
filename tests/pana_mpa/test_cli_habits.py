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

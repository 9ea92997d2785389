"""``pana-mpa pac|paa``: argument checks, secrets, and the run loops with fake nodes over UDP."""

from __future__ import annotations

import argparse
import asyncio
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from eap.keys import Secret
from pana_mpa.cli import build_parser, main
from pana_mpa.cli import peers as cp
from pana_mpa.flow import FlowTrace
from tests.traces import trace_records

from .aio_fakes import FAKE_MSK, FakePaa, FakePac

HEX16 = "00112233445566778899aabbccddeeff"


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize(
    ("method", "text", "value"),
    [
        ("psk", "SecretPassphrase", b"SecretPassphrase"),
        (
            "psk",
            "00112233445566778899aabbccddeeff",
            bytes.fromhex("00112233445566778899aabbccddeeff"),
        ),
        (
            "psk",
            "00112233445566778899AABBCCDDEEFF",
            bytes.fromhex("00112233445566778899aabbccddeeff"),
        ),
        ("gpsk", "SecretPassphrase-longer", b"SecretPassphrase-longer"),
        ("gpsk", "00" * 32, bytes(32)),
        ("md5", "12345", b"12345"),
        ("md5", "pässwörd", "pässwörd".encode()),
    ],
)
def test_parse_secret_accepts(method: str, text: str, value: bytes) -> None:
    assert cp.parse_secret(method, text).reveal() == value


@pytest.mark.parametrize(
    ("method", "text"),
    [
        ("psk", "short"),
        ("psk", "SecretPassphrase!"),  # 17 characters
        ("psk", "0011223344556677889900aabbccddeeff"),  # 34 hex digits
        ("psk", "Secret\tPassphras"),  # not printable
        ("psk", "Sécret-Passphras"),  # not ASCII
        ("gpsk", "too-short"),
        ("md5", ""),
        ("tls", "anything"),
    ],
)
def test_parse_secret_rejects(method: str, text: str) -> None:
    with pytest.raises(cp.CliError) as info:
        cp.parse_secret(method, text)
    assert text not in str(info.value) or not text  # the secret never reaches the message


def test_pac_options() -> None:
    opts = cp.pac_options(
        _args("pac", "--paa", "[::1]:20716", "--identity", "alice", "--secret", "SecretPassphrase")
    )
    assert opts.paa == ("::1", 20716)
    assert opts.identity == b"alice"
    # by default both suites, SHA-256 first: the PAA's offer decides (RFC 5191 s4.1)
    assert (opts.prf_algorithms, opts.integrity_algorithms) == ((5, 2), (12, 7))
    assert (opts.prf, opts.integrity) == (5, 12)  # the preferred ones
    assert not opts.once
    sha1 = cp.pac_options(
        _args(
            "pac", "--paa", "127.0.0.1", "--identity", "a", "--secret", "x" * 16, "--suite", "sha1"
        )
    )
    assert sha1.paa == ("127.0.0.1", 716)
    assert (sha1.prf_algorithms, sha1.integrity_algorithms) == ((2,), (7,))
    config = cp.build_pac(sha1, lambda n: bytes(n), None)._config
    assert (config.prf_algorithms, config.integrity_algorithms) == ((2,), (7,))


def test_pac_options_resolves_names() -> None:
    opts = cp.pac_options(
        _args("pac", "--paa", "localhost:20716", "--identity", "a", "--secret", "x" * 16)
    )
    assert opts.paa[1] == 20716
    assert opts.paa[0] in ("127.0.0.1", "::1")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--paa", "127.0.0.1", "--identity", "a"], "needs --secret"),
        (["--paa", "127.0.0.1:99999", "--identity", "a", "--secret", "x" * 16], "bad port"),
        (["--paa", "no.such.host.invalid", "--identity", "a", "--secret", "x" * 16], "resolve"),
        (["--paa", "127.0.0.1", "--identity", "", "--secret", "x" * 16], "empty"),
        (["--paa", "127.0.0.1", "--identity", "a", "--secret", "x" * 16, "--cert", "c"], "tls"),
        (["--paa", "127.0.0.1", "--identity", "a", "--method", "tls", "--secret", "s"], "not --"),
        (["--paa", "127.0.0.1", "--identity", "a", "--secret", "x" * 16, "--timeout", "0"], "pos"),
        (
            [
                "--paa",
                "127.0.0.1",
                "--identity",
                "a",
                "--secret",
                "x" * 16,
                "--tls-min-version",
                "1.0",
            ],
            "for --method tls",
        ),
    ],
)
def test_pac_options_errors(argv: list[str], message: str) -> None:
    with pytest.raises(cp.CliError, match=message):
        cp.pac_options(_args("pac", *argv))


def test_paa_options() -> None:
    opts = cp.paa_options(
        _args(
            "paa",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "alice:SecretPassphrase",
            "--user",
            "bob:00112233445566778899aabbccddeeff",
            "--lifetime",
            "60",
        )
    )
    assert opts.listen == ("127.0.0.1", 0)
    alice, bob = opts.users[b"alice"], opts.users[b"bob"]
    assert isinstance(alice, Secret) and isinstance(bob, Secret)  # --user: for --method
    assert alice.reveal() == b"SecretPassphrase"
    assert len(bob) == 16
    assert opts.lifetime == 60
    assert opts.reauth_fraction is None and not opts.psk_silent_discard


def test_paa_reauth_fraction_reaches_the_config() -> None:
    argv = ["--user", "alice:SecretPassphrase", "--lifetime", "60", "--reauth-fraction", "0.5"]
    opts = cp.paa_options(_args("paa", "--listen", "127.0.0.1:0", *argv))
    assert opts.reauth_fraction == 0.5
    server, aaa = cp.build_paa(opts, lambda n: bytes(n), None)
    assert aaa is None
    assert server._config.reauth_fraction == 0.5
    assert server._config.session_lifetime == 60


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "at least one --user"),
        (["--user", "alice"], "IDENTITY:SECRET"),
        (["--user", ":SecretPassphrase"], "IDENTITY:SECRET"),
        (["--user", "alice:short"], r"--user alice: EAP-PSK \(RFC 4764\): the secret must be"),
        (["--user", "a:x", "--method", "md5", "--radius", "127.0.0.1:1812"], "go together"),
        (["--user", "a:x", "--method", "md5", "--lifetime", "0"], "positive"),
        (["--method", "tls"], "needs --cert and --key"),
        (["--method", "tls", "--cert", "/nonexistent.pem", "--key", "/x"], "no such file"),
        (["--user", "a:SecretPassphrase", "--reauth-fraction", "1"], "between 0 and 1"),
        (["--user", "a:SecretPassphrase", "--reauth-fraction", "0"], "between 0 and 1"),
        (["--user", "a:SecretPassphrase", "--tls-min-version", "1.0"], "for --method tls"),
        (["--user", "a:x", "--method", "md5", "--psk-silent-discard"], "for --method psk"),
    ],
)
def test_paa_options_errors(argv: list[str], message: str) -> None:
    with pytest.raises(cp.CliError, match=message):
        cp.paa_options(_args("paa", "--listen", "127.0.0.1:0", *argv))


def test_bad_arguments_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["pac", "--paa", "127.0.0.1", "--identity", "a", "--secret", "wrong", "--once"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err == (
        "pana-mpa pac: EAP-PSK (RFC 4764): the secret must be exactly 16 octets"
        " (RFC 4764 s3.1): 16 ASCII characters or 32 hex digits\n"
    )


def _pac_factory(**kw: Any) -> cp.PacFactory:
    return lambda opts, rng, trace: FakePac(opts.paa, **kw)


def _paa_factory(**kw: Any) -> cp.PaaFactory:
    return lambda opts, rng, trace: (FakePaa(**kw), None)


async def _with_paa(
    body: Callable[[tuple[str, int]], Any], *, paa_out: io.StringIO, **paa_kw: Any
) -> None:
    ready: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
    opts = cp.PaaOptions(listen=("127.0.0.1", 0), users={})
    task = asyncio.create_task(
        cp.paa_main(opts, factory=_paa_factory(**paa_kw), out=paa_out, ready=ready.set_result)
    )
    try:
        await body(await asyncio.wait_for(ready, 30))
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def _pac_opts(paa: tuple[str, int], **kw: Any) -> cp.PacOptions:
    return cp.PacOptions(paa=paa, identity=b"alice", secret=None, once=True, **kw)


@pytest.mark.udp
@pytest.mark.asyncio
async def test_pac_once_against_paa_over_udp() -> None:
    pac_out, paa_out, trace_buf = io.StringIO(), io.StringIO(), io.StringIO()

    async def body(addr: tuple[str, int]) -> None:
        rc = await cp.pac_main(
            _pac_opts(addr),
            factory=_pac_factory(rto=0.5, retries=20),
            out=pac_out,
            trace=FlowTrace(trace_buf, role="pac"),
        )
        assert rc == 0

    await _with_paa(body, paa_out=paa_out)
    lines = pac_out.getvalue().splitlines()
    assert lines[0].startswith(
        "authenticated: session 0x00001000, key id 1, lifetime 60 s, MSK 32 octets"
    )
    assert lines[1].startswith("ping answered: session 0x00001000")
    assert lines[2].startswith("terminated: session 0x00001000, Termination-Cause LOGOUT, by us")
    # each line of the PAA's operator log starts with the local time (ISO 8601)
    stamped = paa_out.getvalue().splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d ", s) for s in stamped)
    paa_lines = [line.split(" ", 1)[1] for line in stamped]
    assert paa_lines[0].startswith("listening on 127.0.0.1:")
    assert paa_lines[1].startswith("Authenticated: session 0x00001000")
    assert FAKE_MSK.hex() not in trace_buf.getvalue() + pac_out.getvalue() + paa_out.getvalue()
    kinds = [r.get("type") for r in trace_records(trace_buf.getvalue(), "pac")]
    assert [k for k in kinds if k] == ["PCI", "PAR", "PAN", "PNR", "PNA", "PTR", "PTA"]


@pytest.mark.udp
@pytest.mark.asyncio
async def test_pac_once_rejected() -> None:
    async def body(addr: tuple[str, int]) -> None:
        with pytest.raises(
            cp.CliError, match=r"rejected by the PAA \(Result-Code PANA_AUTHENTICATION_REJECTED\)$"
        ):
            await cp.pac_main(
                _pac_opts(addr), factory=_pac_factory(rto=0.5, retries=20), out=io.StringIO()
            )

    await _with_paa(body, paa_out=io.StringIO(), reject=True)


@pytest.mark.udp
@pytest.mark.asyncio
async def test_pac_once_no_paa() -> None:
    with pytest.raises(cp.CliError, match=r"^authentication: no answer from PAA 127\.0\.0\.1:9 "):
        await cp.pac_main(
            _pac_opts(("127.0.0.1", 9), timeout=0.2),
            factory=_pac_factory(rto=100.0),
            out=io.StringIO(),
        )
    with pytest.raises(cp.CliError, match=r"^session ended \(retransmissions\)$"):
        await cp.pac_main(
            _pac_opts(("127.0.0.1", 9), timeout=30),
            factory=_pac_factory(rto=0.05, retries=2),
            out=io.StringIO(),
        )


@pytest.mark.udp
@pytest.mark.asyncio
async def test_paa_listen_error_is_one_line() -> None:
    async def body(addr: tuple[str, int]) -> None:
        opts = cp.PaaOptions(listen=addr, users={})
        with pytest.raises(cp.CliError, match=r"^cannot listen on 127\.0\.0\.1:"):
            await cp.paa_main(opts, factory=_paa_factory(), out=io.StringIO())

    await _with_paa(body, paa_out=io.StringIO())


def test_trace_file_error_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = _args(
        "pac",
        "--paa",
        "127.0.0.1:9",
        "--identity",
        "a",
        "--secret",
        "x" * 16,
        "--trace",
        str(tmp_path / "missing-dir" / "t.jsonl"),
    )
    assert cp.run_pac(args, factory=_pac_factory()) == 1
    assert capsys.readouterr().err.startswith("pana-mpa pac: --trace: cannot write ")


def _pump(peer: Any, auth: Any) -> tuple[Any, Any]:
    """Run an EapPeer against an EapAuthenticator directly; return both results."""
    out = auth.start()
    for _ in range(20):
        if out.packet is None:
            break
        answer = peer.receive(out.packet)
        if out.result is not None or answer.response is None:
            break
        out = auth.receive(answer.response)
    return peer.result, auth.result


@pytest.mark.parametrize(
    ("method", "secret", "msk"),
    [
        ("psk", "SecretPassphrase", True),
        ("gpsk", "SecretPassphrase", True),
        ("md5", "12345", False),
    ],
)
@pytest.mark.parametrize("right", [True, False])
def test_eap_builders_agree(method: str, secret: str, msk: bool, right: bool) -> None:
    import random

    rng = random.Random(5).randbytes
    users = {b"alice": cp.parse_secret(method, secret)}
    pac_secret = secret if right else secret[::-1]
    peer = cp.eap_peer(
        cp.PacOptions(
            paa=("127.0.0.1", 716),
            identity=b"alice",
            secret=cp.parse_secret(method, pac_secret),
            method=method,
        ),
        rng,
    )
    auth = cp.eap_authenticator(
        cp.PaaOptions(listen=("127.0.0.1", 716), users=users, method=method), rng
    )
    peer_result, auth_result = _pump(peer, auth)
    if right:
        assert auth_result is not None and auth_result.success
        assert peer_result is not None and peer_result.success
        assert (auth_result.keys is not None) is msk
        if msk:
            assert auth_result.keys.msk == peer_result.keys.msk
    else:
        # the PAA's server ends a wrong secret at once with a failure, for EAP-PSK too
        # (fail_on_bad_mac_p, see --psk-silent-discard): no stalled conversation
        assert auth_result is not None and not auth_result.success
        assert peer_result is None or not peer_result.success


def _write_rsa_pki(directory: Path) -> dict[str, str]:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from tests.pki import make_pki

    pki = make_pki(kind="rsa")  # TLS 1.0 has no ECDSA with the SHA-256 our CA signs with
    files: dict[str, str] = {}
    for name, ident in (("ca", pki.ca), ("server", pki.server), ("client", pki.client)):
        cert = directory / f"{name}.pem"
        cert.write_bytes(ident.cert.public_bytes(Encoding.PEM))
        key = directory / f"{name}.key"
        key.write_bytes(ident.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        files[name], files[f"{name}_key"] = str(cert), str(key)
    return files


def _converse(peer: Any, auth: Any) -> tuple[Any, Any]:
    """Like _pump, with room for a fragmented EAP-TLS handshake."""
    out = auth.start()
    for _ in range(100):
        if out.packet is None or out.result is not None:
            break
        answer = peer.receive(out.packet)
        if answer.response is None:
            break
        out = auth.receive(answer.response)
    if out.packet is not None and out.result is not None:
        peer.receive(out.packet)  # EAP Success/Failure
    return peer.result, auth.result


@pytest.mark.parametrize("floor", ["1.0", "1.2"])
def test_tls_min_version_on_both_sides(tmp_path: Path, floor: str) -> None:
    import random

    from eap.authenticator import EapAuthenticator
    from eap.methods.tls import TlsPeer, TlsServer, TlsVersion
    from eap.peer import EapPeer

    rng = random.Random(7).randbytes
    f = _write_rsa_pki(tmp_path)
    own = ["--cert", f["server"], "--key", f["server_key"], "--ca", f["ca"]]
    own += ["--tls-min-version", floor]
    paa = cp.paa_options(_args("paa", "--listen", "127.0.0.1:0", "--method", "tls", *own))
    mine = ["--cert", f["client"], "--key", f["client_key"], "--ca", f["ca"]]
    mine += ["--tls-min-version", floor, "--identity", "user1"]
    pac = cp.pac_options(_args("pac", "--paa", "127.0.0.1", "--method", "tls", *mine))
    assert paa.tls.min_version == pac.tls.min_version == cp.TLS_VERSIONS[floor]
    legacy = floor == "1.0"
    assert paa.tls.cipher_list == (cp.LEGACY_TLS_CIPHERS if legacy else None)
    tls1 = {
        "min_version": TlsVersion.TLS1_0,
        "max_version": TlsVersion.TLS1_0,
        "cipher_list": cp.LEGACY_TLS_CIPHERS,
    }

    def old_peer() -> TlsPeer:  # like OpenPANA's OpenSSL: TLS 1.0 at most
        return TlsPeer(ca=f["ca"], cert=f["client"], key=f["client_key"], **tls1)  # type: ignore[arg-type]

    def old_server() -> TlsServer:
        return TlsServer(cert=f["server"], key=f["server_key"], ca=f["ca"], **tls1)  # type: ignore[arg-type]

    peer = EapPeer(identity=b"user1", methods={TlsPeer.method_type: old_peer})
    peer_result, auth_result = _converse(peer, cp.eap_authenticator(paa, rng))
    assert (auth_result is not None and auth_result.success) is legacy
    assert (peer_result is not None and peer_result.success) is legacy
    server = EapAuthenticator(methods=lambda identity: [old_server], rng=rng)
    peer_result, auth_result = _converse(cp.eap_peer(pac, rng), server)
    assert (auth_result is not None and auth_result.success) is legacy
    assert (peer_result is not None and peer_result.success) is legacy


def test_eap_builder_unknown_user_fails() -> None:
    import random

    rng = random.Random(6).randbytes
    peer = cp.eap_peer(
        cp.PacOptions(
            paa=("127.0.0.1", 716),
            identity=b"mallory",
            secret=cp.parse_secret("psk", "SecretPassphrase"),
        ),
        rng,
    )
    users = {b"alice": cp.parse_secret("psk", "SecretPassphrase")}
    auth = cp.eap_authenticator(cp.PaaOptions(listen=("127.0.0.1", 716), users=users), rng)
    _, auth_result = _pump(peer, auth)
    assert auth_result is not None and not auth_result.success


def test_internal_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(opts: cp.PacOptions, rng: Any, trace: Any) -> Any:
        raise RuntimeError("something unexpected")

    args = _args("pac", "--paa", "127.0.0.1:9", "--identity", "a", "--secret", "x" * 16)
    assert cp.run_pac(args, factory=broken) == 70
    assert capsys.readouterr().err == (
        "pana-mpa pac: internal error: RuntimeError: something unexpected (-vv: details)\n"
    )


def test_secrets_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "psk"
    secret.write_text(f"{HEX16}\n")
    opts = cp.pac_options(
        _args("pac", "--paa", "127.0.0.1", "--identity", "a", "--secret-file", str(secret))
    )
    assert opts.secret is not None and opts.secret.reveal() == bytes.fromhex(HEX16)
    users = tmp_path / "users"
    users.write_text('# PSK users\n"alice" PSK "SecretPassphrase"\n\n"bob" PSK ' + HEX16 + "\n")
    paa = cp.paa_options(_args("paa", "--listen", "127.0.0.1:0", "--users", str(users)))
    assert sorted(paa.users) == [b"alice", b"bob"]
    with pytest.raises(cp.CliError, match="not both"):
        cp.pac_options(
            _args(
                "pac",
                "--paa",
                "127.0.0.1",
                "--identity",
                "a",
                "--secret",
                "x" * 16,
                "--secret-file",
                str(secret),
            )
        )
    with pytest.raises(cp.CliError, match="cannot read"):
        cp.paa_options(_args("paa", "--listen", "127.0.0.1:0", "--users", str(tmp_path / "no")))
    users.write_text('"carol" PSK "short"\n')
    with pytest.raises(
        cp.CliError, match=r'users:1: "carol": EAP-PSK .*is 5 octets; it must be exactly 16'
    ) as info:
        cp.paa_options(_args("paa", "--listen", "127.0.0.1:0", "--users", str(users)))
    assert "short" not in str(info.value)


def test_radius_secret_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "radius"
    path.write_text("testing123\n")
    opts = cp.paa_options(
        _args(
            "paa",
            "--listen",
            "127.0.0.1:0",
            "--radius",
            "127.0.0.1:1812",
            "--radius-secret-file",
            str(path),
        )
    )
    assert opts.radius == ("127.0.0.1", 1812)
    assert opts.radius_secret is not None and opts.radius_secret.reveal() == b"testing123"

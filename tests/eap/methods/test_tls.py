"""EAP-TLS peer <-> server in memory (RFC 5216 TLS 1.2, RFC 9190 TLS 1.3), framing, offline keys."""

from __future__ import annotations

import hmac
import io
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eap.authenticator import EapAuthenticator
from eap.keys import KeyMaterial
from eap.methods._tls_fragment import (
    FLAG_L,
    FLAG_M,
    Fragmenter,
    FragmentError,
    Reassembler,
    build_frame,
    parse_frame,
)
from eap.methods.base import Decision, MethodStep
from eap.methods.tls import TlsPeer, TlsServer, TlsVersion
from eap.peer import EapPeer
from eap.tlsprf import (
    TLS1_2,
    TlsOfflineError,
    eap_tls_handshakes,
    parse_rsa_handshake,
    rsa_eap_tls_keys,
    tls_prf,
)
from tests.eap.conversation import Conversation, seeded_rng
from tests.eap.conversation import converse as eap_converse
from tests.eap.methods._tls_capture import (
    VECTORS,
    capture_server_key,
    captures_dir,
    load_blocks,
)
from tests.pki import Pki, issue, make_ca, make_crl, make_pki
from tests.realcomponents import missing, need_binary

V12, V13 = TlsVersion.TLS1_2, TlsVersion.TLS1_3
VERSIONS = [pytest.param(V12, id="tls12"), pytest.param(V13, id="tls13")]


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="module")
def other_ca_pki() -> Pki:
    """Same names, different CA: nothing in it chains to ``pki``'s CA."""
    return make_pki()


def peer_for(pki: Pki, version: TlsVersion | None = None, **kw: object) -> TlsPeer:
    args: dict[str, object] = {"ca": pki.ca.cert, "cert": pki.client.cert, "key": pki.client.key}
    if version is not None:
        args["max_version"] = version
    args.update(kw)
    return TlsPeer(**args)  # type: ignore[arg-type]


def server_for(pki: Pki, **kw: object) -> TlsServer:
    args: dict[str, object] = {"cert": pki.server.cert, "key": pki.server.key, "ca": pki.ca.cert}
    args.update(kw)
    return TlsServer(**args)  # type: ignore[arg-type]


@dataclass
class Run:
    """The outcome of one conversation driven to its end."""

    server_success: bool | None = None
    last_peer: MethodStep | None = None
    requests: list[bytes] = field(default_factory=list)
    responses: list[bytes] = field(default_factory=list)
    peer_discarded: bool = False
    server_discarded: bool = False

    @property
    def peer_success(self) -> bool:
        s = self.last_peer
        return s is not None and s.done and s.decision is not Decision.FAIL

    @property
    def success(self) -> bool:
        return bool(self.server_success) and self.peer_success


Tamper = Callable[[str, int, bytes], bytes]


def converse(peer: TlsPeer, server: TlsServer, tamper: Tamper | None = None) -> Run:
    """Drive both methods like an EAP peer/authenticator pair would, with Identifiers 1, 2, ..."""
    run = Run()
    ident = 1
    req = server.initial_request(ident)
    for _ in range(20000):
        if tamper is not None:
            req = tamper("req", len(run.requests), req)
        run.requests.append(req)
        step = peer.process(req, ident)
        run.last_peer = step
        if step.response is None:
            run.peer_discarded = True
            return run
        resp = step.response
        if tamper is not None:
            resp = tamper("resp", len(run.responses), resp)
        run.responses.append(resp)
        out = server.process(resp, ident, ident + 1)
        if out.discard:
            run.server_discarded = True
            return run
        if out.done:
            run.server_success = out.success
            return run
        assert out.request is not None
        req = out.request
        ident = (ident + 1) % 256
    raise AssertionError("conversation did not end")


def assert_failed(run: Run, peer: TlsPeer, server: TlsServer) -> None:
    """Neither side may report success or expose keys."""
    assert not run.server_success
    assert server.keys() is None
    assert peer.keys() is None
    assert run.last_peer is not None and run.last_peer.decision is Decision.FAIL


def same_keys(a: KeyMaterial | None, b: KeyMaterial | None) -> bool:
    assert a is not None and b is not None and a.emsk is not None and b.emsk is not None
    return (
        hmac.compare_digest(a.msk.reveal(), b.msk.reveal())
        and hmac.compare_digest(a.emsk.reveal(), b.emsk.reveal())
        and a.session_id == b.session_id
    )


# --- success ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_success_both_sides_derive_the_same_keys(pki: Pki, version: TlsVersion) -> None:
    peer, server = peer_for(pki, version), server_for(pki)
    run = converse(peer, server)
    assert run.success
    assert run.last_peer is not None and run.last_peer.decision is Decision.UNCOND_SUCC
    assert peer.version is version and server.version is version
    pk, sk = peer.keys(), server.keys()
    assert same_keys(pk, sk)
    assert pk is not None and pk.emsk is not None
    assert len(pk.msk) == 64 and len(pk.emsk) == 64
    assert pk.msk.reveal() != pk.emsk.reveal()
    # Session-Id = Type || client.random || server.random (5216) or Type || Method-Id (9190).
    assert pk.session_id[:1] == b"\x0d" and len(pk.session_id) == 65
    # The final exchange is the peer's empty Response (RFC 5216 s2.1.1 / RFC 9190 s2.1.1).
    assert run.responses[-1] == b"\x00"
    cert = server.peer_certificate()
    assert cert is not None and cert == pki.client.cert
    assert peer.server_certificate() == pki.server.cert


def test_tls12_msk_is_the_rfc5216_prf(pki: Pki) -> None:
    """MSK||EMSK = TLS-PRF-128(master, "client EAP encryption", client.random||server.random)."""
    peer, server = peer_for(pki, V12), server_for(pki)
    assert converse(peer, server).success
    conn = peer._tls.conn
    master, cr, sr = conn.master_key(), conn.client_random(), conn.server_random()
    assert master is not None and cr is not None and sr is not None
    cipher = conn.get_cipher_name() or ""
    km = tls_prf(
        TLS1_2,
        master,
        b"client EAP encryption",
        cr + sr,
        128,
        hash_name="sha384" if cipher.endswith("SHA384") else "sha256",
    )
    keys = peer.keys()
    assert keys is not None and keys.emsk is not None
    assert keys.msk.reveal() == km[:64] and keys.emsk.reveal() == km[64:]
    assert keys.session_id == b"\x0d" + cr + sr


def test_tls13_keys_use_the_rfc9190_exporter(pki: Pki) -> None:
    peer, server = peer_for(pki, V13), server_for(pki)
    assert converse(peer, server).success
    conn = server._tls.conn
    km = conn.export_keying_material(b"EXPORTER_EAP_TLS_Key_Material", 128, b"\x0d")
    mid = conn.export_keying_material(b"EXPORTER_EAP_TLS_Method-Id", 64, b"\x0d")
    keys = peer.keys()
    assert keys is not None and keys.emsk is not None
    assert keys.msk.reveal() == km[:64] and keys.emsk.reveal() == km[64:]
    assert keys.session_id == b"\x0d" + mid


def test_tls13_peer_waits_for_the_commitment_message(pki: Pki) -> None:
    """Before the server's 0x00 record the peer has no keys and would refuse EAP-Success."""
    peer, server = peer_for(pki, V13), server_for(pki)
    seen: list[tuple[bool, Decision, bool]] = []
    ident = 1
    req = server.initial_request(ident)
    while True:
        step = peer.process(req, ident)
        seen.append((step.done, step.decision, peer.keys() is not None))
        assert step.response is not None
        out = server.process(step.response, ident, ident + 1)
        if out.done:
            assert out.success
            break
        assert out.request is not None
        req = out.request
        ident += 1
    # Every step but the last: not done, decision FAIL, no keys. The last: success with keys.
    assert all(s == (False, Decision.FAIL, False) for s in seen[:-1])
    assert seen[-1] == (True, Decision.UNCOND_SUCC, True)


def test_tls13_server_withholding_commitment_never_succeeds(pki: Pki) -> None:
    """If the 0x00 record never arrives the peer keeps FAIL (an EAP-Success would be rejected)."""
    peer, server = peer_for(pki, V13), server_for(pki)
    ident = 1
    req = server.initial_request(ident)
    last = None
    while True:
        last = peer.process(req, ident)
        assert last.response is not None
        out = server.process(last.response, ident, ident + 1)
        assert out.request is not None
        if server._state.name == "FINAL_SENT":
            break
        req = out.request
        ident += 1
    assert last.decision is Decision.FAIL and not last.done
    assert peer.keys() is None


@pytest.mark.parametrize("version", VERSIONS)
def test_rsa_certificates_work_too(version: TlsVersion) -> None:
    pki = make_pki(kind="rsa")
    assert converse(peer_for(pki, version), server_for(pki)).success


def test_server_name_check(pki: Pki) -> None:
    assert converse(peer_for(pki, server_names=["PAA.test."]), server_for(pki)).success
    peer, server = peer_for(pki, server_names=["other.test"]), server_for(pki)
    run = converse(peer, server)
    assert_failed(run, peer, server)


def test_wildcard_server_name() -> None:
    ca = make_ca()
    srv = issue(ca, "wild", server=True, dns_names=["*.example.net"])
    cli = issue(ca, "user1", server=False)
    pki = Pki(ca=ca, server=srv, client=cli)
    assert converse(peer_for(pki, server_names=["paa.example.net"]), server_for(pki)).success
    peer, server = peer_for(pki, server_names=["a.b.example.net"]), server_for(pki)
    assert_failed(converse(peer, server), peer, server)


def test_peer_without_verification_accepts_any_server(pki: Pki, other_ca_pki: Pki) -> None:
    peer = TlsPeer(ca=None, verify=False, cert=pki.client.cert, key=pki.client.key)
    server = TlsServer(cert=other_ca_pki.server.cert, key=other_ca_pki.server.key, ca=pki.ca.cert)
    assert converse(peer, server).success


def test_server_without_client_certificate_requirement(pki: Pki) -> None:
    peer = TlsPeer(ca=pki.ca.cert)
    server = server_for(pki, require_client_cert=False)
    assert converse(peer, server).success
    assert server.peer_certificate() is None


def test_certificate_sources_bytes_and_paths(pki: Pki, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    pem = pki.server.cert.public_bytes(serialization.Encoding.PEM)
    key_pem = pki.server.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ca_der = pki.ca.cert.public_bytes(serialization.Encoding.DER)
    (tmp_path / "ca.der").write_bytes(ca_der)
    server = TlsServer(cert=pem, key=key_pem, ca=str(tmp_path / "ca.der"))
    peer = TlsPeer(ca=[pki.ca.cert], cert=pki.client.cert, key=pki.client.key)
    assert converse(peer, server).success


@pytest.mark.parametrize("version", VERSIONS)
def test_factories_share_one_context(pki: Pki, version: TlsVersion) -> None:
    make_server = TlsServer.factory(
        cert=pki.server.cert, key=pki.server.key, ca=pki.ca.cert, fragment_size=300
    )
    make_peer = TlsPeer.factory(
        ca=pki.ca.cert,
        cert=pki.client.cert,
        key=pki.client.key,
        max_version=version,
        fragment_size=200,
    )
    runs = []
    for _ in range(3):
        peer, server = make_peer(), make_server()
        run = converse(peer, server)
        assert run.success and same_keys(peer.keys(), server.keys())
        assert max(len(parse_frame(r).data) for r in run.requests) <= 300
        assert max(len(parse_frame(r).data) for r in run.responses) <= 200
        runs.append((peer, server))
    contexts = {id(s._tls.conn.get_context()) for _, s in runs}
    assert len(contexts) == 1  # loaded once
    msks = {k.msk.reveal() for p, _ in runs if (k := p.keys()) is not None}
    assert len(msks) == 3  # but every conversation has its own keys
    with pytest.raises(ValueError, match="does not match"):
        TlsServer.factory(cert=pki.server.cert, key=pki.client.key, ca=pki.ca.cert)


def test_configuration_errors(pki: Pki) -> None:
    with pytest.raises(ValueError, match="CA"):
        TlsPeer(ca=None)
    with pytest.raises(ValueError, match="does not match"):
        TlsServer(cert=pki.server.cert, key=pki.client.key, ca=pki.ca.cert)
    with pytest.raises(ValueError, match="min_version"):
        TlsPeer(ca=pki.ca.cert, min_version=V13, max_version=V12)
    with pytest.raises(ValueError, match="fragment_size"):
        TlsPeer(ca=pki.ca.cert, fragment_size=0)
    with pytest.raises(ValueError, match="certificate"):
        TlsServer(cert=b"not a certificate", key=pki.server.key, ca=pki.ca.cert)


# --- failures: never an exception, never success -------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_untrusted_server_certificate_fails(
    pki: Pki, other_ca_pki: Pki, version: TlsVersion
) -> None:
    peer = peer_for(pki, version)
    server = TlsServer(cert=other_ca_pki.server.cert, key=other_ca_pki.server.key, ca=pki.ca.cert)
    run = converse(peer, server)
    assert_failed(run, peer, server)
    # The peer reported the problem with a TLS alert record (RFC 5216 s2.1.3).
    assert parse_frame(run.responses[-1]).data[:1] == b"\x15"


@pytest.mark.parametrize("version", VERSIONS)
def test_expired_server_certificate_fails(pki: Pki, version: TlsVersion) -> None:
    old = issue(pki.ca, "paa.test", server=True, dns_names=["paa.test"], expired=True)
    peer, server = peer_for(pki, version), TlsServer(cert=old.cert, key=old.key, ca=pki.ca.cert)
    assert_failed(converse(peer, server), peer, server)


@pytest.mark.parametrize("version", VERSIONS)
def test_untrusted_client_certificate_fails(
    pki: Pki, other_ca_pki: Pki, version: TlsVersion
) -> None:
    peer = TlsPeer(
        ca=pki.ca.cert,
        cert=other_ca_pki.client.cert,
        key=other_ca_pki.client.key,
        max_version=version,
    )
    server = server_for(pki)
    run = converse(peer, server)
    assert_failed(run, peer, server)
    # The server sent an alert and ended only after the peer's Response to it.
    assert parse_frame(run.requests[-1]).data[:1] in (b"\x15", b"\x17")


@pytest.mark.parametrize("version", VERSIONS)
def test_missing_client_certificate_fails(pki: Pki, version: TlsVersion) -> None:
    peer, server = TlsPeer(ca=pki.ca.cert, max_version=version), server_for(pki)
    assert_failed(converse(peer, server), peer, server)


def test_extended_key_usage_is_checked(pki: Pki) -> None:
    """A clientAuth-only certificate cannot serve, a serverAuth-only one cannot be a client."""
    peer = peer_for(pki)
    server = TlsServer(cert=pki.client.cert, key=pki.client.key, ca=pki.ca.cert)
    assert_failed(converse(peer, server), peer, server)
    srv_as_client = issue(pki.ca, "user1", server=True)
    peer = TlsPeer(ca=pki.ca.cert, cert=srv_as_client.cert, key=srv_as_client.key)
    server = server_for(pki)
    assert_failed(converse(peer, server), peer, server)


@pytest.mark.parametrize("version", VERSIONS)
def test_revoked_certificates_fail(pki: Pki, version: TlsVersion) -> None:
    """With CRLs configured, a revoked client or server certificate ends in failure."""
    clean, revoked_client = make_crl(pki.ca), make_crl(pki.ca, [pki.client.cert])
    revoked_server = make_crl(pki.ca, [pki.server.cert])
    assert converse(peer_for(pki, version, crls=[clean]), server_for(pki, crls=[clean])).success
    peer, server = peer_for(pki, version), server_for(pki, crls=[revoked_client])
    assert_failed(converse(peer, server), peer, server)
    peer, server = peer_for(pki, version, crls=[revoked_server]), server_for(pki)
    assert_failed(converse(peer, server), peer, server)
    # CRL checking without a CRL for the issuer fails closed.
    other = make_crl(make_ca("unrelated CA"))
    peer, server = peer_for(pki, version, crls=[other]), server_for(pki)
    assert_failed(converse(peer, server), peer, server)


def test_client_name_check(pki: Pki) -> None:
    assert converse(peer_for(pki), server_for(pki, client_names=["user1"])).success
    peer, server = peer_for(pki), server_for(pki, client_names=["user2"])
    assert_failed(converse(peer, server), peer, server)


def test_version_mismatch_fails(pki: Pki) -> None:
    peer, server = peer_for(pki, V12), server_for(pki, min_version=V13)
    assert_failed(converse(peer, server), peer, server)
    peer = peer_for(pki, min_version=V13, max_version=V13)
    server = server_for(pki, max_version=V12)
    assert_failed(converse(peer, server), peer, server)


@pytest.mark.parametrize("version", VERSIONS)
def test_garbage_tls_records_fail(pki: Pki, version: TlsVersion) -> None:
    """A corrupted server flight is a TLS error: alert, failure, no exception."""

    def corrupt(direction: str, index: int, data: bytes) -> bytes:
        if direction == "req" and index == 1:
            return data[:-8] + bytes(b ^ 0x5A for b in data[-8:])
        return data

    peer, server = peer_for(pki, version), server_for(pki)
    assert_failed(converse(peer, server, corrupt), peer, server)


def test_garbage_client_hello_fails(pki: Pki) -> None:
    server = server_for(pki)
    out = server.process(b"\x00" + b"\x16\x03\x01\x00\x04garb", 1, 2)
    # The server answers garbage with an alert, then fails on the peer's next Response.
    assert out.request is not None and parse_frame(out.request).data[:1] == b"\x15"
    end = server.process(b"\x00", 2, 3)
    assert end.done and not end.success and server.keys() is None


def test_peer_alert_after_server_final_flight_fails(pki: Pki) -> None:
    """A peer that answers the server's last flight with data instead of an ACK gets no success."""
    peer, server = peer_for(pki, V12), server_for(pki)

    def alert(direction: str, index: int, data: bytes) -> bytes:
        if direction == "resp" and data == b"\x00" and server._state.name == "FINAL_SENT":
            return b"\x00\x15\x03\x03\x00\x02\x02\x28"
        return data

    run = converse(peer, server, alert)
    assert run.server_success is False and server.keys() is None


def test_peer_discards_everything_after_the_end(pki: Pki) -> None:
    peer, server = peer_for(pki), server_for(pki)
    assert converse(peer, server).success
    assert peer.process(b"\x20", 99) == MethodStep(None)
    assert server.process(b"\x00", 99, 100).discard


# --- fragmentation -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("size", [1, 7, 64, 300, 1000, 1398, 20000])
def test_fragmentation_round_trip(pki: Pki, version: TlsVersion, size: int) -> None:
    peer = peer_for(pki, version, fragment_size=size)
    server = server_for(pki, fragment_size=size)
    run = converse(peer, server)
    assert run.success
    assert same_keys(peer.keys(), server.keys())
    for msgs in (run.requests[1:], run.responses):
        in_message = False
        for td in msgs:
            fr = parse_frame(td)
            assert len(fr.data) <= size
            assert not fr.start
            if fr.message_length is not None:
                # L only on the first fragment of a fragmented message (RFC 9190 s2.1.6).
                assert not in_message and fr.more
            if fr.more:
                in_message = True
            elif fr.data:
                in_message = False
    if size == 1:
        assert len(run.requests) > 1000  # really one octet per message


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("size", [1, 5])
def test_fragmented_alerts(pki: Pki, other_ca_pki: Pki, version: TlsVersion, size: int) -> None:
    """Alerts longer than a fragment are fragmented and acknowledged like any TLS data."""
    peer = peer_for(pki, version, fragment_size=size)
    server = TlsServer(
        cert=other_ca_pki.server.cert,
        key=other_ca_pki.server.key,
        ca=pki.ca.cert,
        fragment_size=size,
    )
    run = converse(peer, server)
    assert_failed(run, peer, server)
    assert run.last_peer is not None and run.last_peer.done
    alert = b"".join(parse_frame(r).data for r in run.responses[-(8 * 24) :])
    assert b"\x15\x03" in alert or b"\x17\x03" in alert
    peer = TlsPeer(
        ca=pki.ca.cert,
        cert=other_ca_pki.client.cert,
        key=other_ca_pki.client.key,
        max_version=version,
        fragment_size=size,
    )
    server = server_for(pki, fragment_size=size)
    run = converse(peer, server)
    assert_failed(run, peer, server)


def test_default_fragment_size_fits_a_pana_datagram(pki: Pki) -> None:
    run = converse(peer_for(pki, V13), server_for(pki))
    assert run.success
    assert max(len(m) for m in run.requests + run.responses) <= 1000 + 5


def test_peer_rejects_message_above_its_cap(pki: Pki) -> None:
    peer = peer_for(pki, V13, max_message_length=1500)
    server = server_for(pki, fragment_size=500)
    run = converse(peer, server)
    assert_failed(run, peer, server)


def test_server_rejects_message_above_its_cap(pki: Pki) -> None:
    peer = peer_for(pki, V12, fragment_size=100)
    server = server_for(pki, max_message_length=150)
    run = converse(peer, server)
    assert_failed(run, peer, server)


def test_reassembler_limits() -> None:
    r = Reassembler(100)
    with pytest.raises(FragmentError, match="above the limit"):
        r.feed(parse_frame(build_frame(FLAG_M, b"x", 101)))
    r = Reassembler(100)
    assert r.feed(parse_frame(build_frame(FLAG_M, b"abc", 5))) is None
    with pytest.raises(FragmentError, match="exceed"):
        r.feed(parse_frame(build_frame(0, b"def")))
    r = Reassembler(100)
    assert r.feed(parse_frame(build_frame(FLAG_M, b"abc", 8))) is None
    with pytest.raises(FragmentError, match="ends before"):
        r.feed(parse_frame(build_frame(0, b"de")))
    r = Reassembler(100)
    with pytest.raises(FragmentError, match="empty fragment"):
        r.feed(parse_frame(bytes([FLAG_M])))
    r = Reassembler(10)
    assert r.feed(parse_frame(build_frame(FLAG_M, b"0123456"))) is None  # no L: cap still applies
    with pytest.raises(FragmentError, match="above the limit"):
        r.feed(parse_frame(build_frame(FLAG_M, b"789ab")))
    r = Reassembler(100)
    assert r.feed(parse_frame(build_frame(FLAG_M, b"ab", 4))) is None
    with pytest.raises(FragmentError, match="changed"):
        r.feed(parse_frame(build_frame(0, b"cd", 5)))
    r = Reassembler(100)
    assert r.feed(parse_frame(build_frame(FLAG_M, b"ab", 4))) is None
    assert r.feed(parse_frame(build_frame(0x07, b"cd", 4))) == b"abcd"  # reserved bits ignored
    assert r.feed(parse_frame(build_frame(0, b"solo", 4))) == b"solo"  # L on unfragmented: OK


def test_parse_frame_errors() -> None:
    for bad in (b"", b"\x80", b"\x80\x00\x00\x00", b"\xc0\x00\x00"):
        with pytest.raises(FragmentError):
            parse_frame(bad)
    fr = parse_frame(b"\xe0\x00\x00\x00\x02ab")
    assert fr.start and fr.more and fr.message_length == 2 and fr.data == b"ab"


def test_fragmenter() -> None:
    f = Fragmenter(b"abcdefg", 3)
    out = []
    while not f.done:
        out.append(f.next())
    assert out == [
        bytes([FLAG_L | FLAG_M]) + b"\x00\x00\x00\x07abc",
        bytes([FLAG_M]) + b"def",
        b"\x00g",
    ]
    one = Fragmenter(b"abc", 3)
    assert one.next() == b"\x00abc" and one.done


def test_peer_fails_on_data_instead_of_fragment_ack(pki: Pki) -> None:
    peer = peer_for(pki, V13, fragment_size=100)
    first = peer.process(b"\x20", 1)
    assert first.response is not None and parse_frame(first.response).more
    step = peer.process(b"\x00\x16\x03\x03", 2)
    assert step.done and step.decision is Decision.FAIL and step.response == b"\x00"


def test_server_fails_on_data_instead_of_fragment_ack(pki: Pki) -> None:
    peer, server = peer_for(pki, V13), server_for(pki, fragment_size=100)

    def data_not_ack(direction: str, index: int, data: bytes) -> bytes:
        if direction == "resp" and index == 2 and data == b"\x00":
            return b"\x00\x16"
        return data

    run = converse(peer, server, data_not_ack)
    assert_failed(run, peer, server)


def test_unexpected_ack_fails_both_sides(pki: Pki) -> None:
    peer = peer_for(pki, V12)  # its ClientHello fits one message
    assert peer.process(b"\x20", 1).response is not None
    step = peer.process(b"\x00", 2)  # nothing of ours to acknowledge
    assert step.done and step.decision is Decision.FAIL
    server = server_for(pki)
    out = server.process(b"\x00", 1, 2)  # an ACK where the ClientHello belongs
    assert out.done and not out.success


def test_length_violations_fail_the_method(pki: Pki) -> None:
    """Data beyond the announced TLS Message Length, or a length above the cap: failure."""
    cases = [
        build_frame(FLAG_M, bytes(20), 10),  # more data than announced
        build_frame(FLAG_M, bytes(20), 70000),  # announced length above the 65536 cap
        build_frame(0, bytes(5), 10),  # last fragment short of the announced length
    ]
    for bad in cases:
        peer = peer_for(pki, V12)
        assert peer.process(b"\x20", 1).response is not None
        step = peer.process(bad, 2)
        assert step.done and step.decision is Decision.FAIL and step.response == b"\x00"
        assert peer.process(b"\x00", 3).response is None  # over: later requests are discarded
        server = server_for(pki)
        out = server.process(bad, 1, 2)
        assert out.done and not out.success and server.keys() is None
    # Over two fragments: the second one overruns the length the first announced.
    server = server_for(pki)
    assert server.process(build_frame(FLAG_M, bytes(8), 12), 1, 2).request == b"\x00"
    out = server.process(build_frame(0, bytes(8)), 2, 3)
    assert out.done and not out.success


def test_bad_requests_are_discarded(pki: Pki) -> None:
    peer = peer_for(pki)
    assert peer.process(b"", 1).response is None  # no Flags octet
    assert peer.process(b"\x00\x16", 1).response is None  # not a Start
    assert peer.process(b"\x80\x00", 1).response is None  # truncated length
    assert peer.process(b"\x20", 1).response is not None  # Start is still accepted
    assert peer.process(b"\x20", 2).response is None  # a second Start is discarded
    server = server_for(pki)
    assert server.process(b"", 1, 2).discard
    assert server.process(b"\xa0\x00\x00\x00\x01", 1, 2).discard  # S in a Response


# --- random input ---------------------------------------------------------------------------------

_FACTORIES: dict[tuple[int, int], tuple[Callable[[], TlsPeer], Callable[[], TlsServer]]] = {}


def _factories(pki: Pki, size: int) -> tuple[Callable[[], TlsPeer], Callable[[], TlsServer]]:
    """Shared-context factories, so that hypothesis examples do not reload certificates."""
    key = (id(pki), size)
    if key not in _FACTORIES:
        _FACTORIES[key] = (
            TlsPeer.factory(
                ca=pki.ca.cert, cert=pki.client.cert, key=pki.client.key, fragment_size=size
            ),
            TlsServer.factory(
                cert=pki.server.cert, key=pki.server.key, ca=pki.ca.cert, fragment_size=size
            ),
        )
    return _FACTORIES[key]


_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_SETTINGS
@given(data=st.lists(st.binary(max_size=64), max_size=6))
def test_random_requests_never_raise_or_succeed(pki: Pki, data: list[bytes]) -> None:
    peer = _factories(pki, 64)[0]()
    peer.process(b"\x20", 0)
    for i, td in enumerate(data, 1):
        step = peer.process(td, i)
        assert step.decision is Decision.FAIL
    assert peer.keys() is None


@_SETTINGS
@given(data=st.lists(st.binary(max_size=64), max_size=6))
def test_random_responses_never_raise_or_succeed(pki: Pki, data: list[bytes]) -> None:
    server = _factories(pki, 64)[1]()
    for i, td in enumerate(data, 1):
        out = server.process(td, i, i + 1)
        assert not out.success
    assert server.keys() is None


@_SETTINGS
@given(
    which=st.integers(min_value=0, max_value=40),
    pos=st.integers(min_value=0, max_value=2000),
    xor=st.integers(min_value=1, max_value=255),
    side=st.sampled_from(["req", "resp"]),
)
def test_bit_flips_never_succeed_with_different_keys(
    pki: Pki, which: int, pos: int, xor: int, side: str
) -> None:
    """Flip one octet of one message: either both sides still agree, or nobody succeeds."""

    def flip(direction: str, index: int, data: bytes) -> bytes:
        if direction == side and index == which and data:
            i = pos % len(data)
            return data[:i] + bytes([data[i] ^ xor]) + data[i + 1 :]
        return data

    make_peer, make_server = _factories(pki, 300)
    peer, server = make_peer(), make_server()
    run = converse(peer, server, flip)
    if run.server_success:
        assert run.peer_success and same_keys(peer.keys(), server.keys())
    else:
        assert server.keys() is None


# --- packaging ------------------------------------------------------------------------------------


def test_eap_imports_without_pyopenssl() -> None:
    code = (
        "import sys; sys.modules['OpenSSL'] = None\n"
        "import eap, eap.methods, eap.methods.tls, eap.tlsprf\n"
        "from eap.methods.tls import TlsPeer, TlsUnavailableError\n"
        "try:\n    TlsPeer(ca=None, verify=False)\n"
        "except TlsUnavailableError as e:\n    print('clear error:', e)\n"
    )
    root = Path(__file__).resolve().parents[3]
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert res.returncode == 0, res.stderr
    assert "clear error:" in res.stdout and "tls" in res.stdout


@pytest.mark.parametrize("version", VERSIONS)
def test_keys_never_reach_the_logs(
    pki: Pki, other_ca_pki: Pki, version: TlsVersion, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    peer, server = peer_for(pki, version), server_for(pki)
    assert converse(peer, server).success
    keys = peer.keys()
    assert keys is not None and keys.emsk is not None
    bad_peer = peer_for(other_ca_pki, version)
    assert not converse(bad_peer, server_for(pki)).success
    text = caplog.text.lower()
    assert "authenticated" in text and "failed" in text  # the lifecycle is logged...
    for secret in (keys.msk.reveal(), keys.emsk.reveal()):
        assert secret[:8].hex() not in text  # ...the keys are not


@pytest.mark.parametrize("version", VERSIONS)
def test_opt_in_key_log(pki: Pki, version: TlsVersion) -> None:
    """key_log= writes NSS key log lines (Wireshark); TLS 1.2's master secret is the real one."""
    log = io.StringIO()
    peer, server = peer_for(pki, version, key_log=log), server_for(pki)
    assert converse(peer, server).success
    lines = [line.split() for line in log.getvalue().splitlines()]
    conn = peer._tls.conn
    cr = conn.client_random()
    assert cr is not None
    labels = {label for label, random, _secret in lines if random == cr.hex()}
    if version is V12:
        master = conn.master_key()
        assert master is not None
        assert ["CLIENT_RANDOM", cr.hex(), master.hex()] in lines
    else:
        assert {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "EXPORTER_SECRET"} <= labels


def test_keys_do_not_print(pki: Pki) -> None:
    peer, server = peer_for(pki), server_for(pki)
    assert converse(peer, server).success
    keys = peer.keys()
    assert keys is not None
    text = repr(keys) + str(keys)
    assert keys.msk.reveal().hex() not in text and keys.msk.reveal()[:8].hex() not in text


# --- offline derivation for captured TLS 1.0 conversations --------------------------------------

_EXPECTED_MSKS = [
    "87b6848ed877b855eff33a2c1aad0a04ed800c1abb16ff58be5ce94286b7a82d"
    "b2d9d7af6b468b79036c6570791025f645752b323e387412dfebf83b2c31dc58",
    "e17d633a3f285b69e758cc0795a3443b2e5302107708145807157f3ffedf7679"
    "e983a79ed7383b2c0a0af95dda555520c1529b6b11415a4bd149b7728b99f31e",
]


@pytest.mark.interop
def test_offline_msk_of_the_openpana_capture() -> None:
    blocks = load_blocks(VECTORS)
    key = capture_server_key()
    for run, expected in enumerate(_EXPECTED_MSKS, 1):
        c, s = blocks[f"run{run}.client"], blocks[f"run{run}.server"]
        hs = parse_rsa_handshake(c, s)
        assert (hs.version, hs.cipher_suite) == (0x0301, 0x002F)
        keys = rsa_eap_tls_keys(c, s, key)
        assert keys.msk.reveal().hex() == expected
        assert keys.session_id == b"\x0d" + hs.client_random + hs.server_random


@pytest.mark.interop
def test_offline_derivation_rejects_bad_input() -> None:
    blocks = load_blocks(VECTORS)
    key = capture_server_key()
    c, s = blocks["run1.client"], blocks["run1.server"]
    with pytest.raises(TlsOfflineError, match=r"does not decrypt|malformed"):
        rsa_eap_tls_keys(c, s, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(TlsOfflineError, match="ServerHello"):
        rsa_eap_tls_keys(c, b"", key)
    with pytest.raises(TlsOfflineError, match="runs past"):
        rsa_eap_tls_keys(c[:100], s, key)
    with pytest.raises(TlsOfflineError, match="ClientKeyExchange"):
        rsa_eap_tls_keys(c[: 5 + 0x33], s, key)  # only the ClientHello record


@pytest.mark.interop
@pytest.mark.tshark
def test_vectors_match_the_capture() -> None:
    """The stored hex is exactly what tshark extracts from the capture's EAP-TLS messages."""
    tshark = need_binary("tshark")
    d = captures_dir()
    pcap = None if d is None else d / "openpana-eaptls-loopback.pcapng"
    if pcap is None or not pcap.is_file():
        missing("the captures in ../shared/pcaps (set PANA_CAPTURES)")
    out = subprocess.run(
        [tshark, "-r", str(pcap), "-T", "fields", "-e", "udp.payload"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    eap_packets = []
    for hx in out.split():
        pana = bytes.fromhex(hx)
        pos = 16
        while pos + 8 <= len(pana):  # RFC 5191 s6.3 AVP header; EAP-Payload is code 2
            code, flags, length = (
                int.from_bytes(pana[pos + i : pos + i + 2], "big") for i in (0, 2, 4)
            )
            vpos = pos + 8 + (4 if flags & 0x8000 else 0)
            if code == 2:
                eap_packets.append(pana[vpos : vpos + length])
            pos = vpos + length + (-length % 4)
    runs = eap_tls_handshakes(eap_packets)
    blocks = load_blocks(VECTORS)
    assert len(runs) == 2
    for i, (client, server) in enumerate(runs, 1):
        assert blocks[f"run{i}.client"] == client
        assert blocks[f"run{i}.server"] == server
    # Retransmitted EAP packets (here: every packet twice) are counted once.
    assert eap_tls_handshakes([p for p in eap_packets for _ in (0, 1)]) == runs


def test_tls12_prf_matches_openssl(pki: Pki) -> None:
    """Our P_SHA256 PRF equals OpenSSL's RFC 5705 exporter over a live TLS 1.2 session."""
    peer, server = peer_for(pki, V12, cipher_list="ECDHE-ECDSA-AES128-GCM-SHA256"), server_for(pki)
    assert converse(peer, server).success
    conn = server._tls.conn
    master, cr, sr = conn.master_key(), conn.client_random(), conn.server_random()
    assert master is not None and cr is not None and sr is not None
    for label, n in ((b"client EAP encryption", 128), (b"EXPORTER-test", 7), (b"x", 200)):
        assert tls_prf(TLS1_2, master, label, cr + sr, n) == conn.export_keying_material(label, n)


@pytest.fixture(scope="module")
def rsa_pki() -> Pki:
    return make_pki(kind="rsa")


@pytest.mark.parametrize(
    ("version", "cipher"),
    [
        pytest.param(TlsVersion.TLS1_0, "AES128-SHA", id="tls10"),
        pytest.param(TlsVersion.TLS1_1, "AES128-SHA", id="tls11"),
        pytest.param(TlsVersion.TLS1_2, "AES128-GCM-SHA256", id="tls12-sha256"),
        pytest.param(TlsVersion.TLS1_2, "AES256-GCM-SHA384", id="tls12-sha384"),
    ],
)
def test_legacy_rsa_handshakes_live_and_offline(
    rsa_pki: Pki, version: TlsVersion, cipher: str
) -> None:
    """Opt-in TLS 1.0/1.1 (OpenPANA's client) works; offline derivation reproduces every MSK.

    OpenSSL negotiates the extended master secret (RFC 7627) here, so this also covers the
    session-hash path of the offline derivation; the OpenPANA capture covers the classic one.
    """
    legacy = {"min_version": version, "cipher_list": f"{cipher}:@SECLEVEL=0"}
    peer = peer_for(rsa_pki, version, **legacy)
    server = server_for(rsa_pki, **legacy)
    run = converse(peer, server)
    assert run.success and peer.version is version
    live = peer.keys()
    assert live is not None and live.emsk is not None
    conn = peer._tls.conn
    master, cr, sr = conn.master_key(), conn.client_random(), conn.server_random()
    assert master is not None and cr is not None and sr is not None
    hash_name = "sha384" if cipher.endswith("SHA384") else "sha256"
    km = tls_prf(version, master, b"client EAP encryption", cr + sr, 128, hash_name=hash_name)
    assert live.msk.reveal() + live.emsk.reveal() == km  # our PRF == OpenSSL's exporter
    client = b"".join(parse_frame(r).data for r in run.responses)
    srv = b"".join(parse_frame(r).data for r in run.requests)
    hs = parse_rsa_handshake(client, srv)
    assert hs.extended_master_secret and hs.version == version
    assert isinstance(rsa_pki.server.key, rsa.RSAPrivateKey)
    assert same_keys(rsa_eap_tls_keys(client, srv, rsa_pki.server.key), live)


def test_legacy_versions_are_off_by_default(rsa_pki: Pki) -> None:
    peer = peer_for(
        rsa_pki,
        min_version=TlsVersion.TLS1_0,
        max_version=TlsVersion.TLS1_0,
        cipher_list="AES128-SHA:@SECLEVEL=0",
    )
    server = server_for(rsa_pki)  # defaults: TLS 1.2 .. 1.3
    assert_failed(converse(peer, server), peer, server)


def test_tls_prf_rejects_unknown_version() -> None:
    with pytest.raises(ValueError, match="0x0304"):
        tls_prf(0x0304, b"k", b"l", b"s", 10)


# --- through EapPeer and EapAuthenticator -------------------------------------------------------


def eap_pair(peer: Callable[[], TlsPeer], server: Callable[[], TlsServer]) -> Conversation:
    eap_peer = EapPeer(identity=b"user1", methods={13: peer})
    auth = EapAuthenticator(methods=lambda identity: [server], rng=seeded_rng(13))
    return eap_converse(eap_peer, auth)


@pytest.mark.parametrize("version", VERSIONS)
def test_eap_peer_and_authenticator_succeed(pki: Pki, version: TlsVersion) -> None:
    make_server = TlsServer.factory(cert=pki.server.cert, key=pki.server.key, ca=pki.ca.cert)
    conv = eap_pair(lambda: peer_for(pki, version), make_server)
    assert conv.auth_result is not None and conv.peer_result is not None
    assert conv.auth_result.success and conv.peer_result.success
    assert conv.auth_result.method_type == conv.peer_result.method_type == 13
    assert same_keys(conv.auth_result.keys, conv.peer_result.keys)
    assert conv.final is not None and conv.final[0] == 3  # EAP-Success


@pytest.mark.parametrize("version", VERSIONS)
def test_eap_peer_and_authenticator_fail_on_untrusted_client(
    pki: Pki, other_ca_pki: Pki, version: TlsVersion
) -> None:
    conv = eap_pair(
        lambda: TlsPeer(
            ca=pki.ca.cert,
            cert=other_ca_pki.client.cert,
            key=other_ca_pki.client.key,
            max_version=version,
        ),
        lambda: server_for(pki),
    )
    assert conv.auth_result is not None and not conv.auth_result.success
    assert conv.peer_result is not None and not conv.peer_result.success
    assert conv.final is not None and conv.final[0] == 4  # EAP-Failure


def test_eap_peer_rejects_success_before_the_commitment(pki: Pki) -> None:
    """TLS 1.3: an EAP-Success injected before the 0x00 record ends the peer in failure."""
    tls_peer = peer_for(pki, V13)
    eap_peer = EapPeer(identity=b"user1", methods={13: lambda: tls_peer})
    auth = EapAuthenticator(methods=lambda identity: [lambda: server_for(pki)], rng=seeded_rng(5))
    out = auth.start()
    while True:
        assert out.packet is not None and out.result is None
        reply = eap_peer.receive(out.packet)
        assert reply.response is not None
        if tls_peer._state.name == "WAIT_COMMITMENT":
            break
        out = auth.receive(reply.response)
    forged = bytes([3, reply.response[1], 0, 4])
    result = eap_peer.receive(forged).result
    assert result is not None and not result.success and result.keys is None


def test_eap_tls_handshakes_framing() -> None:
    start = bytes([1, 5, 0, 6, 13, 0x20])
    hello = bytes([2, 5, 0, 9, 13, 0x00]) + b"abc"
    frag = bytes([1, 6, 0, 13, 13, 0xC0, 0, 0, 0, 5]) + b"xyz"
    ack = bytes([2, 6, 0, 6, 13, 0x00])
    last = bytes([1, 7, 0, 8, 13, 0x00]) + b"uv"
    other = bytes([2, 7, 0, 6, 1]) + b"x"  # not EAP-TLS: skipped
    packets = [start, hello, frag, ack, last, other, start, hello]
    assert eap_tls_handshakes(packets) == [(b"abc", b"xyzuv"), (b"abc", b"")]
    with pytest.raises(TlsOfflineError, match="Length"):
        eap_tls_handshakes([bytes([1, 1, 0, 10, 13, 0x20])])
    with pytest.raises(TlsOfflineError, match="framing"):
        eap_tls_handshakes([bytes([1, 1, 0, 7, 13, 0x80, 0])])

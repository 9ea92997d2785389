"""EAP-TLS against wpa_supplicant (eapol_test) and hostapd 2.10 over a minimal RADIUS link."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from eap.methods.tls import TlsPeer, TlsServer, TlsVersion
from tests.eap.methods import _radius_min as rad
from tests.pki import Pki, make_pki
from tests.realcomponents import need_binary, need_root

VERSIONS = [
    pytest.param(TlsVersion.TLS1_2, id="tls12"),
    pytest.param(TlsVersion.TLS1_3, id="tls13"),
]
SECRET = b"pana-tls-test"


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


def write_pki(pki: Pki, d: Path) -> dict[str, Path]:
    """PEM files for the C programs (throw-away keys in the test's tmp dir)."""
    pem = serialization.Encoding.PEM
    files = {
        "ca": pki.ca.cert.public_bytes(pem),
        "server": pki.server.cert.public_bytes(pem),
        "client": pki.client.cert.public_bytes(pem),
        "server_key": pki.server.key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        "client_key": pki.client.key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    }
    out = {}
    for name, data in files.items():
        p = d / f"{name}.pem"
        p.write_bytes(data)
        out[name] = p
    return out


def eap_packet(code: int, ident: int, type_data: bytes | None) -> bytes:
    """EAP header (RFC 3748 s4) + Type 13 + Type-Data; Success/Failure without type."""
    if type_data is None:
        return struct.pack("!BBH", code, ident, 4)
    return struct.pack("!BBHB", code, ident, 5 + len(type_data), 13) + type_data


# --- our server <-> wpa_supplicant (eapol_test) ---------------------------------------------


def serve_radius(
    sock: socket.socket, proc: subprocess.Popen[str], version: TlsVersion, pki: Pki
) -> TlsServer | None:
    """Answer eapol_test's Access-Requests with our TlsServer until eapol_test exits."""
    server: TlsServer | None = None
    cache: dict[tuple[int, bytes], bytes] = {}
    next_id = 10
    sock.settimeout(0.2)  # only to notice eapol_test's exit; no assertion depends on it
    while proc.poll() is None:
        try:
            data, addr = sock.recvfrom(4096)
        except TimeoutError:
            continue
        req = rad.decode(data)
        key = (req.identifier, req.authenticator)
        if key in cache:  # RADIUS retransmission
            sock.sendto(cache[key], addr)
            continue
        eap = req.eap()
        code, ident, _length = struct.unpack_from("!BBH", eap)
        etype = eap[4] if len(eap) > 4 else None
        reply: rad.Radius
        if etype == 1:  # Response/Identity: start EAP-TLS
            server = TlsServer(
                cert=pki.server.cert, key=pki.server.key, ca=pki.ca.cert, max_version=version
            )
            next_id = (ident + 1) % 256
            td = server.initial_request(next_id)
            reply = rad.Radius(
                rad.ACCESS_CHALLENGE,
                req.identifier,
                b"",
                [*rad.eap_attrs(eap_packet(1, next_id, td)), (rad.STATE, b"s")],
            )
        else:
            assert server is not None and code == 2 and etype == 13
            nid = (ident + 1) % 256
            step = server.process(eap[5:], ident, nid)
            assert not step.discard
            if step.request is not None:
                reply = rad.Radius(
                    rad.ACCESS_CHALLENGE,
                    req.identifier,
                    b"",
                    [*rad.eap_attrs(eap_packet(1, nid, step.request)), (rad.STATE, b"s")],
                )
            elif step.success:
                keys = server.keys()
                assert keys is not None
                msk = keys.msk.reveal()
                attrs = [
                    *rad.eap_attrs(eap_packet(3, ident, None)),
                    # RFC 2548: Recv-Key = MSK[0:32], Send-Key = MSK[32:64] (RFC 5216 s2.3).
                    rad.vsa(
                        rad.MICROSOFT,
                        rad.MS_MPPE_RECV_KEY,
                        rad.mppe_encrypt(msk[:32], SECRET, req.authenticator, b"\x80\x01"),
                    ),
                    rad.vsa(
                        rad.MICROSOFT,
                        rad.MS_MPPE_SEND_KEY,
                        rad.mppe_encrypt(msk[32:64], SECRET, req.authenticator, b"\x80\x02"),
                    ),
                ]
                if req.get(rad.EAP_KEY_NAME) is not None:
                    attrs.append((rad.EAP_KEY_NAME, keys.session_id))
                reply = rad.Radius(rad.ACCESS_ACCEPT, req.identifier, b"", attrs)
            else:
                reply = rad.Radius(
                    rad.ACCESS_REJECT,
                    req.identifier,
                    b"",
                    rad.eap_attrs(eap_packet(4, ident, None)),
                )
        raw = rad.encode(reply, SECRET, req.authenticator)
        cache[key] = raw
        sock.sendto(raw, addr)
    return server


@pytest.mark.hostapd
@pytest.mark.udp
@pytest.mark.parametrize("version", VERSIONS)
def test_wpa_supplicant_peer_against_our_server(
    pki: Pki, tmp_path: Path, version: TlsVersion
) -> None:
    eapol_test = need_binary("eapol_test")
    f = write_pki(pki, tmp_path)
    # wpa_supplicant 2.10 disables TLS 1.3 for EAP-TLS unless phase1 enables it.
    phase1 = "tls_disable_tlsv1_3=0" if version is TlsVersion.TLS1_3 else "tls_disable_tlsv1_3=1"
    conf = tmp_path / "tls.conf"
    conf.write_text(
        'network={\n key_mgmt=IEEE8021X\n eapol_flags=0\n eap=TLS\n identity="user1"\n'
        f' ca_cert="{f["ca"]}"\n client_cert="{f["client"]}"\n private_key="{f["client_key"]}"\n'
        f' domain_match="paa.test"\n phase1="{phase1}"\n}}\n'
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        proc = subprocess.Popen(
            [
                eapol_test,
                "-c",
                str(conf),
                "-a",
                "127.0.0.1",
                "-p",
                str(port),
                "-s",
                SECRET.decode(),
                "-r0",
                "-t10",
                "-e",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            server = serve_radius(sock, proc, version, pki)
            out, _ = proc.communicate()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, out[-3000:]
    assert "SUCCESS" in out
    assert "MPPE keys OK: 1  mismatch: 0" in out  # wpa_supplicant's MSK equals ours
    assert server is not None and server.version is version
    keys = server.keys()
    assert keys is not None
    # eapol_test prints its own Session-Id (EAP-Key-Name); it must equal ours.
    assert keys.session_id.hex() in out.replace(" ", "")


# --- our peer <-> hostapd's EAP server ------------------------------------------------------


@contextlib.contextmanager
def namespace() -> Iterator[str]:
    """A private network namespace with lo up; removed even on failure."""
    need_root()
    name = f"pana-tls-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def socket_in(ns: str) -> socket.socket:
    """A UDP socket created inside namespace ``ns`` (setns applies to this thread only)."""
    from pyroute2 import netns

    netns.pushns(ns)
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    finally:
        netns.popns()


def hostapd_config(d: Path, f: dict[str, Path], port: int, version: TlsVersion) -> Path:
    (d / "clients").write_text(f"127.0.0.1/32 {SECRET.decode()}\n")
    (d / "users").write_text('"user1" TLS\n')
    flags = "[ENABLE-TLSv1.3]" if version is TlsVersion.TLS1_3 else "[DISABLE-TLSv1.3]"
    conf = d / "hostapd.conf"
    conf.write_text(
        "driver=none\ninterface=pana-tls\nlogger_stdout=-1\nlogger_stdout_level=1\n"
        f"radius_server_clients={d / 'clients'}\nradius_server_auth_port={port}\n"
        f"eap_server=1\neap_user_file={d / 'users'}\nca_cert={f['ca']}\n"
        f"server_cert={f['server']}\nprivate_key={f['server_key']}\ntls_flags={flags}\n"
    )
    return conf


def run_peer_over_radius(sock: socket.socket, port: int, peer: TlsPeer) -> tuple[bool, bytes]:
    """Drive our peer through hostapd's RADIUS server; (accepted, MSK from MS-MPPE keys)."""
    sock.settimeout(0.5)
    identity = b"user1"
    eap = struct.pack("!BBHB", 2, 0, 5 + len(identity), 1) + identity
    state: bytes | None = None
    for rid in range(200):
        auth = os.urandom(16)
        attrs = [(1, identity), *rad.eap_attrs(eap)]
        if state is not None:
            attrs.append((rad.STATE, state))
        raw = rad.encode(rad.Radius(rad.ACCESS_REQUEST, rid, auth, attrs), SECRET)
        reply = None
        for _attempt in range(20):  # hostapd needs a moment to bind after starting
            sock.sendto(raw, ("127.0.0.1", port))
            try:
                reply = rad.decode(sock.recv(8192))
                break
            except (TimeoutError, ConnectionRefusedError):
                continue
        assert reply is not None, "no answer from hostapd"
        state = reply.get(rad.STATE)
        if reply.code == rad.ACCESS_ACCEPT:
            recv = reply.vendor(rad.MICROSOFT, rad.MS_MPPE_RECV_KEY)
            send = reply.vendor(rad.MICROSOFT, rad.MS_MPPE_SEND_KEY)
            assert recv is not None and send is not None
            eap_ok = reply.eap()
            assert eap_ok[0] == 3  # EAP-Success
            return True, rad.mppe_decrypt(recv, SECRET, auth) + rad.mppe_decrypt(send, SECRET, auth)
        if reply.code == rad.ACCESS_REJECT:
            return False, b""
        req = reply.eap()
        assert req[0] == 1 and req[4] == 13
        step = peer.process(req[5:], req[1])
        assert step.response is not None
        eap = eap_packet(2, req[1], step.response)
    raise AssertionError("conversation did not end")


@pytest.mark.hostapd
@pytest.mark.netns
@pytest.mark.parametrize("version", VERSIONS)
def test_our_peer_against_hostapd(pki: Pki, tmp_path: Path, version: TlsVersion) -> None:
    hostapd = need_binary("hostapd")
    f = write_pki(pki, tmp_path)
    port = 20000 + secrets.randbelow(40000)
    conf = hostapd_config(tmp_path, f, port, version)
    with namespace() as ns:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, hostapd, str(conf)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            sock = socket_in(ns)
            with sock:
                peer = TlsPeer(
                    ca=pki.ca.cert,
                    cert=pki.client.cert,
                    key=pki.client.key,
                    server_names=["paa.test"],
                    max_version=version,
                )
                accepted, msk = run_peer_over_radius(sock, port, peer)
        finally:
            proc.terminate()
            try:
                out, _ = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
    assert accepted, out[-3000:]
    assert peer.version is version
    keys = peer.keys()
    assert keys is not None and keys.msk.reveal() == msk  # hostapd's MSK equals ours

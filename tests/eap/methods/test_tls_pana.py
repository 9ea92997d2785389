"""EAP-TLS carried by PANA: PacSession and PaaServer on a VirtualNet (RFC 5191, RFC 5216/9190)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from eap.authenticator import EapAuthenticator
from eap.methods.tls import TlsPeer, TlsServer, TlsVersion
from eap.peer import EapPeer
from eap.tlsprf import eap_tls_handshakes, rsa_eap_tls_keys
from pana_codecs import AvpCode, decode_pana
from pana_mpa.aio.virtualnet import VirtualNet
from pana_mpa.cli import main as cli_main
from pana_mpa.cli.capture import read_pana
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.events import Authenticated, AuthenticationFailed, PanaEvent, Reauthenticated
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession
from tests.eap.methods._tls_capture import capture_server_key, captures_dir
from tests.pki import Pki, make_pki
from tests.traces import trace_records

PAC_ADDR = ("192.0.2.10", 40000)
PAA_ADDR = ("192.0.2.1", 716)
VERSIONS = [
    pytest.param(TlsVersion.TLS1_2, id="tls12"),
    pytest.param(TlsVersion.TLS1_3, id="tls13"),
]


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="module")
def other_pki() -> Pki:
    return make_pki()


def build(
    peer_factory: Callable[[], TlsPeer], server_factory: Callable[[], TlsServer], **net: float
) -> tuple[VirtualNet, PacSession, PaaServer]:
    vnet = VirtualNet(seed=9, **net)
    peer = EapPeer(identity=b"user1", methods={13: peer_factory})
    pac = PacSession(PacConfig(), paa=PAA_ADDR, eap=peer, rng=random.Random(1).randbytes)

    def eap_factory() -> EapAuthenticator:
        return EapAuthenticator(
            methods=lambda ident: [server_factory], rng=random.Random(2).randbytes
        )

    paa = PaaServer(PaaConfig(), eap_factory=eap_factory, rng=random.Random(3).randbytes)
    vnet.add(PAC_ADDR, pac)
    vnet.add(PAA_ADDR, paa)
    return vnet, pac, paa


def only(events: list[PanaEvent], kind: type[PanaEvent]) -> list[PanaEvent]:
    return [e for e in events if isinstance(e, kind)]


@pytest.mark.parametrize("version", VERSIONS)
def test_pana_session_with_eap_tls(pki: Pki, version: TlsVersion) -> None:
    make_peer = TlsPeer.factory(
        ca=pki.ca.cert,
        cert=pki.client.cert,
        key=pki.client.key,
        max_version=version,
        server_names=["paa.test"],
    )
    make_server = TlsServer.factory(cert=pki.server.cert, key=pki.server.key, ca=pki.ca.cert)
    vnet, pac, _paa = build(make_peer, make_server)
    pac.start(0.0)
    vnet.run(30.0)
    pac_auth = only(vnet.take_events(PAC_ADDR), Authenticated)
    paa_auth = only(vnet.take_events(PAA_ADDR), Authenticated)
    assert len(pac_auth) == 1 and len(paa_auth) == 1
    a, b = pac_auth[0], paa_auth[0]
    assert isinstance(a, Authenticated) and isinstance(b, Authenticated)
    assert a.msk is not None and a.msk == b.msk and a.key_id == b.key_id
    # The default fragment size keeps every PANA datagram well below a 1280-octet IPv6 MTU.
    assert max(len(d.data) for d in vnet.log) <= 1100

    # PaC-initiated re-authentication runs a fresh EAP-TLS handshake and yields a new MSK.
    pac.reauthenticate(vnet.now)
    vnet.run(vnet.now + 30.0)
    re_pac = only(vnet.take_events(PAC_ADDR), Reauthenticated)
    re_paa = only(vnet.take_events(PAA_ADDR), Reauthenticated)
    assert len(re_pac) == 1 and len(re_paa) == 1
    c, d = re_pac[0], re_paa[0]
    assert isinstance(c, Reauthenticated) and isinstance(d, Reauthenticated)
    assert c.msk is not None and c.msk == d.msk and c.msk != a.msk


@pytest.mark.parametrize("version", VERSIONS)
def test_pana_eap_tls_survives_loss(pki: Pki, version: TlsVersion) -> None:
    """PANA retransmits lost fragments and ACKs; EAP-TLS still completes with equal keys."""
    make_peer = TlsPeer.factory(
        ca=pki.ca.cert, cert=pki.client.cert, key=pki.client.key, max_version=version
    )
    make_server = TlsServer.factory(cert=pki.server.cert, key=pki.server.key, ca=pki.ca.cert)
    vnet, pac, _paa = build(make_peer, make_server, loss=0.2, duplicate=0.1)
    pac.start(0.0)
    vnet.run(120.0)
    pac_auth = only(vnet.take_events(PAC_ADDR), Authenticated)
    paa_auth = only(vnet.take_events(PAA_ADDR), Authenticated)
    assert len(pac_auth) == 1 and len(paa_auth) == 1
    a, b = pac_auth[0], paa_auth[0]
    assert isinstance(a, Authenticated) and isinstance(b, Authenticated)
    assert a.msk is not None and a.msk == b.msk
    assert len(vnet.log) > len(vnet.delivered)  # datagrams really were lost


@pytest.mark.parametrize("version", VERSIONS)
def test_pana_rejects_untrusted_client_certificate(
    pki: Pki, other_pki: Pki, version: TlsVersion
) -> None:
    make_peer = TlsPeer.factory(
        ca=pki.ca.cert, cert=other_pki.client.cert, key=other_pki.client.key, max_version=version
    )
    make_server = TlsServer.factory(cert=pki.server.cert, key=pki.server.key, ca=pki.ca.cert)
    vnet, pac, _paa = build(make_peer, make_server)
    pac.start(0.0)
    vnet.run(60.0)
    pac_events = vnet.take_events(PAC_ADDR)
    assert not only(pac_events, Authenticated)
    assert not only(vnet.take_events(PAA_ADDR), Authenticated)
    failed = only(pac_events, AuthenticationFailed)
    assert len(failed) == 1


@pytest.mark.interop
def test_capture_auth_verifies_with_offline_tls_msks(capsys: pytest.CaptureFixture[str]) -> None:
    """Capture -> EAP-TLS runs -> MSKs from the server key -> all 26 PANA AUTH AVPs verify."""
    key = capture_server_key()
    d = captures_dir()
    assert d is not None
    pcap = d / "openpana-eaptls-loopback.pcapng"
    eap = [
        avp.value
        for dgram in read_pana(pcap)
        for avp in decode_pana(dgram.payload).all_avps(AvpCode.EAP_PAYLOAD)
    ]
    runs = eap_tls_handshakes(eap)
    assert len(runs) == 2
    msks = [rsa_eap_tls_keys(client, server, key).msk.reveal().hex() for client, server in runs]
    argv = ["decode", "--json", "--verify"]
    for msk in msks:
        argv += ["--msk-hex", msk]
    assert cli_main([*argv, str(pcap)]) == 0
    verdicts = [r["auth"] for r in trace_records(capsys.readouterr().out, "decode")]
    checked = [v for v in verdicts if v not in (None, "absent")]
    assert checked == ["verified"] * 26

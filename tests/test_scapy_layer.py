"""The scapy layer: binding on import, building, and dissecting the shared captures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.utils import rdpcap

from interop.locate import capture_path, load_expected
from pana_codecs import (
    Avp,
    CodecError,
    MessageFlags,
    MessageType,
    PanaMessage,
    decode_pana,
    scapy_layer,  # the test extra installs scapy
)

PANA = scapy_layer.PANA
PanaAVP = scapy_layer.PanaAVP

REPO = Path(__file__).resolve().parent.parent
RFC5191_CAPTURES = (
    "wireshark-wiki-pana-rfc5191.cap",
    "openpana-loopback.pcapng",
    "openpana-eaptls-loopback.pcapng",
    "broute-real-meter-PAR-reconstructed.pcap",
    "arkime-pana_synthetic.pcap",
)


def test_core_import_does_not_bind_and_layer_import_does() -> None:
    code = (
        "from scapy.layers.inet import IP, UDP\n"
        "from scapy.packet import Raw\n"
        "import pana_codecs, pana_mpa.cli\n"
        "pkt = bytes(IP()/UDP(sport=40000, dport=716)/Raw(bytes(16)))\n"
        "assert Raw in IP(pkt) and type(IP(pkt)[UDP].payload) is Raw\n"
        "import pana_codecs.scapy_layer as L\n"
        "assert L.PANA in IP(pkt)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_build_fills_lengths_padding_and_port() -> None:
    pkt = (
        IP(dst="192.0.2.1")
        / UDP(sport=40000)
        / PANA(
            flags="RS",
            type=2,
            session_id=0x1234,
            seq=7,
            avps=[
                PanaAVP(code=6, value=(2).to_bytes(4, "big")),
                PanaAVP(code=99, flags="V", vendor_id=32473, value=b"abc"),
                PanaAVP(code=1, value=bytes(16)),
            ],
        )
    )
    assert pkt[UDP].dport == 716
    wire = bytes(pkt[PANA])
    assert decode_pana(wire) == PanaMessage(
        MessageType.PANA_AUTH,
        MessageFlags.R | MessageFlags.S,
        0x1234,
        7,
        (
            Avp(6, (2).to_bytes(4, "big")),
            Avp(99, b"abc", vendor_id=32473),
            Avp(1, bytes(16)),
        ),
    )
    again = IP(bytes(pkt))[PANA]
    assert again.length == len(wire) == 16 + 12 + 16 + 24
    assert [a.length for a in again.avps] == [4, 3, 16]
    assert again.avps[1].vendor_id == 32473 and again.avps[1].padding == b"\0"
    assert again.flags.R and again.flags.S and not again.flags.C


def test_from_message_and_to_message_round_trip() -> None:
    msg = PanaMessage(
        MessageType.PANA_NOTIFICATION,
        MessageFlags.R | MessageFlags.P | MessageFlags.E,
        0xAABBCCDD,
        0xFFFFFFFF,
        (Avp(14, b"x", flags=0x0100, reserved=3), Avp(1, bytes(20))),
        reserved=0x0102,
    )
    pkt = PANA.from_message(msg)
    assert pkt.flags.E and pkt.flags.P and pkt.reserved == 0x0102
    assert pkt.to_message() == msg
    assert [a.to_avp() for a in pkt.avps] == list(msg.avps)


def test_garbage_is_lenient_in_scapy_but_strict_in_to_message() -> None:
    pkt = PANA(b"\x00\x00\x00\x30" + bytes(12) + b"\x00\x07\x00\x00\x00\x30\x00\x00")
    with pytest.raises(CodecError):
        pkt.to_message()


@pytest.mark.interop
@pytest.mark.parametrize("name", RFC5191_CAPTURES)
def test_dissects_the_captures_like_our_codec(name: str) -> None:
    expected = load_expected(name)["rfc5191"]
    packets = [p for p in rdpcap(str(capture_path(name))) if UDP in p]
    pana = [p for p in packets if PANA in p]
    assert len(pana) == expected["datagrams"]
    for p in pana:
        payload = bytes(p[UDP].payload)
        layer = p[PANA]
        ours = decode_pana(payload)
        assert bytes(layer) == payload
        assert layer.to_message() == ours
        assert (int(layer.type), int(layer.flags), layer.session_id, layer.seq) == (
            ours.type,
            ours.flags,
            ours.session_id,
            ours.seq,
        )
        assert [(a.code, a.length) for a in layer.avps] == [
            (a.code, len(a.value)) for a in ours.avps
        ]
        assert len(layer.payload) == 0  # Message Length bounds the message (RFC 5191 s6.2)


@pytest.mark.interop
def test_bind_port_for_the_draft18_capture() -> None:
    path = str(capture_path("wireshark-wiki-pana-draft18.cap"))
    assert not any(PANA in p for p in rdpcap(path))
    scapy_layer.bind_port(3001)
    try:
        pana = [p[PANA] for p in rdpcap(path) if PANA in p]
    finally:
        scapy_layer.unbind_port(3001)
    assert len(pana) == load_expected("wireshark-wiki-pana-draft18.cap")["rfc5191"]["datagrams"]
    assert pana[0].to_message().type == MessageType.PANA_CLIENT_INITIATION
    for layer in pana[1:]:  # draft-18 AVP lengths: the strict RFC 5191 codec refuses them
        with pytest.raises(CodecError):
            layer.to_message()
    assert {int(layer.session_id) for layer in pana[1:]} == {0x235C04D1}


def test_answers_match_requests_for_sr() -> None:
    req = PANA(flags="RP", type=4, session_id=9, seq=77)
    ans = PANA(flags="P", type=4, session_id=9, seq=77)
    assert ans.answers(req) and not req.answers(ans)
    assert ans.hashret() == req.hashret()
    assert not PANA(flags="P", type=4, session_id=9, seq=78).answers(req)
    assert not PANA(flags="P", type=3, session_id=9, seq=77).answers(req)
    assert not ans.answers(UDP())

"""``pana-mpa decode``: link types, ports, JSON fields, exit codes and garbage input."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interop.locate import CAPTURE_NAMES, capture_path
from pana_codecs import Avp, MessageFlags, MessageType, PanaMessage, encode_pana
from pana_mpa.cli import main
from pana_mpa.cli.capture import CaptureError, _Reassembler, _udp_datagram, read_udp
from tests.pcapfile import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    ipv4_udp,
    ipv6_udp,
    link_frame,
    write_pcap,
    write_pcapng,
)
from tests.traces import trace_records

REPO = Path(__file__).resolve().parent.parent

AUTH_VALUE = bytes.fromhex("5ec7e7a1" * 5)  # must never be printed
IDENTITY = b"alice@secret.example"  # inside EAP-Payload: never printed either
R, S, C, P = MessageFlags.R, MessageFlags.S, MessageFlags.C, MessageFlags.P

PCI = encode_pana(PanaMessage(MessageType.PANA_CLIENT_INITIATION, 0, 0, 0))
PAR_S = encode_pana(
    PanaMessage(
        MessageType.PANA_AUTH,
        R | S,
        0x01020304,
        7,
        (Avp(6, (2).to_bytes(4, "big")), Avp(3, (7).to_bytes(4, "big"))),
    )
)
PAN_C = encode_pana(
    PanaMessage(
        MessageType.PANA_AUTH,
        C,
        0x01020304,
        9,
        (
            Avp(2, b"\x02\x05" + (5 + len(IDENTITY)).to_bytes(2, "big") + b"\x01" + IDENTITY),
            Avp(4, (0x6F42762F).to_bytes(4, "big")),
            Avp(99, b"\x01\x02\x03", vendor_id=32473),
            Avp(1, AUTH_VALUE),
        ),
    )
)


def decode_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    """Run ``decode --json`` in-process; the exit status and one parsed object per line."""
    rc = main(["decode", "--json", *argv])
    out = capsys.readouterr().out
    return rc, trace_records(out, "decode") if out else []


def eth_capture(tmp_path: Path, *packets: bytes, name: str = "c.pcap") -> Path:
    frames = [link_frame(LINKTYPE_ETHERNET, p) for p in packets]
    return write_pcap(tmp_path / name, LINKTYPE_ETHERNET, frames)


def test_json_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = eth_capture(
        tmp_path,
        ipv4_udp("192.0.2.1", "192.0.2.2", 40000, 716, PCI),
        ipv4_udp("192.0.2.2", "192.0.2.1", 716, 40000, PAR_S),
        ipv4_udp("192.0.2.1", "192.0.2.2", 40000, 716, PAN_C),
    )
    rc, objs = decode_json(capsys, str(f))
    assert rc == 0
    assert [o["frame"] for o in objs] == [1, 2, 3]
    assert [o["type"] for o in objs] == ["PCI", "PAR", "PAN"]
    assert [o["flags"] for o in objs] == ["", "RS", "C"]
    par, pan = objs[1], objs[2]
    assert par["src"] == "192.0.2.2:716" and par["dst"] == "192.0.2.1:40000"
    assert par["session_id"] == 0x01020304 and par["seq"] == 7
    assert par["avps"] == [
        {"code": 6, "vendor_id": None, "name": "PRF-Algorithm", "length": 4, "value": 2},
        {"code": 3, "vendor_id": None, "name": "Integrity-Algorithm", "length": 4, "value": 7},
    ]
    assert pan["avps"] == [
        {
            "code": 2,
            "vendor_id": None,
            "name": "EAP-Payload",
            "length": 5 + len(IDENTITY),
            "eap": {"code": 2, "identifier": 5, "type": 1},
        },
        {"code": 4, "vendor_id": None, "name": "Key-Id", "length": 4, "value": 0x6F42762F},
        {"code": 99, "vendor_id": 32473, "name": None, "length": 3},
        {"code": 1, "vendor_id": None, "name": "AUTH", "length": 20},
    ]
    assert all(o["reencode_identical"] is True and o["error"] is None for o in objs)
    assert objs[0]["time"] == pytest.approx(1_700_000_000.25)


@pytest.mark.parametrize("as_json", [True, False])
def test_no_key_material_or_identity_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    f = eth_capture(tmp_path, ipv4_udp("192.0.2.1", "192.0.2.2", 40000, 716, PAN_C))
    assert main(["decode", *(["--json"] if as_json else []), str(f)]) == 0
    out = capsys.readouterr().out.lower()
    assert "PAN[C]" in out.upper() or '"pan"' in out
    assert AUTH_VALUE.hex() not in out and AUTH_VALUE.hex()[:8] not in out
    assert IDENTITY.decode() not in out and IDENTITY.hex() not in out


def test_text_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = eth_capture(
        tmp_path,
        ipv6_udp("2001:db8::1", "2001:db8::2", 716, 716, PAN_C),
        ipv6_udp("2001:db8::1", "2001:db8::2", 716, 716, b"\x00" * 10),
    )
    assert main(["decode", str(f)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "1",
        "[2001:db8::1]:716",
        "->",
        "[2001:db8::2]:716",
        "PAN[C]",
        "sid=0x01020304",
        "seq=0x00000009",
        "{EAP-Payload(25",
        "Response/Identity),",
        "Key-Id=0x6f42762f,",
        "99/v32473(3),",
        "AUTH(20)}",
    ]
    assert lines[1].startswith("    2 [2001:db8::1]:716 -> [2001:db8::2]:716 len=10 ERROR ")


LINK_CASES = [
    (LINKTYPE_ETHERNET, False),
    (LINKTYPE_ETHERNET, True),  # 802.1Q tag
    (LINKTYPE_LINUX_SLL, False),
    (LINKTYPE_LINUX_SLL2, False),
    (LINKTYPE_NULL, False),
    (LINKTYPE_LOOP, False),
    (LINKTYPE_RAW, False),
]


@pytest.mark.parametrize(("linktype", "vlan"), LINK_CASES)
@pytest.mark.parametrize("v6", [False, True])
def test_link_types_and_ip_versions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], linktype: int, vlan: bool, v6: bool
) -> None:
    if v6:
        pkt = ipv6_udp("fe80::1", "fe80::2", 716, 50000, PAR_S, hop_by_hop=True)
        src, dst = "[fe80::1]:716", "[fe80::2]:50000"
    else:
        pkt = ipv4_udp("10.1.2.3", "10.1.2.4", 716, 50000, PAR_S)
        src, dst = "10.1.2.3:716", "10.1.2.4:50000"
    f = write_pcap(tmp_path / "l.pcap", linktype, [link_frame(linktype, pkt, vlan=vlan)])
    rc, objs = decode_json(capsys, str(f))
    assert rc == 0
    assert len(objs) == 1
    assert (objs[0]["src"], objs[0]["dst"], objs[0]["type"]) == (src, dst, "PAR")
    assert objs[0]["reencode_identical"] is True


def test_big_endian_pcap_and_pcapng(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pkt4 = ipv4_udp("10.0.0.1", "10.0.0.2", 716, 716, PAR_S)
    pkt6 = ipv6_udp("::1", "::1", 33000, 716, PCI)
    big = write_pcap(tmp_path / "b.pcap", LINKTYPE_RAW, [pkt4], big=True)
    assert [o["type"] for o in decode_json(capsys, str(big))[1]] == ["PAR"]
    # Two interfaces with different link types in one pcapng file.
    ng = write_pcapng(
        tmp_path / "n.pcapng",
        [LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL],
        [(0, link_frame(LINKTYPE_ETHERNET, pkt4)), (1, link_frame(LINKTYPE_LINUX_SLL, pkt6))],
    )
    rc, objs = decode_json(capsys, str(ng))
    assert rc == 0
    assert [(o["frame"], o["type"], o["src"]) for o in objs] == [
        (1, "PAR", "10.0.0.1:716"),
        (2, "PCI", "[::1]:33000"),
    ]
    assert objs[1]["time"] == pytest.approx(1_700_000_001.5)


def test_port_selection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = eth_capture(
        tmp_path,
        ipv4_udp("10.0.0.1", "10.0.0.2", 5353, 5353, PCI),  # 1: unrelated UDP
        ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, PCI),  # 2: to 716
        ipv4_udp("10.0.0.2", "10.0.0.1", 716, 40000, PAR_S),  # 3: from 716
        ipv4_udp("10.0.0.3", "10.0.0.1", 9000, 40000, PAR_S),  # 4: to the PaC's learned port
        ipv4_udp("10.0.0.1", "10.0.0.4", 41000, 3001, PCI),  # 5: only with --port 3001
        ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, PCI, proto=6),  # 6: TCP, never
        ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, PCI, frag=0x2000),  # 7: fragment, skipped
    )
    assert [o["frame"] for o in decode_json(capsys, str(f))[1]] == [2, 3, 4]
    rc, objs = decode_json(capsys, "--port", "3001", str(f))
    assert rc == 0
    assert [o["frame"] for o in objs] == [2, 3, 4, 5]


def test_undecodable_datagram_gets_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = eth_capture(
        tmp_path,
        ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, PCI[:12]),
        ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, PAR_S[:-2]),
    )
    rc, objs = decode_json(capsys, str(f))
    assert rc == 0
    assert len(objs) == 2
    for o in objs:
        assert o["error"]
        assert isinstance(o["error_offset"], int)
        assert o["type"] is o["flags"] is o["session_id"] is o["seq"] is o["avps"] is None
        assert o["reencode_identical"] is False
    assert objs[0]["error_offset"] == 0


def test_reencode_flag_is_never_a_false_success(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Non-zero padding after a 3-octet AVP value: a codec may reject it, or accept it, but then
    # re-encoding (which writes zero padding) cannot give the captured bytes back.
    wire = bytearray(PAN_C)
    pad_at = wire.index((32473).to_bytes(4, "big") + b"\x01\x02\x03") + 7
    assert wire[pad_at] == 0
    wire[pad_at] = 0xEE
    f = eth_capture(tmp_path, ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, bytes(wire)))
    rc, objs = decode_json(capsys, str(f))
    assert rc == 0
    assert objs[0]["error"] is not None or objs[0]["reencode_identical"] is False


def test_snaplen_truncated_datagram(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = link_frame(LINKTYPE_ETHERNET, ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, PAR_S))
    f = write_pcap(tmp_path / "s.pcap", LINKTYPE_ETHERNET, [frame], snaplen=len(frame) - 4)
    rc, objs = decode_json(capsys, str(f))
    assert rc == 0
    assert objs[0]["truncated"] is True
    assert objs[0]["error"] is not None


# Exit status 2 and one line on stderr, no traceback.


def _garbage_files(tmp_path: Path) -> dict[str, Path]:
    good = eth_capture(tmp_path, *[ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, PAR_S)] * 4)
    data = good.read_bytes()
    files = {"missing": tmp_path / "does-not-exist.pcap", "directory": tmp_path}
    for name, content in {
        "empty": b"",
        "text": b"this is not a capture\n",
        "short-header": data[:10],
        "random": random.Random(5).randbytes(3000),
        "pcapng-magic-only": b"\x0a\x0d\x0d\x0a",
    }.items():
        files[name] = tmp_path / f"{name}.bin"
        files[name].write_bytes(content)
    return files


@pytest.mark.parametrize(
    "kind", ["missing", "directory", "empty", "text", "short-header", "random", "pcapng-magic-only"]
)
def test_unreadable_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    f = _garbage_files(tmp_path)[kind]
    assert main(["decode", "--json", str(f)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.splitlines()
    assert len(err) == 1
    assert err[0].startswith("pana-mpa decode: ") and str(f) in err[0]


@pytest.mark.parametrize("ng", [False, True])
def test_cut_short_capture_prints_what_it_read_then_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ng: bool
) -> None:
    frames = [link_frame(LINKTYPE_ETHERNET, ipv4_udp("10.0.0.1", "10.0.0.2", 716, 716, PAR_S))] * 3
    if ng:
        f = write_pcapng(tmp_path / "c.pcapng", [LINKTYPE_ETHERNET], [(0, x) for x in frames])
    else:
        f = write_pcap(tmp_path / "c.pcap", LINKTYPE_ETHERNET, frames)
    f.write_bytes(f.read_bytes()[:-10])
    rc = main(["decode", "--json", str(f)])
    captured = capsys.readouterr()
    assert rc == 2
    assert [r["frame"] for r in trace_records(captured.out, "decode")] == [1, 2]
    reason, summary = captured.err.splitlines()
    assert "cut short" in reason
    assert summary == "pana-mpa decode: 2 frames, 2 PANA datagrams, 0 undecodable"


def test_mutated_captures_never_raise(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_pcapng(
        tmp_path / "m.pcapng",
        [LINKTYPE_ETHERNET],
        [(0, link_frame(LINKTYPE_ETHERNET, ipv4_udp("10.0.0.1", "10.0.0.2", 716, 716, PAN_C)))] * 3,
    ).read_bytes()
    base_pcap = eth_capture(
        tmp_path, *[ipv6_udp("::1", "::2", 716, 716, PAN_C)] * 3, name="m.pcap"
    ).read_bytes()
    rng = random.Random(1234)
    target = tmp_path / "mut.bin"
    for i in range(150):
        data = bytearray(base if i % 2 else base_pcap)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(len(data)) :]
        target.write_bytes(bytes(data))
        assert main(["decode", "--json", str(target)]) in (0, 2)
        for line in capsys.readouterr().out.splitlines():
            json.loads(line)


def test_read_udp_error_carries_frames_read(tmp_path: Path) -> None:
    frames = [link_frame(LINKTYPE_ETHERNET, ipv4_udp("10.0.0.1", "10.0.0.2", 716, 716, PCI))] * 3
    f = write_pcap(tmp_path / "c.pcap", LINKTYPE_ETHERNET, frames)
    f.write_bytes(f.read_bytes()[:-5])
    with pytest.raises(CaptureError) as info:
        list(read_udp(f))
    assert info.value.frames_read == 2


@pytest.mark.parametrize("kind", ["missing", "random"])
def test_command_line_process_exit_2_without_traceback(tmp_path: Path, kind: str) -> None:
    f = _garbage_files(tmp_path)[kind]
    proc = subprocess.run(
        [sys.executable, "-m", "pana_mpa", "decode", str(f)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("pana-mpa decode: ")


def test_scapy_not_imported_by_core_packages() -> None:
    code = (
        "import sys, pana_codecs, eap, pana_mpa, pana_mpa.cli.capture, pana_mpa.cli, "
        "pana_mpa.cli.decode; sys.exit(1 if any(m.split('.')[0] == 'scapy' "
        "for m in sys.modules) else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=60, check=False)
    assert proc.returncode == 0


@pytest.mark.interop
@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_json_on_each_capture(capsys: pytest.CaptureFixture[str], name: str) -> None:
    path = capture_path(name)
    ports = ["--port", "3001"] if "wireshark-wiki-pana" in name and "rfc5191" not in name else []
    dialect = ["--dialect", "draft18"] if "draft18" in name else []
    rc, objs = decode_json(capsys, *ports, *dialect, str(path))
    assert rc == 0
    assert objs, "no PANA datagram found"
    keys = {"frame", "src", "dst", "type", "flags", "session_id", "seq", "avps"}
    for o in objs:
        assert keys | {"reencode_identical", "error"} <= o.keys()
        if o["error"] is None:
            assert o["reencode_identical"] is True
        else:
            assert all(o[k] is None for k in keys - {"frame", "src", "dst"})
    frames = [o["frame"] for o in objs]
    assert frames == sorted(set(frames))


def test_every_ietf_avp_code_has_a_display_name() -> None:
    from pana_codecs import AVP_SPECS, AvpCode

    # decode names AVPs from the one AVP table (issue 8)
    assert {code for code, vendor_id in AVP_SPECS if vendor_id is None} == {int(c) for c in AvpCode}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "--verify needs --secret, --secret-hex, --tls-server-key or --msk-hex"),
        (
            ["--tls-server-key", "/nonexistent.pem"],
            "--tls-server-key /nonexistent.pem: No such file or directory",
        ),
        (["--msk-hex", "00", "--msk-hex", "x"], "--msk-hex is not hexadecimal"),
        (["--secret-hex", "zz"], "--secret-hex is not hexadecimal"),
        (["--secret", "short-secret-xyz!"], "the EAP-PSK key must be 16 octets, not 17"),
        (["--secret-hex", "00" * 15], "the EAP-PSK key must be 16 octets, not 15"),
    ],
)
def test_verify_option_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    f = eth_capture(tmp_path, ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, PAN_C))
    assert main(["decode", "--verify", *options, str(f)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"pana-mpa decode: {message}\n"


def test_verify_without_a_session_reports_no_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = eth_capture(
        tmp_path,
        ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, PCI),
        ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, PAN_C),
        ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, PCI[:9]),
    )
    rc = main(["decode", "--json", "--verify", "--secret-hex", "ab" * 16, str(f)])
    captured = capsys.readouterr()
    assert rc == 1  # an unverifiable AUTH fails the check
    objs = trace_records(captured.out, "decode")
    auths = [o["auth"] for o in objs]
    assert auths == ["absent", "unverifiable", None]  # PCI, PAN[C] without a key, undecodable
    assert "EAP run is not in the capture" in objs[1]["auth_note"]
    assert "ab" * 16 not in captured.out + captured.err
    assert captured.err == (
        "pana-mpa decode: AUTH verdicts: 1 unverifiable\n"
        "pana-mpa decode: 3 frames, 3 PANA datagrams, 1 undecodable\n"
    )


def test_type_names_relay_unknown_types_and_reserved_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    msgs = [
        PanaMessage(MessageType.PANA_RELAY, 0, 0, 0, (Avp(11, PCI),)),
        PanaMessage(MessageType.PANA_TERMINATION, R, 5, 1, (Avp(9, (1).to_bytes(4, "big")),)),
        PanaMessage(MessageType.PANA_TERMINATION, 0, 5, 1),
        PanaMessage(MessageType.PANA_NOTIFICATION, R | P | MessageFlags.E, 5, 2),
        PanaMessage(0xFFF0, 0x0101, 5, 3),  # experimental type, reserved flag bits
    ]
    packets = [ipv4_udp("10.0.0.1", "10.0.0.2", 716, 716, encode_pana(m)) for m in msgs]
    rc, objs = decode_json(capsys, str(eth_capture(tmp_path, *packets)))
    assert rc == 0
    assert [(o["type"], o["flags"]) for o in objs] == [
        ("PRY", ""),
        ("PTR", "R"),
        ("PTA", ""),
        ("PNR", "RPE"),
        (0xFFF0, "+0x0101"),
    ]
    assert objs[1]["avps"][0] == {
        "code": 9,
        "vendor_id": None,
        "name": "Termination-Cause",
        "length": 4,
        "value": 1,
    }
    assert all(o["reencode_identical"] for o in objs)


def test_ethernet_trailer_is_not_payload_and_bad_udp_length_is_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    short = link_frame(LINKTYPE_ETHERNET, ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, PCI))
    padded = short + b"\xaa" * 6  # Ethernet minimum-size padding after the IP packet
    wrong = bytearray(short)
    wrong[14 + 20 + 4 : 14 + 20 + 6] = (8 + 16 + 4).to_bytes(2, "big")  # UDP Length > IP
    f = write_pcap(tmp_path / "t.pcap", LINKTYPE_ETHERNET, [padded, bytes(wrong) + b"\xaa" * 4])
    rc, objs = decode_json(capsys, str(f))
    assert rc == 0
    assert objs[0]["length"] == 16 and objs[0]["type"] == "PCI" and "truncated" not in objs[0]
    assert objs[1]["truncated"] is True and objs[1]["length"] == 16


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([0, 1, 101, 108, 113, 228, 229, 276, 12, 14, 999]),
    st.binary(max_size=120),
)
def test_link_and_ip_parsing_is_total(linktype: int, frame: bytes) -> None:
    d = _udp_datagram(1, 0.0, linktype, frame)
    assert d is None or len(d.payload) <= len(frame)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=80), st.sampled_from([LINKTYPE_ETHERNET, LINKTYPE_RAW]))
def test_udp_payload_is_exactly_what_was_sent(payload: bytes, linktype: int) -> None:
    for pkt in (
        ipv4_udp("10.0.0.1", "10.0.0.2", 716, 716, payload),
        ipv6_udp("::1", "::2", 716, 716, payload, hop_by_hop=True),
    ):
        d = _udp_datagram(1, 0.0, linktype, link_frame(linktype, pkt) + b"\0" * 5)
        assert d is not None and d.payload == payload and not d.truncated


@pytest.mark.parametrize("ng", [False, True])
def test_gzipped_captures_and_cut_short_gzip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ng: bool
) -> None:
    import gzip

    frames = [link_frame(LINKTYPE_ETHERNET, ipv4_udp("10.0.0.1", "10.0.0.2", 716, 716, PAR_S))] * 40
    if ng:
        plain = write_pcapng(tmp_path / "c.pcapng", [LINKTYPE_ETHERNET], [(0, x) for x in frames])
    else:
        plain = write_pcap(tmp_path / "c.pcap", LINKTYPE_ETHERNET, frames)
    whole = gzip.compress(plain.read_bytes(), mtime=0)
    gz = tmp_path / "c.gz"
    gz.write_bytes(whole)
    rc, objs = decode_json(capsys, str(gz))
    assert rc == 0 and len(objs) == 40
    gz.write_bytes(whole[: len(whole) // 2])
    assert main(["decode", "--json", str(gz)]) == 2
    captured = capsys.readouterr()
    assert "cut short" in captured.err
    assert len(captured.out.splitlines()) < 40  # deflate may hold back a whole block


def test_no_pana_found_hints_at_the_ports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = eth_capture(
        tmp_path,
        ipv4_udp("10.0.0.1", "10.0.0.2", 35989, 3001, PCI),
        ipv4_udp("10.0.0.2", "10.0.0.1", 3001, 35989, PAR_S),
        ipv4_udp("10.0.0.1", "10.0.0.9", 5353, 5353, b"mdns"),
    )
    assert main(["decode", str(f)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "pana-mpa decode: no PANA datagrams found; UDP ports seen: 3001 (2), 35989 (2), "
        "5353 (1) (try --port)\n"
        "pana-mpa decode: 3 frames, 0 PANA datagrams, 0 undecodable\n"
    )
    empty = write_pcap(tmp_path / "e.pcap", LINKTYPE_ETHERNET, [])
    assert main(["decode", "--json", str(empty)]) == 0
    assert capsys.readouterr().err.endswith(
        "the capture holds no UDP\npana-mpa decode: 0 frames, 0 PANA datagrams, 0 undecodable\n"
    )


def _ipv4_fragments(udp_packet: bytes, sizes: list[int]) -> list[bytes]:
    """Split an IPv4 packet (20-octet header) into fragments carrying ``sizes`` octets each."""
    head, body = udp_packet[:20], udp_packet[20:]
    out, offset = [], 0
    for i, size in enumerate(sizes):
        chunk = body[offset : offset + size]
        more = 0x2000 if i < len(sizes) - 1 else 0
        h = bytearray(head)
        h[2:4] = (20 + len(chunk)).to_bytes(2, "big")
        h[4:6] = (0x4242).to_bytes(2, "big")
        h[6:8] = (more | offset // 8).to_bytes(2, "big")
        out.append(bytes(h) + chunk)
        offset += size
    assert offset == len(body)
    return out


def _ipv6_fragments(udp_packet: bytes, sizes: list[int]) -> list[bytes]:
    """Split an IPv6 packet (40-octet header, UDP next) into Fragment-header fragments."""
    head, body = udp_packet[:40], udp_packet[40:]
    out, offset = [], 0
    for i, size in enumerate(sizes):
        chunk = body[offset : offset + size]
        frag = bytes([17, 0]) + (offset | (1 if i < len(sizes) - 1 else 0)).to_bytes(2, "big")
        frag += (0xCAFE).to_bytes(4, "big")
        h = bytearray(head)
        h[4:6] = (8 + len(chunk)).to_bytes(2, "big")
        h[6] = 44
        out.append(bytes(h) + frag + chunk)
        offset += size
    assert offset == len(body)
    return out


@pytest.mark.parametrize("v6", [False, True])
def test_ip_fragments_are_reassembled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], v6: bool
) -> None:
    wire = encode_pana(
        PanaMessage(
            MessageType.PANA_AUTH, R, 7, 8, (Avp(2, eap_big := bytes(1200)), Avp(1, bytes(20)))
        )
    )
    if v6:
        whole = ipv6_udp("2001:db8::1", "2001:db8::2", 716, 716, wire)
        frags = _ipv6_fragments(whole, [512, 512, len(whole) - 40 - 1024])
    else:
        whole = ipv4_udp("10.0.0.1", "10.0.0.2", 716, 716, wire)
        frags = _ipv4_fragments(whole, [512, 512, len(whole) - 20 - 1024])
    # out of order, with an unrelated datagram in between and one fragment duplicated
    order = [
        frags[2],
        ipv4_udp("10.0.0.1", "10.0.0.2", 716, 716, PCI),
        frags[0],
        frags[0],
        frags[1],
    ]
    f = eth_capture(tmp_path, *order)
    rc, objs = decode_json(capsys, str(f))
    assert rc == 0
    assert [(o["frame"], o["type"]) for o in objs] == [(2, "PCI"), (5, "PAR")]
    assert objs[1]["length"] == len(wire) and objs[1]["reencode_identical"] is True
    assert objs[1]["avps"][0]["length"] == len(eap_big)
    # A missing fragment: nothing to report for that datagram.
    f = eth_capture(tmp_path, frags[0], frags[2], name="hole.pcap")
    assert decode_json(capsys, str(f))[1] == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 70000), st.booleans(), st.binary(max_size=64)),
        max_size=30,
    )
)
def test_reassembly_is_total_and_bounded(parts: list[tuple[int, int, bool, bytes]]) -> None:
    r = _Reassembler()
    for key, offset, more, data in parts:
        whole = r.add((key,), offset, more, data)
        assert whole is None or len(whole) <= _Reassembler.MAX_SIZE


@pytest.mark.parametrize("garbage", [False, True])
def test_capture_from_stdin(tmp_path: Path, garbage: bool) -> None:
    f = eth_capture(tmp_path, ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, PAR_S))
    data = b"not a capture at all" if garbage else f.read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "pana_mpa", "decode", "--json", "-"],
        input=data,
        capture_output=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    if garbage:
        assert proc.returncode == 2 and proc.stdout == b""
        assert proc.stderr.decode().startswith("pana-mpa decode: <stdin>: not a pcap or pcapng")
        assert proc.stderr.count(b"\n") == 1
    else:
        assert proc.returncode == 0, proc.stderr
        assert [r["type"] for r in trace_records(proc.stdout.decode(), "decode")] == ["PAR"]


def test_tls_server_key_must_be_an_rsa_private_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    f = eth_capture(tmp_path, ipv4_udp("10.0.0.1", "10.0.0.2", 40000, 716, PAN_C))
    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    text = tmp_path / "text.pem"
    text.write_text("not a key")
    for key, why in ((ec_key, "not an RSA key"), (text, "not an unencrypted PEM private key")):
        assert main(["decode", "--verify", "--tls-server-key", str(key), str(f)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"pana-mpa decode: --tls-server-key {key}: {why}")
        assert err.count("\n") == 1


def test_decode_shows_messages_beyond_the_receivers_avp_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a diagnostic tool decodes what a PAA would refuse (decode_pana's default max_avps is 256)
    many = PanaMessage(MessageType.PANA_AUTH, R, 5, 1, tuple(Avp(77, b"") for _ in range(300)))
    packet = ipv4_udp("10.0.0.1", "10.0.0.2", 716, 716, encode_pana(many))
    rc, objs = decode_json(capsys, str(eth_capture(tmp_path, packet)))
    assert rc == 0
    assert objs[0]["error"] is None and len(objs[0]["avps"]) == 300
    assert objs[0]["avps"][0]["name"] is None


def test_decode_names_gpsk_and_unknown_eap_types() -> None:
    from pana_mpa.cli.decode import EapSummary, eap_label

    assert eap_label(EapSummary(1, 0, 51)) == "Request/GPSK"
    assert eap_label(EapSummary(2, 0, 99)) == "Response/99"
    assert eap_label(EapSummary(3, 0, None)) == "Success"

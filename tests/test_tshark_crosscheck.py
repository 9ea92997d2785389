"""Cross-check our PANA encoder/decoder against tshark, an independent dissector.

The RFC 5191 captures are compared frame by frame too (those tests are also marked interop).

Messages covering every message type, flag and AVP (a vendor AVP and an unknown IETF AVP
included) go into a pcap; ``tshark -r F -T json`` must see the same type, session id, sequence
number and AVP codes/lengths, and tshark's 16-bit flags value must match ours.

tshark 4.0 quirks (../shared/pcaps/README.md, "tshark 4.0 notes", and observed here):
- ``pana.flags`` is declared 8 bits wide and prints ``0x00``; 4.0.17 emits no single-bit
  ``pana.flags.*`` fields either. The full value is only in the PDML ``showname`` ("Flags: 0xc000"),
  so flags come from the single-bit fields when a tshark has them, else from PDML.
- Result-Code's value is emitted under ``pana.avp.code`` too: take each AVP's first code.
- The dissector treats the E flag (RFC 5873) as a reserved bit, and wants a known AVP code in the
  first AVP; otherwise it gives up on the message, which stays undissected ``data``.
- A PCI is labelled "...-Answer" (its R bit is clear) and so is PANA-Relay.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interop.locate import capture_path
from pana_codecs import Avp, MessageFlags, MessageType, PanaMessage, decode_pana, encode_pana
from pana_mpa.cli.capture import read_pana
from tests.pcapfile import LINKTYPE_ETHERNET, ipv4_udp, ipv6_udp, link_frame, write_pcap
from tests.realcomponents import need_binary

pytestmark = pytest.mark.tshark

R, S, C, A, P, I, E = (  # noqa: E741 - RFC 5191 flag names
    MessageFlags.R,
    MessageFlags.S,
    MessageFlags.C,
    MessageFlags.A,
    MessageFlags.P,
    MessageFlags.I,
    MessageFlags.E,
)
AUTH_T, PTR_T, PNR_T = (
    MessageType.PANA_AUTH,
    MessageType.PANA_TERMINATION,
    MessageType.PANA_NOTIFICATION,
)
SID = 0x5EC0FFEE


def u32(v: int) -> bytes:
    return v.to_bytes(4, "big")


def eap(code: int, ident: int, data: bytes = b"") -> bytes:
    return bytes([code, ident]) + (4 + len(data)).to_bytes(2, "big") + data


PCI = PanaMessage(MessageType.PANA_CLIENT_INITIATION, 0, 0, 0)
MESSAGES: list[PanaMessage] = [
    PCI,
    PanaMessage(AUTH_T, R | S, SID, 100, (Avp(6, u32(2)), Avp(6, u32(5)), Avp(3, u32(7)))),
    PanaMessage(AUTH_T, S, SID, 100, (Avp(6, u32(2)), Avp(3, u32(7)))),
    PanaMessage(AUTH_T, R | I, SID, 101, (Avp(5, bytes(range(20))), Avp(2, eap(1, 1, b"\x01")))),
    PanaMessage(AUTH_T, 0, SID, 101, (Avp(5, bytes(range(16))), Avp(2, eap(2, 1, b"\x01user1")))),
    PanaMessage(
        AUTH_T,
        R | C,
        SID,
        102,
        (
            Avp(7, u32(0)),
            Avp(2, eap(3, 2)),
            Avp(4, u32(0x6F42762F)),
            Avp(8, u32(3600)),
            Avp(13, u32(1)),
            Avp(1, bytes(20)),
        ),
    ),
    PanaMessage(
        AUTH_T,
        C,
        SID,
        102,
        (
            Avp(4, u32(0x6F42762F)),
            Avp(99, b"vendor", vendor_id=32473),
            Avp(14, b"x"),
            Avp(1, bytes(16)),
        ),
    ),
    PanaMessage(PNR_T, R | A, SID, 7, (Avp(1, bytes(20)),)),
    PanaMessage(PNR_T, A, SID, 7, (Avp(1, bytes(20)),)),
    PanaMessage(PNR_T, R | P, SID, 8, ()),
    PanaMessage(PNR_T, P, SID, 8, ()),
    PanaMessage(AUTH_T, R, SID, 103, (Avp(12, bytes(range(33))), Avp(1, bytes(20)))),
    PanaMessage(PTR_T, R, SID, 9, (Avp(9, u32(1)), Avp(1, bytes(20)))),
    PanaMessage(PTR_T, 0, SID, 9, (Avp(1, bytes(20)),)),
    PanaMessage(
        MessageType.PANA_RELAY,
        0,
        0,
        0,
        (Avp(10, bytes([192, 0, 2, 9, 0x9C, 0x40])), Avp(11, encode_pana(PCI))),
    ),
]
# Beyond tshark 4.0 (see the module docstring): tshark must leave these undissected.
E_FLAG_MESSAGE = PanaMessage(AUTH_T, R | S | E, SID, 200, (Avp(6, u32(2)), Avp(3, u32(7))))
UNKNOWN_FIRST_MESSAGE = PanaMessage(
    AUTH_T, 0, SID, 201, (Avp(99, b"v", vendor_id=9), Avp(4, u32(1)))
)


def _pairs(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return pairs  # keep duplicate keys (two AVPs of one kind share a label)


def _get(node: Any, key: str) -> Any:
    for k, v in node:
        if k == key:
            return v
    return None


def _find_all(node: Any, key: str) -> Iterator[Any]:
    if isinstance(node, list) and all(isinstance(x, tuple) and len(x) == 2 for x in node):
        for k, v in node:
            if k == key:
                yield v
            else:
                yield from _find_all(v, key)
    elif isinstance(node, list):
        for x in node:
            yield from _find_all(x, key)


def _tshark(tshark: str, pcap: Path, fmt: str, config: Path) -> str:
    proc = subprocess.run(
        [tshark, "-r", str(pcap), "-T", fmt],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"WIRESHARK_CONFIG_DIR": str(config), "PATH": "/usr/bin:/bin", "HOME": str(config)},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _pdml_flags(pdml: str) -> list[int | None]:
    """Per frame, the 16-bit flags value from the PDML showname of the top-level pana.flags."""
    out: list[int | None] = []
    for packet in pdml.split("<packet>")[1:]:
        m = re.search(r'<field name="pana\.flags" showname="Flags: (0x[0-9a-f]+)', packet)
        out.append(int(m.group(1), 16) if m else None)
    return out


def _bit_flags(pana: Any) -> int | None:
    """Flags from the single-bit fields, when this tshark emits them (4.0.17 does not)."""
    names = {"r": R, "s": S, "c": C, "a": A, "p": P, "i": I, "e": E}
    found = {n: list(_find_all(pana, f"pana.flags.{n}")) for n in names}
    if not any(found.values()):
        return None
    return sum(int(bit) for n, bit in names.items() if found[n] and found[n][0] in ("1", "True"))


@pytest.fixture(scope="module")
def tshark_view(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Our messages written to a pcap, and tshark's JSON and PDML views of it."""
    tshark = need_binary("tshark")
    tmp = tmp_path_factory.mktemp("tshark")
    wires = [encode_pana(m) for m in [*MESSAGES, E_FLAG_MESSAGE, UNKNOWN_FIRST_MESSAGE]]
    frames = []
    for i, wire in enumerate(wires):
        if i % 2:
            pkt = ipv4_udp("192.0.2.1", "192.0.2.2", 716, 40000, wire)
        else:
            pkt = ipv6_udp("2001:db8::2", "2001:db8::1", 40000, 716, wire)
        frames.append(link_frame(LINKTYPE_ETHERNET, pkt))
    pcap = write_pcap(tmp / "all.pcap", LINKTYPE_ETHERNET, frames)
    config = tmp / "config"
    config.mkdir()
    packets = json.loads(_tshark(tshark, pcap, "json", config), object_pairs_hook=_pairs)
    version = subprocess.run(
        [tshark, "--version"], capture_output=True, text=True, timeout=60, check=False
    ).stdout.split("\n", 1)[0]
    return {
        "version": version,
        "wires": wires,
        "json": packets,
        "pdml_flags": _pdml_flags(_tshark(tshark, pcap, "pdml", config)),
    }


def _layers(packet: Any) -> Any:
    return _get(_get(packet, "_source"), "layers")


def _top_avps(pana: Any) -> list[Any]:
    avp_list = _get(pana, "Attribute Value Pairs")
    return [] if avp_list is None else [v for _, v in avp_list]


def test_messages_cover_every_type_flag_and_avp() -> None:
    everything = [*MESSAGES, E_FLAG_MESSAGE]
    assert {m.type for m in everything} == {int(t) for t in MessageType}
    flags = 0
    for m in everything:
        flags |= m.flags
    assert flags == sum(int(f) for f in MessageFlags)
    codes = {a.code for m in everything for a in m.avps if a.vendor_id is None}
    assert set(range(1, 15)) <= codes
    assert any(a.vendor_id is not None for m in MESSAGES for a in m.avps)


@pytest.mark.parametrize("index", range(len(MESSAGES)))
def test_tshark_decodes_what_we_encode(tshark_view: dict[str, Any], index: int) -> None:
    ours = decode_pana(tshark_view["wires"][index])
    assert ours == MESSAGES[index]
    layers = _layers(tshark_view["json"][index])
    pana = _get(layers, "pana")
    assert pana is not None, f"tshark did not dissect frame {index + 1} as PANA"
    assert int(_get(pana, "pana.type")) == ours.type
    assert int(_get(pana, "pana.sid"), 16) == ours.session_id
    assert int(_get(pana, "pana.seq"), 16) == ours.seq
    assert int(_get(pana, "pana.length")) == len(tshark_view["wires"][index])
    bits = _bit_flags(pana)
    flags = bits if bits is not None else tshark_view["pdml_flags"][index]
    assert flags == ours.flags
    theirs = []
    for avp in _top_avps(pana):
        vendor = _get(avp, "pana.avp.vendorid")
        theirs.append(
            (
                int(_get(avp, "pana.avp.code")),  # the first code: Result-Code repeats the field
                None if vendor is None else int(vendor, 16),
                int(_get(avp, "pana.avp.data_length")),
            )
        )
    assert theirs == [(a.code, a.vendor_id, len(a.value)) for a in ours.avps]


def test_tshark_sees_the_relayed_pci_inside_relay(tshark_view: dict[str, Any]) -> None:
    index = next(i for i, m in enumerate(MESSAGES) if m.type == MessageType.PANA_RELAY)
    pana = _get(_layers(tshark_view["json"][index]), "pana")
    relayed = [a for a in _top_avps(pana) if _get(a, "pana.avp.code") == "11"]
    inner = list(_find_all(relayed, "pana"))
    assert len(inner) == 1
    assert _get(inner[0], "pana.type") == "1" and _get(inner[0], "pana.length") == "16"


@pytest.mark.parametrize(
    "message", [E_FLAG_MESSAGE, UNKNOWN_FIRST_MESSAGE], ids=["e-flag", "unknown-avp-first"]
)
def test_messages_beyond_tshark_4_0(tshark_view: dict[str, Any], message: PanaMessage) -> None:
    """tshark 4.0 rejects these (reserved-bit check); we decode them, and must round-trip."""
    index = len(MESSAGES) + [E_FLAG_MESSAGE, UNKNOWN_FIRST_MESSAGE].index(message)
    wire = tshark_view["wires"][index]
    assert decode_pana(wire) == message
    layers = _layers(tshark_view["json"][index])
    pana = _get(layers, "pana")
    if pana is not None and " 4.0." not in tshark_view["version"]:
        # A newer dissector that knows these: then it must agree with us.
        assert int(_get(pana, "pana.type")) == message.type
        flags = _bit_flags(pana)
        assert (flags if flags is not None else tshark_view["pdml_flags"][index]) == message.flags
        return
    assert pana is None, f"{tshark_view['version']} was expected to reject this message"
    data = _get(_get(layers, "data"), "data.data")
    assert bytes.fromhex(data.replace(":", "")) == wire


# The real captures: tshark and our decoder must agree on every PANA message of the RFC 5191 ones.
RFC5191_CAPTURES = (
    "wireshark-wiki-pana-rfc5191.cap",
    "openpana-loopback.pcapng",
    "openpana-eaptls-loopback.pcapng",
    "broute-real-meter-PAR-reconstructed.pcap",
    "arkime-pana_synthetic.pcap",
)


def compare_with_tshark(tshark: str, path: Path, tmp_path: Path) -> None:
    """tshark and decode_pana agree on every PANA datagram of the capture at ``path``."""
    config = tmp_path / "tshark-config"
    config.mkdir(exist_ok=True)
    packets = json.loads(_tshark(tshark, path, "json", config), object_pairs_hook=_pairs)
    pdml_flags = _pdml_flags(_tshark(tshark, path, "pdml", config))
    ours = {d.frame: decode_pana(d.payload) for d in read_pana(path)}
    assert ours
    for frame, msg in ours.items():
        pana = _get(_layers(packets[frame - 1]), "pana")
        assert pana is not None, f"tshark did not dissect frame {frame} as PANA"
        bits = _bit_flags(pana)
        avps = [
            (int(_get(a, "pana.avp.code")), int(_get(a, "pana.avp.data_length")))
            for a in _top_avps(pana)
        ]
        got = (
            int(_get(pana, "pana.type")),
            bits if bits is not None else pdml_flags[frame - 1],
            int(_get(pana, "pana.sid"), 16),
            int(_get(pana, "pana.seq"), 16),
            avps,
        )
        want = (
            msg.type,
            msg.flags,
            msg.session_id,
            msg.seq,
            [(a.code, len(a.value)) for a in msg.avps],
        )
        assert got == want, frame


@pytest.mark.interop
@pytest.mark.parametrize("name", RFC5191_CAPTURES)
def test_tshark_agrees_on_the_captures(tmp_path: Path, name: str) -> None:
    compare_with_tshark(need_binary("tshark"), capture_path(name), tmp_path)

"""Cross-check against an independent decoder: tshark's PANA dissector on the RFC 5191 captures."""

from __future__ import annotations

import subprocess

import pytest

from pana_codecs import decode_pana
from tests.realcomponents import need_binary

from ._vectors import captures_dir, load_frames

pytestmark = pytest.mark.tshark

CAPTURES = {
    "wireshark-wiki-pana-rfc5191": "wireshark-wiki-pana-rfc5191.cap",
    "openpana-loopback": "openpana-loopback.pcapng",
    "openpana-eaptls-loopback": "openpana-eaptls-loopback.pcapng",
    "broute-real-meter-PAR-reconstructed": "broute-real-meter-PAR-reconstructed.pcap",
    "arkime-pana_synthetic": "arkime-pana_synthetic.pcap",
}
FIELDS = (
    "frame.number",
    "pana.type",
    "pana.sid",
    "pana.seq",
    "pana.avp.code",
    "pana.avp.data_length",
)


def ints(field: str) -> list[int]:
    """A tshark multi-value field ("1,0x2") as integers."""
    return [int(v, 0) for v in field.split(",") if v]


def is_subsequence(short: list[int], long: list[int]) -> bool:
    """True when ``short`` appears in ``long`` in order (tshark adds nested code fields)."""
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_fields_match_tshark(name: str) -> None:
    tshark = need_binary("tshark")
    path = captures_dir() / CAPTURES[name]
    cmd = [tshark, "-r", str(path), "-T", "fields", "-E", "separator=|"]
    for field in FIELDS:
        cmd += ["-e", field]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    rows = {int(r.split("|")[0]): r.split("|") for r in out.splitlines() if r}
    frames = load_frames(name)
    assert set(frames) <= set(rows)
    for number, data in frames.items():
        _, mtype, sid, seq, codes, lengths = rows[number]
        msg = decode_pana(data)
        assert (msg.type, msg.session_id, msg.seq) == (int(mtype), int(sid, 0), int(seq, 0))
        assert [len(a.value) for a in msg.avps] == ints(lengths), (name, number)
        assert is_subsequence([a.code for a in msg.avps], ints(codes)), (name, number)

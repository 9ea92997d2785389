"""Our own PaC and PAA, recorded to a pcap, read back by ``pana-mpa decode`` (and tshark).

End to end: sessions -> datagrams -> pcap file -> capture reader -> codec -> --verify. Every
message must decode and re-encode identically, and every AUTH must verify, across a PaC- and
a PAA-initiated re-authentication (two key rollovers), pings and the termination.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pana_mpa._avps import IntegrityAlgorithm, PrfAlgorithm
from pana_mpa.cli import main
from pana_mpa.config import PaaConfig
from pana_mpa.state import PacState
from tests.pana_mpa.pair import PAA_ADDR, PAC_ADDR, PSKS, make_pair
from tests.pcapfile import LINKTYPE_ETHERNET, ipv4_udp, link_frame, write_pcap
from tests.traces import trace_records

SUITES = {
    "sha1": (PrfAlgorithm.PRF_HMAC_SHA1, IntegrityAlgorithm.AUTH_HMAC_SHA1_160),
    "sha256": (PrfAlgorithm.PRF_HMAC_SHA2_256, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128),
}


def record_session(tmp_path: Path, suite: str) -> Path:
    """Run a full session on a VirtualNet and write every datagram to a pcap."""
    prf, integ = SUITES[suite]
    pair = make_pair(paa_config=PaaConfig(prf_algorithms=(prf,), integrity_algorithms=(integ,)))
    net = pair.net
    pair.pac.start(0.0)
    net.run(10.0)
    assert pair.pac.state is PacState.OPEN
    pair.pac.ping(net.now)
    net.run(net.now + 5)
    pair.pac.reauthenticate(net.now)
    net.run(net.now + 10)
    pair.paa.reauthenticate(pair.only_session(), net.now)
    net.run(net.now + 10)
    assert pair.pac.state is PacState.OPEN
    pair.pac.terminate(net.now)
    net.run(net.now + 10)
    frames = [
        link_frame(LINKTYPE_ETHERNET, ipv4_udp(d.src[0], d.dst[0], d.src[1], d.dst[1], d.data))
        for d in net.log
    ]
    return write_pcap(tmp_path / f"ours-{suite}.pcap", LINKTYPE_ETHERNET, frames)


def decode(capsys: pytest.CaptureFixture[str], *argv: str, rc: int = 0) -> list[dict[str, Any]]:
    assert main(["decode", "--json", *argv]) == rc
    return trace_records(capsys.readouterr().out, "decode")


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_our_sessions_decode_and_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suite: str
) -> None:
    pcap = record_session(tmp_path, suite)
    secret = PSKS[b"alice"].decode()
    objs = decode(capsys, "--verify", "--identity", "alice", "--secret", secret, str(pcap))
    assert all(o["error"] is None and o["reencode_identical"] for o in objs)
    assert {(o["src"], o["dst"]) for o in objs} == {
        (f"{PAC_ADDR[0]}:{PAC_ADDR[1]}", f"{PAA_ADDR[0]}:{PAA_ADDR[1]}"),
        (f"{PAA_ADDR[0]}:{PAA_ADDR[1]}", f"{PAC_ADDR[0]}:{PAC_ADDR[1]}"),
    }
    labels = [o["type"] + (f"[{o['flags']}]" if o["flags"] else "") for o in objs]
    assert labels.count("PAR[RC]") == 3  # authentication + two re-authentications
    assert labels.count("PNR[RA]") == 1 and labels.count("PNR[RP]") == 1
    assert labels[-2:] == ["PTR[R]", "PTA"]
    verdicts = [o["auth"] for o in objs if o["auth"] not in (None, "absent")]
    assert verdicts and set(verdicts) == {"verified"}
    auth_len = 20 if suite == "sha1" else 16
    assert {a["length"] for o in objs for a in o["avps"] if a["code"] == 1} == {auth_len}
    # A wrong PSK finds no key: never a false "verified".
    wrong = decode(capsys, "--verify", "--secret", "x" * 16, str(pcap), rc=1)
    assert {o["auth"] for o in wrong if o["auth"] not in (None, "absent")} == {"unverifiable"}


@pytest.mark.tshark
@pytest.mark.parametrize("suite", sorted(SUITES))
def test_tshark_agrees_with_our_sessions(tmp_path: Path, suite: str) -> None:
    from tests.realcomponents import need_binary
    from tests.test_tshark_crosscheck import compare_with_tshark

    compare_with_tshark(need_binary("tshark"), record_session(tmp_path, suite), tmp_path)

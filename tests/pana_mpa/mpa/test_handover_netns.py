"""Handovers measured in the namespace testbed: non-MPA (DHCP, PANA, binding update after the move)
and MPA (RFC 6252 s6.3 with MpaController and MpaAgent), checked on the wire with tshark.

No timed assertions: the tests check what flowed where and bound packet counts only where the
bound follows from the mechanism; the measured numbers go to benchmarks/handover.py and
docs/mpa-lab.md.
"""

from __future__ import annotations

import asyncio
import ipaddress
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pana_codecs import MessageFlags
from tests.mpa_lab import (
    CN_ADDR,
    MN_MAC,
    OCOA,
    PAA_ADDR,
    VENDOR,
    HandoverResult,
    MeterResult,
    MpaLab,
    mpa_handover,
    non_mpa_handover,
)
from tests.netns import lab
from tests.realcomponents import need_binary

CTN = ipaddress.IPv4Network("10.97.2.0/24")

pytestmark = pytest.mark.netns


NON_MPA_INTERVAL = 0.01
NON_MPA_BU_DELAY = 0.2
"""The CN applies the binding update this long after it arrives (its own clock): without it the
lab's non-MPA handover can finish within one stream interval (11 ms seen against 10) and no
packet need fall between the move and the binding; with it at least 20 are due in that window."""


def _non_mpa(tmp_path: Path, *, ping_check: bool) -> HandoverResult:
    need_binary("dnsmasq")
    with lab() as base:
        mpa = MpaLab(base, tmp_path).build()
        mpa.start_dhcp_server(ping_check=ping_check)
        mpa.start_relay()
        return asyncio.run(
            non_mpa_handover(mpa, interval=NON_MPA_INTERVAL, bu_delay=NON_MPA_BU_DELAY)
        )


def _check_non_mpa(r: HandoverResult) -> None:
    m = r.meter
    ncoa = r.extra["ncoa"]
    assert ipaddress.IPv4Address(ncoa) in CTN
    # the binding update moved the stream from oCoA to the new address, on the real interface
    assert [b[1] for b in m.bindings] == [ncoa]
    assert m.via("mn0") == m.received and m.duplicates == 0
    assert m.via("mn0", after=r.t_done) > 0  # traffic flows again after the handover
    # nothing can reach the MN between the move and the binding update: oCoA is not on the new
    # link and the CN does not know nCoA yet, so every packet the CN sent after the port move
    # and before it applied the binding is lost. The window lasts at least NON_MPA_BU_DELAY (20
    # intervals) on the sender's own clock; a sender that is descheduled sends its overdue
    # packets as soon as it runs, so they fall in the window unless it sleeps through all of it.
    moved = r.t_move + r.steps["l2"] / 1000
    applied = m.bindings[0][0]
    assert applied - moved >= NON_MPA_BU_DELAY, (moved, applied)
    # 1 ms margins: the sender stamps a packet with its loop's clock reading rounded to 1 us, and
    # the packet sent in the iteration that applied the binding already goes to nCoA
    in_window = {s for s, t in enumerate(m.send_times) if moved + 0.001 < t < applied - 0.001}
    assert len(m.send_times) == m.sent and in_window, r.summary()
    arrived = [
        (s, round((m.send_times[s] - moved) * 1000, 1), round((t - moved) * 1000, 1), i)
        for s, t, i in m.arrivals
        if s in in_window
    ]
    assert not arrived, (arrived, min(in_window), r.steps, (applied - moved) * 1000)
    assert m.lost >= len(in_window) >= 1
    assert m.lost == m.lost_between(r.t_move - 0.05, r.t_done + 0.05), r.summary()
    assert list(r.steps) == ["l2", "dhcp", "configured", "pana", "binding"]


def test_non_mpa_handover(tmp_path: Path) -> None:
    r = _non_mpa(tmp_path, ping_check=False)
    _check_non_mpa(r)


def test_non_mpa_handover_with_dhcp_ping_check(tmp_path: Path) -> None:
    # dnsmasq pings a candidate address before offering it and waits 3 s for an echo (its
    # duplicate-address check, ../shared/ENVIRONMENT.md): the stream at one packet per 10 ms
    # is cut for at least that long, so well over 100 packets are lost
    r = _non_mpa(tmp_path, ping_check=True)
    _check_non_mpa(r)
    assert r.meter.lost >= 100, r.summary()


def _lost(m: MeterResult) -> list[tuple[int, float]]:
    """(sequence number, CN send time) of every packet lost after the first arrival."""
    assert len(m.send_times) == m.sent, "the sender reports its send times"
    seen = {s for s, _, _ in m.arrivals}
    first = min(seen, default=m.sent)
    return [(s, m.send_times[s]) for s in range(first, m.sent) if s not in seen]


def _tshark_rows(pcap: Path, *fields: str) -> list[list[str]]:
    args = ["tshark", "-r", str(pcap), "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def _pana_header(payload_hex: str) -> tuple[int, list[int]]:
    """Flags and the Vendor-Ids of V-bit AVPs of one PANA message (RFC 5191 s6.1, s6.3)."""
    data = bytes.fromhex(payload_hex.replace(":", ""))
    flags = struct.unpack_from("!H", data, 4)[0]
    vendors, off = [], 16
    while off + 8 <= len(data):
        _code, avp_flags, length, _ = struct.unpack_from("!HHHH", data, off)
        off += 8
        if avp_flags & 0x8000:  # V bit: a Vendor-Id follows the header
            vendors.append(struct.unpack_from("!I", data, off)[0])
            off += 4
        off += length + (-length % 4)
    return flags, vendors


def _mpa(
    tmp_path: Path, *, buffering: bool, bicast: bool = False, update_delay: float = 0.0
) -> tuple[HandoverResult, Path]:
    need_binary("dnsmasq")
    need_binary("tshark")
    pcap = tmp_path / "r2.pcapng"
    with lab() as base:
        mpa = MpaLab(base, tmp_path).build()
        mpa.start_dhcp_server()
        cap = mpa.capture(mpa.r2, ["r2c", "r2d"], pcap)
        r = asyncio.run(
            mpa_handover(mpa, buffering=buffering, bicast=bicast, update_delay=update_delay)
        )
        cap.stop()  # a last probe on each interface: everything before it is in the file
    return r, pcap


def _check_mpa(r: HandoverResult, pcap: Path, *, bicast: bool = False) -> None:
    m = r.meter
    ncoa = str(r.extra["ncoa"])
    assert ipaddress.IPv4Address(ncoa) in CTN
    assert r.extra["keys"]  # MN-AR / MN-CA keys derived from the pre-authentication MSK
    assert r.extra["pre_auth"] is False  # the session became the serving one (RFC 5873)
    order = [
        "pre_authenticated",
        "pre_configured",
        "tunnel_up",
        "binding_updated",
        "pre_switched",
        "switched",
        "tunnel_released",
        "handover_complete",
    ]
    assert [s for s in r.steps if s in order] == order
    # R2 tore the tunnel down once, on the first PANA-Update (an exception there is contained by
    # the driver and the MN's retransmission finds no tunnel: the event would be missing)
    assert [e[1] for e in r.extra["agent"]].count("tunnel_deleted") == 1, r.extra["agent"]
    # one binding update, with nCoA, sent through the tunnel before the move
    assert [b[1] for b in m.bindings] == [ncoa]
    assert m.bindings[0][0] < r.t_move
    # the stream reached the MN through its tunnel end before the move, directly after it
    assert m.via("mpa0", before=r.t_move) > 0
    # nothing the CN sent after the handover's end went through the tunnel (counted by send
    # time: what the AR tunneled before can still arrive through the MN's end after it, when its
    # release off the loop runs late and delivers what reached it unread)
    assert m.sent_via("mpa0", after=r.t_done) == 0
    assert m.via("mn0", after=r.t_done) > 0
    if not bicast:
        assert m.duplicates == 0
    # proactive address resolution (RFC 6252 App. B) on R2's CTN link: the MN announced nCoA,
    # so R2 never asked for it; the MN had R2's MAC from PAR[C,E], so it never asked for R2's
    a = r.extra["announce"]
    assert a["announcements"] >= 1 and a["ar_queries"] == a["mn_queries"] == 0, a
    assert a["ar_entry"] == MN_MAC.hex(":"), a
    # the announcement's socket was opened before the move and closed after the PANA-Update:
    # the critical path between nCoA configured and the PANA-Update paid only the send
    assert a["socket_opened_ms"] < 0 < r.steps["announced"], (a, r.steps)
    assert a["socket_closed_ms"] >= r.steps["handover_complete"], (a, r.steps)

    # on the wire at R2, decoded by tshark and a few lines here (independent of pana_codecs);
    # tshark 4.0's heuristic PANA dissector rejects E-flag messages, so read udp.payload
    rows = _tshark_rows(pcap, "ip.src", "ip.dst", "ip.proto", "udp.srcport", "udp.dstport",
                        "udp.payload")  # fmt: skip
    pana = [(r_[0], *_pana_header(r_[5])) for r_ in rows if "716" in (r_[3], r_[4]) and r_[5]]
    from_ocoa = [p for p in pana if p[0] == str(OCOA)]
    from_ncoa = [p for p in pana if p[0] == ncoa]
    assert from_ocoa and from_ncoa
    # pre-authentication through R1: every PaC message from oCoA carries E (RFC 5873 s3) ...
    assert all(flags & MessageFlags.E for _, flags, _ in from_ocoa), from_ocoa
    # ... and the PANA-Update from nCoA, the switch, does not
    assert not any(flags & MessageFlags.E for _, flags, _ in from_ncoa), from_ncoa
    # the MPA vendor AVPs rode in both directions, before and after the switch
    assert any(VENDOR in vendors for _, _, vendors in from_ocoa)
    assert any(VENDOR in vendors for src, _, vendors in pana if src == str(PAA_ADDR))
    assert any(VENDOR in vendors for _, _, vendors in from_ncoa)
    # real IP-in-IP: AR -> oCoA outer, CN -> nCoA inner, and the MN's binding update inside
    ipip = [r_ for r_ in rows if r_[2].startswith("4,")]
    assert any(r_[0] == f"{PAA_ADDR},{CN_ADDR}" and r_[1] == f"{OCOA},{ncoa}" for r_ in ipip)
    assert any(r_[0] == f"{OCOA},{ncoa}" and r_[1] == f"{PAA_ADDR},{CN_ADDR}" for r_ in ipip)
    # after the switch the CN's packets leave R2 for nCoA unencapsulated
    assert any(r_[0] == str(CN_ADDR) and r_[1] == ncoa and r_[2] == "17" for r_ in rows)


def test_mpa_handover_with_buffering(tmp_path: Path) -> None:
    r, pcap = _mpa(tmp_path, buffering=True)
    _check_mpa(r, pcap)
    ar = r.extra["ar"]
    # RFC 6252 s7.6: what arrived for nCoA during the switch was held and flushed, none dropped
    assert ar["held"] == ar["flushed"] and ar["dropped_overflow"] == ar["dropped_expired"] == 0
    names = [e[1] for e in r.extra["agent"]]
    assert names.index("buffering") < names.index("tunnel_deleted")
    # From the moment R2 buffers, a packet for nCoA is held and flushed to nCoA after the
    # PANA-Update, so only a packet R2 tunneled before that can be lost: one that was still on
    # the old path when the MN left AP1 (what reached the MN's tunnel end, read or not, is
    # delivered when that end is released: test_tunnel.py). How many that is
    # depends on scheduling, so no fixed count: relations instead. Every lost packet was sent
    # (the CN's own clock, read before the send) before R2 recorded "buffering", which it does
    # after starting to buffer; 0.1 ms margin: that time is kept rounded to 0.1 ms.
    m = r.meter
    (buffering_ms,) = [e[0] for e in r.extra["agent"] if e[1] == "buffering"]
    buffering_at = r.t_move + buffering_ms / 1000
    lost = _lost(m)
    late = [(s, round((t - buffering_at) * 1000, 2)) for s, t in lost if t > buffering_at + 1e-4]
    assert not late, (late, r.summary(), r.extra["agent"])
    # ... and went into the tunnel and never came out of it: R2's end encapsulated it, the MN's
    # end did not decapsulate it (the difference also holds the lost packets of other flows)
    (ar_end,) = r.extra["tunnel_ends"]["ar"]
    (mn_end,) = r.extra["tunnel_ends"]["mn"]
    in_tunnel_lost = ar_end["encapsulated"] - mn_end["decapsulated"]
    assert m.lost == len(lost) <= in_tunnel_lost, (lost, ar_end, mn_end, r.summary())


def test_mpa_handover_without_buffering(tmp_path: Path) -> None:
    r, pcap = _mpa(tmp_path, buffering=False)
    _check_mpa(r, pcap)
    ar = r.extra["ar"]
    assert ar["held"] == ar["flushed"] == 0  # without buffering nothing is held


def test_mpa_handover_with_bicasting(tmp_path: Path) -> None:
    # the PANA-Update goes 60 ms after nCoA is configured (6 stream packets), so R2 stays in its
    # switch mode while the MN is already on the CTN link: the window bicasting is for
    r, pcap = _mpa(tmp_path, buffering=False, bicast=True, update_delay=0.06)
    _check_mpa(r, pcap, bicast=True)
    m, ar = r.meter, r.extra["ar"]
    ncoa = str(r.extra["ncoa"])
    # RFC 6252 s7.6: during the switch nothing is held; every packet for nCoA went into the tunnel
    # and a copy onto the CTN link, addressed to the MN's MAC from PCI[E]
    assert ar["held"] == ar["flushed"] == 0
    assert ar["bicast"] > 0 and r.extra["bicast_sent"] == ar["bicast"], r.extra
    # until R2 starts deleting the tunnel its only route to nCoA is the tunnel device, so a packet
    # that reached the MN's real interface before then can only be a direct bicast copy
    (ar_end,) = r.extra["tunnel_ends"]["ar"]
    route_gone = r.t_move + ar_end["time"] / 1000
    copies = m.via("mn0", after=r.t_move, before=route_gone)
    assert copies > 0, (r.summary(), route_gone)
    # the copies are on the CTN wire at R2: CN -> nCoA, plain UDP, from R2's CTN-link MAC to the
    # MN's (the capture also holds the stream arriving from the core on r2c, one hop earlier)
    rows = _tshark_rows(pcap, "frame.interface_name", "ip.src", "ip.dst", "ip.proto", "eth.dst",
                        "ip.ttl")  # fmt: skip
    direct = [r_ for r_ in rows if r_[0] == "r2d" and r_[1:4] == [str(CN_ADDR), ncoa, "17"]]
    assert len(direct) >= ar["bicast"] and {r_[4] for r_ in direct} == {MN_MAC.hex(":")}
    # forwarded once by the core and once by R2, whether copied by the agent or routed directly
    assert {r_[5] for r_ in direct} == {"62"}, direct
    # every duplicate is one packet seen on both interfaces, never twice on the same one
    per_iface: dict[tuple[int, str], int] = {}
    for seq, _t, iface in m.arrivals:
        per_iface[seq, iface] = per_iface.get((seq, iface), 0) + 1
    assert all(n == 1 for n in per_iface.values())
    # what is lost was sent before the MN had nCoA on the CTN link: the tunnel copy reaches it
    # only before it leaves AP1, the direct copy only once its port is on AP2 (nCoA is local on
    # its tunnel device until the move is done, on mn0 from "configured"); nothing sent after
    # that is lost, unlike without buffering. Both sides are measured, no margin for load:
    # "configured" is stamped after `ip` returned (the move, address and route are in place),
    # the CN's send times are its own clock read before each send (the same CLOCK_MONOTONIC),
    # rounded to 1 us. The stream ran through the tunnel for `settle` (0.5 s) before the
    # pre-switch: nothing sent before that window may be lost either.
    configured = r.t_move + r.steps["configured"] / 1000
    lost = _lost(m)
    late = [(s, round((t - configured) * 1000, 2)) for s, t in lost if t > configured + 1e-6]
    assert not late, (late, r.summary(), r.steps)
    assert m.lost == len(lost) == m.lost_between(r.t_move - 0.5, configured + 1e-6), r.summary()


class _AfterParComplete:
    """A lease gate: release the lease once PAR[C] went out without it; note the PAA's state."""

    def __init__(self) -> None:
        self.state_at_release: str | None = None

    async def __call__(self, agent: Any, sid: int) -> None:
        while not agent.extension.sessions[sid].completed:
            await asyncio.sleep(0)
        self.state_at_release = agent.paa.session(sid).state.name


def _late_lease(tmp_path: Path, *, gate: _AfterParComplete) -> HandoverResult:
    need_binary("dnsmasq")
    with lab() as base:
        mpa = MpaLab(base, tmp_path).build()
        mpa.start_dhcp_server()
        return asyncio.run(
            mpa_handover(
                mpa,
                buffering=True,
                settle=0.2,
                timeout=2.0,
                lease_gate=gate,
            )
        )


def test_mpa_lease_after_par_complete_is_delivered_in_a_pnr(tmp_path: Path) -> None:
    # the lease arrives after PAR[C] went out; MpaAgent sends it in PNR[P,E] once the session is
    # OPEN (a lease between PAR[C] and PAN[C] waits for OPEN: test_flow.py provokes that case)
    r = _late_lease(tmp_path, gate=_AfterParComplete())
    names = [e[1] for e in r.extra["agent"]]
    assert "address_delivered_late" in names
    assert r.steps["pre_configured"] > r.steps["pre_authenticated"]
    assert "handover_complete" in r.steps

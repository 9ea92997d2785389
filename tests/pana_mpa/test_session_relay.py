"""RFC 6345: PaC <-> PANA Relay Element <-> PAA on a VirtualNet."""

from __future__ import annotations

from pana_codecs import MessageType, decode_pana
from pana_mpa._avps import AvpCode
from pana_mpa.config import PaaConfig
from pana_mpa.flow import describe
from pana_mpa.pac import PacSession
from pana_mpa.relay import PanaRelay, unwrap_relay, wrap_relay
from pana_mpa.state import PaaState, PacState
from pana_mpa.trace import MemoryTrace

from .pair import PAA_ADDR, PAC_ADDR, Pair, make_pair

RELAY_ADDR = ("198.51.100.1", 716)


def relayed_pair() -> tuple[Pair, PanaRelay]:
    # PRY only from configured relays (issue 9)
    pair = make_pair(paa_config=PaaConfig(relays=(RELAY_ADDR[0],)))
    # the PaC sees the PRE as its PAA (RFC 6345 s3)
    pair.pac = PacSession(
        pair.pac._config, paa=RELAY_ADDR, eap=pair.pac._eap, rng=pair.pac._rng, trace=MemoryTrace()
    )
    pair.pac_trace = pair.pac._trace  # type: ignore[assignment]
    pair.net.add(PAC_ADDR, pair.pac)
    relay = PanaRelay(PAA_ADDR, trace=MemoryTrace())
    pair.net.add(RELAY_ADDR, relay)
    return pair, relay


def test_authentication_ping_and_termination_through_a_relay() -> None:
    pair, _relay = relayed_pair()
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert pair.pac.state is PacState.OPEN
    session = pair.paa.session(pair.only_session())
    assert session.state is PaaState.OPEN
    assert session.relay == RELAY_ADDR and session.peer == PAC_ADDR
    paa_side = [d for d in pair.net.log if PAA_ADDR in (d.src, d.dst)]
    pac_side = [d for d in pair.net.log if PAC_ADDR in (d.src, d.dst)]
    assert len(paa_side) == len(pac_side)
    for d in paa_side:
        msg = decode_pana(d.data)
        assert msg.type == MessageType.PANA_RELAY and msg.flags == 0
        assert msg.session_id == 0 and msg.seq == 0
        pac, inner = unwrap_relay(msg)
        assert pac == PAC_ADDR
        assert inner in {x.data for x in pac_side}
    assert [describe(decode_pana(d.data)) for d in pac_side][-2:] == ["PAR[C]", "PAN[C]"]
    sid = session.session_id
    pair.paa.ping(sid, pair.net.now)
    pair.net.run(pair.net.now + 1)
    pair.pac.terminate(pair.net.now)
    pair.net.run(pair.net.now + 1)
    assert pair.pac.closed and len(pair.paa) == 0


def test_relay_never_retransmits_but_relays_retransmissions() -> None:
    pair, relay = relayed_pair()
    lost: list[object] = []

    def lose_first_pry(d: object) -> bool:
        if getattr(d, "dst", None) == PAA_ADDR and not lost:
            lost.append(d)
            return True
        return False

    pair.net.drop = lose_first_pry
    pair.pac.start(0.0)
    pair.net.run(10.0)
    assert lost and pair.pac.state is PacState.OPEN
    assert relay.get_timer() is None
    pcis = [d for d in pair.net.log if d.src == PAC_ADDR and describe(decode_pana(d.data)) == "PCI"]
    assert len(pcis) == 2  # the PaC retransmitted; the PRE wrapped it again


def test_paa_discards_bad_relay_messages() -> None:
    pair, relay = relayed_pair()
    pci = bytes.fromhex("00000010000000010000000000000000")
    good = wrap_relay(PAC_ADDR, pci)
    bad_header = bytearray(good)
    bad_header[4] = 0x80  # R set
    missing = decode_pana(good)
    from dataclasses import replace

    from pana_codecs import encode_pana

    no_info = encode_pana(
        replace(missing, avps=tuple(a for a in missing.avps if a.code != AvpCode.PAC_INFORMATION))
    )
    for data in (bytes(bad_header), no_info, wrap_relay(PAC_ADDR, b"junk")):
        pair.net.inject(RELAY_ADDR, PAA_ADDR, data)
    pair.net.run(0.5)
    reasons = [r["reason"] for r in pair.paa_trace.named("message_dropped")]
    assert len([r for r in reasons if r.startswith("PANA-Relay")]) == 3
    assert len(pair.paa) == 0
    # the relay drops PRYs coming from PaCs and garbage
    relay.receive_datagram(good, PAC_ADDR, 1.0)
    relay.receive_datagram(b"xx", PAC_ADDR, 1.0)
    relay.receive_datagram(pci, PAA_ADDR, 1.0)  # not a PRY from the PAA
    assert relay.datagrams_to_send(1.0) == []
    assert relay.next_event() is None
    relay.handle_timer(2.0)

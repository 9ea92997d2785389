"""The PAA decodes no AVP of a message for a session it does not have (issue 9, item 5)."""

from __future__ import annotations

from dataclasses import replace

import pytest

import pana_codecs.pana as pana_module
import pana_mpa.paa as paa_module
from pana_codecs import Avp, MessageFlags, MessageType, PanaMessage, decode_pana, encode_pana
from pana_mpa.config import PaaConfig
from pana_mpa.paa import PaaServer
from pana_mpa.relay import wrap_relay
from pana_mpa.trace import MemoryTrace

from .pair import PAC_ADDR, make_pair

pytestmark = pytest.mark.hostile

R = MessageFlags.R


class _Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, data: bytes, **kwargs: object) -> PanaMessage:
        self.calls += 1
        return decode_pana(data, **kwargs)  # type: ignore[arg-type]


def _dropped(trace: MemoryTrace) -> list[str]:
    return [str(r["reason"]) for r in trace.named("message_dropped")]


def test_no_avp_is_decoded_for_an_unknown_session(monkeypatch: pytest.MonkeyPatch) -> None:
    counting = _Counting()
    monkeypatch.setattr(paa_module, "decode_pana", counting)
    trace = MemoryTrace()
    paa = PaaServer(PaaConfig(), trace=trace)
    # the worst datagram: 65,504 octets of 8,186 empty AVPs, for a session nobody has
    junk = encode_pana(PanaMessage(MessageType.PANA_AUTH, R, 0x1234, 1, (Avp(77, b""),) * 8186))
    small = encode_pana(PanaMessage(MessageType.PANA_AUTH, R, 0x1234, 1))
    for _ in range(20):
        paa.receive_datagram(junk, PAC_ADDR, 0.0)
        paa.receive_datagram(small, PAC_ADDR, 0.0)
    # counted, not timed (shared machines): the big one is dropped before any AVP is decoded,
    # so its size barely matters; benchmarks/datagram_cost.py measures the cost ratio
    assert counting.calls == 0
    assert len(paa) == 0
    assert all(r.startswith("unknown session 0x1234") for r in _dropped(trace))


def test_pci_and_relay_are_decoded_with_a_small_avp_cap() -> None:
    trace = MemoryTrace()
    paa = PaaServer(PaaConfig(relays=("198.51.100.1",)), trace=trace)  # PRY: configured relays
    cap = paa_module._PCI_MAX_AVPS
    pci = PanaMessage(MessageType.PANA_CLIENT_INITIATION, 0, 0, 0, (Avp(77, b""),) * (cap + 1))
    paa.receive_datagram(encode_pana(pci), PAC_ADDR, 0.0)
    relay = wrap_relay(PAC_ADDR, encode_pana(pci))
    paa.receive_datagram(relay, ("198.51.100.1", 716), 0.0)
    # a PRY carries PaC-Information and Relayed-Message (RFC 6345 s7) and a few more at most
    pry = decode_pana(wrap_relay(PAC_ADDR, encode_pana(replace(pci, avps=()))))
    extra = (Avp(77, b""),) * (paa_module._PRY_MAX_AVPS - 1)
    fat = encode_pana(replace(pry, avps=pry.avps + extra))
    paa.receive_datagram(fat, ("198.51.100.1", 716), 0.0)
    assert len(paa) == 0
    reasons = _dropped(trace)
    assert len(reasons) == 3, reasons
    assert all(f"more than {cap} AVPs" in r for r in reasons[:2]), reasons
    assert f"more than {paa_module._PRY_MAX_AVPS} AVPs" in reasons[2]


def test_hostile_datagrams_make_few_avp_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted, not timed: how many AVP objects each candidate of benchmarks.datagram_cost makes.

    Only a datagram that passes every check on its header (the session's sequence number, the
    AUTH over the raw octets) is decoded; the rest make none (issue 9 item 5).
    """
    from benchmarks.datagram_cost import hostile_datagrams

    made = [0]
    make_avp = pana_module._make_avp

    def counting_make_avp(*fields: object) -> Avp:
        made[0] += 1
        return make_avp(*fields)

    kinds = hostile_datagrams(rounds=3)
    monkeypatch.setattr(pana_module, "_make_avp", counting_make_avp)
    cap, pci, pry = PaaConfig().max_avps, paa_module._PCI_MAX_AVPS, paa_module._PRY_MAX_AVPS
    decoded = {}
    for kind in kinds:
        made[0] = 0
        items = kind.items[:3]
        for data, addr in items:
            kind.receive(data, addr, 10.0)
        kind.drain(10.0)
        decoded[kind.name] = made[0] / len(items)
    none = [
        name
        for name in decoded
        if "wrong sequence" in name
        or "bad AUTH" in name
        or "unknown session" in name
        or "answer to no request" in name
        or "another" in name
        or "forged cookie" in name
        or "no relay" in name
        or "over the" in name
        or "65,504" in name
        or "empty AVPs, live session, expected" in name
    ]
    assert len(none) >= 15
    assert {name: decoded[name] for name in none} == dict.fromkeys(none, 0.0)
    assert max(decoded.values()) == cap  # a session's message before its key: decoded in full
    assert decoded[f"PAA: PCI, {pci} AVPs in 8,192 octets, new address each (answered)"] == pci
    relayed = f"PAA: PRY from the relay, {pry} AVPs, a PCI of {pci} AVPs inside (answered)"
    assert decoded[relayed] == pry + pci


def test_messages_of_known_sessions_still_decode_in_full() -> None:
    pair = make_pair()
    pair.pac.start(0.0)
    pair.net.run(10.0)
    assert pair.pac.state.name == "OPEN"
    pair.pac.ping(pair.net.now)
    pair.net.run(pair.net.now + 1)
    assert pair.pac.state.name == "OPEN"

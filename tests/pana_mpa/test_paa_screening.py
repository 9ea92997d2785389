"""The PAA decodes no AVP of a message for a session it does not have (issue 9, item 5)."""

from __future__ import annotations

import pytest

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
    pci = PanaMessage(MessageType.PANA_CLIENT_INITIATION, 0, 0, 0, (Avp(77, b""),) * 17)
    paa.receive_datagram(encode_pana(pci), PAC_ADDR, 0.0)
    relay = wrap_relay(PAC_ADDR, encode_pana(pci))
    paa.receive_datagram(relay, ("198.51.100.1", 716), 0.0)
    assert len(paa) == 0
    reasons = _dropped(trace)
    assert len(reasons) == 2 and all("16" in r for r in reasons), reasons


def test_messages_of_known_sessions_still_decode_in_full() -> None:
    pair = make_pair()
    pair.pac.start(0.0)
    pair.net.run(10.0)
    assert pair.pac.state.name == "OPEN"
    pair.pac.ping(pair.net.now)
    pair.net.run(pair.net.now + 1)
    assert pair.pac.state.name == "OPEN"

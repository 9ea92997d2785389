"""Replay: the PAA side of ``openpana-loopback.pcapng`` into our PacSession and EAP-PSK peer.

Fed OpenPANA's (and hostapd's) captured messages, with the randomness the captured PaC used
(its Nonce and EAP-PSK RAND_P), our PaC must answer every message of the authentication phase
as OpenPANA's PaC did: same type, flags, session and sequence number, same AVPs (OpenPANA puts
Integrity-Algorithm before PRF-Algorithm and EAP-Payload before Nonce; the order is free, RFC
5191 s6.3), and byte-identical EAP-PSK messages 2 and 4; our peer must derive the README's MSK.

The replay ends at the PAR[C]: its AUTH was computed with OpenPANA's PAN[S] as I_PAN, and ours
has the same AVPs in another order, so our PANA_AUTH_KEY (correctly) differs and the PAR[C] is
dropped. With OpenPANA's PAN[S] bytes the README's PANA_AUTH_KEY comes out, which shows the
drop is due to I_PAN alone.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer
from eap.peer import EapPeer
from pana_codecs import AvpCode, MessageFlags, MessageType, PanaMessage, decode_pana
from pana_mpa import crypto
from pana_mpa.capture import UdpDatagram, read_pana
from pana_mpa.config import PacConfig
from pana_mpa.pac import PacSession
from pana_mpa.trace import MemoryTrace

from .locate import capture_path

pytestmark = pytest.mark.interop

NAME = "openpana-loopback.pcapng"
PSK = Secret(b"SecretPassphrase")
MSK_1 = bytes.fromhex(
    "f3015821f6e28e87b00b5cd1cf905703676b6bf95faa9f3b962a7544fd1128ba"
    "d072348ee097f29aa659eaaf38ffb7ff5bdd8ba3012c06d21540113abfef2241"
)
AUTH_KEY_1 = bytes.fromhex("70d0905d1a01b73dffddedb1f6dfc2d0e4bc0627")


def _feed(values: list[bytes]) -> Callable[[int], bytes]:
    """An rng that hands out the captured values in order (other sizes: retransmit jitter)."""
    queue = list(values)

    def rng(n: int) -> bytes:
        if queue and len(queue[0]) == n:
            return queue.pop(0)
        return bytes(n)

    return rng


def _avp_set(msg: PanaMessage) -> list[tuple[int, int | None, bytes]]:
    return sorted((a.code, a.vendor_id, a.value) for a in msg.avps)


def test_our_pac_answers_openpana_paa_like_openpana_pac() -> None:
    datagrams = read_pana(capture_path(NAME))
    pac_addr, paa_addr = datagrams[0].src, datagrams[0].dst
    from_pac = [d for d in datagrams if d.src == pac_addr]
    msgs = {d.frame: decode_pana(d.payload) for d in datagrams}
    nonces = [n.value for d in from_pac if (n := msgs[d.frame].avp(AvpCode.NONCE)) is not None]
    rand_ps = []
    for d in from_pac:
        eap = msgs[d.frame].avp(AvpCode.EAP_PAYLOAD)
        if eap is not None and eap.value[4] == EAP_TYPE_PSK and eap.value[5] >> 6 == 1:
            rand_ps.append(eap.value[6 + 16 : 6 + 32])  # message 2: Flags, RAND_S, RAND_P
    psk_peers: list[PskPeer] = []

    def make_psk_peer() -> PskPeer:
        psk_peers.append(PskPeer(b"user1", PSK, rng=_feed(rand_ps)))
        return psk_peers[-1]

    trace = MemoryTrace()
    pac = PacSession(
        PacConfig(),
        paa=paa_addr,
        eap=EapPeer(identity=b"user1", methods={EAP_TYPE_PSK: make_psk_peer}),
        rng=_feed(nonces),
        trace=trace,
    )
    t0 = datagrams[0].time
    pac.start(0.0)
    sent = pac.datagrams_to_send(0.0)
    assert [s[0] for s in sent] == [datagrams[0].payload]  # the bare PCI, byte for byte

    par_c = next(d for d in datagrams if msgs[d.frame].has(MessageFlags.R | MessageFlags.C))
    answered = 0
    for i, d in enumerate(datagrams[1:], start=1):
        if d.src != paa_addr or d.frame >= par_c.frame:
            continue
        now = d.time - t0
        pac.receive_datagram(d.payload, paa_addr, now)
        sent = pac.datagrams_to_send(now)
        captured: UdpDatagram = datagrams[i + 1]
        assert captured.src == pac_addr
        assert len(sent) == 1, (d.frame, trace.named("message_dropped"))
        ours, theirs = decode_pana(sent[0][0]), msgs[captured.frame]
        assert (ours.type, ours.flags, ours.session_id, ours.seq) == (
            theirs.type,
            theirs.flags,
            theirs.session_id,
            theirs.seq,
        ), captured.frame
        assert _avp_set(ours) == _avp_set(theirs), captured.frame
        answered += 1
    assert answered == 4  # PAN[S], PAN{Identity, Nonce}, EAP-PSK messages 2 and 4

    # Our EAP-PSK peer derived the capture's MSK (README).
    assert len(psk_peers) == 1
    keys = psk_peers[0].keys()
    assert keys is not None and keys.msk == Secret(MSK_1)

    # The PAR[C]: dropped by our PaC, because I_PAN (our PAN[S]) differs in AVP order only ...
    pac.receive_datagram(par_c.payload, paa_addr, par_c.time - t0)
    assert pac.datagrams_to_send(par_c.time - t0) == []
    drops = trace.named("message_dropped")
    assert [r["reason"] for r in drops] == ["AUTH of PAR[C] does not verify with the new key"]
    # ... since with OpenPANA's own PAN[S] the README's PANA_AUTH_KEY and a valid AUTH result.
    i_par, i_pan = datagrams[1].payload, datagrams[2].payload
    paa_nonce = msgs[datagrams[3].frame].avp(AvpCode.NONCE)
    assert paa_nonce is not None
    key = crypto.pana_auth_key(
        2,
        7,
        keys.msk,
        i_par=i_par,
        i_pan=i_pan,
        pac_nonce=nonces[0],
        paa_nonce=paa_nonce.value,
        key_id=0x6F42762F,
    )
    assert key == Secret(AUTH_KEY_1)
    assert crypto.verify_auth(7, key, par_c.payload)
    assert msgs[par_c.frame].type == MessageType.PANA_AUTH

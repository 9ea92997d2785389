"""EAP packets that break their method's rules, from a malicious PAA and a malicious PaC (issue 9).

Each case alters, in every copy it sends, one message of a real exchange (before the key exists,
so no AUTH stands in the way) and asserts what the method's RFC says the receiver does, carried
through PANA as RFC 5609 says:

* ``discard``: the method silently discards the message (RFC 4764 s4.3/s5, RFC 5433 s10,
  RFC 3748 s5.4, RFC 5216 framing), nothing answers it. A PaC then acknowledges the PAR with an
  empty PAN and ends the session (RFC 5609 s5.6 WAIT_EAP_MSG, EAP_DISCARD with piggybacking);
  a PAA ends the session silently (RFC 5609 s6.6 WAIT_EAP_MSG, EAP_DISCARD), the PaC gives up at
  FAILED_SESS_TIMEOUT.
* ``failure``: the method fails the conversation (GPSK-Fail, a wrong MD5 value, an EAP-TLS
  framing error); the PAA sends PAR[C] with Result-Code 1 and an EAP Failure (RFC 5191 s4.1)
  and the PaC reports AuthenticationFailed(1).

Always: nobody authenticates, no key, no traceback and no internal error at either end.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from eap.authenticator import EapAuthenticator
from eap.methods.tls import TlsPeer, TlsServer
from eap.peer import EapPeer
from pana_codecs import Avp, decode_eap, decode_pana, encode_pana
from pana_codecs.eap import EapPacket
from pana_mpa._avps import AvpCode
from pana_mpa.aio.virtualnet import Datagram, VirtualNet
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.events import Authenticated, AuthenticationFailed, SessionTerminated
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession
from pana_mpa.trace import MemoryTrace
from tests.pana_mpa.pair import PAA_ADDR, PAC_ADDR, Pair, make_pair
from tests.pki import Pki, make_pki
from tests.realcomponents import need_module

from ._hostile import assert_no_internal_error, eap_of

pytestmark = pytest.mark.hostile

PSK, MD5, GPSK, TLS = 47, 4, 51, 13
REQUEST, RESPONSE = 1, 2


def _set(i: int, value: int) -> Callable[[bytes], bytes]:
    return lambda b: b[:i] + bytes((value,)) + b[i + 1 :]


def _flip(i: int) -> Callable[[bytes], bytes]:
    return lambda b: b[:i] + bytes((b[i] ^ 0x01,)) + b[i + 1 :]


def _or(i: int, bits: int) -> Callable[[bytes], bytes]:
    return lambda b: b[:i] + bytes((b[i] | bits,)) + b[i + 1 :]


def _flip_last(b: bytes) -> bytes:
    """Flip the last octet (a trailing MAC)."""
    return b[:-1] + bytes((b[-1] ^ 0x01,))


def _cut(n: int) -> Callable[[bytes], bytes]:
    return lambda b: b[:-n]


def _gpsk2_rand_server(b: bytes) -> bytes:
    """Flip RAND_Server in GPSK-2: ID_Peer, ID_Server, RAND_Peer come first (RFC 5433 s5.2)."""
    o = 6
    for _ in range(2):
        o += 2 + int.from_bytes(b[o : o + 2], "big")
    return _flip(o + 32)(b)


def _tls_length(value: int) -> Callable[[bytes], bytes]:
    """EAP-TLS Flags with L and a TLS Message Length of ``value`` (RFC 5216 s3.1)."""

    def mutate(b: bytes) -> bytes:
        flags = b[5]
        data = b[10:] if flags & 0x80 else b[6:]
        return b[:5] + bytes((flags | 0x80,)) + value.to_bytes(4, "big") + data

    return mutate


@dataclass(frozen=True)
class Case:
    """One violation: which EAP packets to alter and how, and the specified outcome."""

    method: str
    sender: str  # "paa" (a malicious PAA alters its Requests) or "pac" (its Responses)
    match: Callable[[EapPacket], bool]
    mutate: Callable[[bytes], bytes]
    outcome: str  # "discard" or "failure"
    why: str
    """What the method logs when it applies the rule (so another check cannot stand in)."""


def _psk(flags: int) -> Callable[[EapPacket], bool]:
    return lambda p: p.type == PSK and p.type_data[:1] == bytes((flags,))


def _gpsk(op: int) -> Callable[[EapPacket], bool]:
    return lambda p: p.type == GPSK and p.type_data[:1] == bytes((op,))


def _any(method_type: int) -> Callable[[EapPacket], bool]:
    return lambda p: p.type == method_type


def _tls_not_start(p: EapPacket) -> bool:
    return p.type == TLS and not p.type_data[0] & 0x20


def _tls_with_data(p: EapPacket) -> bool:
    return p.type == TLS and len(p.type_data) > 1


_F = _flip_last
_TABLE: list[tuple[str, str, Callable[[EapPacket], bool], Callable[[bytes], bytes], str, str]] = [
    # EAP-PSK (RFC 4764): the first message must have T = 0, the third T = 2, RAND_S echoed,
    # MAC_S checked before any key, PCHANNEL nonce 0 and a valid EAX tag (s3.3, s5): else
    # silently discarded.
    ("psk-paa-msg1-T1", "paa", _psk(0x00), _set(5, 0x40), "discard", "T=1 while waiting"),
    ("psk-paa-msg3-T3", "paa", _psk(0x80), _set(5, 0xC0), "discard", "T=3 while waiting"),
    ("psk-paa-msg3-RAND_S", "paa", _psk(0x80), _flip(6), "discard", "RAND_S differs"),
    ("psk-paa-msg3-MAC_S", "paa", _psk(0x80), _flip(22), "discard", "MAC_S does not verify"),
    ("psk-paa-msg3-nonce", "paa", _psk(0x80), _set(41, 1), "discard", "PCHANNEL nonce is not 0"),
    ("psk-paa-msg3-tag", "paa", _psk(0x80), _flip(42), "discard", "PCHANNEL tag does not verify"),
    ("psk-paa-msg3-short", "paa", _psk(0x80), _cut(1), "discard", "third message of 53 octets"),
    # the server: message 2 with T = 1, RAND_S echoed, MAC_P; message 4 with T = 3, N = 1, tag
    ("psk-pac-msg2-T3", "pac", _psk(0x40), _set(5, 0xC0), "discard", "T=3 while waiting"),
    ("psk-pac-msg2-RAND_S", "pac", _psk(0x40), _flip(6), "discard", "RAND_S differs"),
    ("psk-pac-msg2-MAC_P", "pac", _psk(0x40), _flip(38), "discard", "MAC_P does not verify"),
    ("psk-pac-msg4-nonce", "pac", _psk(0xC0), _set(25, 0), "discard", "PCHANNEL nonce is not 1"),
    ("psk-pac-msg4-tag", "pac", _psk(0xC0), _flip(26), "discard", "PCHANNEL tag does not verify"),
    # EAP-MD5 (RFC 3748 s5.4, RFC 1994 s4.1): Value-Size must be non-zero and fit; the response
    # value is 16 octets; a wrong value fails the authentication.
    ("md5-paa-size-0", "paa", _any(MD5), _set(5, 0), "discard", "malformed EAP-MD5 challenge"),
    ("md5-paa-size-big", "paa", _any(MD5), _set(5, 200), "discard", "malformed EAP-MD5 challenge"),
    ("md5-pac-size-15", "pac", _any(MD5), _set(5, 15), "discard", "malformed EAP-MD5 response"),
    ("md5-pac-value", "pac", _any(MD5), _flip(6), "failure", "EAP failure (method 4)"),
    # EAP-GPSK (RFC 5433 s10): unparsable or mismatching messages and bad GPSK-3/GPSK-4 MACs are
    # silently discarded; a bad GPSK-2 MAC is answered with GPSK-Fail, then EAP Failure.
    ("gpsk-paa-gpsk1-short", "paa", _gpsk(1), _cut(1), "discard", "malformed EAP-GPSK request"),
    ("gpsk-paa-gpsk3-MAC", "paa", _gpsk(3), _F, "discard", "EAP-GPSK-3 MAC check failed"),
    ("gpsk-paa-gpsk3-RAND_Peer", "paa", _gpsk(3), _flip(6), "discard", "EAP-GPSK-3 does not match"),
    ("gpsk-pac-gpsk2-MAC", "pac", _gpsk(2), _F, "failure", "GPSK-2 MAC check failed; GPSK-Fail"),
    ("gpsk-pac-gpsk2-RAND_Server", "pac", _gpsk(2), _gpsk2_rand_server, "discard",
     "EAP-GPSK-2 does not match GPSK-1"),
    ("gpsk-pac-gpsk4-MAC", "pac", _gpsk(4), _F, "discard", "EAP-GPSK-4 MAC check failed"),
    # EAP-TLS (RFC 5216 s2.1.5, s3.1): S only in the server's Start; a TLS Message Length within
    # the reassembly limit (64 KB, s2.1.5); M only on a fragment with data.
    ("tls-paa-start-again", "paa", _tls_not_start, _set(5, 0x20), "discard",
     "EAP-TLS Start in the middle of the method"),
    ("tls-pac-start-flag", "pac", _any(TLS), _or(5, 0x20), "discard",
     "EAP-TLS response with the S flag"),
    ("tls-pac-length-above-cap", "pac", _tls_with_data, _tls_length(1 << 20), "failure",
     "TLS Message Length 1048576 above the limit 65536"),
    ("tls-pac-empty-more", "pac", _tls_with_data, lambda b: b[:5] + b"\x40", "failure",
     "empty fragment with the M flag"),
]  # fmt: skip
CASES = {
    name: Case(name.split("-", 1)[0], sender, match, mutate, outcome, why)
    for name, sender, match, mutate, outcome, why in _TABLE
}


def _tls_pair() -> Pair:
    need_module("OpenSSL")  # the tls extra (pyOpenSSL)
    pki = _PKI()
    vnet = VirtualNet(seed=9)
    peer = EapPeer(
        identity=b"user1",
        methods={
            TLS: TlsPeer.factory(
                ca=pki.ca.cert, cert=pki.client.cert, key=pki.client.key, server_names=["paa.test"]
            )
        },
    )
    make_server = TlsServer.factory(
        cert=pki.server.cert, key=pki.server.key, ca=pki.ca.cert, fragment_size=300
    )
    pac_trace, paa_trace = MemoryTrace(), MemoryTrace()
    pac = PacSession(
        PacConfig(), paa=PAA_ADDR, eap=peer, rng=random.Random(1).randbytes, trace=pac_trace
    )

    def eap_factory() -> EapAuthenticator:
        return EapAuthenticator(methods=lambda ident: [make_server], rng=random.Random(2).randbytes)

    paa = PaaServer(
        PaaConfig(), eap_factory=eap_factory, rng=random.Random(3).randbytes, trace=paa_trace
    )
    vnet.add(PAC_ADDR, pac)
    vnet.add(PAA_ADDR, paa)
    return Pair(vnet, pac, paa, peer, pac_trace, paa_trace)  # type: ignore[arg-type]


_PKI_CACHE: list[Pki] = []


def _PKI() -> Pki:  # one PKI for the module, made on first use
    if not _PKI_CACHE:
        _PKI_CACHE.append(make_pki())
    return _PKI_CACHE[0]


def _tamper(case: Case, altered: list[bytes]) -> Callable[[Datagram], bytes | None]:
    src, code = (PAA_ADDR, REQUEST) if case.sender == "paa" else (PAC_ADDR, RESPONSE)

    def tamper(d: Datagram) -> bytes | None:
        if d.src != src:
            return None
        msg = decode_pana(d.data)
        avp = msg.avp(AvpCode.EAP_PAYLOAD)
        if avp is None:
            return None
        pkt = decode_eap(avp.value)
        if pkt.code != code or not case.match(pkt):
            return None
        new = case.mutate(avp.value)
        new = new[:2] + len(new).to_bytes(2, "big") + new[4:]  # the EAP Length follows
        altered.append(new)
        avps = tuple(Avp(AvpCode.EAP_PAYLOAD, new) if a is avp else a for a in msg.avps)
        return encode_pana(replace(msg, avps=avps))

    return tamper


def _answered(pair: Pair, altered: list[bytes]) -> bool:
    """Did the receiver answer an altered EAP packet with an EAP packet of its own?"""
    ids = {decode_eap(b).identifier for b in altered}
    receiver = PAC_ADDR if decode_eap(altered[0]).code == REQUEST else PAA_ADDR
    after = False
    for d in pair.net.log:
        eap = eap_of(d.data)
        if eap is None:
            continue
        if d.src != receiver and eap.identifier in ids:
            after = True
        elif d.src == receiver and after and eap.identifier in ids:
            return True
    return False


@pytest.mark.parametrize("name", CASES)
def test_method_violation(name: str, caplog: pytest.LogCaptureFixture) -> None:
    case = CASES[name]
    caplog.set_level(logging.DEBUG, logger="eap")
    pair = _tls_pair() if case.method == "tls" else make_pair(method=case.method)
    altered: list[bytes] = []
    pair.net.tamper = _tamper(case, altered)
    pair.pac.start(0.0)
    pair.net.run(300.0)  # past FAILED_SESS_TIMEOUT (120 s): every end has ended
    assert altered, "the exchange never reached the message to alter"
    pac_events, paa_events = pair.pac_events(), pair.paa_events()
    assert not [e for e in pac_events + paa_events if isinstance(e, Authenticated)]
    assert not pair.pac.has_key and pair.pac.msk is None
    assert pair.pac.closed and len(pair.paa) == 0
    pac_failed = [e.result_code for e in pac_events if isinstance(e, AuthenticationFailed)]
    pac_end = [e.reason for e in pac_events if isinstance(e, SessionTerminated)]
    paa_end = [e.reason for e in paa_events if isinstance(e, SessionTerminated)]
    final = [
        m
        for d in pair.net.log
        if d.src == PAA_ADDR and (m := decode_pana(d.data)).is_request and m.flags & 0x2000
    ]
    if case.outcome == "discard":
        assert not _answered(pair, altered), "the altered packet got an EAP answer"
        assert final == [] and pac_failed == []  # no EAP result was ever sent
        if case.sender == "paa":  # the PaC: EAP_DISCARD -> PAN, Disconnect (RFC 5609 s5.6)
            assert pac_end == ["eap"]
        else:  # the PAA: EAP_DISCARD -> silent Disconnect; the PaC times out
            assert paa_end == ["eap"] and pac_end == ["failed"]
    else:
        rc = [m.avp(AvpCode.RESULT_CODE) for m in final]
        assert rc and all(a is not None and a.value == (1).to_bytes(4, "big") for a in rc)
        eap = final[0].avp(AvpCode.EAP_PAYLOAD)
        assert eap is not None and eap.value[0] == 4  # EAP Failure
        assert pac_failed == [1]
    assert any(case.why in r.getMessage() for r in caplog.records if r.name.startswith("eap"))
    assert_no_internal_error(pair, caplog)

"""Hostile peers and attackers against the PaC and the PAA (issue 9, marker ``hostile``).

Each case states the RFC's behaviour (silent discard, Result-Code, termination) and checks that
no session state changed where it must not. Regression tests for the issue's items name them.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import replace

import pytest

from eap.authenticator import AuthOutput, EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer, EapResult
from pana_codecs import (
    Avp,
    CodecError,
    MessageFlags,
    MessageType,
    PanaMessage,
    decode_pana,
    encode_pana,
)
from pana_mpa._avps import AvpCode, u32_avp
from pana_mpa.aio.virtualnet import Datagram, VirtualNet
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.events import (
    Authenticated,
    AuthenticationFailed,
    PeerAddressChanged,
    PingAnswered,
    SessionTerminated,
)
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession
from pana_mpa.state import PaaState, PacState
from tests.pana_mpa.pair import PAA_ADDR, PAC_ADDR, PSKS, Pair, make_pair, opened

pytestmark = pytest.mark.hostile

ATTACKER = ("203.0.113.66", 5555)


def _open(**kw: object) -> Pair:
    return opened(make_pair(**kw), clear_log=False)  # type: ignore[arg-type]


def _sent(pair: Pair, src: tuple[str, int], mtype: int, flag: int = 0) -> list[bytes]:
    """Requests of this type (and flag) that ``src`` sent, oldest first."""
    out = []
    for d in pair.net.log:
        if d.src != src:
            continue
        msg = decode_pana(d.data)
        if msg.type == mtype and msg.is_request and (not flag or msg.flags & flag):
            out.append(d.data)
    return out


def _internal_errors(pair: Pair) -> list[object]:
    return [
        r
        for r in pair.pac_trace.records + pair.paa_trace.records
        if str(r.get("reason", "")).startswith("internal error")
    ]


# --- item 1: hijack by replay ---------------------------------------------------------------


def test_replayed_request_from_a_new_address_moves_nothing() -> None:
    """Issue 9 item 1: the PaC's last PNR[P] replayed from elsewhere hijacked the session."""
    pair = _open()
    pair.pac.ping(pair.net.now)
    pair.net.run(pair.net.now + 2)
    sid = pair.only_session()
    pnr = _sent(pair, PAC_ADDR, MessageType.PANA_NOTIFICATION, MessageFlags.P)[-1]
    pair.net.inject(ATTACKER, PAA_ADDR, pnr)
    pair.net.run(pair.net.now + 2)
    assert not [e for e in pair.paa_events() if isinstance(e, PeerAddressChanged)]
    assert pair.paa.session(sid).peer == PAC_ADDR
    # the PAA still talks to the PaC: its ping is answered, nothing goes to the attacker after
    # the cached answer to the replay itself
    start = len(pair.net.log)
    pair.paa.ping(sid, pair.net.now)
    pair.net.run(pair.net.now + 5)
    assert [e for e in pair.paa_events() if isinstance(e, PingAnswered)]
    assert all(d.dst != ATTACKER for d in pair.net.log[start:])
    assert pair.paa.session(sid).state is PaaState.OPEN
    assert pair.pac.state is PacState.OPEN


def test_replayed_older_request_from_a_new_address_is_discarded() -> None:
    pair = _open()
    for _ in range(2):
        pair.pac.ping(pair.net.now)
        pair.net.run(pair.net.now + 2)
    sid = pair.only_session()
    old = _sent(pair, PAC_ADDR, MessageType.PANA_NOTIFICATION, MessageFlags.P)[0]
    start = len(pair.net.log)
    pair.net.inject(ATTACKER, PAA_ADDR, old)
    pair.net.run(pair.net.now + 2)
    assert pair.paa.session(sid).peer == PAC_ADDR
    assert [d for d in pair.net.log[start:] if d.dst == ATTACKER] == []  # stale: no answer


def test_fresh_authenticated_request_from_a_new_address_moves_the_session() -> None:
    """RFC 5191 s5.6 still holds: a fresh, AUTH-verified request from a new address moves it."""
    pair = _open()
    sid = pair.only_session()
    now = pair.net.now
    pair.pac.ping(now)
    ((pnr, _),) = pair.pac.datagrams_to_send(now)
    moved = ("198.51.100.20", 40001)
    pair.paa.receive_datagram(pnr, moved, now)
    ((_pna, dst),) = pair.paa.datagrams_to_send(now)
    assert dst == moved
    changed = [e for e in pair.paa_events() if isinstance(e, PeerAddressChanged)]
    assert [(e.old, e.new) for e in changed] == [(PAC_ADDR, moved)]
    assert pair.paa.session(sid).peer == moved


def test_answer_from_a_new_address_moves_nothing() -> None:
    pair = _open()
    sid = pair.only_session()
    now = pair.net.now
    pair.paa.ping(sid, now)
    ((pnr, _),) = pair.paa.datagrams_to_send(now)
    pair.pac.receive_datagram(pnr, PAA_ADDR, now)
    ((pna, _),) = pair.pac.datagrams_to_send(now)
    pair.paa.receive_datagram(pna, ATTACKER, now)  # the genuine answer, from elsewhere
    assert pair.paa.session(sid).peer == PAC_ADDR
    assert not [e for e in pair.paa_events() if isinstance(e, PeerAddressChanged)]


def test_pac_checks_the_paa_port_as_well_as_its_address() -> None:
    """Issue 9 item 6: the PaC checked only the PAA's IP address."""
    pair = _open()
    sid = pair.only_session()
    now = pair.net.now
    pair.paa.ping(sid, now)
    ((pnr, _),) = pair.paa.datagrams_to_send(now)
    pair.pac.receive_datagram(pnr, (PAA_ADDR[0], 7160), now)
    assert pair.pac.datagrams_to_send(now) == []
    assert pair.pac_trace.records[-1]["reason"] == "not from the PAA"
    pair.pac.receive_datagram(pnr, PAA_ADDR, now)
    assert len(pair.pac.datagrams_to_send(now)) == 1


# --- item 4: peer values that raise ---------------------------------------------------------


def _with_result_code(code: int) -> object:
    def tamper(d: Datagram) -> bytes | None:
        msg = decode_pana(d.data)
        if not (
            msg.type == MessageType.PANA_AUTH and msg.is_request and msg.flags & MessageFlags.C
        ):
            return None
        avps = tuple(
            u32_avp(AvpCode.RESULT_CODE, code) if a.code == AvpCode.RESULT_CODE else a
            for a in msg.avps
        )
        return encode_pana(replace(msg, avps=avps))

    return tamper


@pytest.mark.parametrize("code", [3, 99, 0xFFFFFFFF])
@pytest.mark.parametrize("method", ["psk", "md5"])
def test_unknown_result_code_never_raises(code: int, method: str) -> None:
    """Issue 9 item 4: PAR[C] with Result-Code 99 raised ValueError out of receive_datagram."""
    pair = make_pair(method=method)
    pair.net.tamper = _with_result_code(code)  # type: ignore[assignment]
    pair.pac.start(0.0)
    pair.net.run(300.0)  # PSK: the altered PAR[C] fails AUTH; the failed timer ends it
    assert pair.pac.state is not PacState.OPEN
    assert _internal_errors(pair) == []
    events = pair.pac_events()
    if method == "md5":  # no AUTH: the PaC reads the unknown code as a rejection
        failed = [e for e in events if isinstance(e, AuthenticationFailed)]
        assert [e.result_code for e in failed] == [code]
    assert [e for e in events if isinstance(e, SessionTerminated)]


def test_garbled_messages_from_either_side_never_raise() -> None:
    pair = _open()
    now = pair.net.now
    for d in list(pair.net.log):
        msg = decode_pana(d.data)
        for mutant in _mutants(msg):
            pair.pac.receive_datagram(mutant, PAA_ADDR, now)
            pair.paa.receive_datagram(mutant, PAC_ADDR, now)
    assert _internal_errors(pair) == []
    assert pair.pac.state is PacState.OPEN


def _mutants(msg: PanaMessage) -> list[bytes]:
    """Peer values a state machine might turn into enums or ints: each AVP set to odd values."""
    out = []
    mutants = []
    for i, a in enumerate(msg.avps):
        for value in (b"", b"\x00", b"\xff" * 4, b"\x00\x00\x00\x63", bytes(300)):
            avps = list(msg.avps)
            avps[i] = Avp(a.code, value, a.vendor_id)
            mutants.append(replace(msg, avps=tuple(avps)))
    for code in range(1, 14):
        mutants.append(replace(msg, avps=(*msg.avps, Avp(code, b"\x00\x00\x00\x63"))))
    for m in mutants:
        with contextlib.suppress(CodecError):  # values without a wire form
            out.append(encode_pana(m))
    return out


# --- item 3: keyless downgrade --------------------------------------------------------------


def _strip_key_id_and_auth(d: Datagram) -> bytes | None:
    msg = decode_pana(d.data)
    if not (msg.type == MessageType.PANA_AUTH and msg.is_request and msg.flags & MessageFlags.C):
        return None
    avps = tuple(a for a in msg.avps if a.code not in (AvpCode.KEY_ID, AvpCode.AUTH))
    return encode_pana(replace(msg, avps=avps))


@pytest.mark.parametrize("method", ["psk", "gpsk"])
def test_pac_refuses_a_par_c_stripped_of_its_key(method: str) -> None:
    """Issue 9 item 3: without Key-Id and AUTH in PAR[C] the PaC opened a keyless session."""
    pair = make_pair(method=method)
    pair.net.tamper = _strip_key_id_and_auth
    pair.pac.start(0.0)
    pair.net.run(10.0)
    events = pair.pac_events()
    assert not [e for e in events if isinstance(e, Authenticated)]
    (failed,) = [e for e in events if isinstance(e, AuthenticationFailed)]
    assert failed.result_code == 2 and "keyless" in failed.reason
    assert pair.pac.closed and not pair.pac.has_key
    # the PaC did not acknowledge the altered PAR[C]
    assert not [m for m in _sent_answers(pair, PAC_ADDR) if m.flags & MessageFlags.C]


def test_pac_refuses_a_paa_that_offers_no_sa_for_a_key_generating_method() -> None:
    pair = make_pair(method="psk", paa_config=PaaConfig(prf_algorithms=(), integrity_algorithms=()))
    pair.pac.start(0.0)
    pair.net.run(10.0)
    events = pair.pac_events()
    assert not [e for e in events if isinstance(e, Authenticated)]
    assert next(e.reason for e in events if isinstance(e, AuthenticationFailed)).startswith(
        "the EAP method produced an MSK"
    )


def test_keyless_methods_still_open_keyless_sessions() -> None:
    pair = make_pair(method="md5")
    pair.pac.start(0.0)
    pair.net.run(10.0)
    assert pair.pac.state is PacState.OPEN and not pair.pac.has_key


class _KeysLost:
    """An authenticator whose success arrives without an MSK (AAA accept without MS-MPPE keys)."""

    def __init__(self, inner: EapAuthenticator) -> None:
        self.inner = inner

    def start(self) -> AuthOutput:
        return self.inner.start()

    def receive(self, packet: bytes) -> AuthOutput:
        out = self.inner.receive(packet)
        if out.result is not None and out.result.success:
            return AuthOutput(out.packet, EapResult(True, None, out.result.method_type))
        return out


def test_paa_refuses_a_key_generating_method_without_msk() -> None:
    """Issue 9 item 3: an Access-Accept without usable MS-MPPE keys opened a keyless session."""
    psk = Secret(PSKS[b"alice"])
    rng = random.Random(3).randbytes
    peer = EapPeer(
        identity=b"alice", methods={EAP_TYPE_PSK: lambda: PskPeer(b"alice", psk, rng=rng)}
    )

    def factory() -> _KeysLost:
        server = EapAuthenticator(
            methods=lambda ident: [lambda: PskServer(b"paa", lambda i: psk, rng=rng)], rng=rng
        )
        return _KeysLost(server)

    net = VirtualNet(seed=1)
    pac = PacSession(PacConfig(), paa=PAA_ADDR, eap=peer, rng=rng)
    paa = PaaServer(PaaConfig(), eap_factory=factory, rng=rng)
    net.add(PAC_ADDR, pac)
    net.add(PAA_ADDR, paa)
    pac.start(0.0)
    net.run(10.0)
    paa_events = net.take_events(PAA_ADDR)
    assert not [e for e in paa_events if isinstance(e, Authenticated)]
    (failed,) = [e for e in paa_events if isinstance(e, AuthenticationFailed)]
    assert failed.result_code == 2 and "key-generating" in failed.reason
    assert not [e for e in net.take_events(PAC_ADDR) if isinstance(e, Authenticated)]
    assert len(paa) == 0


def _sent_answers(pair: Pair, src: tuple[str, int]) -> list[PanaMessage]:
    return [
        m
        for d in pair.net.log
        if d.src == src and not (m := decode_pana(d.data)).is_request and m.type != 1
    ]


def test_cli_paa_requires_a_key_by_default() -> None:
    """Issue 9 item 3: the CLI PAA never set require_key."""
    from pana_mpa.cli import peers as cp

    def config(**kw: object) -> PaaConfig:
        opts = cp.PaaOptions(listen=("127.0.0.1", 0), users={b"u": Secret(b"p" * 16)}, **kw)  # type: ignore[arg-type]
        server, _ = cp.build_paa(opts, random.Random(1).randbytes, None)
        return server._config

    assert config().require_key
    assert config(radius=("127.0.0.1", 1812), radius_secret=Secret(b"s")).require_key
    assert not config(
        radius=("127.0.0.1", 1812), radius_secret=Secret(b"s"), allow_keyless=True
    ).require_key
    assert not config(method="md5").require_key  # local EAP-MD5 users: keyless by choice


# --- item 5: bounded work per datagram ------------------------------------------------------


def test_junk_is_dropped_before_any_avp_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9 item 5: 65,504 octets of empty AVPs were decoded in full before the session check."""
    import pana_mpa.paa as paa_module

    pair = _open()
    sid = pair.only_session()
    decoded: list[int] = []
    real = paa_module.decode_pana  # type: ignore[attr-defined]

    def counting(data: bytes, **kw: object) -> PanaMessage:
        decoded.append(len(data))
        return real(data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(paa_module, "decode_pana", counting)
    empty = tuple(Avp(99, b"") for _ in range((65504 - 16) // 8))
    now = pair.net.now
    for target in (sid ^ 0x5A5A, sid):
        big = encode_pana(PanaMessage(4, MessageFlags.R | MessageFlags.P, target, 1, empty))
        pair.paa.receive_datagram(big, ATTACKER, now)  # too large: dropped at the header
    pair.paa.receive_datagram(encode_pana(PanaMessage(4, 0x8800, sid ^ 0x5A5A, 1)), ATTACKER, now)
    assert decoded == []
    reasons = [r["reason"] for r in pair.paa_trace.named("message_dropped")][-3:]
    assert "unknown session" in reasons[0] and "exceeds" in reasons[1]
    assert "unknown session" in reasons[2]
    # within the size limit, more AVPs than max_avps are refused after walking their headers
    many = tuple(Avp(99, b"") for _ in range(200))
    pair.paa.receive_datagram(
        encode_pana(PanaMessage(4, MessageFlags.R | MessageFlags.P, sid, 1, many)), ATTACKER, now
    )
    assert "AVP" in pair.paa_trace.named("message_dropped")[-1]["reason"]
    assert pair.paa.session(sid).state is PaaState.OPEN

"""Replay the OpenPANA captures into our PaC and PAA and compare what they send with the capture.

Two parts. The first test (from main) replays the authentication phase of the PAA side of
``openpana-loopback.pcapng`` into our PacSession unchanged and shows why the captured PAR[C]
cannot verify at our PaC (I_PAN differs in AVP order only). The rest replays whole sessions in
both directions with re-signed AUTH values; how that works, what is injected and what is
compared: ``interop/replay.py`` and docs/interop.md ("Capture replay"). The MSKs and keys below
are the facts of pcaps/README.md.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer
from pana_codecs import AvpCode, MessageFlags, MessageType, PanaMessage, decode_pana
from pana_mpa import crypto
from pana_mpa.cli.capture import UdpDatagram, read_pana
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.events import (
    Authenticated,
    PanaEvent,
    PingAnswered,
    Reauthenticated,
    SessionStarted,
    SessionTerminated,
)
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession
from pana_mpa.trace import MemoryTrace

from .locate import capture_path
from .replay import (
    AUTH_ALG,
    Frame,
    KeySchedule,
    ReplayResult,
    ScriptedRng,
    describe,
    eap_payloads,
    load_frames,
    replay_paa,
    replay_pac,
    resign,
)

pytestmark = pytest.mark.interop

# --- authentication phase, unchanged bytes (from main) -----------------------------------------

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


# --- whole sessions, both directions, re-signed AUTH ---------------------------------------------

PSK_CAPTURE = "openpana-loopback.pcapng"
PSK_PAC = ("127.0.0.1", 43516)
PSK_MSKS = [
    bytes.fromhex(
        "f3015821f6e28e87b00b5cd1cf905703676b6bf95faa9f3b962a7544fd1128ba"
        "d072348ee097f29aa659eaaf38ffb7ff5bdd8ba3012c06d21540113abfef2241"
    ),
    bytes.fromhex(
        "8c1748fa2939eeee580b45d99c60a37f875c07845efbea671914693ced71447b"
        "6d93b233fc30a2788ffec719303052d1cfb95c6a3954cd665b3d38d62261e24f"
    ),
    bytes.fromhex(
        "2d7b284a05deb4daec18fcad96ff5e3494418f725e4598bacf1241066b39ab5d"
        "05e759bfbb9e4d95c134b41dcba884d3e692032b5f2e3849b6f0540de6c57049"
    ),
]
PSK_KEYS = [
    "70d0905d1a01b73dffddedb1f6dfc2d0e4bc0627",
    "54ed2c6ad58c9979af8aea54c31db12443757c75",
    "08a7bdbbe9c1bfde2d0eced9fc898550ed1e2eac",
]

TLS_CAPTURE = "openpana-eaptls-loopback.pcapng"
TLS_PAC = ("127.0.0.1", 56151)
TLS_MSKS = [
    bytes.fromhex(
        "87b6848ed877b855eff33a2c1aad0a04ed800c1abb16ff58be5ce94286b7a82d"
        "b2d9d7af6b468b79036c6570791025f645752b323e387412dfebf83b2c31dc58"
    ),
    bytes.fromhex(
        "e17d633a3f285b69e758cc0795a3443b2e5302107708145807157f3ffedf7679"
        "e983a79ed7383b2c0a0af95dda555520c1529b6b11415a4bd149b7728b99f31e"
    ),
]
TLS_KEYS = [
    "c581276118d73f39cfa02aebafd8aab3e6cc5887",
    "dd7da6a64253fc1495cd0d6858d05ef443817bd4",
]

CPANA_CAPTURE = "wireshark-wiki-pana-rfc5191.cap"
CPANA_MSK = bytes.fromhex(
    "bf6006fe0e7bdc4dd71ea8bc80e69273a37721c8692093ae8a95c09a7209a5c7"
    "e1f9168dd56ede82c7fa5d0231072d3de7bead08ddab4879302d7b6d88c29121"
)

IDENTITY = b"user1"
PSK_TEXT = b"SecretPassphrase"
EAP_TYPE_TLS = 13


def frames_of(name: str, pac_port: int) -> list[Frame]:
    return load_frames(capture_path(name), pac_port)


def kinds(events: list[PanaEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def side(frames: list[Frame], *, pac: bool) -> list[Frame]:
    return [f for f in frames if f.from_pac == pac]


def assert_same_shape(result: ReplayResult, expected: list[Frame]) -> None:
    """Our messages, in order, have the captured types, flags and sequence numbers."""
    assert [f.frame for f, _ in result.compared] == [f.frame for f in expected]
    for frame, ours in result.compared:
        got = load_msg(ours)
        assert (describe(got), got.session_id, got.seq) == (
            describe(frame.msg),
            frame.msg.session_id,
            frame.msg.seq,
        ), frame.frame


def load_msg(raw: bytes) -> PanaMessage:
    return decode_pana(raw)


# --- the independent key derivation that the re-signing relies on -------------------------------


@pytest.mark.parametrize(
    ("name", "pac_port", "msks", "keys", "auth_count"),
    [
        pytest.param(PSK_CAPTURE, PSK_PAC[1], PSK_MSKS, PSK_KEYS, 36, id="psk"),
        pytest.param(TLS_CAPTURE, TLS_PAC[1], TLS_MSKS, TLS_KEYS, 26, id="tls"),
    ],
)
def test_key_schedule_reproduces_the_captured_keys(
    name: str, pac_port: int, msks: list[bytes], keys: list[str], auth_count: int
) -> None:
    """With the captured I_PAR/I_PAN, the replay's key schedule gives the README keys."""
    frames = frames_of(name, pac_port)
    schedule = KeySchedule(msks=msks)
    verified = 0
    for f in frames:
        schedule.observe(f.raw, f.msg, from_pac=f.from_pac)
        if f.msg.avps and f.msg.avps[-1].code == 1:
            assert schedule.verify(f.raw), f.frame
            verified += 1
    assert [k.reveal().hex() for k in schedule.keys] == keys
    assert verified == auth_count


# --- our PaC against the captured OpenPANA PAA (hostapd behind it), EAP-PSK ----------------------


def test_pac_replay_openpana_psk_full_session() -> None:
    """All 22 captured PAA messages into our PaC: its 23 messages match the captured PaC's."""
    frames = frames_of(PSK_CAPTURE, PSK_PAC[1])
    result, pac_rng, psk_rng = replay_pac(frames, msks=PSK_MSKS, identity=IDENTITY, psk=PSK_TEXT)
    assert result.stopped is None
    assert result.replayed == 22
    assert_same_shape(result, side(frames, pac=True))
    # The one difference is OpenPANA's Termination-Cause byte-order bug (we send LOGOUT = 1).
    assert result.differences == [
        "frame 44 (PTR[R]): AVPs only ours ['TERMINATION_CAUSE=1'], "
        "only captured ['TERMINATION_CAUSE=65536']"
    ]
    # 18 PaC messages carry AUTH (frames 11-45); all verify under the independent key.
    assert result.auth_verified == 18
    assert result.extra == []
    assert pac_rng.left() == {} and psk_rng.left() == {}
    assert kinds(result.events) == [
        "SessionStarted",
        "Authenticated",
        "PingAnswered",
        "PingAnswered",
        "Reauthenticated",
        "PingAnswered",
        "PingAnswered",
        "Reauthenticated",
        "PingAnswered",
        "PingAnswered",
        "SessionTerminated",
    ]
    keyed = [e for e in result.events if isinstance(e, Authenticated | Reauthenticated)]
    assert [e.msk.reveal() for e in keyed if e.msk is not None] == PSK_MSKS
    assert [e.key_id for e in keyed] == [0x6F42762F, 0x6F427630, 0x6F427631]
    assert all(e.lifetime == 20.0 for e in keyed)
    last = result.events[-1]
    assert isinstance(last, SessionTerminated) and not last.by_peer


def test_pac_replay_eap_payloads_are_byte_identical() -> None:
    """With RAND_P injected, every EAP packet our PaC sends equals openpac's (wpa_supplicant's)."""
    frames = frames_of(PSK_CAPTURE, PSK_PAC[1])
    result, _, _ = replay_pac(frames, msks=PSK_MSKS, identity=IDENTITY, psk=PSK_TEXT)
    ours = [
        avp.value
        for _, raw in result.compared
        for avp in load_msg(raw).avps
        if avp.code == 2  # EAP-Payload
    ]
    assert len(ours) == 9  # three runs of Identity, EAP-PSK message 2, EAP-PSK message 4
    assert ours == eap_payloads(frames, from_pac=True)


def test_pac_replay_without_resigning_stops_at_the_first_par_complete() -> None:
    """The captured AUTH values cannot verify at our PaC: its I_PAN differs (AVP order)."""
    frames = frames_of(PSK_CAPTURE, PSK_PAC[1])
    result, _, _ = replay_pac(
        frames, msks=PSK_MSKS, identity=IDENTITY, psk=PSK_TEXT, resign_replayed=False
    )
    # Frame 10 (PAR[C]) is dropped because its AUTH does not verify, so no PAN[C] at frame 11.
    assert result.stopped == "frame 11: our side has no PAN[C]"
    assert "Authenticated" not in kinds(result.events)
    # our PAN[S] holds the same AVPs as openpac's, in the other order: PRF before Integrity
    ours = load_msg(result.compared[1][1])
    theirs = frames[2].msg
    assert [a.code for a in ours.avps] == [6, 3]  # PRF-Algorithm, Integrity-Algorithm
    assert [a.code for a in theirs.avps] == [3, 6]


# --- our PAA against the captured OpenPANA PaC, pass-through to a scripted AAA -------------------


def test_paa_replay_openpana_psk_full_session() -> None:
    """All 23 captured PaC messages into our PAA: its 22 messages match the captured PAA's."""
    frames = frames_of(PSK_CAPTURE, PSK_PAC[1])
    result, paa_rng, forwarded = replay_paa(
        frames, msks=PSK_MSKS, method_type=EAP_TYPE_PSK, pac_address=PSK_PAC
    )
    assert result.stopped is None
    assert result.replayed == 23
    assert_same_shape(result, side(frames, pac=False))
    assert result.differences == []
    assert result.auth_verified == 18  # PAA messages with AUTH: frames 10-45
    assert result.extra == []
    assert paa_rng.left() == {}
    # the PAA forwarded every EAP response of the PaC to the AAA server, unchanged
    assert forwarded == eap_payloads(frames, from_pac=True)
    assert kinds(result.events) == [
        "SessionStarted",
        "Authenticated",
        "Reauthenticated",
        "Reauthenticated",
        "SessionTerminated",
    ]
    started, auth = result.events[0], result.events[1]
    assert isinstance(started, SessionStarted) and started.session_id == 0x91E52916
    assert isinstance(auth, Authenticated) and auth.identity == IDENTITY
    reauths = [e for e in result.events if isinstance(e, Reauthenticated)]
    assert all(e.by_peer for e in reauths)  # PNR[A] from the PaC
    last = result.events[-1]
    # OpenPANA's Termination-Cause 65536 (byte-order bug) is accepted and reported as sent
    assert isinstance(last, SessionTerminated) and last.by_peer and last.cause == 65536


def test_paa_replay_openpana_eaptls_full_session() -> None:
    """EAP-TLS: all 21 captured PaC messages into our PAA; its 20 messages match the capture."""
    frames = frames_of(TLS_CAPTURE, TLS_PAC[1])
    result, paa_rng, forwarded = replay_paa(
        frames, msks=TLS_MSKS, method_type=EAP_TYPE_TLS, pac_address=TLS_PAC
    )
    assert result.stopped is None
    assert result.replayed == 21
    assert_same_shape(result, side(frames, pac=False))
    assert result.differences == []
    assert result.auth_verified == 13
    assert paa_rng.left() == {}
    assert forwarded == eap_payloads(frames, from_pac=True)
    assert kinds(result.events) == [
        "SessionStarted",
        "Authenticated",
        "Reauthenticated",
        "SessionTerminated",
    ]


# --- the lifetime: OpenPANA re-authenticates 21 s after granting 20 s ----------------------------


@pytest.mark.parametrize("role", ["pac", "paa", "paa-tls"])
def test_replay_with_timers_expires_before_openpana_reauthenticates(role: str) -> None:
    """With our timers running on the capture clock, our session ends at the 20 s lifetime."""
    if role == "pac":
        frames = frames_of(PSK_CAPTURE, PSK_PAC[1])
        result, _, _ = replay_pac(
            frames, msks=PSK_MSKS, identity=IDENTITY, psk=PSK_TEXT, fire_timers=True
        )
        assert result.stopped is not None
        assert result.stopped.startswith("frame 16: PNR[RA] refused")
        assert len(result.compared) == 8  # PCI .. PAN[C] and two pings
        assert kinds(result.events)[-3:] == ["PingAnswered", "PingAnswered", "SessionTerminated"]
    elif role == "paa":
        frames = frames_of(PSK_CAPTURE, PSK_PAC[1])
        result, _, _ = replay_paa(
            frames,
            msks=PSK_MSKS,
            method_type=EAP_TYPE_PSK,
            pac_address=PSK_PAC,
            fire_timers=True,
        )
        # the PNR[A] of frame 16 reaches no session: our PAA has no PNA[A] for frame 17
        assert result.stopped == "frame 17: our side has no PNA[A]"
        assert len(result.compared) == 7
    else:
        frames = frames_of(TLS_CAPTURE, TLS_PAC[1])
        result, _, _ = replay_paa(
            frames,
            msks=TLS_MSKS,
            method_type=EAP_TYPE_TLS,
            pac_address=TLS_PAC,
            fire_timers=True,
        )
        assert result.stopped == "frame 23: our side has no PNA[A]"
        assert len(result.compared) == 10
    assert result.differences == []
    assert kinds(result.events)[:2] == ["SessionStarted", "Authenticated"]
    assert "Reauthenticated" not in kinds(result.events)
    end = result.events[-1]
    assert isinstance(end, SessionTerminated) and end.reason == "lifetime"


# --- CPANA as a negative peer -----------------------------------------------------------------


def test_pac_replay_cpana_paa_is_rejected_cleanly() -> None:
    """CPANA's unpadded PCHANNEL nonce: our PaC discards EAP-PSK message 3 and never succeeds."""
    frames = frames_of(CPANA_CAPTURE, 10000)
    result, _, psk_rng = replay_pac(frames, msks=[CPANA_MSK], identity=IDENTITY, psk=PSK_TEXT)
    # frames 2-7 match (16-octet nonces injected); at frame 8 the PCHANNEL tag fails, so our
    # PaC answers with a PAN without EAP-Payload and closes (RFC 5609 EAP_DISCARD in
    # WAIT_EAP_MSG); CPANA's PAR[C] (frame 10) then reaches no session.
    assert [f.frame for f, _ in result.compared] == [1, 3, 5, 7, 9]
    assert result.differences == [
        "frame 9 (PAN): AVPs only ours [], only captured ['EAP_PAYLOAD(43)']"
    ]
    assert result.stopped == "frame 11: our side has no PAN[C]"
    assert kinds(result.events) == ["SessionStarted", "SessionTerminated"]
    end = result.events[-1]
    assert isinstance(end, SessionTerminated) and end.reason == "eap"
    assert not any(isinstance(e, Authenticated | PingAnswered) for e in result.events)
    assert psk_rng.left() == {16: 1}  # the re-authentication's RAND_P was never drawn


def test_paa_replay_cpana_pac_is_rejected_cleanly() -> None:
    """CPANA's PaC side into our PAA (its own EAP-PSK server): message 4 fails, no success."""
    frames = frames_of(CPANA_CAPTURE, 10000)
    requests = eap_payloads(frames, from_pac=False)
    identity_request, psk1 = requests[0], requests[1]
    # Inject the captured first EAP Identifier and RAND_S (RFC 4764 s5.1: Flags, RAND_S, ID_S).
    eap_rng = ScriptedRng({1: [identity_request[1:2]], 16: [psk1[6:22]]})
    id_s = psk1[22:]
    assert id_s == b""  # CPANA's server identity is empty

    def lookup(identity: bytes) -> Secret | None:
        return Secret(PSK_TEXT) if identity == IDENTITY else None

    def factory() -> EapAuthenticator:
        return EapAuthenticator(
            methods=lambda _identity: [lambda: PskServer(id_s, lookup, eap_rng)], rng=eap_rng
        )

    result, paa_rng, _ = replay_paa(
        frames,
        msks=[],
        method_type=EAP_TYPE_PSK,
        pac_address=("127.0.0.1", 10000),
        eap_factory=factory,
        resign_replayed=False,
    )
    # PAR[S], PAR{Identity, Nonce(16)}, EAP-PSK 1 match CPANA's PAA; our message 3 differs only
    # in its PCHANNEL (RFC 4764 EAX nonce padding), MAC_S and the 4-octet nonce N=0 are equal.
    assert [f.frame for f, _ in result.compared] == [2, 4, 6, 8]
    assert result.differences == [
        "frame 8 (PAR[R]): AVPs only ours ['EAP_PAYLOAD(59)'], only captured ['EAP_PAYLOAD(59)']"
    ]
    ours3 = load_msg(result.compared[3][1]).avp(AvpCode.EAP_PAYLOAD)
    theirs3 = frames[7].msg.avp(AvpCode.EAP_PAYLOAD)
    assert ours3 is not None and theirs3 is not None
    assert ours3.value[:42] == theirs3.value[:42] and ours3.value[42:] != theirs3.value[42:]
    # CPANA's message 4 (frame 9) fails our PCHANNEL check: the EAP server discards it and the
    # PAA ends the session silently (RFC 5609 WAIT_EAP_MSG + EAP_DISCARD); no PAR[C] at all.
    assert result.stopped == "frame 10: our side has no PAR[RC]"
    assert kinds(result.events) == ["SessionStarted", "SessionTerminated"]
    end = result.events[-1]
    assert isinstance(end, SessionTerminated) and end.reason == "eap"
    assert paa_rng.left() == {} and eap_rng.left() == {}


# --- Arkime's synthetic capture: must parse, must be rejected semantically ----------------------


def test_arkime_synthetic_messages_are_discarded_by_our_paa() -> None:
    """Five well-framed but invalid messages: our PAA sends nothing and reports nothing."""
    name = "arkime-pana_synthetic.pcap"
    frames = load_frames(capture_path(name), 12345)
    assert len(frames) == 5
    rng = _counter_rng()
    server = PaaServer(PaaConfig(), rng=rng)
    for f in frames:
        server.receive_datagram(f.raw, ("10.0.0.1", 12345), f.time)
    assert server.datagrams_to_send(10.0) == []
    assert server.next_event() is None
    assert len(server) == 0  # the PCI with sequence number 1 started no session


def _counter_rng() -> Callable[[int], bytes]:
    state = [0]

    def rng(n: int) -> bytes:
        state[0] += 1
        return (state[0] % 256).to_bytes(1, "big") * n

    return rng


def test_resigning_changes_only_the_auth_value() -> None:
    """The re-signing helper keeps every octet but the AUTH value (and needs a key)."""
    frames = frames_of(PSK_CAPTURE, PSK_PAC[1])
    par_c = frames[9]
    assert describe(par_c.msg) == "PAR[RC]"
    key = Secret(bytes(20))
    out = resign(par_c.raw, key)
    n = crypto.auth_length(AUTH_ALG)
    assert out[:-n] == par_c.raw[:-n] and out[-n:] != par_c.raw[-n:]
    assert crypto.verify_auth(AUTH_ALG, key, out)

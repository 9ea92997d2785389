"""Capture replay: drive our PaC or PAA with one side of a recorded PANA session and compare.

What is replayed and what is compared (see docs/interop.md, "Capture replay"):

- **PaC replay**: the captured PAA messages are fed to our ``PacSession``; our PaC's answers and
  requests are compared with the captured PaC messages. The PaC's randomness is injected from the
  capture (initial sequence number, Nonce values, EAP-PSK RAND_P), so every EAP payload our PaC
  builds is byte-identical to the captured one. The PaC-initiated requests (PCI, pings, PNR[A],
  PTR) are triggered at the captured times through the public API.
- **PAA replay**: the captured PaC messages are fed to our ``PaaServer`` in EAP pass-through mode;
  the "AAA server" is scripted with the captured EAP requests (hostapd's) and the run's MSK. The PAA
  randomness (Session Id, initial sequence number, Nonce values) and the first Key-Id come from the
  capture.
- **AUTH**: our PAN[S] (PaC replay) and our PAR[S] (PAA replay) list PRF-Algorithm before
  Integrity-Algorithm, OpenPANA lists them the other way round. I_PAR/I_PAN enter the key
  derivation (RFC 5191 s5.3), so our PANA_AUTH_KEY differs from the captured one, and the captured
  AUTH values cannot verify. The replayed messages are therefore **re-signed**: their AUTH value is
  recomputed with the key the test derives independently from the MSK, our own I_PAR/I_PAN and the
  captured nonces and Key-Id. Nothing else of a replayed message is changed.
- **Compared** for every message our side sends: message type, flags, Session Id, sequence
  number, and the AVPs as a multiset of (code, value) except AUTH (whose value must verify under
  the independently derived key instead). Known, documented deviations are passed in explicitly.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from eap.authenticator import AuthOutput
from eap.keys import KeyMaterial, Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer
from eap.peer import EapPeer, EapResult
from pana_codecs import MessageFlags, MessageType, PanaMessage, decode_pana
from pana_mpa import crypto
from pana_mpa._avps import AvpCode, avp_u32
from pana_mpa._eap import EapServerLike
from pana_mpa.address import Address
from pana_mpa.aio.virtualnet import SansIoNode
from pana_mpa.cli.capture import read_pana
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.errors import UsageError
from pana_mpa.events import PanaEvent
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession

__all__ = [
    "AUTH_ALG",
    "PAA_ADDRESS",
    "PRF_ALG",
    "Frame",
    "KeySchedule",
    "ReplayResult",
    "ScriptedRng",
    "avp_multiset",
    "compare",
    "describe",
    "eap_payloads",
    "first_request_seq",
    "load_frames",
    "nonces",
    "replay_paa",
    "replay_pac",
    "resign",
]

logger = logging.getLogger(__name__)

PRF_ALG = 2  # PRF_HMAC_SHA1: the only PRF of OpenPANA (pcaps/README.md)
AUTH_ALG = 7  # AUTH_HMAC_SHA1_160


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured PANA datagram, with its time relative to the first frame."""

    frame: int
    time: float
    from_pac: bool
    raw: bytes
    msg: PanaMessage


def load_frames(path: Path, pac_port: int, paa_port: int = 716) -> list[Frame]:
    """Every PANA datagram between the two ports, in capture order, times from 0."""
    datagrams = [
        d for d in read_pana(path, (paa_port,)) if {d.src[1], d.dst[1]} == {pac_port, paa_port}
    ]
    if not datagrams:
        raise ValueError(f"no PANA datagrams between ports {pac_port} and {paa_port} in {path}")
    t0 = datagrams[0].time
    return [
        Frame(d.frame, d.time - t0, d.src[1] == pac_port, d.payload, decode_pana(d.payload))
        for d in datagrams
    ]


def describe(msg: PanaMessage) -> str:
    """Short message name with flags, e.g. "PAR[RC]" (the notation of interop/expected)."""
    names = {1: "PCI", 2: "PA", 3: "PT", 4: "PN"}
    base = names.get(msg.type, f"type{msg.type}")
    if msg.type != MessageType.PANA_CLIENT_INITIATION:
        base += "R" if msg.is_request else "A"
        if msg.type == MessageType.PANA_AUTH:
            base = "PAR" if msg.is_request else "PAN"
    letters = "".join(
        n
        for n, f in (
            ("R", MessageFlags.R),
            ("S", MessageFlags.S),
            ("C", MessageFlags.C),
            ("A", MessageFlags.A),
            ("P", MessageFlags.P),
            ("I", MessageFlags.I),
        )
        if msg.flags & f
    )
    return f"{base}[{letters}]" if letters else base


def avp_multiset(msg: PanaMessage, *, skip: Iterable[int] = (AvpCode.AUTH,)) -> Counter[bytes]:
    """The message's AVPs as a multiset of code|vendor|value (order-free), without ``skip``."""
    skipped = set(skip)
    out: Counter[bytes] = Counter()
    for avp in msg.avps:
        if avp.code in skipped and avp.vendor_id is None:
            continue
        head = avp.code.to_bytes(2, "big") + (avp.vendor_id or 0).to_bytes(4, "big")
        out[head + avp.value] += 1
    return out


def resign(raw: bytes, key: Secret) -> bytes:
    """The message with its trailing AUTH value recomputed under ``key`` (HMAC-SHA1-160)."""
    length = crypto.auth_length(AUTH_ALG)
    return crypto.sign_message(AUTH_ALG, key, raw[:-length] + bytes(length))


class ScriptedRng:
    """An rng(n) that hands out recorded values by request size, and fails loudly otherwise.

    ``values[n]`` is the queue for n-octet requests; ``fill`` answers sizes without a queue (the
    2-octet retransmission jitter draws, which never reach the wire).
    """

    def __init__(self, values: Mapping[int, Iterable[bytes]], *, fill: Iterable[int] = ()) -> None:
        self._queues: dict[int, deque[bytes]] = {n: deque(v) for n, v in values.items()}
        for n, queue in self._queues.items():
            for value in queue:
                if len(value) != n:
                    raise ValueError(f"scripted value of {len(value)} octets in the {n} queue")
        self._fill = set(fill)
        self.calls: list[int] = []

    def __call__(self, n: int) -> bytes:
        self.calls.append(n)
        queue = self._queues.get(n)
        if queue:
            return queue.popleft()
        if n in self._fill and queue is None:
            return bytes(n)
        raise AssertionError(f"unscripted rng({n}) call (queues left: {self.left()})")

    def left(self) -> dict[int, int]:
        """How many scripted values of each size remain."""
        return {n: len(q) for n, q in self._queues.items() if q}


@dataclass
class KeySchedule:
    """PANA_AUTH_KEYs of a replayed session, derived independently of the session under test.

    The key of an (re-)authentication is derived at the PAR[C] that carries its Key-Id, from that
    run's MSK and the most recent nonces (RFC 5191 s5.3); that PAR[C] and everything after it is
    protected by it (pcaps/README.md, OpenPANA's conformant rollover).
    """

    msks: list[bytes]
    i_par: bytes = b""
    i_pan: bytes = b""
    pac_nonce: bytes = b""
    paa_nonce: bytes = b""
    current: Secret | None = None
    key_id: int | None = None
    keys: list[Secret] = field(default_factory=list)

    def observe(self, raw: bytes, msg: PanaMessage, *, from_pac: bool) -> None:
        """Track I_PAR/I_PAN and nonces, and switch keys at a PAR[C] with a new Key-Id."""
        if msg.type == MessageType.PANA_AUTH and msg.has(MessageFlags.S):
            if msg.is_request:
                self.i_par = raw
            else:
                self.i_pan = raw
        nonce = msg.avp(AvpCode.NONCE)
        if nonce is not None:
            if from_pac:
                self.pac_nonce = nonce.value
            else:
                self.paa_nonce = nonce.value
        key_id = msg.avp(AvpCode.KEY_ID)
        is_par_c = msg.type == MessageType.PANA_AUTH and msg.is_request and msg.has(MessageFlags.C)
        if is_par_c and key_id is not None and avp_u32(key_id) != self.key_id:
            run = len(self.keys)
            if run >= len(self.msks):
                raise AssertionError(f"PAR[C] number {run + 1} but only {len(self.msks)} MSKs")
            self.key_id = avp_u32(key_id)
            self.current = crypto.pana_auth_key(
                PRF_ALG,
                AUTH_ALG,
                Secret(self.msks[run]),
                i_par=self.i_par,
                i_pan=self.i_pan,
                pac_nonce=self.pac_nonce,
                paa_nonce=self.paa_nonce,
                key_id=self.key_id,
            )
            self.keys.append(self.current)

    def sign(self, raw: bytes, msg: PanaMessage) -> bytes:
        """Re-sign a replayed message that carries AUTH with the current key; others unchanged."""
        has_auth = bool(msg.avps) and msg.avps[-1].code == AvpCode.AUTH
        if not has_auth:
            return raw
        if self.current is None:
            raise AssertionError("a replayed message carries AUTH before any key exists")
        return resign(raw, self.current)

    def verify(self, raw: bytes) -> bool:
        """True when ``raw`` carries an AUTH valid under the current key."""
        return self.current is not None and crypto.verify_auth(AUTH_ALG, self.current, raw)


@dataclass
class ReplayResult:
    """What a replay produced: our messages next to the captured ones, and where it stopped."""

    compared: list[tuple[Frame, bytes]] = field(default_factory=list)
    """(captured frame, the bytes our side sent in its place)."""
    differences: list[str] = field(default_factory=list)
    """Every difference between our message and the captured one, in frame order."""
    auth_verified: int = 0
    """How many of our AUTH AVPs verified under the independently derived key."""
    replayed: int = 0
    """How many captured messages were fed to our side."""
    stopped: str | None = None
    """Why the replay ended before the last frame, or None."""
    events: list[PanaEvent] = field(default_factory=list)
    extra: list[bytes] = field(default_factory=list)
    """Datagrams our side sent that the capture does not have (left over at the end)."""


def compare(frame: Frame, ours: bytes, schedule: KeySchedule, result: ReplayResult) -> None:
    """Compare one of our messages with the captured one; record differences and AUTH checks."""
    got = decode_pana(ours)
    want = frame.msg
    where = f"frame {frame.frame} ({describe(want)})"
    for name, a, b in (
        ("type", got.type, want.type),
        ("flags", got.flags, want.flags),
        ("session id", got.session_id, want.session_id),
        ("sequence number", got.seq, want.seq),
    ):
        if a != b:
            result.differences.append(f"{where}: {name} {a:#x} (ours) != {b:#x} (captured)")
    mine, theirs = avp_multiset(got), avp_multiset(want)
    if mine != theirs:
        only_ours = sorted(_avp_name(k) for k in (mine - theirs).elements())
        only_theirs = sorted(_avp_name(k) for k in (theirs - mine).elements())
        result.differences.append(
            f"{where}: AVPs only ours {only_ours}, only captured {only_theirs}"
        )
    want_auth = bool(want.avps) and want.avps[-1].code == AvpCode.AUTH
    got_auth = bool(got.avps) and got.avps[-1].code == AvpCode.AUTH
    if want_auth != got_auth:
        result.differences.append(f"{where}: AUTH present {got_auth} (ours) != {want_auth}")
    elif got_auth:
        if schedule.verify(ours):
            result.auth_verified += 1
        else:
            result.differences.append(f"{where}: our AUTH does not verify")
    result.compared.append((frame, ours))


def _avp_name(key: bytes) -> str:
    code = int.from_bytes(key[:2], "big")
    value = key[6:]
    try:
        name = AvpCode(code).name
    except ValueError:
        name = f"AVP{code}"
    if len(value) == 4:
        return f"{name}={int.from_bytes(value, 'big')}"
    return f"{name}({len(value)})"


def _run(
    frames: list[Frame],
    node: SansIoNode,
    *,
    ours_is_pac: bool,
    peer_addr: Address,
    schedule: KeySchedule,
    trigger: Callable[[Frame, float], bool],
    after_receive: Callable[[float], None],
    fire_timers: bool,
    resign_replayed: bool,
) -> ReplayResult:
    """Walk the capture: feed the other side's frames, match ours against what our node sends."""
    result = ReplayResult()
    pending: deque[bytes] = deque()

    def collect(now: float) -> None:
        pending.extend(data for data, _addr in node.datagrams_to_send(now))
        while (event := node.next_event()) is not None:
            result.events.append(event)

    for frame in frames:
        now = frame.time
        if fire_timers:
            while (deadline := node.get_timer()) is not None and deadline <= now:
                node.handle_timer(deadline)
                collect(deadline)
        if frame.from_pac == ours_is_pac:
            try:
                triggered = bool(pending) or trigger(frame, now)
            except UsageError as exc:
                result.stopped = f"frame {frame.frame}: {describe(frame.msg)} refused: {exc}"
                break
            if not triggered:
                result.stopped = f"frame {frame.frame}: our side has no {describe(frame.msg)}"
                break
            collect(now)
            if not pending:
                result.stopped = f"frame {frame.frame}: our side sent no {describe(frame.msg)}"
                break
            ours = pending.popleft()
            schedule.observe(ours, decode_pana(ours), from_pac=ours_is_pac)
            compare(frame, ours, schedule, result)
        else:
            schedule.observe(frame.raw, frame.msg, from_pac=not ours_is_pac)
            raw = schedule.sign(frame.raw, frame.msg) if resign_replayed else frame.raw
            node.receive_datagram(raw, peer_addr, now)
            result.replayed += 1
            after_receive(now)
            collect(now)
    result.extra = list(pending)
    return result


def eap_payloads(frames: Iterable[Frame], *, from_pac: bool) -> list[bytes]:
    """The EAP-Payload values sent by one side, in capture order."""
    out = []
    for f in frames:
        avp = f.msg.avp(AvpCode.EAP_PAYLOAD)
        if f.from_pac == from_pac and avp is not None:
            out.append(avp.value)
    return out


def nonces(frames: Iterable[Frame], *, from_pac: bool) -> list[bytes]:
    """The Nonce values sent by one side, in capture order."""
    out = []
    for f in frames:
        avp = f.msg.avp(AvpCode.NONCE)
        if f.from_pac == from_pac and avp is not None:
            out.append(avp.value)
    return out


def first_request_seq(frames: Iterable[Frame], *, from_pac: bool) -> bytes:
    """The initial sequence number of one side's requests, as 4 octets."""
    for f in frames:
        if f.from_pac == from_pac and f.msg.is_request and f.msg.type != 1:
            return f.msg.seq.to_bytes(4, "big")
    raise ValueError("that side sent no request")


def replay_pac(
    frames: list[Frame],
    *,
    msks: list[bytes],
    identity: bytes,
    psk: bytes,
    pac_config: PacConfig | None = None,
    fire_timers: bool = False,
    resign_replayed: bool = True,
    termination_cause: int = 1,
) -> tuple[ReplayResult, ScriptedRng, ScriptedRng]:
    """Feed the captured PAA messages to our PacSession (EAP-PSK peer); compare its messages."""
    # RAND_P is octets 22..38 of EAP-PSK message 2 (RFC 4764 s5.2): header 5, Flags 1, RAND_S 16.
    psk_msg2 = [
        p
        for p in eap_payloads(frames, from_pac=True)
        if len(p) > 5 and p[4] == EAP_TYPE_PSK and p[5] >> 6 == 1
    ]
    psk_rng = ScriptedRng({16: [p[22:38] for p in psk_msg2]})
    pac_requests = any(f.from_pac and f.msg.is_request and f.msg.type != 1 for f in frames)
    four = [first_request_seq(frames, from_pac=True)] if pac_requests else []
    pac_nonces = nonces(frames, from_pac=True)
    length = len(pac_nonces[0]) if pac_nonces else 20
    pac_rng = ScriptedRng({4: four, length: pac_nonces}, fill=(2,))
    if pac_config is None:
        pac_config = PacConfig(prf_algorithms=(PRF_ALG,), integrity_algorithms=(AUTH_ALG,))
    pac_config = replace(pac_config, nonce_length=length)
    secret = Secret(psk)
    peer = EapPeer(
        identity=identity,
        methods={EAP_TYPE_PSK: lambda: PskPeer(identity, secret, rng=psk_rng)},
    )
    pac = PacSession(pac_config, paa=PAA_ADDRESS, eap=peer, rng=pac_rng)

    def trigger(frame: Frame, now: float) -> bool:
        msg = frame.msg
        if msg.type == MessageType.PANA_CLIENT_INITIATION:
            pac.start(now)
        elif msg.type == MessageType.PANA_NOTIFICATION and msg.is_request:
            if msg.has(MessageFlags.P):
                pac.ping(now)
            else:
                pac.reauthenticate(now)
        elif msg.type == MessageType.PANA_TERMINATION and msg.is_request:
            pac.terminate(now, termination_cause)
        else:
            return False
        return True

    schedule = KeySchedule(msks=msks)
    result = _run(
        frames,
        pac,
        ours_is_pac=True,
        peer_addr=PAA_ADDRESS,
        schedule=schedule,
        trigger=trigger,
        after_receive=lambda now: None,
        fire_timers=fire_timers,
        resign_replayed=resign_replayed,
    )
    return result, pac_rng, psk_rng


PAA_ADDRESS: Address = ("127.0.0.1", 716)


def replay_paa(
    frames: list[Frame],
    *,
    msks: list[bytes],
    method_type: int,
    pac_address: Address,
    fire_timers: bool = False,
    resign_replayed: bool = True,
    eap_factory: Callable[[], EapServerLike] | None = None,
) -> tuple[ReplayResult, ScriptedRng, list[bytes]]:
    """Feed the captured PaC messages to our PaaServer and compare what it sends.

    Without ``eap_factory`` the PAA is a pass-through authenticator and the AAA server is
    scripted with the captured EAP requests; with it, the PAA runs that EAP server itself.
    """
    first = next(f for f in frames if not f.from_pac and f.msg.session_id)
    par_c = next(f for f in frames if f.msg.avp(AvpCode.KEY_ID) is not None)
    key_id = par_c.msg.avp(AvpCode.KEY_ID)
    lifetime = par_c.msg.avp(AvpCode.SESSION_LIFETIME)
    assert key_id is not None and lifetime is not None
    paa_nonces = nonces(frames, from_pac=False)
    config = PaaConfig(
        prf_algorithms=(PRF_ALG,),
        integrity_algorithms=(AUTH_ALG,),
        session_lifetime=avp_u32(lifetime),
        key_id_start=avp_u32(key_id),
        nonce_length=len(paa_nonces[0]),
        stateless_pci=False,  # the captured PAA's Session-Id and sequence number come from rng
    )
    paa_rng = ScriptedRng(
        {
            4: [first.msg.session_id.to_bytes(4, "big"), first_request_seq(frames, from_pac=False)],
            len(paa_nonces[0]): paa_nonces,
        },
        fill=(2,),
    )
    server = PaaServer(config, rng=paa_rng, eap_factory=eap_factory)
    aaa_script = deque(eap_payloads(frames, from_pac=False))
    forwarded: list[bytes] = []
    run = 0

    def after_receive(now: float) -> None:
        nonlocal run
        for sid, response in server.pending_aaa():
            if response is not None:
                forwarded.append(response)
            if not aaa_script:
                raise AssertionError("the PAA asked the AAA server more than the capture answers")
            packet = aaa_script.popleft()
            if packet[0] == 3:  # EAP Success: the AAA server's Access-Accept with the MSK
                keys = KeyMaterial(msk=Secret(msks[run]))
                run += 1
                output = AuthOutput(packet, EapResult(True, keys, method_type))
            elif packet[0] == 4:
                output = AuthOutput(packet, EapResult(False, None, method_type))
            else:
                output = AuthOutput(packet, None)
            server.aaa_answer(sid, output, now)

    schedule = KeySchedule(msks=msks)
    result = _run(
        frames,
        server,
        ours_is_pac=False,
        peer_addr=pac_address,
        schedule=schedule,
        trigger=lambda frame, now: False,
        after_receive=after_receive,
        fire_timers=fire_timers,
        resign_replayed=resign_replayed,
    )
    return result, paa_rng, forwarded

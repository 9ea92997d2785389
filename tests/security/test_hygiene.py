"""Key hygiene (issue 9): no key bytes in logs, traces, exception text or reprs; MACs compared
in constant time.

Complete sessions run with DEBUG logging on every logger and traces recorded; every Secret
reachable from the endpoints (PSK, MSK, EMSK, PANA_AUTH_KEY, encryption keys, MN-AR/MN-CA keys,
PMKs) and the configured passwords and shared secrets are then searched for, raw, as hex (both
cases, colon-separated), as base64, whole and as any 8-octet window.
"""

from __future__ import annotations

import ast
import asyncio
import io
import ipaddress
import json
import logging
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer
from pana_mpa._avps import IntegrityAlgorithm, PrfAlgorithm
from pana_mpa.aio.virtualnet import VirtualNet
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.errors import UsageError
from pana_mpa.events import Authenticated, PanaEvent
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession
from pana_mpa.state import PacState
from pana_mpa.trace import JsonLinesTrace, MemoryTrace
from tests.pana_mpa.pair import PAA_ADDR, PAC_ADDR, PSKS, Pair, make_pair
from tests.realcomponents import need_module

from ._leaks import LeakScanner, all_reprs, secrets_in

pytestmark = pytest.mark.hygiene

ROOT = Path(__file__).resolve().parents[2]
SUITES = {
    "sha1": (PrfAlgorithm.PRF_HMAC_SHA1, IntegrityAlgorithm.AUTH_HMAC_SHA1_160),
    "sha256": (PrfAlgorithm.PRF_HMAC_SHA2_256, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128),
}


class _Collect(logging.Handler):
    """Every record, formatted with its arguments, exception and stack text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(repr(record.args))


@pytest.fixture
def logs() -> Iterator[_Collect]:
    handler = _Collect()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def _trace_texts(*traces: MemoryTrace) -> list[str]:
    """The trace records as JsonLinesTrace writes them, and their reprs."""
    out: list[str] = []
    for trace in traces:
        stream = io.StringIO()
        sink = JsonLinesTrace(stream)
        for rec in trace.records:
            fields = {k: v for k, v in rec.items() if k not in ("time", "name")}
            sink.event(rec["time"], rec["name"], **fields)
        out.append(stream.getvalue())
        out += [json.dumps(r, default=repr) for r in trace.records]
    return out


def _assert_clean(scanner: LeakScanner, texts: list[str]) -> None:
    assert scanner.keys, "the scenario exposed no keys to look for"
    leaks = scanner.leaks(texts)
    assert not leaks, f"key material in text: {leaks[:5]}"


def _misuse(pac: PacSession, paa: PaaServer) -> list[str]:
    """Exception texts of caller misuse, which must not carry keys either."""
    texts = []
    calls: list[Callable[[], object]] = [
        lambda: pac.start(0.0),
        lambda: paa.ping(0xDEAD, 0.0),
        lambda: paa.terminate(0xDEAD, 0.0),
    ]
    for call in calls:
        try:
            call()
        except (UsageError, KeyError, ValueError) as exc:
            texts += [str(exc), repr(exc)]
    return texts


def _hostile_after_key(pair: Pair) -> None:
    """Bad AUTH, truncated and replayed datagrams once the key exists: drop reasons logged."""
    now = pair.net.now
    for d in list(pair.net.log)[-6:]:
        data = bytearray(d.data)
        data[-1] ^= 0xFF  # the last AVP is AUTH: it no longer verifies
        pair.pac.receive_datagram(bytes(data), PAA_ADDR, now)
        pair.paa.receive_datagram(bytes(data), PAC_ADDR, now)
        pair.paa.receive_datagram(d.data[: len(d.data) // 2], PAC_ADDR, now)
        pair.paa.receive_datagram(d.data, ("203.0.113.66", 5555), now)


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("method", ["psk", "gpsk"])
def test_full_session_leaks_no_key(logs: _Collect, method: str, suite: str) -> None:
    prf, integ = SUITES[suite]
    pair = make_pair(
        method=method,
        paa_config=PaaConfig(
            prf_algorithms=(prf,), integrity_algorithms=(integ,), session_lifetime=600
        ),
    )
    scanner = LeakScanner(PSKS.values())
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert pair.pac.state is PacState.OPEN and pair.pac.has_key
    events: list[PanaEvent] = pair.pac_events() + pair.paa_events()
    scanner.add(secrets_in(pair.pac, pair.paa, *pair.paa, pair.servers, events))
    first_keys = set(scanner.keys)
    pair.pac.ping(pair.net.now)
    pair.net.run(pair.net.now + 2)
    _hostile_after_key(pair)
    pair.pac.reauthenticate(pair.net.now)
    pair.net.run(pair.net.now + 5)
    events += pair.pac_events() + pair.paa_events()
    scanner.add(secrets_in(pair.pac, pair.paa, *pair.paa, pair.servers, events))
    assert scanner.keys > first_keys  # re-authentication made new keys; both sets are watched
    texts = all_reprs(pair.pac, pair.paa, *pair.paa, pair.peer, *pair.servers, *events)
    texts += _misuse(pair.pac, pair.paa)
    pair.pac.terminate(pair.net.now)
    pair.net.run(pair.net.now + 5)
    texts += [repr(e) for e in pair.pac_events() + pair.paa_events()]
    texts += logs.lines + _trace_texts(pair.pac_trace, pair.paa_trace)
    assert len(logs.lines) > 20  # DEBUG logging really was on
    _assert_clean(scanner, texts)


def test_failed_authentication_leaks_no_psk(logs: _Collect) -> None:
    """A PSK mismatch: the failure's reasons and traces name no key of either side."""
    pair = make_pair(method="psk", identity=b"mallory", secret=b"mallory-secret16")
    scanner = LeakScanner([*PSKS.values(), b"mallory-secret16"])
    pair.pac.start(0.0)
    pair.net.run(30.0)
    assert pair.pac.state is not PacState.OPEN
    scanner.add(secrets_in(pair.pac, pair.paa, pair.servers))
    events = pair.pac_events() + pair.paa_events()
    texts = logs.lines + _trace_texts(pair.pac_trace, pair.paa_trace) + all_reprs(*events)
    _assert_clean(scanner, texts)


def test_eap_tls_session_leaks_no_key(logs: _Collect) -> None:
    need_module("OpenSSL")
    from eap.methods.tls import TlsPeer, TlsServer
    from tests.pki import make_pki

    pki = make_pki()
    vnet = VirtualNet(seed=9)
    peer = EapPeer(
        identity=b"user1",
        methods={
            13: TlsPeer.factory(
                ca=pki.ca.cert, cert=pki.client.cert, key=pki.client.key, server_names=["paa.test"]
            )
        },
    )
    pac_trace, paa_trace = MemoryTrace(), MemoryTrace()
    pac = PacSession(
        PacConfig(), paa=PAA_ADDR, eap=peer, rng=random.Random(1).randbytes, trace=pac_trace
    )
    server = TlsServer.factory(cert=pki.server.cert, key=pki.server.key, ca=pki.ca.cert)
    auths: list[EapAuthenticator] = []

    def eap_factory() -> EapAuthenticator:
        auths.append(
            EapAuthenticator(methods=lambda ident: [server], rng=random.Random(2).randbytes)
        )
        return auths[-1]

    paa = PaaServer(
        PaaConfig(), eap_factory=eap_factory, rng=random.Random(3).randbytes, trace=paa_trace
    )
    vnet.add(PAC_ADDR, pac)
    vnet.add(PAA_ADDR, paa)
    pac.start(0.0)
    vnet.run(30.0)
    events = vnet.take_events(PAC_ADDR) + vnet.take_events(PAA_ADDR)
    auth = [e for e in events if isinstance(e, Authenticated)]
    assert len(auth) == 2 and auth[0].msk is not None
    assert peer.result is not None and peer.result.keys is not None
    scanner = LeakScanner(secrets_in(pac, paa, *paa, peer, auths, events))
    assert peer.result.keys.emsk is not None
    scanner.add([auth[0].msk.reveal(), peer.result.keys.emsk.reveal()])
    pac.terminate(vnet.now)
    vnet.run(vnet.now + 5)
    texts = logs.lines + _trace_texts(pac_trace, paa_trace) + all_reprs(pac, paa, peer, *events)
    _assert_clean(scanner, texts)


def test_radius_pass_through_leaks_no_key(logs: _Collect) -> None:
    """RADIUS shared secret, user password and the MSK from MS-MPPE keys stay out of the logs."""
    from eap.aaa.passthrough import DatagramLink, RadiusConfig, RadiusPassThrough
    from eap.aaa.server import EapBackend, RadiusServerCore
    from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
    from tests.eap._radius_helpers import InlineMd5Server, md5_peer_conversation

    shared, password = b"radius-shared-secret", b"the-md5-password"
    msk = random.Random(5).randbytes(64)
    nas, server_addr = ("192.0.2.1", 0), ("192.0.2.10", 1812)

    async def main() -> bytes:
        net = LoopbackNetwork()
        core = RadiusServerCore(
            clients={nas[0]: Secret(shared)},
            backend=lambda: InlineMd5Server(password, msk=msk),
            rng=random.Random(1).randbytes,
        )
        endpoint = net.endpoint(server_addr)
        loop = asyncio.get_running_loop()

        async def serve() -> None:
            while True:
                data, addr = await endpoint.recvfrom()
                reply = core.receive(data, addr, loop.time())
                if reply is not None:
                    endpoint.sendto(reply, addr)

        task = asyncio.create_task(serve())

        async def link() -> DatagramLink:
            return net.endpoint(nas)

        pt = RadiusPassThrough(
            RadiusConfig(server=server_addr, secret=Secret(shared)),
            rng=random.Random(2).randbytes,
            link=link,
        )
        final, _ = await md5_peer_conversation(pt, b"md5user", password)
        task.cancel()
        assert final.keys is not None
        return final.keys.msk.reveal()

    got = run_virtual(main)
    assert got == msk
    _ = EapBackend  # the protocol the inline server implements
    scanner = LeakScanner([shared, password, msk])
    _assert_clean(scanner, logs.lines)


def test_mpa_keys_leak_nowhere(logs: _Collect) -> None:
    """Pre-authentication through an MPA agent: MN-AR, MN-CA and PMKs stay out of all text."""
    from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
    from pana_mpa.mpa.dhcp import DhcpLease
    from pana_mpa.mpa.drivers.agent import MpaAgent
    from pana_mpa.mpa.drivers.controller import MpaController
    from pana_mpa.mpa.info import CandidateNetwork
    from pana_mpa.mpa.keys import MpaKeys
    from pana_mpa.mpa.tunnel import InMemoryTunnelDriver

    identity, psk = b"mn@example.net", Secret(b"MpaPassphrase!!!")
    bssid = bytes.fromhex("0200000000b1")
    ar = ipaddress.IPv4Address("10.97.2.1")
    ocoa = ipaddress.IPv4Address("10.97.1.10")
    agent_keys: list[MpaKeys] = []

    async def scenario() -> tuple[Any, Any]:
        rng = random.Random(11)
        net = LoopbackNetwork(seed=11, delay=0.002)

        async def lease(sid: int, mac: bytes, cid: bytes) -> DhcpLease:
            return DhcpLease(address=ipaddress.IPv4Address("10.97.2.100"), prefix_length=24,
                             router=ar, dns_servers=(), lease_time=600, server_id=ar,
                             client_id=cid, acquired_at=0.0)  # fmt: skip

        def eap_server() -> EapAuthenticator:
            lookup = {identity: psk}.get
            return EapAuthenticator(
                methods=lambda i: [lambda: PskServer(b"ctn", lookup, rng=rng.randbytes)],
                rng=rng.randbytes,
            )

        agent = MpaAgent(paa_config=PaaConfig(), eap_factory=eap_server,
                         transport=net.endpoint((str(ar), 716)), ar_address=ar,
                         lease_provider=lease, tunnels=InMemoryTunnelDriver(), bssids=[bssid],
                         key_sink=lambda sid, keys: agent_keys.append(keys),
                         rng=rng.randbytes)  # fmt: skip
        task = asyncio.create_task(agent.run())

        async def bu(address: object) -> None:
            return None

        mn = MpaController(
            eap_factory=lambda: EapPeer(identity=identity, methods={
                EAP_TYPE_PSK: lambda: PskPeer(identity, psk, rng=rng.randbytes)}),
            mn_mac=bytes.fromhex("020000000a10"), tunnels=InMemoryTunnelDriver(),
            binding_update=bu, rng=rng.randbytes,
        )  # fmt: skip
        cand = CandidateNetwork(name="ctn", paa=(str(ar), 716), ar_address=ar, bssids=(bssid,))
        await mn.pre_authenticate(cand, net.endpoint((str(ocoa), 0)), ocoa)
        await mn.pre_configure()
        await mn.close()
        agent.stop()
        await task
        return mn, agent

    mn, agent = run_virtual(scenario)
    assert mn.keys is not None and mn.keys.access_points
    scanner = LeakScanner([psk.reveal()])
    scanner.add(secrets_in(mn, agent, agent_keys, depth=8))
    assert mn.keys.mn_ar.reveal() in scanner.keys
    assert mn.keys.access_points[0].pmk.reveal() in scanner.keys
    texts = logs.lines + all_reprs(mn, agent, mn.keys, *mn.keys.access_points, *agent_keys)
    texts += [repr(e) for e in mn.events] + [repr(e) for e in agent.events]
    _assert_clean(scanner, texts)


def test_the_scanner_finds_a_leak(logs: _Collect) -> None:
    """The search is not vacuous: a key logged in any of the forms is found."""
    key = random.Random(3).randbytes(32)
    log = logging.getLogger("pana_mpa.test")
    log.debug("hex %s", key.hex())
    log.debug("b64 %s", __import__("base64").b64encode(key[5:20]).decode())
    log.debug("raw %r", key[10:19])
    scanner = LeakScanner([key])
    lines = [line for line in logs.lines if line.startswith("pana_mpa.test")]
    assert len(lines) == 3
    assert all(scanner.leaks([line]) for line in lines)
    assert not scanner.leaks([random.Random(4).randbytes(32).hex()])


# --- constant-time comparisons ------------------------------------------------------------

_MAC_NAME = re.compile(
    r"(^|_)(mac|macs|tag|icv|mic|digest|auth|auth_value|signature|pmkid|verifier|finished)"
    r"(_|$)|^expected$|^received$",
    re.IGNORECASE,
)
_LIBRARY = ("pana_codecs", "eap", "pana_mpa")


def _constant(node: ast.expr) -> bool:
    """A literal, an ALL_CAPS constant or enum member, or a length."""
    name = _operand_name(node)
    return (
        isinstance(node, ast.Constant)
        or (name is not None and (name.isupper() or name in ("len", "type", "code")))
        or (name is not None and name.endswith(("_len", "_length", "_size", "_code", "_type")))
    )


def _operand_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _operand_name(node.func)
    if isinstance(node, ast.Subscript):
        return _operand_name(node.value)
    return None


def test_macs_are_compared_in_constant_time() -> None:
    """No ``==``/``!=`` whose operand is named like a MAC, tag or digest: use compare_digest."""
    offenders = []
    for package in _LIBRARY:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Compare):
                    continue
                if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                    continue
                operands = [node.left, *node.comparators]
                if any(_constant(o) for o in operands):
                    continue
                names = [_operand_name(o) for o in operands]
                if any(n is not None and _MAC_NAME.search(n) for n in names):
                    rel = path.relative_to(ROOT)
                    offenders.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, "\n".join(offenders)


# --- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--user", "user1=SecretPassphrase"], "expected IDENTITY:SECRET"),
        (["--user", "SecretPassphrase"], "expected IDENTITY:SECRET"),
        (["--radius", "127.0.0.1:0", "--radius-secret", "s3cr3t-radius"], "port (not 0)"),
        (["--user", "a:SecretPassphrase", "--lifetime", "99999999999"], "--lifetime"),
    ],
)
def test_cli_errors_are_clear_and_never_echo_secrets(argv: list[str], expected: str) -> None:
    """Issue 9 item 6: the secret was echoed; port 0 and a huge lifetime were 'internal error'."""
    from pana_mpa.cli.common import CliError
    from pana_mpa.cli.options import paa_options
    from pana_mpa.cli.peers import build_parser

    args = build_parser("paa").parse_args(argv)
    with pytest.raises(CliError) as info:
        paa_options(args)
    message = str(info.value)
    assert expected in message
    assert "SecretPassphrase" not in message and "s3cr3t-radius" not in message

"""The MPA flow on real PANA sessions: in memory end to end, and the rules on bad input."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from pana_codecs import Avp, MessageFlags, MessageType, PanaMessage, decode_pana, encode_pana
from pana_mpa.address import Address
from pana_mpa.cli import main
from pana_mpa.cli.mpa_demo import run_mpa_demo
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.events import Authenticated, PreAuthSwitched
from pana_mpa.mpa.avps import (
    DEFAULT_VENDOR_ID,
    MpaAvpCode,
    MpaCapability,
    MpaStatus,
    TunnelAction,
    u32,
    u32_avp,
)
from pana_mpa.mpa.extensions import MnExtension, PaaMpaExtension, tunnel_action_avps
from pana_mpa.mpa.messages import PreConfiguration
from tests.pana_mpa.pair import PAA_ADDR, PAC_ADDR, Pair, make_pair
from tests.traces import trace_records

MAC = bytes.fromhex("020000000a10")
NCOA = ipaddress.IPv4Address("10.97.2.150")
OCOA = ipaddress.IPv4Address("192.0.2.10")
V = DEFAULT_VENDOR_ID


def test_demo_runs_the_six_steps_in_order() -> None:
    messages: list[tuple[Address, Address, bytes]] = []
    result = run_mpa_demo(seed=3, tap=lambda now, s, d, data: messages.append((s, d, data)))
    assert [e.step for e in result.steps] == [
        "pre_authenticated",
        "pre_configured",
        "tunnel_up",
        "binding_updated",
        "pre_switched",
        "switched",
        "tunnel_released",
        "handover_complete",
    ]
    times = [e.time for e in result.steps]
    assert times == sorted(times)
    assert result.tunnel_history == [("establish", "mpar1"), ("delete", "mpar1")]
    ncoa = result.steps[1].detail["ncoa"]
    assert result.bindings and result.bindings[0][1] == f"REGISTER {ncoa}"
    pana = [(s, d, decode_pana(data)) for s, d, data in messages if 716 in (s[1], d[1])]
    # every message before the PANA-Update carries E; the PANA-Update and its answer do not
    switch_at = next(i for i, (s, _, m) in enumerate(pana) if s[0] == ncoa)
    assert all(m.flags & MessageFlags.E for _, _, m in pana[:switch_at])
    assert not any(m.flags & MessageFlags.E for _, _, m in pana[switch_at:])
    assert pana[switch_at][2].type == MessageType.PANA_NOTIFICATION
    # the PAR[C] carried the Device-Ids (BSSIDs) of the candidate's two APs
    par_c = next(m for _, _, m in pana if m.is_request and m.has(MessageFlags.C))
    assert len(par_c.all_avps(MpaAvpCode.DEVICE_ID, V)) == 2
    # both ends derived the same MN-AR / MN-CA / per-AP keys from the MSK; none on the wire
    assert result.mn_keys is not None
    (agent_keys,) = result.agent_keys.values()
    assert agent_keys == result.mn_keys
    wire = b"".join(data for _, _, data in messages)
    assert result.mn_keys.mn_ar.reveal() not in wire
    assert result.mn_keys.access_points[0].pmk.reveal()[:8] not in wire
    names = [e.name for e in result.agent]
    assert (
        names.index("tunnel_established") < names.index("buffering") < names.index("tunnel_deleted")
    )


def test_demo_command_json_is_one_object_per_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--mpa", "--json", "--seed", "5"]) == 0
    records = trace_records(capsys.readouterr().out, "demo-mpa")
    steps = [r for r in records if r["event"] == "step"]
    assert [r["step"] for r in steps][-1] == "handover_complete"
    assert all({"step", "t", "text", "detail"} <= set(r) for r in steps)
    assert {r["event"] for r in records} == {"step", "message", "data"}
    assert all({"src", "dst", "type", "length"} <= set(r) for r in records if r["event"] != "step")
    assert main(["demo", "--mpa"]) == 0
    assert "handover complete" in capsys.readouterr().out


# ---- sans-IO: a PaC and a PAA with the MPA extensions on a VirtualNet ---------------------


def _mpa_pair(
    *,
    pac_ext: MnExtension | None = None,
) -> tuple[Pair, MnExtension, PaaMpaExtension]:
    mn = pac_ext or MnExtension(mn_mac=MAC)
    paa = PaaMpaExtension(ar_address="10.97.2.1", bssids=[bytes.fromhex("020000000b01")])
    pair = make_pair(
        pac_config=PacConfig(pre_authentication=True, extension=mn),
        paa_config=PaaConfig(pre_authentication=True, extension=paa),
    )
    return pair, mn, paa


def _authenticate(pair: Pair, paa_ext: PaaMpaExtension) -> int:
    pair.pac.start(pair.net.now)
    pair.net.run_until(lambda: bool(pair.paa.__len__()), 5)
    sid = pair.only_session()
    paa_ext.set_configuration(sid, PreConfiguration(ncoa=NCOA, prefix_length=24))
    assert pair.net.run_until(
        lambda: any(isinstance(e, Authenticated) for e in pair.net.events[PAC_ADDR]), 30
    )
    return sid


def test_pre_configuration_reaches_the_mn_and_tunnel_is_validated() -> None:
    pair, mn, paa = _mpa_pair()
    sid = _authenticate(pair, paa)
    assert mn.peer_capabilities is not None
    assert mn.pre_configuration is not None and mn.pre_configuration.ncoa == NCOA
    assert mn.pre_configuration.bssids == (bytes.fromhex("020000000b01"),)
    assert paa.sessions[sid].mn_mac == MAC
    # a tunnel for an address the session was not given is refused, nothing is set up
    other = ipaddress.IPv4Address("10.97.2.99")
    pair.pac.ping(pair.net.now, tunnel_action_avps(TunnelAction.ESTABLISH, outer=OCOA, inner=other))
    pair.net.run(pair.net.now + 1)
    assert mn.statuses == [MpaStatus.FAILED]
    assert paa.take_tunnel_requests() == []
    assert paa.rejected and "not assigned" in paa.rejected[-1][1]
    # the right one is accepted and reaches the AR
    pair.pac.ping(pair.net.now, tunnel_action_avps(TunnelAction.ESTABLISH, outer=OCOA, inner=NCOA))
    pair.net.run(pair.net.now + 1)
    assert mn.statuses[-1] is MpaStatus.OK
    requests = paa.take_tunnel_requests()  # queued only after the PNR was accepted
    assert [(r.action, r.inner, r.switching) for r in requests] == [
        (TunnelAction.ESTABLISH, NCOA, False)
    ]


def test_pana_update_with_bad_auth_is_dropped() -> None:
    pair, _, paa = _mpa_pair()
    sid = _authenticate(pair, paa)
    session = pair.paa.session(sid)

    def corrupt(dgram: object) -> bytes | None:
        data = getattr(dgram, "data", b"")
        msg = decode_pana(data)
        if msg.type == MessageType.PANA_NOTIFICATION and msg.is_request:
            return data[:-1] + bytes([data[-1] ^ 1])  # flip one AUTH bit
        return None

    pair.net.tamper = corrupt
    pair.pac.switch(pair.net.now, tunnel_action_avps(TunnelAction.DELETE, inner=NCOA))
    pair.net.run(pair.net.now + 0.5)
    assert session.pre_auth  # still a pre-authentication session: the update did not count
    assert paa.take_tunnel_requests() == []
    assert not any(isinstance(e, PreAuthSwitched) for e in pair.net.take_events(PAA_ADDR))
    reasons = [r["reason"] for r in pair.paa_trace.named("message_dropped")]
    assert any("AUTH does not verify" in r for r in reasons)


def test_mpa_avps_from_a_peer_that_did_not_advertise_are_ignored() -> None:
    # the PaC does not advertise MPA (no extension); it still sends an MPA AVP in a PNR
    paa = PaaMpaExtension(ar_address="10.97.2.1")
    pair = make_pair(
        pac_config=PacConfig(),
        paa_config=PaaConfig(pre_authentication=True, extension=paa),
    )
    pair.pac.start(0.0)
    pair.net.run(5.0)
    sid = pair.only_session()
    pair.pac.ping(pair.net.now, tunnel_action_avps(TunnelAction.ESTABLISH, outer=OCOA, inner=NCOA))
    pair.net.run(pair.net.now + 1)
    # the PNA carries no MPA-Status: the PAA answered as a plain RFC 5191 PAA
    pna = [decode_pana(d.data) for d in pair.net.log if d.src == PAA_ADDR][-1]
    assert pna.type == MessageType.PANA_NOTIFICATION and not pna.is_request
    assert not [a for a in pna.avps if a.vendor_id == V]
    assert paa.rejected == [(sid, "MPA AVPs from a PaC that did not advertise MPA")]
    # and the PAR[S]/PAR[C] it sent carried no MPA AVP either
    assert not any(a.vendor_id == V for d in pair.net.log for a in decode_pana(d.data).avps
                   if d.src == PAA_ADDR)  # fmt: skip


def test_mn_ignores_mpa_avps_from_a_paa_that_did_not_advertise() -> None:
    mn = MnExtension(mn_mac=MAC)
    pair = make_pair(
        pac_config=PacConfig(pre_authentication=True, extension=mn),
        paa_config=PaaConfig(pre_authentication=True),  # no MPA extension at the PAA
    )
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert mn.peer_capabilities is None
    sid = pair.only_session()
    pair.paa.ping(sid, pair.net.now, [u32_avp(MpaAvpCode.MPA_ADDRESS_LIFETIME, 60)])
    pair.net.run(pair.net.now + 1)
    assert mn.pre_configuration is None and mn.ignored == 1
    # the PaC's own messages carried only the PCI hint (MPA AVPs only to MPA peers)
    sent = [decode_pana(d.data) for d in pair.net.log if d.src == PAC_ADDR]
    assert [m.type for m in sent if any(a.vendor_id == V for a in m.avps)] == [
        MessageType.PANA_CLIENT_INITIATION
    ]


def test_capability_values() -> None:
    mn = MnExtension(mn_mac=MAC, capabilities=MpaCapability.ADDRESS_DELIVERY)
    avps: Sequence[Avp] = mn.outgoing_avps(0, MessageType.PANA_CLIENT_INITIATION, 0, (), None)
    assert MpaCapability(u32(avps[0])) == MpaCapability.ADDRESS_DELIVERY
    with pytest.raises(ValueError):
        MnExtension(mn_mac=b"\x01")
    # a PAR[S] offering a subset: the PAN[S] echoes the intersection
    par_s = PanaMessage(MessageType.PANA_AUTH, MessageFlags.R | MessageFlags.S | MessageFlags.E, 1,
                        1, (u32_avp(MpaAvpCode.MPA_CAPABILITY, 0xFFFF),))  # fmt: skip
    (cap,) = mn.outgoing_avps(1, MessageType.PANA_AUTH, MessageFlags.S, (), par_s)
    assert MpaCapability(u32(cap)) == MpaCapability.ADDRESS_DELIVERY
    assert encode_pana(par_s)


def test_reactive_handover_path() -> None:
    from eap.keys import Secret
    from eap.methods.psk import EAP_TYPE_PSK, PskPeer
    from eap.peer import EapPeer
    from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
    from pana_mpa.cli.mpa_demo import AR, IDENTITY, PSK
    from pana_mpa.mpa.drivers.controller import ReactiveHandover
    from pana_mpa.mpa.info import CandidateNetwork
    from pana_mpa.paa import PaaServer

    async def scenario() -> list[str]:
        import asyncio
        import random

        from eap.authenticator import EapAuthenticator
        from eap.methods.psk import PskServer
        from pana_mpa.aio import serve_paa

        rng = random.Random(1).randbytes
        net = LoopbackNetwork(seed=1, delay=0.002)

        def lookup(ident: bytes) -> Secret | None:
            return PSK if ident == IDENTITY else None

        paa = PaaServer(
            PaaConfig(),
            eap_factory=lambda: EapAuthenticator(
                methods=lambda i: [lambda: PskServer(b"ctn", lookup, rng=rng)], rng=rng
            ),
            rng=rng,
        )
        server = asyncio.create_task(serve_paa(paa, net.endpoint((str(AR), 716))))
        bound: list[str] = []

        async def move() -> None:
            await asyncio.sleep(0.05)

        async def dhcp() -> tuple[ipaddress.IPv4Address, object]:
            await asyncio.sleep(0.1)
            return NCOA, net.endpoint((str(NCOA), 0))

        async def bu(address: object) -> None:
            bound.append(str(address))

        reactive = ReactiveHandover(
            eap_factory=lambda: EapPeer(
                identity=IDENTITY, methods={EAP_TYPE_PSK: lambda: PskPeer(IDENTITY, PSK, rng=rng)}
            ),
            binding_update=bu,
            rng=rng,
        )
        cand = CandidateNetwork(name="ctn", paa=(str(AR), 716), ar_address=AR)
        events = await reactive.run(cand, move, dhcp)  # type: ignore[arg-type]
        await reactive.close()
        server.cancel()
        assert bound == [str(NCOA)]
        return [e.step for e in events]

    steps = run_virtual(scenario)
    assert steps == [
        "moved",
        "address_acquired",
        "authenticated",
        "binding_updated",
        "handover_complete",
    ]


def test_lease_arriving_between_par_c_and_pan_c_is_delivered() -> None:
    """The agent's late PNR waits until the session is OPEN instead of being lost."""
    import asyncio
    import random

    from eap.authenticator import EapAuthenticator
    from eap.keys import Secret
    from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
    from eap.peer import EapPeer
    from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
    from pana_mpa.mpa.dhcp import DhcpLease
    from pana_mpa.mpa.drivers.agent import MpaAgent
    from pana_mpa.mpa.drivers.controller import MpaController
    from pana_mpa.mpa.info import CandidateNetwork
    from pana_mpa.mpa.tunnel import InMemoryTunnelDriver
    from pana_mpa.state import PaaState

    psk, ident = Secret(b"SecretPassphrase"), b"mn"
    states: list[str] = []

    async def scenario() -> str:
        rng = random.Random(5)
        net = LoopbackNetwork(seed=5, delay=0.002)
        holder: dict[str, MpaAgent] = {}

        async def lease(sid: int, mac: bytes, cid: bytes) -> DhcpLease:
            # hold the lease until the PAA has sent PAR[C] and waits for PAN[C]
            while holder["agent"].paa.session(sid).state is not PaaState.WAIT_SUCC_PAN:
                await asyncio.sleep(0.0005)
            states.append(holder["agent"].paa.session(sid).state.name)
            return DhcpLease(
                address=NCOA,
                prefix_length=24,
                router=None,
                dns_servers=(),
                lease_time=60,
                server_id=NCOA,
                client_id=cid,
                acquired_at=0.0,
            )

        agent = MpaAgent(
            paa_config=PaaConfig(), transport=net.endpoint(("10.97.2.1", 716)),
            eap_factory=lambda: EapAuthenticator(methods=lambda i: [
                lambda: PskServer(b"ctn", lambda x: psk, rng=rng.randbytes)], rng=rng.randbytes),
            ar_address="10.97.2.1", lease_provider=lease, tunnels=InMemoryTunnelDriver(),
            rng=rng.randbytes,
        )  # fmt: skip
        holder["agent"] = agent
        task = asyncio.create_task(agent.run())

        async def bu(a: object) -> None:
            return None

        mn = MpaController(
            eap_factory=lambda: EapPeer(identity=ident, methods={
                EAP_TYPE_PSK: lambda: PskPeer(ident, psk, rng=rng.randbytes)}),
            mn_mac=MAC, tunnels=InMemoryTunnelDriver(), binding_update=bu, rng=rng.randbytes,
        )  # fmt: skip
        cand = CandidateNetwork(name="c", paa=("10.97.2.1", 716),
                                ar_address=ipaddress.IPv4Address("10.97.2.1"))  # fmt: skip
        await mn.pre_authenticate(cand, net.endpoint((str(OCOA), 0)), OCOA)
        event = await mn.pre_configure()
        await mn.close()
        agent.stop()
        await task
        assert [e.name for e in agent.events].count("address_delivered_late") == 1
        return str(event.detail["ncoa"])

    assert run_virtual(scenario) == str(NCOA)
    assert states == ["WAIT_SUCC_PAN"]


def test_mpa_namespace_exports_documented_names() -> None:
    import inspect

    import pana_mpa.mpa as mpa

    for name in mpa.__all__:
        obj = getattr(mpa, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert (obj.__doc__ or "").strip(), name
    assert "MpaController" in mpa.__all__ and "MpaAgent" in mpa.__all__


def test_unknown_tunnel_action_and_status_values_from_the_peer() -> None:
    pair, mn, paa = _mpa_pair()
    _authenticate(pair, paa)
    # an action number the PAA does not know is refused (WireEnum: no ValueError), nothing set up
    unknown = [u32_avp(MpaAvpCode.MPA_TUNNEL_ACTION, 77)]
    pair.pac.ping(pair.net.now, unknown)
    pair.net.run(pair.net.now + 1)
    assert mn.statuses == [MpaStatus.FAILED]
    assert paa.take_tunnel_requests() == []
    assert "unknown action" in paa.rejected[-1][1]


def test_agent_with_an_aaa_backend_pre_authenticates_through_it() -> None:
    """MpaAgent(aaa=...): the PAA is a pass-through authenticator (RFC 5191 s2); every EAP step
    goes to the AAA back end (here a local EAP server answering after 30 ms, as RADIUS would)."""
    import asyncio
    import random

    from eap.authenticator import EapAuthenticator
    from eap.keys import Secret
    from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
    from eap.peer import EapPeer
    from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
    from pana_mpa.mpa.drivers.agent import MpaAgent
    from pana_mpa.mpa.drivers.controller import MpaController
    from pana_mpa.mpa.info import CandidateNetwork
    from pana_mpa.mpa.tunnel import InMemoryTunnelDriver

    psk, ident = Secret(b"SecretPassphrase"), b"mn"
    rng = random.Random(9)
    calls: list[bool] = []
    closed: list[int] = []

    class Backend:
        def __init__(self, sid: int) -> None:
            self.sid = sid
            self.eap = EapAuthenticator(
                methods=lambda i: [lambda: PskServer(b"aaa", lambda x: psk, rng=rng.randbytes)],
                rng=rng.randbytes,
            )

        async def exchange(self, response: bytes | None) -> object:
            calls.append(response is None)
            await asyncio.sleep(0.03)  # the AAA round trip
            return self.eap.start() if response is None else self.eap.receive(response)

        def close(self) -> None:
            closed.append(self.sid)

    async def scenario() -> tuple[bool, list[str]]:
        net = LoopbackNetwork(seed=9, delay=0.002)
        agent = MpaAgent(
            paa_config=PaaConfig(), transport=net.endpoint(("10.97.2.1", 716)),
            eap_factory=None, aaa=Backend, ar_address="10.97.2.1", lease_provider=None,
            tunnels=InMemoryTunnelDriver(), rng=rng.randbytes,
        )  # fmt: skip
        task = asyncio.create_task(agent.run())

        async def bu(a: object) -> None:
            return None

        mn = MpaController(
            eap_factory=lambda: EapPeer(identity=ident, methods={
                EAP_TYPE_PSK: lambda: PskPeer(ident, psk, rng=rng.randbytes)}),
            mn_mac=MAC, tunnels=InMemoryTunnelDriver(), binding_update=bu, rng=rng.randbytes,
        )  # fmt: skip
        cand = CandidateNetwork(name="c", paa=("10.97.2.1", 716),
                                ar_address=ipaddress.IPv4Address("10.97.2.1"))  # fmt: skip
        await mn.pre_authenticate(cand, net.endpoint((str(OCOA), 0)), OCOA)
        keys = mn.keys is not None
        await asyncio.sleep(0.1)  # the PAN[C] reaches the PAA (virtual time)
        await mn.close()
        assert not closed  # the session is still open at the PAA
        agent.stop()
        await task
        return keys, [type(e).__name__ for e in agent.pana_events]

    keys, events = run_virtual(scenario)
    assert keys and "Authenticated" in events
    assert calls[0] is True and len(calls) >= 3  # started, then each EAP-Response relayed
    assert closed  # the back end (its socket toward the AAA server) released at stop()


def test_agent_wants_exactly_one_eap_source() -> None:
    from pana_mpa.mpa.drivers.agent import MpaAgent
    from pana_mpa.mpa.tunnel import InMemoryTunnelDriver

    for eap_factory, aaa in ((None, None), (object, object)):
        with pytest.raises(TypeError, match="eap_factory"):
            MpaAgent(
                paa_config=PaaConfig(), transport=None,  # type: ignore[arg-type]
                eap_factory=eap_factory, aaa=aaa,  # type: ignore[arg-type]
                ar_address="10.97.2.1", lease_provider=None, tunnels=InMemoryTunnelDriver(),
            )  # fmt: skip

"""DHCPv6 codec, the relay's exchange for the MN in virtual time, and both against a real Kea."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import struct
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pana_mpa.mpa.dhcp6 import (
    Dhcp6Client,
    Dhcp6Error,
    Dhcp6Lease,
    Dhcp6Message,
    Dhcp6MessageType,
    Dhcp6Option,
    Dhcp6State,
    Dhcp6StatusCode,
    IaAddress,
    IaNa,
    RelayMessage,
    decode_dhcp6,
    decode_ia_na,
    duid_ll,
    encode_dhcp6,
    encode_ia_address,
    encode_ia_na,
    iaid_for,
    link_local_for,
    relay_forward,
)
from pana_mpa.mpa.messages import decode_pre_configuration, pre_configuration_avps
from tests.netns import lab, socket_in
from tests.realcomponents import need_binary

MAC = bytes.fromhex("02000000beef")
LINK = ipaddress.IPv6Address("fd99:2::1")
SERVER = ipaddress.IPv6Address("fd99:3::2")
SERVER_DUID = bytes.fromhex("000200007ed90102")
ADDR = ipaddress.IPv6Address("fd99:2::150")


def _client(attempts: int = 4, *, relayed: bool = True) -> Dhcp6Client:
    return Dhcp6Client(
        mac=MAC,
        rng=random.Random(7).randbytes,
        link_address=LINK if relayed else None,
        server_address=SERVER,
        prefix_length=64,
        router=LINK,
        attempts=attempts,
    )


def _ia(
    iaid: int, address: ipaddress.IPv6Address | None = ADDR, status: int | None = None
) -> bytes:
    inner: list[tuple[int, bytes]] = []
    if address is not None:
        inner.append((Dhcp6Option.IAADDR, encode_ia_address(IaAddress(address, 1800, 3600))))
    if status is not None:
        inner.append((Dhcp6Option.STATUS_CODE, struct.pack("!H", status) + b"no"))
    return encode_ia_na(IaNa(iaid, 900, 1400, tuple(inner)))


def _answer(
    relayed: bytes,
    mtype: Dhcp6MessageType,
    *,
    client_id: bytes | None = None,
    ia: bytes | None = None,
    xid: int | None = None,
    peer: ipaddress.IPv6Address | None = None,
) -> bytes:
    """What a server sends back for a Relay-Forw: the answer in a Relay-Reply."""
    forw = decode_dhcp6(relayed)
    assert isinstance(forw, RelayMessage)
    inner = decode_dhcp6(forw.option(Dhcp6Option.RELAY_MSG) or b"")
    assert isinstance(inner, Dhcp6Message)
    iaid = decode_ia_na(inner.option(Dhcp6Option.IA_NA) or b"").iaid
    options = (
        (int(Dhcp6Option.CLIENTID), client_id or inner.option(Dhcp6Option.CLIENTID) or b""),
        (int(Dhcp6Option.SERVERID), SERVER_DUID),
        (int(Dhcp6Option.IA_NA), ia if ia is not None else _ia(iaid)),
        (int(Dhcp6Option.DNS_SERVERS), ipaddress.IPv6Address("fd99:3::53").packed),
    )
    answer = Dhcp6Message(mtype, inner.transaction_id if xid is None else xid, options)
    reply = RelayMessage(
        Dhcp6MessageType.RELAY_REPL,
        forw.hop_count,
        forw.link_address,
        forw.peer_address if peer is None else peer,
        ((Dhcp6Option.INTERFACE_ID, forw.option(Dhcp6Option.INTERFACE_ID) or b""),
         (Dhcp6Option.RELAY_MSG, encode_dhcp6(answer))),
    )  # fmt: skip
    return encode_dhcp6(reply)


def _state(c: Dhcp6Client) -> Dhcp6State:
    return c.state


def test_codec_round_trips_client_and_relay_messages() -> None:
    msg = Dhcp6Message(1, 0xABCDEF, ((1, duid_ll(MAC)), (3, _ia(5)), (999, b"x")))
    assert decode_dhcp6(encode_dhcp6(msg)) == msg
    forw = relay_forward(encode_dhcp6(msg), link_address=LINK, peer_address=link_local_for(MAC),
                         interface_id=b"r2d")  # fmt: skip
    relay = decode_dhcp6(forw)
    assert isinstance(relay, RelayMessage)
    assert relay.msg_type == Dhcp6MessageType.RELAY_FORW and relay.hop_count == 0
    assert (relay.link_address, relay.peer_address) == (
        LINK,
        ipaddress.IPv6Address("fe80::ff:fe00:beef"),
    )
    assert relay.option(Dhcp6Option.INTERFACE_ID) == b"r2d"
    assert decode_dhcp6(relay.option(Dhcp6Option.RELAY_MSG) or b"") == msg
    assert encode_dhcp6(relay) == forw
    ia = decode_ia_na(_ia(5, status=Dhcp6StatusCode.NO_ADDRS_AVAIL))
    assert (ia.iaid, ia.t1, ia.t2) == (5, 900, 1400)
    assert [a.address for a in ia.addresses()] == [ADDR]
    assert ia.status() == (Dhcp6StatusCode.NO_ADDRS_AVAIL, "no")
    assert duid_ll(MAC) == bytes.fromhex("00030001") + MAC and iaid_for(MAC) == 0x0000BEEF


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"\x01\x00", "offset 0"),
        (b"\x0c" + bytes(20), "shorter than 34"),
        (b"\x01\x00\x00\x01\x00\x01\x00", "header truncated at offset 4"),
        (b"\x01\x00\x00\x01\x00\x01\x00\x05ab", "option 1 truncated at offset 4"),
    ],
)
def test_codec_rejects_malformed(data: bytes, where: str) -> None:
    with pytest.raises(Dhcp6Error, match=where):
        decode_dhcp6(data)


@pytest.mark.parametrize(
    "bad",
    [
        Dhcp6Message(1, 1 << 24),
        Dhcp6Message(12, 0),
        Dhcp6Message(1, 0, ((70000, b""),)),
        RelayMessage(1, 0, LINK, LINK),
        RelayMessage(12, 256, LINK, LINK),
    ],
)
def test_encoder_refuses_values_without_wire_form(bad: Dhcp6Message | RelayMessage) -> None:
    with pytest.raises(Dhcp6Error):
        encode_dhcp6(bad)


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_dhcp6_error_and_round_trip(data: bytes) -> None:
    for candidate in (data, b"\x0d" + bytes(33) + data, b"\x07abc" + data):
        try:
            msg = decode_dhcp6(candidate)
        except Dhcp6Error:
            continue
        assert encode_dhcp6(msg) == candidate  # options are kept raw: byte-identical
        for code, value in msg.options:
            with contextlib.suppress(Dhcp6Error):
                if code == Dhcp6Option.IA_NA:
                    decode_ia_na(value).addresses()


@given(st.binary(max_size=200))
def test_relay_client_survives_any_answer(data: bytes) -> None:
    c = _client()
    c.start(0.0)
    (solicit,) = c.datagrams_to_send()
    c.receive(data, 0.1)
    c.receive(b"\x0d" + bytes(33) + data, 0.1)
    c.receive(_answer(solicit, Dhcp6MessageType.ADVERTISE), 0.2)
    c.receive(data, 0.3)
    assert _state(c) is Dhcp6State.REQUESTING


def test_relay_exchange_in_virtual_time() -> None:
    c = _client()
    c.start(0.0)
    (solicit,) = c.datagrams_to_send()
    forw = decode_dhcp6(solicit)
    assert isinstance(forw, RelayMessage)
    # RFC 8415 s19.1.1: link-address = the candidate link, peer-address = the MN's link-local
    assert forw.link_address == LINK and forw.peer_address == link_local_for(MAC)
    assert forw.option(Dhcp6Option.INTERFACE_ID) == b"pana-mpa"
    inner = decode_dhcp6(forw.option(Dhcp6Option.RELAY_MSG) or b"")
    assert isinstance(inner, Dhcp6Message) and inner.msg_type == Dhcp6MessageType.SOLICIT
    assert inner.option(Dhcp6Option.CLIENTID) == duid_ll(MAC)  # the MN's own DUID
    assert inner.option(Dhcp6Option.ELAPSED_TIME) == b"\x00\x00"
    assert decode_ia_na(inner.option(Dhcp6Option.IA_NA) or b"").iaid == iaid_for(MAC)
    c.receive(b"garbage", 0.1)
    # answers for another peer, another transaction or another client are ignored
    c.receive(_answer(solicit, Dhcp6MessageType.ADVERTISE, peer=LINK), 0.1)
    c.receive(_answer(solicit, Dhcp6MessageType.ADVERTISE, xid=inner.transaction_id ^ 1), 0.1)
    c.receive(_answer(solicit, Dhcp6MessageType.ADVERTISE, client_id=duid_ll(bytes(6))), 0.1)
    c.receive(_answer(solicit, Dhcp6MessageType.REPLY), 0.1)  # a Reply before any Request
    assert _state(c) is Dhcp6State.SOLICITING and not c.datagrams_to_send()
    c.receive(_answer(solicit, Dhcp6MessageType.ADVERTISE), 0.1)
    (request,) = c.datagrams_to_send()
    outer = decode_dhcp6(request)
    assert isinstance(outer, RelayMessage)
    req = decode_dhcp6(outer.option(Dhcp6Option.RELAY_MSG) or b"")
    assert isinstance(req, Dhcp6Message) and req.msg_type == Dhcp6MessageType.REQUEST
    assert req.option(Dhcp6Option.SERVERID) == SERVER_DUID
    hint = decode_ia_na(req.option(Dhcp6Option.IA_NA) or b"").addresses()
    assert [(a.address, a.valid_lifetime) for a in hint] == [(ADDR, 0)]  # RFC 8415 s18.2.2
    c.receive(_answer(request, Dhcp6MessageType.REPLY), 0.2)
    assert _state(c) is Dhcp6State.BOUND and c.lease is not None
    lease = c.lease
    assert (lease.address, lease.valid_lifetime, lease.preferred_lifetime) == (ADDR, 3600, 1800)
    assert (lease.t1, lease.t2, lease.iaid) == (900, 1400, iaid_for(MAC))
    assert lease.client_duid == duid_ll(MAC) and lease.server_duid == SERVER_DUID
    assert lease.dns_servers == (ipaddress.IPv6Address("fd99:3::53"),)
    assert (lease.prefix_length, lease.router, lease.server_address) == (64, LINK, SERVER)


def test_relay_retransmits_then_fails() -> None:
    c = _client(attempts=3)
    c.start(0.0)
    first = c.datagrams_to_send()
    sent = 1
    now = 0.0
    while _state(c) is Dhcp6State.SOLICITING:
        deadline = c.get_timer()
        assert deadline is not None and deadline > now
        now = deadline
        c.handle_timer(now)
        sent += len(c.datagrams_to_send())
    assert sent == 3 and c.state is Dhcp6State.FAILED and c.failure
    assert len(first) == 1


def test_no_addresses_available_is_not_selected_and_a_failed_reply_fails() -> None:
    c = _client()
    c.start(0.0)
    (solicit,) = c.datagrams_to_send()
    no_addr = _ia(iaid_for(MAC), address=None, status=Dhcp6StatusCode.NO_ADDRS_AVAIL)
    c.receive(_answer(solicit, Dhcp6MessageType.ADVERTISE, ia=no_addr), 0.1)
    assert _state(c) is Dhcp6State.SOLICITING
    c.receive(_answer(solicit, Dhcp6MessageType.ADVERTISE), 0.1)
    (request,) = c.datagrams_to_send()
    c.receive(_answer(request, Dhcp6MessageType.REPLY, ia=no_addr), 0.2)
    assert _state(c) is Dhcp6State.FAILED and c.lease is None


def test_lease_is_carried_in_mpa_avps_and_back() -> None:
    from pana_mpa.mpa.drivers.agent import lease_configuration

    lease = Dhcp6Lease(
        address=ADDR, preferred_lifetime=1800, valid_lifetime=3600, t1=900, t2=1400,
        iaid=iaid_for(MAC), client_duid=duid_ll(MAC), server_duid=SERVER_DUID,
        server_address=SERVER, dns_servers=(ipaddress.IPv6Address("fd99:3::53"),),
        acquired_at=0.0, prefix_length=64, router=LINK,
    )  # fmt: skip
    cfg = lease_configuration(lease)
    back = decode_pre_configuration(pre_configuration_avps(cfg, agents=False))
    assert back == cfg
    assert (back.ncoa, back.prefix_length, back.router, back.lifetime) == (ADDR, 64, LINK, 3600)
    assert back.client_id == duid_ll(MAC) and back.dhcp_server == SERVER
    assert back.dhcp6_server_id == SERVER_DUID and back.dhcp6_iaid == iaid_for(MAC)


# --- against a real Kea (kea-dhcp6) in namespaces ---------------------------------------------


def _kea(the_lab: object, srv: str, tmp: Path) -> None:
    from tests.netns import Lab
    from tests.servers import kea6_server

    assert isinstance(the_lab, Lab)
    kea6_server(the_lab, srv, tmp, interface="s0", address=str(SERVER), subnet="fd99:2::/64",
                pool="fd99:2::100 - fd99:2::1ff", dns="fd99:3::53")  # fmt: skip


def _topology(the_lab: object, *, link_on_lo: bool) -> tuple[str, str]:
    from tests.netns import Lab

    assert isinstance(the_lab, Lab)
    srv, rly = the_lab.ns("srv"), the_lab.ns("rly")
    the_lab.veth(srv, "s0", rly, "r0")
    the_lab.ip(srv, "addr", "add", f"{SERVER}/64", "dev", "s0", "nodad")
    the_lab.ip(rly, "addr", "add", "fd99:3::1/64", "dev", "r0", "nodad")
    if link_on_lo:
        the_lab.ip(rly, "addr", "add", f"{LINK}/64", "dev", "lo", "nodad")
    the_lab.ip(srv, "route", "add", "fd99:2::/64", "via", "fd99:3::1")
    return srv, rly


def _relayed_lease(rly: str) -> Dhcp6Lease:
    """The PAA's relay in namespace ``rly`` asks Kea for the MN's lease (MPA pre-configuration)."""
    from pana_mpa.mpa.drivers.dhcp6_relay import acquire_lease6, relay6_socket
    from pana_mpa.mpa.drivers.linux_tunnel import in_netns

    with in_netns(rly):
        sock = relay6_socket("fd99:3::1")
    return asyncio.run(
        asyncio.wait_for(
            acquire_lease6(server=SERVER, link_address=LINK, mac=MAC, sock=sock,
                           prefix_length=64, router=LINK),
            timeout=20,
        )
    )  # fmt: skip


@pytest.mark.netns
def test_relay_gets_a_lease_for_the_mn_from_real_kea(tmp_path: Path) -> None:
    """The PAA's relay (MPA pre-configuration): Relay-Forw to Kea, the lease under the MN's DUID."""

    need_binary("kea-dhcp6")
    with lab() as the_lab:
        srv, rly = _topology(the_lab, link_on_lo=True)
        _kea(the_lab, srv, tmp_path)
        lease = _relayed_lease(rly)
        assert lease.address in ipaddress.IPv6Network("fd99:2::/64")
        assert (
            ipaddress.IPv6Address("fd99:2::100")
            <= lease.address
            <= ipaddress.IPv6Address("fd99:2::1ff")
        )
        assert (lease.valid_lifetime, lease.preferred_lifetime, lease.t1, lease.t2) == (
            3600,
            1800,
            900,
            1400,
        )
        assert lease.dns_servers == (ipaddress.IPv6Address("fd99:3::53"),)
        assert lease.server_duid == bytes.fromhex("000200007ed90102")  # DUID-EN, PEN 32473
        # Kea recorded the lease under the MN's DUID and IAID, not the relay's
        leases = (tmp_path / "kea-leases6.csv").read_text()
        row = next(line for line in leases.splitlines() if line.startswith(str(lease.address)))
        assert duid_ll(MAC).hex(":") in row and f",{iaid_for(MAC)}," in row


@pytest.mark.netns
def test_client_on_the_link_through_our_relay_agent_to_real_kea(tmp_path: Path) -> None:
    """The non-MPA path: the MN's own Solicit on its link, our relay agent on the router, Kea."""
    from pana_mpa.mpa.drivers.dhcp6_relay import Dhcp6RelayAgent, solicit_lease6
    from pana_mpa.mpa.drivers.linux_tunnel import in_netns

    need_binary("kea-dhcp6")
    with lab() as the_lab:
        srv, rly = _topology(the_lab, link_on_lo=False)
        mn = the_lab.ns("mn")
        the_lab.veth(rly, "r1", mn, "m0")
        the_lab.ip(mn, "link", "set", "m0", "address", MAC.hex(":"))
        the_lab.ip(rly, "addr", "add", f"{LINK}/64", "dev", "r1", "nodad")
        _kea(the_lab, srv, tmp_path)
        for _ in range(400):  # the link-local addresses' DAD (about 2 s)
            if not any(
                the_lab.ip(ns, "-6", "addr", "show", "tentative").strip() for ns in (mn, rly)
            ):
                break
            time.sleep(0.025)
        agent = Dhcp6RelayAgent(ifname="r1", link_address=LINK, server=SERVER,
                                upstream=ipaddress.IPv6Address("fd99:3::1"))  # fmt: skip
        with in_netns(rly):
            agent.open()
        sock = socket_in(mn, socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("::", 546))
        sock.setblocking(False)

        async def main() -> Dhcp6Lease:
            await agent.start()
            try:
                with in_netns(mn):
                    index = socket.if_nametoindex("m0")
                coro = solicit_lease6(ifindex=index, mac=MAC, sock=sock, prefix_length=64)
                return await asyncio.wait_for(coro, timeout=20)
            finally:
                agent.close()

        lease = asyncio.run(main())
        assert lease.address in ipaddress.IPv6Network("fd99:2::/64")
        assert lease.client_duid == duid_ll(MAC)
        assert agent.forwarded >= 2 and agent.replied >= 2 and agent.dropped == 0


def test_renew_message_carries_what_pana_delivered() -> None:
    from pana_mpa.mpa.dhcp6 import lease_from_reply, renew_message

    data = renew_message(transaction_id=0x123456, client_duid=duid_ll(MAC),
                         server_duid=SERVER_DUID, iaid=iaid_for(MAC), address=ADDR)  # fmt: skip
    msg = decode_dhcp6(data)
    assert isinstance(msg, Dhcp6Message) and msg.msg_type == Dhcp6MessageType.RENEW
    assert msg.option(Dhcp6Option.SERVERID) == SERVER_DUID
    ia = decode_ia_na(msg.option(Dhcp6Option.IA_NA) or b"")
    assert ia.iaid == iaid_for(MAC) and [a.address for a in ia.addresses()] == [ADDR]
    refused = Dhcp6Message(7, 0x123456, ((Dhcp6Option.SERVERID, SERVER_DUID),
                                         (Dhcp6Option.STATUS_CODE, b"\x00\x03")))  # fmt: skip
    with pytest.raises(Dhcp6Error, match="status"):
        lease_from_reply(refused, client_duid=duid_ll(MAC), iaid=iaid_for(MAC),
                         server_address=SERVER, now=0.0)  # fmt: skip


@pytest.mark.netns
def test_mn_renews_the_relayed_lease_through_the_relay_agent_to_real_kea(tmp_path: Path) -> None:
    """The lease the PAA's relay got before the move is renewed by the MN from its new link,
    with only what PANA carried (DUID, server DUID, IAID, nCoA): Kea confirms the same address."""
    from pana_mpa.mpa.drivers.agent import lease_configuration
    from pana_mpa.mpa.drivers.dhcp6_relay import (
        Dhcp6RelayAgent,
        renew_lease6,
    )
    from pana_mpa.mpa.drivers.linux_tunnel import in_netns

    need_binary("kea-dhcp6")
    with lab() as the_lab:
        srv, rly = _topology(the_lab, link_on_lo=False)
        mn = the_lab.ns("mn")
        the_lab.veth(rly, "r1", mn, "m0")
        the_lab.ip(mn, "link", "set", "m0", "address", MAC.hex(":"))
        the_lab.ip(rly, "addr", "add", f"{LINK}/64", "dev", "r1", "nodad")
        _kea(the_lab, srv, tmp_path)
        lease = _relayed_lease(rly)
        # what the MN got in PAR[C,E], decoded from the AVPs
        cfg = decode_pre_configuration(pre_configuration_avps(lease_configuration(lease)))
        assert cfg is not None and cfg.ncoa is not None and cfg.dhcp6_iaid is not None
        for _ in range(400):  # the link-local addresses' DAD (about 2 s)
            if not any(
                the_lab.ip(ns, "-6", "addr", "show", "tentative").strip() for ns in (mn, rly)
            ):
                break
            time.sleep(0.025)
        the_lab.ip(mn, "addr", "add", f"{cfg.ncoa}/{cfg.prefix_length}", "dev", "m0", "nodad")
        agent = Dhcp6RelayAgent(ifname="r1", link_address=LINK, server=SERVER,
                                upstream=ipaddress.IPv6Address("fd99:3::1"))  # fmt: skip
        with in_netns(rly):
            agent.open()
        client = socket_in(mn, socket.AF_INET6, socket.SOCK_DGRAM)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        client.bind(("::", 546))
        client.setblocking(False)
        with in_netns(mn):
            index = socket.if_nametoindex("m0")

        async def main() -> Dhcp6Lease:
            await agent.start()
            try:
                assert cfg is not None and cfg.ncoa is not None and cfg.dhcp6_iaid is not None
                coro = renew_lease6(
                    ifindex=index, address=ipaddress.IPv6Address(cfg.ncoa),
                    client_duid=cfg.client_id, server_duid=cfg.dhcp6_server_id,
                    iaid=cfg.dhcp6_iaid, sock=client,
                )  # fmt: skip
                return await asyncio.wait_for(coro, timeout=20)
            finally:
                agent.close()

        renewed = asyncio.run(main())
        assert renewed.address == lease.address and renewed.valid_lifetime == 3600
        assert renewed.server_duid == lease.server_duid
        assert "DHCP6_LEASE_RENEW" in (tmp_path / "kea-dhcp6.log").read_text()

"""DHCPv4 codec and the relay's exchange for the MN, in virtual time and against real servers."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import random
import socket
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pana_mpa.mpa.dhcp import (
    BOOTREPLY,
    OPT_LEASE_TIME,
    OPT_MESSAGE_TYPE,
    OPT_RELAY_AGENT_INFO,
    OPT_ROUTER,
    OPT_SERVER_ID,
    OPT_SUBNET_MASK,
    DhcpError,
    DhcpMessage,
    DhcpMessageType,
    DhcpRelayClient,
    RelayState,
    decode_dhcp,
    encode_dhcp,
    lease_from_ack,
)
from pana_mpa.mpa.drivers.dhcp_relay import acquire_lease
from tests.netns import lab, socket_in
from tests.realcomponents import need_binary

MAC = bytes.fromhex("02000000beef")
SERVER = ipaddress.IPv4Address("10.99.0.1")
GIADDR = ipaddress.IPv4Address("10.99.1.1")


def _reply(req: DhcpMessage, mtype: DhcpMessageType, yiaddr: str = "10.99.1.150") -> bytes:
    return encode_dhcp(
        DhcpMessage(
            op=BOOTREPLY,
            xid=req.xid,
            chaddr=req.chaddr,
            yiaddr=ipaddress.IPv4Address(yiaddr),
            giaddr=req.giaddr,
            options=(
                (OPT_MESSAGE_TYPE, bytes([mtype])),
                (OPT_SERVER_ID, SERVER.packed),
                (OPT_SUBNET_MASK, bytes([255, 255, 255, 0])),
                (OPT_ROUTER, GIADDR.packed),
                (OPT_LEASE_TIME, (3600).to_bytes(4, "big")),
            ),
        )
    )


def _client(attempts: int = 4) -> DhcpRelayClient:
    return DhcpRelayClient(
        server=SERVER,
        giaddr=GIADDR,
        chaddr=MAC,
        rng=random.Random(7).randbytes,
        attempts=attempts,
    )


def test_codec_round_trip_keeps_options_in_order() -> None:
    msg = DhcpMessage(
        op=1, xid=0x1234, chaddr=MAC, options=((53, b"\x01"), (200, b"xyz")), giaddr=GIADDR, hops=1
    )
    assert decode_dhcp(encode_dhcp(msg)) == msg


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"", "offset 0"),
        (bytes(236) + b"abcd", "cookie"),
        (bytes(236) + b"\x63\x82\x53\x63\x35\x05\x01", "truncated"),
    ],
)
def test_codec_rejects_malformed(data: bytes, where: str) -> None:
    with pytest.raises(DhcpError, match=where):
        decode_dhcp(data)


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_dhcp_error(data: bytes) -> None:
    with contextlib.suppress(DhcpError):
        decode_dhcp(bytes(236) + b"\x63\x82\x53\x63" + data)


def test_relay_exchange_in_virtual_time() -> None:
    c = _client()
    c.start(0.0)
    (discover,) = c.datagrams_to_send()
    d = decode_dhcp(discover)
    assert d.message_type == DhcpMessageType.DISCOVER
    assert d.giaddr == GIADDR and d.hops == 1
    # RFC 3046: circuit id and remote id (the MN's MAC)
    info = d.option(OPT_RELAY_AGENT_INFO)
    assert info is not None and info.endswith(bytes([2, 6]) + MAC)
    c.receive(b"garbage", 0.1)  # ignored
    c.receive(_reply(d, DhcpMessageType.OFFER), 0.1)
    (request,) = c.datagrams_to_send()
    r = decode_dhcp(request)
    assert r.message_type == DhcpMessageType.REQUEST
    assert r.option(50) == ipaddress.IPv4Address("10.99.1.150").packed
    assert r.option(61) == d.option(61) == b"\x01" + MAC  # same client id throughout
    c.receive(_reply(r, DhcpMessageType.ACK), 0.2)
    assert c.state is RelayState.BOUND
    assert c.lease is not None
    assert (c.lease.address, c.lease.prefix_length, c.lease.router, c.lease.lease_time) == (
        ipaddress.IPv4Address("10.99.1.150"),
        24,
        GIADDR,
        3600,
    )


def test_relay_retransmits_then_fails() -> None:
    c = _client(attempts=3)
    c.start(0.0)
    sent = len(c.datagrams_to_send())
    while (t := c.get_timer()) is not None:
        c.handle_timer(t)
        sent += len(c.datagrams_to_send())
    assert sent == 3
    assert c.state is RelayState.FAILED
    assert c.failure is not None and "no answer" in c.failure


def test_nak_and_foreign_replies() -> None:
    c = _client()
    c.start(0.0)
    d = decode_dhcp(c.datagrams_to_send()[0])
    other = DhcpMessage(
        op=BOOTREPLY,
        xid=d.xid ^ 1,
        chaddr=MAC,
        options=((OPT_MESSAGE_TYPE, bytes([DhcpMessageType.OFFER])),),
    )
    c.receive(encode_dhcp(other), 0.1)
    assert c.state is RelayState.SELECTING
    c.receive(_reply(d, DhcpMessageType.OFFER), 0.1)
    r = decode_dhcp(c.datagrams_to_send()[0])
    c.receive(_reply(r, DhcpMessageType.NAK), 0.2)
    assert c.failure == "DHCP server answered NAK"


def _ack_with(req: DhcpMessage, **replace: bytes) -> bytes:
    opts = dict(decode_dhcp(_reply(req, DhcpMessageType.ACK)).options)
    opts.update({int(k.removeprefix("o")): v for k, v in replace.items()})
    return encode_dhcp(
        DhcpMessage(
            op=BOOTREPLY,
            xid=req.xid,
            chaddr=req.chaddr,
            yiaddr=ipaddress.IPv4Address("10.99.1.150"),
            options=tuple(opts.items()),
        )
    )


@pytest.mark.parametrize(
    "bad",
    [
        {f"o{OPT_SUBNET_MASK}": bytes([255, 0, 255, 0])},  # non-contiguous netmask
        {f"o{OPT_SERVER_ID}": b"\x01"},  # 1-octet server identifier
        {f"o{OPT_SERVER_ID}": bytes(5)},
    ],
)
def test_unusable_ack_is_discarded_not_raised(bad: dict[str, bytes]) -> None:
    """Issue 9 item 6: a malformed ACK must not escape receive() (it raised ValueError)."""
    c = _client()
    c.start(0.0)
    d = decode_dhcp(c.datagrams_to_send()[0])
    c.receive(_reply(d, DhcpMessageType.OFFER), 0.1)
    r = decode_dhcp(c.datagrams_to_send()[0])
    c.receive(_ack_with(r, **bad), 0.2)
    assert (c.state, c.lease) == (RelayState.REQUESTING, None)
    c.receive(_reply(r, DhcpMessageType.ACK), 0.3)  # the genuine ACK still binds
    assert c.state is RelayState.BOUND


def test_lease_from_ack_raises_only_dhcp_error() -> None:
    req = DhcpMessage(op=1, xid=1, chaddr=MAC)
    for bad in ({f"o{OPT_SUBNET_MASK}": bytes([255, 0, 255, 0])}, {f"o{OPT_SERVER_ID}": b"\x01"}):
        ack = decode_dhcp(_ack_with(req, **bad))
        with pytest.raises(DhcpError):
            lease_from_ack(ack, client_id=b"x", fallback_server=SERVER, now=0.0)


@given(st.binary(max_size=16), st.integers(0, 255))
def test_chaddr_round_trips_whatever_hlen(chaddr: bytes, htype: int) -> None:
    """Issue 9 item 6: hlen != 6 lost octets (or invented zeros) on re-encoding."""
    msg = DhcpMessage(op=BOOTREPLY, xid=7, chaddr=chaddr, htype=htype)
    assert decode_dhcp(encode_dhcp(msg)) == msg
    wire = bytearray(encode_dhcp(DhcpMessage(op=BOOTREPLY, xid=7, chaddr=MAC)))
    wire[2] = 4  # hlen 4 on the wire
    once = decode_dhcp(bytes(wire))
    assert once.chaddr == MAC[:4]
    assert decode_dhcp(encode_dhcp(once)) == once


# --- real DHCP servers in namespaces (ENVIRONMENT.md "DHCPv4 servers answering a relayed DISCOVER")


def _topology(the_lab: object) -> tuple[str, str]:
    from tests.netns import Lab

    assert isinstance(the_lab, Lab)
    srv, rly = the_lab.ns("srv"), the_lab.ns("rly")
    the_lab.veth(srv, "s0", rly, "r0")
    the_lab.ip(srv, "addr", "add", "10.99.0.1/24", "dev", "s0")
    the_lab.ip(rly, "addr", "add", "10.99.0.2/24", "dev", "r0")
    the_lab.ip(rly, "addr", "add", "10.99.1.1/32", "dev", "lo")
    the_lab.ip(srv, "route", "add", "10.99.1.0/24", "via", "10.99.0.2")
    return srv, rly


def _wait_udp67(the_lab: object, ns: str) -> None:
    from tests.netns import Lab

    assert isinstance(the_lab, Lab)
    for _ in range(200):
        if ":67 " in the_lab.exec(ns, "ss", "-uln"):
            return
        time.sleep(0.025)
    raise AssertionError("DHCP server did not start listening")


def _lease_via_relay(rly: str) -> object:
    sock = socket_in(rly, socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((str(GIADDR), 67))
    sock.setblocking(False)
    return asyncio.run(
        asyncio.wait_for(
            acquire_lease(server=SERVER, giaddr=GIADDR, chaddr=MAC, sock=sock), timeout=10
        )
    )


@pytest.mark.netns
def test_lease_from_real_dnsmasq(tmp_path: Path) -> None:
    dnsmasq = need_binary("dnsmasq")
    with lab() as the_lab:
        srv, rly = _topology(the_lab)
        the_lab.spawn(
            srv,
            dnsmasq,
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--interface=s0",
            "--bind-interfaces",
            "--no-ping",
            "--log-dhcp",
            "--log-facility=-",
            "--dhcp-range=10.99.1.100,10.99.1.200,255.255.255.0,1h",
            f"--dhcp-leasefile={tmp_path / 'leases'}",
            "--dhcp-option=136,10.99.1.1",  # RFC 5192: the CTN's PAA
        )
        _wait_udp67(the_lab, srv)
        lease = _lease_via_relay(rly)
        from pana_mpa.mpa.dhcp import DhcpLease

        assert isinstance(lease, DhcpLease)
        assert lease.paa_addresses == (ipaddress.IPv4Address("10.99.1.1"),)  # PAA discovery
        assert (
            ipaddress.IPv4Address("10.99.1.100")
            <= lease.address
            <= ipaddress.IPv4Address("10.99.1.200")
        )
        assert lease.prefix_length == 24 and lease.lease_time == 3600
        assert lease.server_id == SERVER
        # the server recorded the lease under the MN's MAC
        assert MAC.hex(":") in (tmp_path / "leases").read_text()


@pytest.mark.netns
def test_lease_from_real_kea(tmp_path: Path) -> None:
    kea = need_binary("kea-dhcp4")
    conf = {
        "Dhcp4": {
            "interfaces-config": {"interfaces": ["s0"], "dhcp-socket-type": "udp"},
            "lease-database": {
                "type": "memfile",
                "persist": True,
                "name": str(tmp_path / "leases4.csv"),
                "lfc-interval": 0,
            },
            "valid-lifetime": 1800,
            "subnet4": [
                {
                    "id": 1,
                    "subnet": "10.99.1.0/24",
                    "pools": [{"pool": "10.99.1.100 - 10.99.1.200"}],
                    "relay": {"ip-addresses": ["10.99.1.1"]},
                    "option-data": [
                        {"name": "routers", "data": "10.99.1.1"},
                        {"name": "domain-name-servers", "data": "10.99.0.53"},
                    ],
                }
            ],
            "loggers": [
                {"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"}
            ],
        }
    }
    (tmp_path / "kea.json").write_text(json.dumps(conf))
    with contextlib.ExitStack() as stack, lab() as the_lab:
        srv, rly = _topology(the_lab)
        env = {
            "KEA_PIDFILE_DIR": str(tmp_path),
            "KEA_LOCKFILE_DIR": str(tmp_path),
            "KEA_LOGGER_DESTINATION": "stdout",
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        }
        log = stack.enter_context(open(tmp_path / "kea.log", "wb"))
        the_lab.spawn(
            srv,
            kea,
            "-c",
            str(tmp_path / "kea.json"),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _wait_udp67(the_lab, srv)
        lease = _lease_via_relay(rly)
        from pana_mpa.mpa.dhcp import DhcpLease

        assert isinstance(lease, DhcpLease)
        assert lease.router == GIADDR and lease.lease_time == 1800
        assert lease.dns_servers == (ipaddress.IPv4Address("10.99.0.53"),)


@pytest.mark.netns
def test_mn_renews_the_relayed_lease_over_its_new_link(tmp_path: Path) -> None:
    """The lease the relay got for the MN is renewed by the MN itself after the move."""
    from pana_mpa.mpa.dhcp import DhcpLease
    from pana_mpa.mpa.drivers.dhcp_relay import renew_lease

    dnsmasq = need_binary("dnsmasq")
    with lab() as the_lab:
        srv, rly = _topology(the_lab)
        mn = the_lab.ns("mn")
        the_lab.veth(rly, "r1", mn, "m0")  # the CTN link the MN moves onto
        the_lab.ip(rly, "addr", "add", "10.99.1.1/24", "dev", "r1")
        the_lab.exec(rly, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        the_lab.spawn(
            srv, dnsmasq, "--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=s0",
            "--bind-interfaces", "--no-ping", "--log-dhcp", "--log-facility=-",
            "--dhcp-range=10.99.1.100,10.99.1.200,255.255.255.0,1h",
            f"--dhcp-leasefile={tmp_path / 'leases'}",
        )  # fmt: skip
        _wait_udp67(the_lab, srv)
        lease = _lease_via_relay(rly)
        assert isinstance(lease, DhcpLease)
        # after the move: the MN puts nCoA on its new interface and renews from it
        the_lab.ip(mn, "addr", "add", f"{lease.address}/24", "dev", "m0")
        the_lab.ip(mn, "route", "add", "default", "via", "10.99.1.1")
        sock = socket_in(mn, socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((str(lease.address), 68))
        sock.setblocking(False)
        renewed = asyncio.run(
            renew_lease(
                address=lease.address,
                server=lease.server_id,
                chaddr=MAC,
                client_id=lease.client_id,
                sock=sock,
            )
        )
        assert renewed.address == lease.address
        assert renewed.lease_time == 3600

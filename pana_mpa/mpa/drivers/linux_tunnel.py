"""Linux tunnel driver: userspace IP-in-IP (RFC 2003) over TUN and protocol-4 raw sockets.

The kernels we run on have no ipip module (../shared/ENVIRONMENT.md), so encapsulation happens
here: a TUN device per tunnel carries the inner packets, one raw IPPROTO_IPIP socket per tunnel
sends and receives the outer ones. Devices, addresses and routes are configured with pyroute2
(the ``linux`` extra). Needs root (CAP_NET_ADMIN, CAP_NET_RAW).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import logging
import os
import socket
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..tunnel import IPPROTO_IPIP, TunnelError, TunnelSpec, decapsulate, ipv4_dst, refuse_inner

__all__ = ["LinuxIpipDriver", "TunnelStats", "in_netns"]

logger = logging.getLogger(__name__)

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
NTF_PROXY = 0x08
NETLINK_ROUTE = 0
RTM_DELROUTE = 25
NLM_F_REQUEST = 0x01
NLM_F_ACK = 0x04
NLMSG_ERROR = 2
RT_TABLE_MAIN = 254
RT_SCOPE_NOWHERE = 255
RTA_DST = 1
RTA_OIF = 4

ForwardHook = Callable[[TunnelSpec, bytes], bool]
"""Called with each inner packet leaving through a tunnel; False means the hook kept it."""


@contextlib.contextmanager
def in_netns(name: str | None) -> Iterator[None]:
    """Create sockets and devices inside network namespace ``name`` (this thread only)."""
    if name is None:
        yield
        return
    from pyroute2 import netns

    netns.pushns(name)
    try:
        yield
    finally:
        netns.popns()


@dataclass
class TunnelStats:
    """Packet counters of one tunnel."""

    encapsulated: int = 0
    decapsulated: int = 0
    held: int = 0
    dropped: int = 0
    refused: int = 0
    """Decapsulated packets not for this tunnel's nCoA (tunnel.refuse_inner)."""


@dataclass
class _Tunnel:
    spec: TunnelSpec
    tun_fd: int
    raw: socket.socket
    stats: TunnelStats


class LinuxIpipDriver:
    """TunnelDriver for Linux: real IP-in-IP packets on the wire, userspace encapsulation."""

    def __init__(
        self,
        *,
        netns: str | None = None,
        mtu: int = 1480,
        forward_hook: ForwardHook | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._netns = netns
        self._mtu = mtu
        self._hook = forward_hook
        self._loop = loop
        self._tunnels: dict[str, _Tunnel] = {}
        self._inject: socket.socket | None = None
        self._links: dict[str, socket.socket] = {}

    def _ipr(self) -> Any:
        from pyroute2 import IPRoute, NetNS

        return NetNS(self._netns) if self._netns else IPRoute()

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop or asyncio.get_running_loop()

    def establish(self, spec: TunnelSpec) -> None:
        """Create the TUN device, address, routes and the raw socket; start forwarding."""
        old = self._tunnels.get(spec.name)
        if old is not None:
            if old.spec == spec:
                return
            raise TunnelError(f"tunnel {spec.name} exists with other addresses")
        if len(spec.name) > 15:
            raise TunnelError(f"device name {spec.name!r} longer than 15 characters")
        loop = self._get_loop()
        with in_netns(self._netns):
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
            try:
                ifr = struct.pack("16sH", spec.name.encode(), IFF_TUN | IFF_NO_PI)
                fcntl.ioctl(fd, TUNSETIFF, ifr)
                raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_IPIP)
            except OSError as exc:
                os.close(fd)
                raise TunnelError(f"cannot create tunnel {spec.name}: {exc}") from exc
        try:
            raw.bind((str(spec.local), 0))  # outer source = our end; receive only for it
            raw.setblocking(False)
            self._configure(spec)
        except Exception as exc:
            raw.close()
            os.close(fd)
            raise TunnelError(f"cannot configure tunnel {spec.name}: {exc}") from exc
        t = _Tunnel(spec, fd, raw, TunnelStats())
        self._tunnels[spec.name] = t
        loop.add_reader(fd, self._from_tun, t)
        loop.add_reader(raw.fileno(), self._from_wire, t)
        logger.info(
            "tunnel %s up: %s -> %s inner %s", spec.name, spec.local, spec.remote, spec.inner
        )

    def _configure(self, spec: TunnelSpec) -> None:
        # pyroute2 0.9's synchronous API runs its own event loop: keep it off ours.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(self._configure_sync, spec).result()

    def _configure_sync(self, spec: TunnelSpec) -> None:
        with self._ipr() as ipr:
            if spec.proxy_arp_on is not None:
                # the AR answers for nCoA on the CTN link while the MN is away (RFC 6252 s7.4)
                link = ipr.link_lookup(ifname=spec.proxy_arp_on)
                if not link:
                    raise TunnelError(f"no interface {spec.proxy_arp_on} for proxy ARP")
                ipr.neigh("replace", dst=str(spec.inner), ifindex=link[0], flags=NTF_PROXY)
            idx = ipr.link_lookup(ifname=spec.name)[0]
            ipr.link("set", index=idx, mtu=self._mtu, state="up")
            if spec.inner_on_device:
                ipr.addr("add", index=idx, address=str(spec.inner), prefixlen=32)
            for net in spec.routes:
                kw: dict[str, Any] = {"dst": str(net), "oif": idx}
                if spec.inner_on_device:
                    kw["prefsrc"] = str(spec.inner)
                ipr.route("add", **kw)

    def delete(self, name: str) -> None:
        """Stop forwarding and remove the device (its routes and address go with it)."""
        t = self._tunnels.pop(name, None)
        if t is None:
            return
        loop = self._get_loop()
        if t.spec.routes:
            # Unregistering a TUN device takes 10-20 ms; a packet the kernel routes into it after
            # its queue is detached is dropped. Withdraw the routes first (the kernel then routes
            # the inner address elsewhere, e.g. onto the CTN link) and forward what is queued.
            self._unroute(t.spec)
            drained = self._drain(t)
            if drained:
                logger.info("tunnel %s: %d queued packets forwarded before delete", name, drained)
        loop.remove_reader(t.tun_fd)
        loop.remove_reader(t.raw.fileno())
        t.raw.close()
        os.close(t.tun_fd)  # a non-persistent TUN device disappears with its last fd
        if t.spec.proxy_arp_on is not None:
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(self._unproxy_sync, t.spec).result()
        logger.info("tunnel %s deleted (%s)", name, t.stats)

    def _unroute(self, spec: TunnelSpec) -> None:
        """Delete the tunnel's routes with one rtnetlink request each (pyroute2 takes ~20 ms)."""
        with in_netns(self._netns):
            try:
                nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
            except OSError as exc:
                logger.warning("no rtnetlink socket; routes go with the device: %s", exc)
                return
            try:
                ifindex = socket.if_nametoindex(spec.name)
            except OSError:
                nl.close()
                return  # the device is already gone, and its routes with it
        with nl:
            nl.settimeout(1.0)
            for seq, net in enumerate(spec.routes, 1):
                # struct rtmsg (rtnetlink(7)); scope NOWHERE and type UNSPEC match any route,
                # as "ip route del" sends them
                rtm = struct.pack("BBBBBBBBI", socket.AF_INET, net.prefixlen, 0, 0, RT_TABLE_MAIN,
                                  0, RT_SCOPE_NOWHERE, 0, 0)  # fmt: skip
                attrs = struct.pack("HH4s", 8, RTA_DST, net.network_address.packed)
                attrs += struct.pack("HHI", 8, RTA_OIF, ifindex)
                body = rtm + attrs
                hdr = struct.pack("IHHII", 16 + len(body), RTM_DELROUTE,
                                  NLM_F_REQUEST | NLM_F_ACK, seq, 0)  # fmt: skip
                try:
                    nl.send(hdr + body)
                    ack = nl.recv(4096)
                except OSError as exc:
                    logger.debug("route %s via %s not withdrawn: %s", net, spec.name, exc)
                    continue
                if len(ack) >= 20 and struct.unpack_from("H", ack, 4)[0] == NLMSG_ERROR:
                    err = struct.unpack_from("i", ack, 16)[0]
                    if err:
                        logger.debug("route %s via %s: %s", net, spec.name, os.strerror(-err))

    def _drain(self, t: _Tunnel) -> int:
        """Forward every packet still queued on the TUN device; how many there were."""
        n = 0
        while True:
            try:
                inner = os.read(t.tun_fd, 65535)
            except OSError:  # BlockingIOError: the queue is empty
                return n
            if not inner:
                return n
            n += 1
            self._forward(t, inner)

    def _unproxy_sync(self, spec: TunnelSpec) -> None:
        with self._ipr() as ipr:
            link = ipr.link_lookup(ifname=spec.proxy_arp_on)
            if link:
                with contextlib.suppress(Exception):
                    ipr.neigh("del", dst=str(spec.inner), ifindex=link[0], flags=NTF_PROXY)

    def active(self) -> dict[str, TunnelSpec]:
        """Tunnels currently up."""
        return {n: t.spec for n, t in self._tunnels.items()}

    def stats(self, name: str) -> TunnelStats:
        """Counters of one tunnel."""
        return self._tunnels[name].stats

    def send_inner(self, name: str, inner: bytes) -> None:
        """Encapsulate and send one inner packet through the tunnel now."""
        self._send(self._tunnels[name], inner)

    def _send(self, t: _Tunnel, inner: bytes) -> None:
        name = t.spec.name
        try:
            t.raw.sendto(inner, (str(t.spec.remote), 0))  # the kernel adds the outer header
            t.stats.encapsulated += 1
        except OSError as exc:
            t.stats.dropped += 1
            logger.debug("tunnel %s send failed: %s", name, exc)

    def inject(self, packet: bytes) -> None:
        """Send a complete IPv4 packet through the kernel's routing (flushing a buffer)."""
        if self._inject is None:
            with in_netns(self._netns):
                s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
            s.setblocking(False)
            self._inject = s
        try:
            self._inject.sendto(packet, (str(ipv4_dst(packet)), 0))
        except OSError as exc:
            logger.debug("inject failed: %s", exc)

    def send_frame(self, ifname: str, frame: bytes) -> bool:
        """Send one complete Ethernet frame out of ``ifname`` (AF_PACKET; a bicast copy)."""
        s = self._links.get(ifname)
        if s is None:
            try:
                with in_netns(self._netns):
                    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # send only
            except OSError as exc:
                logger.warning("cannot open a packet socket on %s: %s", ifname, exc)
                return False
            try:
                s.setblocking(False)
                s.bind((ifname, 0))
            except OSError as exc:
                s.close()
                logger.warning("cannot send on %s: %s", ifname, exc)
                return False
            self._links[ifname] = s
        try:
            s.send(frame)
        except OSError as exc:
            logger.debug("frame on %s not sent: %s", ifname, exc)
            return False
        return True

    def _from_tun(self, t: _Tunnel) -> None:
        try:
            inner = os.read(t.tun_fd, 65535)
        except BlockingIOError:
            return
        except OSError as exc:
            logger.debug("tunnel %s read failed: %s", t.spec.name, exc)
            return
        self._forward(t, inner)

    def _forward(self, t: _Tunnel, inner: bytes) -> None:
        if not inner or inner[0] >> 4 != 4:
            return  # the TUN also delivers IPv6 router solicitations: not ours to carry
        if self._hook is not None and not self._hook(t.spec, inner):
            t.stats.held += 1
            return
        self._send(t, inner)  # not by name: delete() drains after unlisting the tunnel

    def _from_wire(self, t: _Tunnel) -> None:
        try:
            packet = t.raw.recv(65535)
        except BlockingIOError:
            return
        try:
            src, _dst, inner = decapsulate(packet)
        except TunnelError as exc:
            logger.debug("tunnel %s: dropping %s", t.spec.name, exc)
            return
        if src != t.spec.remote:
            return  # another tunnel's, or spoofed
        if (reason := refuse_inner(t.spec, inner)) is not None:
            t.stats.refused += 1
            logger.debug("tunnel %s: dropping %s", t.spec.name, reason)
            return
        try:
            os.write(t.tun_fd, inner)
            t.stats.decapsulated += 1
        except OSError as exc:
            t.stats.dropped += 1
            logger.debug("tunnel %s write failed: %s", t.spec.name, exc)

    def close(self) -> None:
        """Delete every tunnel."""
        for name in list(self._tunnels):
            self.delete(name)
        if self._inject is not None:
            self._inject.close()
            self._inject = None
        for s in self._links.values():
            s.close()
        self._links.clear()

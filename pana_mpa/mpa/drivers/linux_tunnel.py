"""Linux tunnel driver: userspace IP-in-IP over TUN and raw sockets, IPv4 and IPv6.

The kernels we run on have no ipip, sit or ip6tnl module (../shared/ENVIRONMENT.md), so
encapsulation happens here: a TUN device per tunnel carries the inner packets, one raw socket per
tunnel sends and receives the outer ones (AF_INET or AF_INET6 by the outer family, protocol 4 or
41 by the inner one: RFC 2003, RFC 4213 s3.5, RFC 2473; see ``tunnel.py``). Devices, addresses and
routes are configured with pyroute2 (the ``linux`` extra). Needs root (CAP_NET_ADMIN, CAP_NET_RAW).

Event loop: device set-up (pyroute2, 10-50 ms) and release (closing the last fd of a TUN device
unregisters it: 10-20 ms, up to 140 ms on a loaded machine) run in a worker thread. ``delete``
withdraws the routes and forwards what is queued on the device synchronously (0.5 ms), so when
it returns nothing more enters the tunnel; only the release is left to the thread
(``wait_deleted``), which first delivers what was still queued (``_teardown``).
``establish_async`` configures off the loop; ``establish`` blocks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import fcntl
import functools
import ipaddress
import logging
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..tunnel import TunnelError, TunnelSpec, decapsulate, ip_dst, refuse_inner

__all__ = ["LinuxIpipDriver", "TunnelStats", "in_netns"]

logger = logging.getLogger(__name__)

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
NTF_PROXY = 0x08
IFA_F_NODAD = 0x02
CLONE_NEWNET = 0x40000000
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


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc().setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def in_netns(name: str | None) -> Iterator[None]:
    """Create sockets and devices inside network namespace ``name`` (this thread only).

    Thread-safe: the namespace to return to is this thread's own (/proc/thread-self), so worker
    threads can enter namespaces while the event loop's thread stays where it is.
    """
    if name is None:
        yield
        return
    saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(name if name.startswith("/") else f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(saved)
    finally:
        os.close(saved)


def _link_scoped_v6(packet: bytes) -> bool:
    """An IPv6 packet to a multicast or link-local destination (RS, MLD, NDP from the device)."""
    return packet[24] == 0xFF or (packet[24] == 0xFE and packet[25] & 0xC0 == 0x80)


@dataclass
class TunnelStats:
    """Packet counters of one tunnel."""

    encapsulated: int = 0
    decapsulated: int = 0
    held: int = 0
    dropped: int = 0
    refused: int = 0
    """Decapsulated packets not for this tunnel's nCoA (tunnel.refuse_inner)."""
    rerouted: int = 0
    """Packets that entered the device after ``delete`` had drained it, found at its release
    and sent through the kernel's routing as it then was (no longer into this tunnel)."""


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
        mtu: int | None = None,
        forward_hook: ForwardHook | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """``mtu`` of the tunnel devices; default 1500 less the outer header (1480 or 1460)."""
        self._netns = netns
        self._mtu = mtu
        self._hook = forward_hook
        self._loop = loop
        self._tunnels: dict[str, _Tunnel] = {}
        self._inject: dict[int, socket.socket] = {}
        self._links: dict[str, socket.socket] = {}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._closing: dict[str, concurrent.futures.Future[None]] = {}
        self._opening: set[str] = set()

    def _ipr(self) -> Any:
        from pyroute2 import IPRoute

        # an IPRoute created inside the namespace keeps its netlink socket there: 2-6 ms,
        # where pyroute2's NetNS (a helper process) takes 20-35 ms
        with in_netns(self._netns):
            return IPRoute()

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop or asyncio.get_running_loop()

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=2, thread_name_prefix="pana-tunnel"
            )
        return self._executor

    # ---- establish -----------------------------------------------------------------------------

    def _exists(self, spec: TunnelSpec) -> bool:
        old = self._tunnels.get(spec.name)
        if old is not None:
            if old.spec == spec:
                return True
            raise TunnelError(f"tunnel {spec.name} exists with other addresses")
        if spec.name in self._opening:
            raise TunnelError(f"tunnel {spec.name} is being established")
        if len(spec.name) > 15:
            raise TunnelError(f"device name {spec.name!r} longer than 15 characters")
        return False

    def establish(self, spec: TunnelSpec) -> None:
        """Create the TUN device, address, routes and the raw socket; start forwarding.

        Blocks for the device configuration (10-50 ms); ``establish_async`` does not.
        """
        if self._exists(spec):
            return
        loop = self._get_loop()
        pending = self._closing.get(spec.name)
        if pending is not None:
            pending.result()  # a device of that name is still being released
        self._start(self._pool().submit(self._build, spec).result(), loop)

    async def establish_async(self, spec: TunnelSpec) -> None:
        """``establish`` with the device set-up in a worker thread (the loop keeps running)."""
        if self._exists(spec):
            return
        loop = self._get_loop()
        self._opening.add(spec.name)
        try:
            pending = self._closing.get(spec.name)
            if pending is not None:
                await asyncio.wrap_future(pending)
            cf = self._pool().submit(self._build, spec)
            try:
                t = await asyncio.wrap_future(cf)
            except asyncio.CancelledError:
                cf.add_done_callback(self._discard_built)
                raise
        finally:
            self._opening.discard(spec.name)
        self._start(t, loop)

    def _discard_built(self, cf: concurrent.futures.Future[_Tunnel]) -> None:
        """A tunnel built for a cancelled establish_async: release it again."""
        if not cf.cancelled() and cf.exception() is None:
            self._teardown(cf.result())

    def _build(self, spec: TunnelSpec) -> _Tunnel:
        """Open and configure the device and the raw socket (blocking; in a worker thread)."""
        family = socket.AF_INET if spec.outer_version == 4 else socket.AF_INET6
        with in_netns(self._netns):
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
            try:
                ifr = struct.pack("16sH", spec.name.encode(), IFF_TUN | IFF_NO_PI)
                fcntl.ioctl(fd, TUNSETIFF, ifr)
                raw = socket.socket(family, socket.SOCK_RAW, spec.protocol)
            except OSError as exc:
                os.close(fd)
                raise TunnelError(f"cannot create tunnel {spec.name}: {exc}") from exc
        try:
            raw.bind((str(spec.local), 0))  # outer source = our end; receive only for it
            raw.setblocking(False)
            self._configure_sync(spec)
        except Exception as exc:
            raw.close()
            os.close(fd)
            raise TunnelError(f"cannot configure tunnel {spec.name}: {exc}") from exc
        return _Tunnel(spec, fd, raw, TunnelStats())

    def _start(self, t: _Tunnel, loop: asyncio.AbstractEventLoop) -> None:
        self._tunnels[t.spec.name] = t
        loop.add_reader(t.tun_fd, self._from_tun, t)
        loop.add_reader(t.raw.fileno(), self._from_wire, t)
        spec = t.spec
        logger.info(
            "tunnel %s up: %s -> %s inner %s", spec.name, spec.local, spec.remote, spec.inner
        )

    def _configure_sync(self, spec: TunnelSpec) -> None:
        # pyroute2 0.9's synchronous API runs its own event loop: never call it on ours
        v6 = spec.inner.version == 6
        family = socket.AF_INET6 if v6 else socket.AF_INET
        mtu = self._mtu or (1480 if spec.outer_version == 4 else 1460)
        with self._ipr() as ipr:
            if spec.proxy_arp_on is not None:
                # the AR answers for nCoA on the CTN link while the MN is away (RFC 6252 s7.4)
                link = ipr.link_lookup(ifname=spec.proxy_arp_on)
                if not link:
                    raise TunnelError(f"no interface {spec.proxy_arp_on} for proxy ARP")
                if v6:
                    self._enable_proxy_ndp(spec.proxy_arp_on)
                ipr.neigh("replace", dst=str(spec.inner), ifindex=link[0], flags=NTF_PROXY,
                          family=family)  # fmt: skip
            idx = ipr.link_lookup(ifname=spec.name)[0]
            ipr.link("set", index=idx, mtu=mtu, state="up")
            if spec.inner_on_device:
                # IPv6: usable at once (no DAD: the address is the MN's, reserved by the AR)
                extra: dict[str, Any] = {"flags": IFA_F_NODAD} if v6 else {}
                ipr.addr("add", index=idx, address=str(spec.inner),
                         prefixlen=spec.inner.max_prefixlen, **extra)  # fmt: skip
            for net in spec.routes:
                kw: dict[str, Any] = {"dst": str(net), "oif": idx, "family": family}
                if spec.inner_on_device:
                    kw["prefsrc"] = str(spec.inner)
                ipr.route("add", **kw)

    def _enable_proxy_ndp(self, ifname: str) -> None:
        """Proxy NDP entries are only answered with net.ipv6.conf.<if>.proxy_ndp = 1."""
        with in_netns(self._netns):
            path = f"/proc/sys/net/ipv6/conf/{ifname}/proxy_ndp"
            with open(path, "r+") as f:
                if f.read().strip() != "1":
                    f.seek(0)
                    f.write("1")
                    logger.info("proxy_ndp enabled on %s", ifname)

    # ---- delete --------------------------------------------------------------------------------

    def delete(self, name: str) -> None:
        """Stop forwarding; the device is released in a worker thread (``wait_deleted``).

        In order, on the calling thread: the tunnel's routes are withdrawn (the kernel then routes
        the inner address elsewhere, e.g. onto the CTN link), what is still queued on the device
        is forwarded through the hook, the device is no longer read. Then, off the loop: what
        got queued since is delivered (``_teardown``), the raw socket and the device are closed
        (the device, its address and routes go with its last fd; 10-20 ms) and the proxy
        ARP/NDP entry is removed.
        """
        t = self._tunnels.pop(name, None)
        if t is None:
            return
        if t.spec.routes:
            # a packet the kernel routes into a TUN device being unregistered is dropped:
            # withdraw the routes first, then forward what is queued
            self._unroute(t.spec)
            drained = self._drain(t)
            if drained:
                logger.info("tunnel %s: %d queued packets forwarded before delete", name, drained)
        loop = self._loop
        if loop is None:
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
        if loop is not None:
            loop.remove_reader(t.tun_fd)
            loop.remove_reader(t.raw.fileno())
        started = time.monotonic()
        cf = self._pool().submit(self._teardown, t)
        self._closing[name] = cf
        cf.add_done_callback(functools.partial(self._released, name, t, started))

    def _teardown(self, t: _Tunnel) -> None:
        """Deliver what is still queued, close the raw socket and the device, remove the proxy
        entry (in a worker thread).

        Closing drops whatever waits in the raw socket or on the device. ``delete`` drained the
        device after withdrawing the routes, but the loop hands the release to this thread some
        time later, and meanwhile packets can still be queued: outer ones that reached our end
        after the loop stopped reading it (they are decapsulated into the device, as before the
        delete) and inner ones the kernel routed into the device before the withdrawal and
        queued after the drain (another CPU; they are sent through the kernel's routing as it is
        now). What is left to lose is what arrives between these last reads and the close.
        """
        while True:
            try:
                packet, addr = t.raw.recvfrom(65535)
            except OSError:  # BlockingIOError: nothing more queued
                break
            self._receive(t, packet, addr)
        late: list[bytes] = []
        while True:
            try:
                inner = os.read(t.tun_fd, 65535)
            except OSError:
                break
            if not inner:
                break
            if self._carried(t, inner):
                late.append(inner)
        t.raw.close()
        os.close(t.tun_fd)  # a non-persistent TUN device disappears with its last fd
        if late:
            self._reroute(t, late)
        if t.spec.proxy_arp_on is not None:
            self._unproxy_sync(t.spec)

    def _released(
        self, name: str, t: _Tunnel, started: float, cf: concurrent.futures.Future[None]
    ) -> None:
        if self._closing.get(name) is cf:
            del self._closing[name]
        exc = cf.exception() if not cf.cancelled() else None
        if exc is not None:
            logger.warning("tunnel %s: release failed: %s", name, exc)
        ms = (time.monotonic() - started) * 1000
        logger.info("tunnel %s deleted (%s), device released in %.1f ms", name, t.stats, ms)

    async def wait_deleted(self) -> None:
        """Wait until the devices of every deleted tunnel are gone."""
        pending = list(self._closing.values())
        if pending:
            await asyncio.gather(*(asyncio.wrap_future(cf) for cf in pending))

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
                family = socket.AF_INET if net.version == 4 else socket.AF_INET6
                dst = net.network_address.packed
                # struct rtmsg (rtnetlink(7)); scope NOWHERE and type UNSPEC match any route,
                # as "ip route del" sends them
                rtm = struct.pack("BBBBBBBBI", family, net.prefixlen, 0, 0, RT_TABLE_MAIN,
                                  0, RT_SCOPE_NOWHERE, 0, 0)  # fmt: skip
                attrs = struct.pack("HH", 4 + len(dst), RTA_DST) + dst
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

    def _reroute(self, t: _Tunnel, packets: list[bytes]) -> None:
        """Send packets through the kernel's routing from a socket of their own (worker thread)."""
        family = socket.AF_INET if t.spec.inner.version == 4 else socket.AF_INET6
        try:
            with in_netns(self._netns):
                s = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)
        except OSError as exc:
            t.stats.dropped += len(packets)
            logger.warning("tunnel %s: %d late packets dropped: %s", t.spec.name, len(packets), exc)
            return
        with s:
            for packet in packets:
                try:
                    s.sendto(packet, (str(ip_dst(packet)), 0))
                    t.stats.rerouted += 1
                except OSError as exc:
                    t.stats.dropped += 1
                    logger.debug("tunnel %s: late packet not rerouted: %s", t.spec.name, exc)
        logger.info("tunnel %s: %d late packets rerouted at release", t.spec.name, len(packets))

    def _unproxy_sync(self, spec: TunnelSpec) -> None:
        family = socket.AF_INET6 if spec.inner.version == 6 else socket.AF_INET
        with self._ipr() as ipr:
            link = ipr.link_lookup(ifname=spec.proxy_arp_on)
            if link:
                with contextlib.suppress(Exception):
                    ipr.neigh("del", dst=str(spec.inner), ifindex=link[0], flags=NTF_PROXY,
                              family=family)  # fmt: skip

    # ---- packets -------------------------------------------------------------------------------

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
        """Send a complete IPv4 or IPv6 packet through the kernel's routing (flushing a buffer)."""
        if not packet or packet[0] >> 4 not in (4, 6):
            logger.debug("inject: not an IP packet")
            return
        version = packet[0] >> 4
        s = self._inject.get(version)
        if s is None:
            family = socket.AF_INET if version == 4 else socket.AF_INET6
            with in_netns(self._netns):
                # IPPROTO_RAW: the header is ours (IP_HDRINCL; implied for IPv6 on Linux)
                s = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)
            s.setblocking(False)
            self._inject[version] = s
        try:
            s.sendto(packet, (str(ip_dst(packet)), 0))
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

    @staticmethod
    def _carried(t: _Tunnel, inner: bytes) -> bool:
        """Whether a packet read from the device is traffic the tunnel carries."""
        version = t.spec.inner.version
        if not inner or inner[0] >> 4 != version:
            return False  # e.g. the IPv6 router solicitations of an IPv4 tunnel's device
        # RS, MLD, NDP of the device itself: the tunnel carries no link-scoped traffic
        return version == 4 or (len(inner) >= 40 and not _link_scoped_v6(inner))

    def _forward(self, t: _Tunnel, inner: bytes) -> None:
        if not self._carried(t, inner):
            return
        if self._hook is not None and not self._hook(t.spec, inner):
            t.stats.held += 1
            return
        self._send(t, inner)  # not by name: delete() drains after unlisting the tunnel

    def _from_wire(self, t: _Tunnel) -> None:
        try:
            packet, addr = t.raw.recvfrom(65535)
        except BlockingIOError:
            return
        except OSError as exc:
            logger.debug("tunnel %s receive failed: %s", t.spec.name, exc)
            return
        self._receive(t, packet, addr)

    def _receive(self, t: _Tunnel, packet: bytes, addr: Any) -> None:
        """One datagram from the raw socket: decapsulate, check, write the inner packet."""
        if t.spec.outer_version == 4:
            try:
                src, _dst, inner = decapsulate(packet)  # IPv4 raw sockets see the outer header
            except TunnelError as exc:
                logger.debug("tunnel %s: dropping %s", t.spec.name, exc)
                return
        else:
            # IPv6 raw sockets deliver the payload only: the inner packet
            src, inner = ipaddress.IPv6Address(str(addr[0]).split("%")[0]), packet
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

    # ---- closing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Delete every tunnel and wait (blocking) until their devices are gone."""
        for name in list(self._tunnels):
            self.delete(name)
        concurrent.futures.wait(list(self._closing.values()))
        self._close_sockets()

    async def aclose(self) -> None:
        """``close`` without blocking the event loop."""
        for name in list(self._tunnels):
            self.delete(name)
        await self.wait_deleted()
        self._close_sockets()

    def _close_sockets(self) -> None:
        for s in [*self._inject.values(), *self._links.values()]:
            s.close()
        self._inject.clear()
        self._links.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

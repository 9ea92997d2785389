"""The real PacSession and PaaServer driven by the asyncio layer in virtual time, in memory."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from eap.aaa.passthrough import RadiusError
from eap.authenticator import AuthOutput
from eap.peer import EapResult
from pana_mpa._avps import ResultCode
from pana_mpa.address import Address
from pana_mpa.aio import ClientError, PacClient, SessionEnded, serve_paa
from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
from pana_mpa.cli import peers as cp
from pana_mpa.events import (
    Authenticated,
    AuthenticationFailed,
    PingAnswered,
    Reauthenticated,
    SessionStarted,
    SessionTerminated,
)
from tests.traces import trace_records

PAC: Address = ("192.0.2.1", 50000)
PAA: Address = ("192.0.2.2", 716)
PSK = "SecretPassphrase"


def _pac(secret: str = PSK, method: str = "psk", seed: int = 1) -> Any:
    rng = random.Random(seed).randbytes
    opts = cp.PacOptions(
        paa=PAA, identity=b"alice", secret=cp.parse_secret(method, secret), method=method, once=True
    )
    return cp.build_pac(opts, rng, None)


def _paa_opts(method: str = "psk", secret: str = PSK, **kw: Any) -> cp.PaaOptions:
    users = {b"alice": cp.parse_secret(method, secret)}
    return cp.PaaOptions(listen=PAA, users=users, method=method, **kw)


def _paa(method: str = "psk", secret: str = PSK, seed: int = 2) -> Any:
    server, aaa = cp.build_paa(_paa_opts(method, secret), random.Random(seed).randbytes, None)
    assert aaa is None
    return server


async def _session(
    net: LoopbackNetwork, pac: Any, paa: Any, **serve: Any
) -> tuple[list[Any], list[Any], float]:
    """Authenticate, ping, terminate; return the PaC's and the PAA's events and the end time."""
    paa_events: asyncio.Queue[Any] = asyncio.Queue()
    server = asyncio.create_task(serve_paa(paa, net.endpoint(PAA), events=paa_events, **serve))
    try:
        async with PacClient(pac, net.endpoint(PAC)) as client:
            await client.authenticate()
            await client.ping()
            await client.terminate()
            pac_events = [e async for e in client.events()]
        end = asyncio.get_running_loop().time()
        await asyncio.sleep(1.0)
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
    return pac_events, [paa_events.get_nowait() for _ in range(paa_events.qsize())], end


@pytest.mark.parametrize("method", ["psk", "gpsk", "md5"])
def test_authenticate_ping_terminate(method: str) -> None:
    secret = PSK if method != "md5" else "12345"

    async def main() -> tuple[list[Any], list[Any], float]:
        return await _session(
            LoopbackNetwork(delay=0.01), _pac(secret, method), _paa(method, secret)
        )

    pac_events, paa_events, end = run_virtual(main)
    kinds = [type(e) for e in pac_events]
    assert kinds == [SessionStarted, Authenticated, PingAnswered, SessionTerminated]
    auth = pac_events[1]
    paa_auth = next(e for e in paa_events if isinstance(e, Authenticated))
    if method == "md5":
        assert auth.msk is None and auth.key_id is None
    else:
        assert auth.msk is not None and auth.msk == paa_auth.msk
        assert auth.key_id == paa_auth.key_id
    assert isinstance(paa_events[-1], SessionTerminated) and paa_events[-1].by_peer
    assert end < 1.0  # no retransmission was needed on a clean link


def test_lossy_duplicating_reordering_link_still_authenticates() -> None:
    async def main() -> tuple[list[Any], list[Any], float]:
        net = LoopbackNetwork(
            seed=4, loss=0.25, duplicate=0.2, reorder=0.2, delay=0.01, jitter=0.01
        )
        return await _session(net, _pac(), _paa())

    pac_events, _, end = run_virtual(main)
    kinds = [type(e) for e in pac_events]
    # a PAN[S] lost until the PAA's cookie secret rotated: the PaC follows the new PAR[S]
    # (a second SessionStarted, RFC 5191 s4.1 stateless PAA)
    while kinds[:2] == [SessionStarted, SessionStarted]:
        kinds.pop(0)
    assert kinds == [SessionStarted, Authenticated, PingAnswered, SessionTerminated]
    assert end > 1.0  # retransmissions (RFC 5191 s9) recovered the lost messages


def test_deterministic_with_seeds() -> None:
    def once() -> list[str]:
        async def main() -> list[str]:
            net = LoopbackNetwork(seed=9, loss=0.2, delay=0.01)
            pac_events, paa_events, end = await _session(net, _pac(seed=3), _paa(seed=4))
            return [repr(e) for e in pac_events + paa_events] + [str(end)]

        return run_virtual(main)

    assert once() == once()


@pytest.mark.parametrize("silent", [False, True])
def test_wrong_psk_fails_in_virtual_time(silent: bool) -> None:
    async def main() -> tuple[str, object]:
        net = LoopbackNetwork()
        paa, _ = cp.build_paa(
            _paa_opts(psk_silent_discard=silent), random.Random(2).randbytes, None
        )
        server = asyncio.create_task(serve_paa(paa, net.endpoint(PAA)))
        try:
            async with PacClient(_pac("SecretPassphrasX"), net.endpoint(PAC)) as client:
                with pytest.raises(ClientError) as info:
                    await client.authenticate()
                return str(info.value), info.value.event
        finally:
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server

    message, event = run_virtual(main)
    if silent:
        # RFC 4764 s4.3: the bad MAC_P is discarded silently; only the PANA timers end it
        assert isinstance(event, SessionTerminated) and event.reason != "authentication"
    else:
        # the CLI's PAA fails it at once: PAR[C] with Result-Code 1
        assert isinstance(event, AuthenticationFailed), message
        assert event.result_code == ResultCode.PANA_AUTHENTICATION_REJECTED


def test_no_paa_fails_in_virtual_time() -> None:
    async def main() -> str:
        async with PacClient(_pac(), LoopbackNetwork().endpoint(PAC)) as client:
            with pytest.raises(SessionEnded) as info:  # a ClientError
                await client.authenticate()
            return str(info.value)

    assert run_virtual(main).startswith("session ended: not completed in time, no answer from")


class _LocalAaa:
    """An AAA server in the same process: a real EapAuthenticator behind a 0.2 s round trip."""

    def __init__(self, opts: cp.PaaOptions, log: list[tuple[int, float]], session_id: int) -> None:
        self._opts = opts
        self._eap = cp.eap_authenticator(opts, random.Random(session_id).randbytes)
        self._log = log
        self._session_id = session_id
        self.closed = False
        self.restarts = 0

    def restart(self) -> None:
        self.restarts += 1
        self._eap = cp.eap_authenticator(self._opts, random.Random(self.restarts).randbytes)

    async def exchange(self, eap_response: bytes | None) -> AuthOutput:
        self._log.append((self._session_id, asyncio.get_running_loop().time()))
        await asyncio.sleep(0.2)
        return self._eap.start() if eap_response is None else self._eap.receive(eap_response)

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("method", ["psk", "md5"])
def test_pass_through_paa(method: str) -> None:
    secret = PSK if method == "psk" else "12345"
    opts = _paa_opts(method, secret, radius=("192.0.2.9", 1812), radius_secret=None)
    log: list[tuple[int, float]] = []
    backends: list[_LocalAaa] = []

    def aaa(session_id: int) -> _LocalAaa:
        backends.append(_LocalAaa(opts, log, session_id))
        return backends[-1]

    async def main() -> tuple[list[Any], list[Any], float]:
        # build_paa's RADIUS branch, with the local AAA in place of the RADIUS relay
        from pana_mpa.config import PaaConfig
        from pana_mpa.paa import PaaServer

        server = PaaServer(PaaConfig(), rng=random.Random(8).randbytes)  # pass-through
        net = LoopbackNetwork(delay=0.01)
        task = asyncio.create_task(serve_paa(server, net.endpoint(PAA), events=paa_q, aaa=aaa))
        try:
            async with PacClient(_pac(secret, method), net.endpoint(PAC)) as client:
                await client.authenticate()
                await client.reauthenticate()  # a second EAP conversation through the AAA
                await client.ping()
                await client.terminate()
                pac_events = [e async for e in client.events()]
            await asyncio.sleep(1.0)
        finally:
            await _stop(task)
        return pac_events, [paa_q.get_nowait() for _ in range(paa_q.qsize())], 0.0

    paa_q: asyncio.Queue[Any] = asyncio.Queue()
    pac_events, paa_events, _ = run_virtual(main)
    assert [type(e) for e in pac_events] == [
        SessionStarted,
        Authenticated,
        Reauthenticated,
        PingAnswered,
        SessionTerminated,
    ]
    assert len(backends) == 1 and backends[0].closed and backends[0].restarts == 1
    assert len(log) >= 3  # start, identity, method round(s): each waited for the AAA server
    paa_auth = next(e for e in paa_events if isinstance(e, Authenticated))
    assert paa_auth.msk == pac_events[1].msk


def _serve(net: LoopbackNetwork, paa: Any, events: asyncio.Queue[Any]) -> asyncio.Task[None]:
    return asyncio.create_task(serve_paa(paa, net.endpoint(PAA), events=events))


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_reauthenticate_rolls_the_key() -> None:
    async def main() -> tuple[Any, Any]:
        net = LoopbackNetwork(delay=0.01)
        server = _serve(net, _paa(), asyncio.Queue())
        try:
            async with PacClient(_pac(), net.endpoint(PAC)) as client:
                first = await client.authenticate()
                again = await client.reauthenticate()
                await client.terminate()
                return first, again
        finally:
            await _stop(server)

    first, again = run_virtual(main)
    assert isinstance(again, Reauthenticated)
    assert again.key_id != first.key_id and again.msk != first.msk  # RFC 5191 s4.3, s5.3


def test_long_running_pac_reauthenticates_before_the_lifetime_ends() -> None:
    async def main() -> list[Any]:
        net = LoopbackNetwork(delay=0.01)
        rng = random.Random(12).randbytes
        paa, _ = cp.build_paa(_paa_opts(lifetime=60), random.Random(13).randbytes, None)
        server = _serve(net, paa, asyncio.Queue())
        opts = cp.PacOptions(paa=PAA, identity=b"alice", secret=cp.parse_secret("psk", PSK))
        try:
            async with PacClient(cp.build_pac(opts, rng, None), net.endpoint(PAC)) as client:
                events: list[Any] = []

                async def collect() -> None:
                    async for event in client.events():
                        events.append(event)

                collector = asyncio.create_task(collect())
                await client.authenticate()
                await asyncio.sleep(200.0)  # three lifetimes of 60 s, in virtual time
                seen = list(events)
                await client.terminate()
                await collector
                return seen
        finally:
            await _stop(server)

    events = run_virtual(main)
    reauths = [e for e in events if isinstance(e, Reauthenticated)]
    assert len(reauths) >= 3  # at 80 % of each 60 s lifetime
    assert not any(isinstance(e, SessionTerminated) for e in events)


def test_once_pac_without_reauth_sees_the_lifetime_end() -> None:
    async def main() -> tuple[Any, float]:
        net = LoopbackNetwork(delay=0.01)
        paa, _ = cp.build_paa(_paa_opts(lifetime=30), random.Random(14).randbytes, None)
        server = _serve(net, paa, asyncio.Queue())
        try:
            async with PacClient(_pac(), net.endpoint(PAC)) as client:
                await client.authenticate()
                ended = [e async for e in client.events()][-1]
                return ended, asyncio.get_running_loop().time()
        finally:
            await _stop(server)

    ended, t = run_virtual(main)
    assert isinstance(ended, SessionTerminated) and ended.reason == "lifetime"
    assert 30.0 <= t < 31.0  # RFC 5191 s4.3: the session ends when Session-Lifetime expires


def test_traces_of_a_real_session_hold_no_keys_or_identities() -> None:
    import io

    from pana_mpa.flow import FlowTrace

    pac_buf, paa_buf = io.StringIO(), io.StringIO()

    async def main() -> Any:
        net = LoopbackNetwork(delay=0.01, seed=2, loss=0.1)  # retransmissions get traced too
        pac_trace, paa_trace = FlowTrace(pac_buf, role="pac"), FlowTrace(paa_buf, role="paa")
        opts = cp.PacOptions(
            paa=PAA, identity=b"alice", secret=cp.parse_secret("psk", PSK), once=True
        )
        pac = cp.build_pac(opts, random.Random(1).randbytes, pac_trace)
        paa, _ = cp.build_paa(_paa_opts(), random.Random(2).randbytes, paa_trace)
        server = asyncio.create_task(serve_paa(paa, net.endpoint(PAA), trace=paa_trace))
        try:
            async with PacClient(pac, net.endpoint(PAC), trace=pac_trace) as client:
                auth = await client.authenticate()
                await client.reauthenticate()
                await client.ping()
                await client.terminate()
                return auth
        finally:
            await _stop(server)

    auth = run_virtual(main)
    msk = auth.msk.reveal()
    for text, role in ((pac_buf.getvalue(), "pac"), (paa_buf.getvalue(), "paa")):
        records = trace_records(text, role)
        names = {r["event"] for r in records}
        assert {"message", "session_event"} <= names and len(names) > 2  # core events too
        lowered = text.lower()
        for secret in (msk.hex(), msk[:16].hex(), PSK.encode().hex(), PSK, "alice", "616c696365"):
            assert secret.lower() not in lowered


def test_paa_shutdown_terminates_open_sessions_in_order() -> None:
    async def main() -> tuple[Any, float, float]:
        net = LoopbackNetwork(delay=0.01)
        stop = asyncio.Event()
        server = asyncio.create_task(serve_paa(_paa(), net.endpoint(PAA), shutdown=stop))
        async with PacClient(_pac(), net.endpoint(PAC)) as client:
            await client.authenticate()
            t0 = asyncio.get_running_loop().time()
            stop.set()
            await server  # returns by itself once the session is closed
            t1 = asyncio.get_running_loop().time()
            ended = [e async for e in client.events()][-1]
        return ended, t0, t1

    ended, t0, t1 = run_virtual(main)
    assert isinstance(ended, SessionTerminated) and ended.by_peer
    assert ended.cause == 4  # ADMINISTRATIVE (RFC 5191 s8.9)
    assert t1 - t0 < 1.0  # the PTA came back; the 2 s grace period was not needed


def test_paa_shutdown_gives_up_after_the_grace_period() -> None:
    async def main() -> float:
        net = LoopbackNetwork(delay=0.01)
        stop = asyncio.Event()
        paa = _paa()
        server = asyncio.create_task(serve_paa(paa, net.endpoint(PAA), shutdown=stop, grace=3))
        pac_transport = net.endpoint(PAC)
        pac = _pac()
        pac.start(0.0)
        pac_transport.sendto(pac.datagrams_to_send(0.0)[0][0], PAA)  # the PCI
        par_start, _ = await pac_transport.recvfrom()
        pac.receive_datagram(par_start, PAA, 0.02)
        pac_transport.sendto(pac.datagrams_to_send(0.02)[0][0], PAA)  # the PAN[S], then silence
        await asyncio.sleep(0.5)  # the session exists but never gets past its first PAR
        stop.set()
        await server
        return asyncio.get_running_loop().time()

    assert run_virtual(main) == pytest.approx(3.52)  # PCI, PAR[S], PAN[S]: 0.02 s; 0.5 s; grace


class _ScriptedAaa:
    """A pass-through back-end: its own EAP-Request/Identity, then ``after_identity()``."""

    def __init__(self, after_identity: Callable[[bytes], Awaitable[AuthOutput]]) -> None:
        self._after_identity = after_identity
        self.calls = 0

    async def exchange(self, eap_response: bytes | None) -> AuthOutput:
        self.calls += 1
        if eap_response is None:
            return AuthOutput(bytes((1, 7, 0, 5, 1)), None)  # EAP-Request/Identity, Identifier 7
        return await self._after_identity(eap_response)


def _pass_through_outcome(backend: Any) -> tuple[BaseException | None, list[Any]]:
    """One PaC --once against a pass-through PAA over ``backend``; the PaC's error and events."""

    async def main() -> tuple[BaseException | None, list[Any]]:
        from pana_mpa.config import PaaConfig
        from pana_mpa.paa import PaaServer

        server = PaaServer(PaaConfig(), rng=random.Random(8).randbytes)
        net = LoopbackNetwork(delay=0.01)
        task = asyncio.create_task(
            serve_paa(server, net.endpoint(PAA), aaa=lambda session_id: backend)
        )
        try:
            async with PacClient(_pac(), net.endpoint(PAC)) as client:
                error: BaseException | None = None
                try:
                    # far below the failed-session timer (120 s): that must not decide
                    await client.authenticate(timeout=60)
                except (ClientError, TimeoutError) as exc:
                    error = exc
                return error, [e async for e in client.events()]
        finally:
            await _stop(task)

    return run_virtual(main)


def _rejected(error: BaseException | None, events: list[Any]) -> None:
    assert isinstance(error, ClientError), error
    assert isinstance(error.event, AuthenticationFailed)
    assert error.event.result_code == ResultCode.PANA_AUTHENTICATION_REJECTED
    assert [type(e) for e in events] == [SessionStarted, AuthenticationFailed, SessionTerminated]
    assert events[-1].reason == "authentication"


def test_pass_through_aaa_failure_rejects_at_once() -> None:
    # RFC 4137 s6: an AAA timeout fails the conversation; the PaC hears PAR[C] Result-Code 1
    async def unreachable(eap_response: bytes) -> AuthOutput:
        await asyncio.sleep(9.0)  # RadiusConfig's 3 s x 3 tries
        raise RadiusError("no answer from RADIUS server 192.0.2.9:1812")

    backend = _ScriptedAaa(unreachable)
    error, events = _pass_through_outcome(backend)
    _rejected(error, events)
    assert backend.calls == 2


def test_pac_closes_on_aaa_reject_whose_eap_failure_it_discards() -> None:
    # An immediate Access-Reject: its EAP-Failure has an Identifier the PaC's EAP peer does
    # not match, so the peer discards it; PAR[C] Result-Code 1 still ends the session (alt_reject)
    async def reject(eap_response: bytes) -> AuthOutput:
        failure = bytes((4, 99, 0, 4))  # EAP-Failure, Identifier 99 (the Response had 7)
        return AuthOutput(failure, EapResult(False, None, None))

    error, events = _pass_through_outcome(_ScriptedAaa(reject))
    _rejected(error, events)


@pytest.mark.udp
def test_pass_through_with_a_radius_server_that_never_answers() -> None:
    import socket

    from eap.aaa.passthrough import RadiusConfig, RadiusPassThrough
    from eap.keys import Secret

    async def main() -> tuple[BaseException | None, int]:
        from pana_mpa.config import PaaConfig
        from pana_mpa.paa import PaaServer

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as black_hole:
            black_hole.bind(("127.0.0.1", 0))  # receives Access-Requests, never answers
            radius = RadiusConfig(
                server=black_hole.getsockname(), secret=Secret(b"radius-secret"),
                timeout=0.2, retries=2,
            )  # fmt: skip
            relays: list[RadiusPassThrough] = []

            def aaa(session_id: int) -> RadiusPassThrough:
                relays.append(RadiusPassThrough(radius, rng=random.Random(3).randbytes))
                return relays[-1]

            server = PaaServer(PaaConfig(), rng=random.Random(8).randbytes)
            net = LoopbackNetwork(delay=0.001)
            task = asyncio.create_task(serve_paa(server, net.endpoint(PAA), aaa=aaa))
            try:
                async with PacClient(_pac(), net.endpoint(PAC)) as client:
                    try:
                        await client.authenticate(timeout=60)
                    except ClientError as exc:
                        return exc, len(relays)
                    return None, len(relays)
            finally:
                await _stop(task)

    error, relays = asyncio.run(main())
    assert relays == 1
    assert isinstance(error, ClientError) and isinstance(error.event, AuthenticationFailed)
    assert error.event.result_code == ResultCode.PANA_AUTHENTICATION_REJECTED


@pytest.mark.parametrize("fraction", [None, 0.5])
def test_paa_reauth_fraction_keeps_a_passive_pac_alive(fraction: float | None) -> None:
    # A PaC that never re-authenticates by itself (like OpenPANA's before the lifetime ends):
    # `pana-mpa paa --reauth-fraction` starts it from the PAA (RFC 5191 s4.3)
    async def main() -> list[Any]:
        net = LoopbackNetwork(delay=0.01)
        opts = _paa_opts(lifetime=60, reauth_fraction=fraction)
        paa, _ = cp.build_paa(opts, random.Random(13).randbytes, None)
        server = _serve(net, paa, asyncio.Queue())
        try:
            async with PacClient(_pac(), net.endpoint(PAC)) as client:  # --once: no own reauth
                events: list[Any] = []

                async def collect() -> None:
                    async for event in client.events():
                        events.append(event)

                collector = asyncio.create_task(collect())
                await client.authenticate()
                await asyncio.sleep(200.0)  # three lifetimes of 60 s, in virtual time
                collector.cancel()
                return events
        finally:
            await _stop(server)

    events = run_virtual(main)
    reauths = [e for e in events if isinstance(e, Reauthenticated)]
    ends = [e for e in events if isinstance(e, SessionTerminated)]
    if fraction is None:
        assert not reauths and [e.reason for e in ends] == ["lifetime"]
    else:
        assert len(reauths) >= 5 and all(e.by_peer for e in reauths)  # every 30 s
        assert not ends

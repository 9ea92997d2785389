"""The library's standalone PAA (user_table): checked when built, a wrong PSK rejected at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eap import EapPeer, PskPeer, Secret
from pana_mpa import (
    AuthenticationFailed,
    AuthenticationRejected,
    ClientError,
    LoopbackNetwork,
    NoAnswer,
    PaaConfig,
    PaaServer,
    PacClient,
    PacConfig,
    PacSession,
    UsageError,
    User,
    run_virtual,
    serve_paa,
    user_table,
)

PSK = Secret(b"SecretPassphrase")
PAC, PAA = ("192.0.2.1", 50000), ("192.0.2.2", 716)


def test_user_checks_method_and_secret_when_made() -> None:
    assert User("PSK", PSK).method == "psk"  # hostapd spells methods in capitals
    with pytest.raises(
        UsageError, match=r"unknown EAP method 'TTLS'; choose one of: GPSK, MD5, PSK, TLS"
    ):
        User("TTLS", PSK)
    with pytest.raises(UsageError, match=r"EAP-PSK .*is 5 octets; it must be exactly 16") as info:
        User("psk", Secret(b"short"))
    assert "short" not in str(info.value)
    with pytest.raises(UsageError, match="it must be at least 16 octets"):
        User("gpsk", Secret(b"x" * 15))
    with pytest.raises(UsageError, match=r"must be an eap\.keys\.Secret, not bytes"):
        User("psk", b"SecretPassphrase")  # type: ignore[arg-type]


def test_user_refuses_certificate_methods() -> None:
    with pytest.raises(
        UsageError, match=r"authenticates by certificate.*choose one of: GPSK, MD5, PSK\)"
    ):
        User("tls", PSK)


def test_user_table_wants_bytes_identities() -> None:
    with pytest.raises(UsageError, match=r"identities are bytes .*write b'alice'"):
        user_table({"alice": User("psk", PSK)})  # type: ignore[dict-item]
    with pytest.raises(UsageError, match="not a User"):
        user_table({b"alice": PSK})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("paa", "message"),
    [
        (("localhost", 716), "'localhost' is not an IP address"),
        (("192.0.2.1", 0), "not a UDP port"),
        (("192.0.2.1", 70000), "not a UDP port"),
        ("192.0.2.1:716", "must be a \\(host, port\\) tuple"),
    ],
)
def test_pac_session_checks_the_paa_address(paa: Any, message: str) -> None:
    eap = EapPeer(identity=b"a", methods={})
    with pytest.raises(UsageError, match=message):
        PacSession(PacConfig(), paa=paa, eap=eap)


def _run(psk: Secret, **table: Any) -> tuple[Exception | object, list[object], float]:
    async def main() -> tuple[Exception | object, list[object], float]:
        users = {b"alice": User("psk", PSK)}
        paa = PaaServer(PaaConfig(), eap_factory=user_table(users, **table))
        net = LoopbackNetwork(seed=1, delay=0.005)
        events: asyncio.Queue[Any] = asyncio.Queue()
        server = asyncio.create_task(serve_paa(paa, net.endpoint(PAA), events=events))
        eap = EapPeer(identity=b"alice", methods={47: lambda: PskPeer(b"alice", psk)})
        loop = asyncio.get_running_loop()
        start = loop.time()
        outcome: Exception | object
        async with PacClient(PacSession(PacConfig(), paa=PAA, eap=eap), net.endpoint(PAC)) as c:
            try:
                outcome = await c.authenticate(timeout=30)
            except (ClientError, TimeoutError) as exc:
                outcome = exc
        took = loop.time() - start
        await asyncio.sleep(1)
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        return outcome, [events.get_nowait() for _ in range(events.qsize())], took

    return run_virtual(main)


def test_wrong_psk_is_rejected_at_once_and_the_paa_says_who_and_why() -> None:
    outcome, paa_events, took = _run(Secret(b"WrongPassphrase!"))
    assert isinstance(outcome, AuthenticationRejected) and outcome.result_code == 1
    assert isinstance(outcome.event, AuthenticationFailed)
    assert str(outcome) == (
        "authentication rejected by the PAA (Result-Code PANA_AUTHENTICATION_REJECTED)"
    )
    assert took < 1.0  # Result-Code 1 at once, not a 5.75 s silent-discard timeout
    failed = [e for e in paa_events if isinstance(e, AuthenticationFailed)]
    assert len(failed) == 1
    assert failed[0].identity == b"alice" and failed[0].reason == "EAP failure (PSK)"


def test_silent_discard_stays_available() -> None:
    outcome, paa_events, took = _run(Secret(b"WrongPassphrase!"), psk_silent_discard=True)
    assert isinstance(outcome, ClientError) and took > 5
    assert not any(isinstance(e, AuthenticationFailed) for e in paa_events)


def test_right_psk_authenticates() -> None:
    outcome, _, _ = _run(PSK)
    assert type(outcome).__name__ == "Authenticated"


def test_no_answer_says_so_and_is_a_timeout() -> None:
    async def main() -> NoAnswer:
        eap = EapPeer(identity=b"alice", methods={47: lambda: PskPeer(b"alice", PSK)})
        session = PacSession(PacConfig(), paa=PAA, eap=eap)
        async with PacClient(session, LoopbackNetwork().endpoint(PAC)) as client:
            with pytest.raises(NoAnswer) as info:
                await client.authenticate(timeout=2)
        return info.value

    exc = run_virtual(main)
    assert isinstance(exc, TimeoutError) and isinstance(exc, ClientError)
    assert str(exc) == "authentication: no answer from 192.0.2.2:716 within 2 s"

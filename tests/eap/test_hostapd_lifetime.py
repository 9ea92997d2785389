"""A real RADIUS server's Session-Timeout becomes the PANA Session-Lifetime (RFC 2865 s5.27).

hostapd's RADIUS server sends Session-Timeout 90 in the Access-Accept of one user
(``radius_accept_attr=27:d:90`` in its eap_user file). Our PaC and pass-through PAA run sans-IO
on a VirtualNet, so every PANA timer runs in virtual time; only the EAP-PSK steps the PAA queues
go over real UDP to hostapd, each answered before the virtual clock moves on.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from eap.aaa.passthrough import RadiusPassThrough
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer
from eap.peer import EapPeer
from pana_codecs import AvpCode, MessageFlags, PanaMessage, decode_pana
from pana_codecs.avps import avp_u32
from pana_mpa.aio.virtualnet import VirtualNet
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.events import Authenticated, Reauthenticated, SessionTerminated
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession
from pana_mpa.state import PacState
from tests.servers import Hostapd, hostapd_server

pytestmark = [pytest.mark.hostapd, pytest.mark.netns, pytest.mark.asyncio]

IDENTITY = "lifetimeuser"
PSK = "00112233445566778899aabbccddeeff"
TIMEOUT = 90
"""hostapd's Session-Timeout for IDENTITY; far below the PAA's configured lifetime."""
CONFIGURED = 3600
PAC = ("192.0.2.10", 40000)
PAA = ("192.0.2.1", 716)


@pytest.fixture(scope="module")
def hostapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostapd]:
    """hostapd as RADIUS+EAP server with one user whose Access-Accept has Session-Timeout."""
    users = [f'"{IDENTITY}" PSK {PSK}', f"radius_accept_attr=27:d:{TIMEOUT}"]
    with hostapd_server(tmp_path_factory.mktemp("hostapd-lifetime"), extra_users=users) as srv:
        yield srv


class _Lab:
    """PaC and pass-through PAA on a VirtualNet; the PAA's AAA steps go to hostapd."""

    def __init__(self, server: Hostapd) -> None:
        self.net = VirtualNet(seed=3)
        self.paa = PaaServer(
            PaaConfig(session_lifetime=CONFIGURED, reauth_fraction=0.5, require_key=True),
            rng=random.Random(4).randbytes,
        )
        identity = IDENTITY.encode()
        peer = EapPeer(
            identity=identity,
            methods={EAP_TYPE_PSK: lambda: PskPeer(identity, Secret(bytes.fromhex(PSK)))},
        )
        self.pac = PacSession(PacConfig(), paa=PAA, eap=peer, rng=random.Random(5).randbytes)
        self.net.add(PAC, self.pac)
        self.net.add(PAA, self.paa)
        config = server.radius_config()
        self.aaa = RadiusPassThrough(config)  # one session: one conversation at a time
        self.accepts = 0
        self.log: Path = server.log

    async def serve(self, seconds: float) -> None:
        """Run ``seconds`` of virtual time, relaying each pending EAP step to hostapd."""
        end = self.net.now + seconds
        while self.net.now < end:
            self.net.run(min(end, self.net.now + 0.01))
            for sid, eap_response in self.paa.pending_aaa():
                out = await self.aaa.exchange(eap_response)  # None: a new conversation
                if out.result is not None and out.result.success:
                    self.accepts += 1
                self.paa.aaa_answer(sid, out, self.net.now)

    def final_pars(self) -> list[PanaMessage]:
        """The PAR[C]s the PAA sent, decoded with our codec."""
        msgs = [decode_pana(d.data) for d in self.net.log if d.src == PAA]
        complete = MessageFlags.R | MessageFlags.C
        return [m for m in msgs if m.type == 2 and m.flags & complete == complete]

    def opened_at(self) -> float:
        """When the PAA took the last PAN[C]: the (re-)authentication's lifetime starts there."""
        pans = [d for d in self.net.log if d.dst == PAA and _is_pan_complete(d.data)]
        return pans[-1].time + self.net.latency


def _is_pan_complete(data: bytes) -> bool:
    msg = decode_pana(data)
    return msg.type == 2 and msg.flags & (MessageFlags.R | MessageFlags.C) == MessageFlags.C


def _session_lifetime(msg: PanaMessage) -> int | None:
    avp = msg.avp(AvpCode.SESSION_LIFETIME)
    return None if avp is None else avp_u32(avp)


async def test_hostapd_session_timeout_is_the_pana_session_lifetime(hostapd: Hostapd) -> None:
    lab = _Lab(hostapd)
    try:
        lab.pac.start(0.0)
        await lab.serve(1.0)
        assert lab.pac.state is PacState.OPEN and lab.accepts == 1
        (par_c,) = lab.final_pars()
        assert _session_lifetime(par_c) == TIMEOUT  # on the wire, hostapd's value
        assert par_c.avp(AvpCode.KEY_ID) is not None  # a PANA SA from hostapd's MS-MPPE keys
        assert lab.pac.lifetime == TIMEOUT
        events = lab.net.take_events(PAA)
        assert [e.lifetime for e in events if isinstance(e, Authenticated)] == [TIMEOUT]

        # the PAA re-authenticates at half the granted lifetime (reauth_fraction), through
        # hostapd again, whose new Accept sets the lifetime again (RFC 5191 s4.3)
        opened = lab.opened_at()
        await lab.serve(opened + TIMEOUT / 2 - 0.01 - lab.net.now)
        assert lab.accepts == 1  # not yet
        await lab.serve(1.0)
        assert lab.accepts == 2
        assert [_session_lifetime(m) for m in lab.final_pars()] == [TIMEOUT, TIMEOUT]
        again = [e for e in lab.net.take_events(PAA) if isinstance(e, Reauthenticated)]
        assert [e.lifetime for e in again] == [TIMEOUT]

        # hostapd stops answering: the next re-authentication stalls, and the session ends
        # exactly TIMEOUT after the last one opened, not at the configured 3600 s
        reopened = lab.opened_at()
        lab.net.run(reopened + TIMEOUT - 0.01)
        assert len(lab.paa) == 1 and lab.paa.pending_aaa() == [(lab.pac.session_id, None)]
        lab.net.run(reopened + TIMEOUT + 0.01)
        ends = [e for e in lab.net.take_events(PAA) if isinstance(e, SessionTerminated)]
        assert [e.reason for e in ends] == ["lifetime"]
        assert len(lab.paa) == 0
    finally:
        lab.aaa.close()
    # hostapd's own account: each of its two Access-Accepts carried the attribute
    assert lab.log.read_text(errors="replace").count("Attribute 27 (Session-Timeout)") == 2

"""A PANA agent over UDP with EAP-PSK users, on the public API.

    python -m examples.paa --listen 127.0.0.1:10716 --user alice:SecretPassphrase

It prints one line per session event; ``--sessions N`` stops after N sessions have ended,
SIGTERM or Ctrl-C stop it in order (a PTR to every open session first, RFC 5191 s4.4).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from eap import Secret
from pana_mpa import (
    PANA_PORT,
    PaaConfig,
    PaaServer,
    PanaEvent,
    SessionTerminated,
    UdpTransport,
    User,
    format_address,
    parse_address,
    serve_paa,
    user_table,
)


def users_from(items: Sequence[str]) -> dict[bytes, User]:
    """``IDENTITY:PSK`` items as a user table (EAP-PSK keys are 16 octets, RFC 4764 s2.1)."""
    users = {}
    for item in items:
        identity, _, psk = item.partition(":")
        users[identity.encode()] = User("psk", Secret(psk.encode()))
    return users


async def main(args: argparse.Namespace) -> int:
    """Serve until --sessions sessions have ended, or until SIGTERM / Ctrl-C."""
    paa = PaaServer(PaaConfig(), eap_factory=user_table(users_from(args.user)))
    transport = await UdpTransport.bind(*parse_address(args.listen, default_port=PANA_PORT))
    print(f"listening on {format_address(transport.local_address)}", flush=True)
    events: asyncio.Queue[PanaEvent] = asyncio.Queue()
    shutdown = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, shutdown.set)
    server = asyncio.create_task(serve_paa(paa, transport, events=events, shutdown=shutdown))
    ended = 0
    while not server.done():
        getter = asyncio.ensure_future(events.get())
        await asyncio.wait({server, getter}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            continue
        event = getter.result()
        print(event, flush=True)
        ended += isinstance(event, SessionTerminated)
        if args.sessions is not None and ended >= args.sessions:
            shutdown.set()
    await server
    transport.close()
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, configure logging, serve."""
    parser = argparse.ArgumentParser(prog="python -m examples.paa", description=__doc__)
    parser.add_argument("--listen", default=f"127.0.0.1:{PANA_PORT}", help="HOST:PORT")
    parser.add_argument("--user", action="append", default=[], help="IDENTITY:PSK (repeatable)")
    parser.add_argument("--sessions", type=int, help="stop after this many sessions ended")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2))
    try:
        return asyncio.run(main(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(run())

"""``pana-mpa demo``: encode and decode a full PANA exchange (placeholder until sessions land)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pana_codecs import Avp, MessageFlags, MessageType, PanaMessage, decode_pana, encode_pana


def add_parser(sub: Any) -> None:
    """Register the demo subcommand."""
    p: argparse.ArgumentParser = sub.add_parser("demo", help="run the embedded demo")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print an encoded and decoded PCI/PAR[S]/PAN[S] exchange."""
    msgs = [
        PanaMessage(MessageType.PANA_CLIENT_INITIATION, 0, 0, 0),
        PanaMessage(
            MessageType.PANA_AUTH,
            MessageFlags.R | MessageFlags.S,
            0x1234,
            1,
            (Avp(6, (2).to_bytes(4, "big")), Avp(3, (7).to_bytes(4, "big"))),
        ),
    ]
    for m in msgs:
        wire = encode_pana(m)
        sys.stdout.write(f"{wire.hex()} {decode_pana(wire)}\n")
    return 0

"""``pana-mpa decode``: PANA datagrams in a capture, one line (or JSON object) each."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    """Register the decode subcommand."""
    p: argparse.ArgumentParser = sub.add_parser("decode", help="decode PANA in a pcap/pcapng file")
    p.add_argument("capture")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Not yet implemented."""
    raise SystemExit("decode: not implemented yet")
